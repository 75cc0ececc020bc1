/* DLT page: "Check a message". Posts the text, header and template as JSON to the
   check URL and draws the answer the way templates/dlt/_check_result.html does for a
   plain form post (the page works without this script too). */
(function () {
  "use strict";

  const form = document.querySelector("[data-dlt-check]");
  if (!form) return;
  const { el, postJson } = window.smsgateway;
  const slot = document.querySelector("[data-check-result]");
  const formError = form.querySelector("[data-check-error]");
  const button = form.querySelector("[data-check-button]");
  const categorySource = document.getElementById("dlt-categories");
  const categories = categorySource ? JSON.parse(categorySource.textContent) : {};

  function tagLabel(tag) {
    return "{#" + tag + "#}";
  }

  function detail(result) {
    const parts = [];
    if (result.template_id) {
      parts.push("Template ", el("span", { class: "mono" }, result.template_id));
      if (categories[result.category]) parts.push(" · " + categories[result.category]);
    } else {
      parts.push("No template matched");
    }
    const others = (result.matches || []).filter((id) => id !== result.template_id);
    if (others.length) {
      parts.push(" · it also fits ");
      others.forEach((id, index) => {
        if (index) parts.push(", ");
        parts.push(el("span", { class: "mono" }, id));
      });
    }
    return parts;
  }

  function variablesTable(variables) {
    return el("div", { class: "test-result__body" },
      el("p", { class: "test-result__label" }, "Variables"),
      el("table", { class: "table table--compact dlt-variables", "data-check-variables": true },
        el("thead", {}, el("tr", {},
          el("th", { scope: "col" }, "Tag"),
          el("th", { scope: "col" }, "Value"),
          el("th", { scope: "col" }, "Check"))),
        el("tbody", {}, variables.map((variable) => el("tr", {},
          el("td", {}, el("mark", { class: "dlt-tag" }, tagLabel(variable.tag))),
          el("td", { class: "mono break" }, variable.value || "—"),
          el("td", {}, variable.ok
            ? el("span", { class: "badge badge--delivered" }, "OK")
            : el("span", { class: "text-danger" }, variable.error)))))));
  }

  function draw(result) {
    const ok = result.ok;
    const children = [
      el("div", { class: "test-result__head" },
        el("span", { class: "test-result__icon", "aria-hidden": "true" }, ok ? "✓" : "!"),
        el("div", {},
          el("p", { class: "test-result__title", "data-check-title": true },
            ok ? "OK: the operators would let it through" : "Not OK: the operators would block it"),
          el("p", { class: "test-result__detail", "data-check-detail": true }, detail(result)))),
    ];
    if (result.variables && result.variables.length) children.push(variablesTable(result.variables));
    if (result.errors && result.errors.length) {
      children.push(el("div", { class: "test-result__body" },
        el("p", { class: "test-result__label" }, "Why"),
        el("ul", { class: "reason-list", "data-check-errors": true },
          result.errors.map((error) => el("li", {}, error)))));
    }
    return el("div", {
      class: "test-result test-result--" + (ok ? "ok" : "failed") + " dlt-check-result",
      "data-check-ok": ok ? "true" : "false",
    }, children);
  }

  function showError(message) {
    formError.textContent = message;
    formError.hidden = false;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.hidden = true;
    formError.textContent = "";
    const fields = new FormData(form);
    button.disabled = true;
    button.classList.add("is-busy");
    try {
      const answer = await postJson(form.action, {
        text: fields.get("text") || "",
        sender_id: fields.get("sender_id") || "",
        template_id: fields.get("template_id") || "",
      }, form);
      if (!answer.data) {
        showError("The check could not be made (HTTP " + answer.status + "): try again.");
      } else if (answer.status !== 200) {
        slot.replaceChildren();
        showError(answer.data.error || "The check could not be made: try again.");
      } else {
        slot.replaceChildren(draw(answer.data));
      }
    } catch (error) {
      showError("The check could not be made: the server did not answer. Try again.");
    } finally {
      button.disabled = false;
      button.classList.remove("is-busy");
    }
  });
})();
