/* Provider page: Send Test SMS. Posts the form as JSON, shows the provider's answer
   at once, then follows the message's status live until it is delivered or failed. */
(function () {
  "use strict";

  const form = document.querySelector("[data-test-sms-form]");
  if (!form) return;
  const { el, postJson, fieldErrors, pollStatus, refreshLive, smsLength, statusBadge } = window.smsgateway;
  const result = document.querySelector("[data-test-result]");
  const formError = form.querySelector("[data-form-error]");
  const button = form.querySelector("[data-send-button]");
  const buttonContent = Array.from(button.childNodes);
  let poller = null;

  /* ---------------------------------------------------------------- field errors */

  const { clear: clearErrors, show: showErrors } = fieldErrors(form, formError);

  /* ---------------------------------------------------------------- the result */

  const STEPS = ["Queued", "Submitted", "Delivered"];

  // A send the provider refused never reaches "Submitted": the failure shows there.
  function steps(status, accepted) {
    const reached = { queued: 0, sending: 0, submitted: 1, delivered: 2, failed: accepted ? 2 : 1 }[status] ?? 0;
    return el("ol", { class: "steps", "aria-hidden": "true" }, STEPS.map((label, index) => {
      let state = index < reached ? "is-done" : index === reached ? "is-current" : "";
      if (index === reached && status === "delivered") state = "is-success";
      if (index === reached && status === "failed") {
        state = "is-fail";
        label = accepted ? "Failed" : "Not accepted";
      }
      return el("li", { class: state || null }, label);
    }));
  }

  function deliveryText(data, accepted) {
    if (data.status === "delivered") return "Delivered to the handset.";
    if (data.status === "failed") {
      if (!accepted) return "The provider did not accept the message: see above.";
      const meaning = data.error_meaning || "The provider reported a failure";
      const code = data.error_code ? `Code ${data.error_code}: ` : "";
      const extra = data.error_description &&
        data.error_description.toLowerCase() !== meaning.toLowerCase() ? ` — ${data.error_description}` : "";
      return code + meaning + extra + ".";
    }
    if (data.status === "submitted") return "Waiting for the delivery report…";
    return "Sending…";
  }

  function drawDelivery(box, data, accepted) {
    box.replaceChildren(
      el("p", { class: "test-result__label" }, "Delivery"),
      steps(data.status, accepted),
      el("p", { class: "delivery-line" },
        el("span", { "data-delivery-status": data.status }, statusBadge(data.status, data.status_display)),
        el("span", { class: "muted", "data-delivery-text": true }, deliveryText(data, accepted))),
    );
  }

  function showResult(data) {
    if (poller) poller.stop();
    const ok = data.ok;
    let detail = data.error || "";
    if (data.error_title && detail.startsWith(data.error_title + ": ")) {
      detail = detail.slice(data.error_title.length + 2);
    }
    const facts = [];
    if (data.http_status) facts.push("HTTP " + data.http_status);
    if (data.provider_message_id) facts.push("the provider's id " + data.provider_message_id);
    if (ok) facts.push("the message is on its way");

    const children = [
      el("div", { class: "test-result__head" },
        el("span", { class: "test-result__icon", "aria-hidden": "true" }, ok ? "✓" : "!"),
        el("div", {},
          el("p", { class: "test-result__title", "data-result-title": true },
            ok ? "Sent: the provider accepted the test SMS" : data.error_title || "Send failed"),
          el("p", { class: "test-result__detail", "data-result-detail": true },
            [facts.join(" · "), ok ? "" : detail].filter(Boolean).join(" · ")))),
    ];
    if (data.response) {
      children.push(el("div", { class: "test-result__body" },
        el("p", { class: "test-result__label" }, "Provider's response"),
        el("pre", { class: "code-block", "data-result-response": true }, prettyJson(data.response))));
    }
    if (data.response_rules && data.response_rules.length) {
      // What each response rule read, so the rules can be tuned against the real answer.
      children.push(el("div", { class: "test-result__body" },
        el("p", { class: "test-result__label" }, "What the response rules read"),
        el("ul", { class: "rule-readout", "data-result-rules": true },
          ...data.response_rules.map((line) => el("li", { class: "mono small" }, line)))));
    }
    const delivery = el("div", { class: "test-result__body", "data-delivery": true });
    if (data.message_id) {
      children.push(delivery);
      children.push(el("div", { class: "test-result__body" },
        el("a", { href: data.message_url }, "Open the message and its history →")));
    }
    result.className = "test-result test-result--" + (ok ? "ok" : "failed");
    result.replaceChildren(...children);
    result.hidden = false;

    if (!data.message_id) return;
    // The statistics and recent messages now include this message.
    refreshLive();
    drawDelivery(delivery, {
      status: ok ? "submitted" : "failed", status_display: ok ? "Submitted" : "Failed",
    }, ok);
    poller = pollStatus(data.status_url, {
      interval: 1000,
      maxMs: 120000,
      immediate: true,
      onUpdate: (status) => {
        drawDelivery(delivery, status, ok);
        if (status.terminal) refreshLive();
      },
      onGiveUp: () => {
        const text = delivery.querySelector("[data-delivery-text]");
        if (text) text.textContent = "No delivery report after 2 minutes. The message page shows it when it comes.";
      },
    });
  }

  function prettyJson(text) {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch (error) {
      return text;
    }
  }

  // The DLT scrub check found what an operator would reject: nothing was sent. The
  // user may fix the message or send it anyway (a test may be meant to fail).
  function showDltWarning(warnings, body) {
    if (poller) poller.stop();
    const again = el("button", { class: "btn btn--sm", type: "button", "data-send-anyway": true },
      "Send anyway");
    again.addEventListener("click", () => send({ ...body, send_anyway: "1" }));
    result.className = "test-result test-result--warning";
    result.replaceChildren(
      el("div", { class: "test-result__head" },
        el("span", { class: "test-result__icon", "aria-hidden": "true" }, "!"),
        el("div", {},
          el("p", { class: "test-result__title", "data-result-title": true },
            "Operators would reject this under India's DLT rules"),
          el("ul", { class: "test-result__detail", "data-dlt-warnings": true },
            ...warnings.map((text) => el("li", {}, text))))),
      el("div", { class: "test-result__body" }, again));
    result.hidden = false;
  }

  /* ---------------------------------------------------------------- sending */

  function busy(on) {
    button.disabled = on;
    button.classList.toggle("is-busy", on);
    button.replaceChildren(...(on ? [el("span", { class: "spinner", "aria-hidden": "true" }), "Sending…"] : buttonContent));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {};
    for (const [name, value] of new FormData(form)) {
      if (name !== "csrfmiddlewaretoken") body[name] = value;
    }
    send(body);
  });

  async function send(body) {
    clearErrors();
    busy(true);
    try {
      const { status, data } = await postJson(form.action, body, form);
      if (!data) {
        showErrors({ __all__: [status === 403
          ? "Your session has expired or the page is stale: reload the page and try again."
          : `The server answered HTTP ${status} without a result. Reload the page and try again.`] });
      } else if (data.errors) {
        showErrors(data.errors);
      } else if (data.dlt_warnings) {
        showDltWarning(data.dlt_warnings, body);
      } else {
        showResult(data);
      }
    } catch (error) {
      showErrors({ __all__: ["Could not reach smsgateway: check your connection and try again."] });
    } finally {
      busy(false);
    }
  }

  /* ---------------------------------------------------------------- helpers */

  // Sandbox numbers fill the form: the country code is dropped when it matches.
  for (const chip of document.querySelectorAll("[data-fill-number]")) {
    chip.addEventListener("click", () => {
      const digits = chip.dataset.fillNumber.replace(/\D/g, "");
      const code = form.querySelector("[name=country_code]").value.replace(/\D/g, "");
      const mobile = form.querySelector("[name=mobile]");
      mobile.value = code && digits.startsWith(code) && digits.length > code.length + 6
        ? digits.slice(code.length) : digits;
      mobile.focus();
    });
  }

  // Characters and SMS parts, as the server counts them (smsLength, from sms-length.js
  // with the rules the page was handed): GSM-7, or UCS-2 for Unicode text.
  const message = form.querySelector("[name=message]");
  const counter = form.querySelector("[data-sms-count]");
  function count() {
    const text = message.value;
    if (!text) { counter.textContent = ""; return; }
    const length = smsLength(text);
    const unicode = length.encoding === "UCS-2" ? " (Unicode)" : "";
    counter.textContent = `${length.characters} characters · ${length.parts} SMS${unicode}`;
  }
  message.addEventListener("input", count);
  count();
})();
