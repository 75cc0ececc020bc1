/* New/Edit campaign: the message composer (characters, encoding and SMS parts as you
   type, and a preview for the first recipients), the chosen provider's custom fields
   and the schedule. The server checks everything again; this only answers sooner. */
(function () {
  "use strict";

  const form = document.querySelector("[data-campaign-form]");
  if (!form) return;
  const { el, postJson, smsLength } = window.smsgateway;
  const PREVIEW_DELAY_MS = 350;

  /* ---------------------------------------------------------------- length */

  const message = form.querySelector("[name=message]");
  const template = form.querySelector("[name=dlt_template]");
  const templateId = form.querySelector("[name=template_id]");
  const senderId = form.querySelector("[name=sender_id]");
  const count = form.querySelector("[data-sms-count]");
  const shown = (name) => count.querySelector(`[data-sms-${name}]`);

  function showLength() {
    const length = smsLength(message.value);
    shown("characters").textContent = String(length.characters);
    shown("encoding").textContent = length.encoding;
    shown("parts").textContent = String(length.parts);
    shown("parts-label").textContent = length.parts === 1 ? "SMS part" : "SMS parts";
    shown("remaining").textContent = length.parts
      ? `${length.remaining} left in this part` : "";
    count.dataset.encoding = length.encoding;
    count.classList.toggle("composer__count--unicode", length.encoding === "UCS-2");
    count.classList.toggle("composer__count--long", length.parts > 1);
  }
  message.addEventListener("input", showLength);
  showLength();

  /* ---------------------------------------------------------------- preview */

  const panel = form.querySelector("[data-preview]");
  const previewUrl = panel && panel.dataset.previewUrl;
  const list = panel && panel.querySelector("[data-preview-list]");
  let timer = null;
  let asked = 0;

  function previewItem(row) {
    const head = el("div", { class: "preview-item__head" },
      el("span", { class: "code" }, "Row " + row.row), " ", el("span", { class: "mono" }, row.phone));
    if (row.error) {
      return el("li", { class: "preview-item preview-item--error", "data-preview-row": row.row },
        head, el("p", { class: "preview-item__error" }, row.error));
    }
    head.append(" ", el("span", { class: "muted small" },
      `${row.characters} characters · ${row.encoding} · ${row.parts} part${row.parts === 1 ? "" : "s"}`));
    return el("li", { class: "preview-item", "data-preview-row": row.row },
      head, el("p", { class: "preview-item__text" }, row.text));
  }

  async function preview() {
    const mine = ++asked;
    panel.setAttribute("aria-busy", "true");
    try {
      const { data } = await postJson(previewUrl, {
        message: message.value, dlt_template: template ? template.value : "",
        template_id: templateId.value, sender_id: senderId.value,
      }, form);
      // An older answer arriving after a newer question is dropped.
      if (mine !== asked || !data || !data.ok) return;
      list.replaceChildren(...data.rows.map(previewItem));
    } catch (error) {
      // The next keystroke asks again.
    } finally {
      if (mine === asked) panel.removeAttribute("aria-busy");
    }
  }

  if (previewUrl && list) {
    const later = () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(preview, PREVIEW_DELAY_MS);
    };
    message.addEventListener("input", later);
    for (const field of [template, templateId, senderId]) {
      if (field) field.addEventListener("input", later);
    }
    preview();
  }

  /* ---------------------------------------------------------------- DLT registry */

  // Pickers over the registry fill the DLT fields as the server would from the
  // template id (its text, entity and kind); the fields stay editable.
  const registryData = document.getElementById("dlt-registry");
  const headerPicker = form.querySelector("[data-dlt-header]");
  const templatePicker = form.querySelector("[data-dlt-template]");
  if (registryData && headerPicker && templatePicker) {
    const registry = JSON.parse(registryData.textContent);
    const byId = new Map(registry.templates.map((t) => [t.template_id, t]));
    const changed = (field) => field.dispatchEvent(new Event("input", { bubbles: true }));

    const filterTemplates = () => {
      const header = headerPicker.value;
      for (const option of templatePicker.options) {
        const entry = byId.get(option.value);
        option.hidden = Boolean(entry && header && entry.headers.length
          && !entry.headers.includes(header));
      }
      const chosen = byId.get(templatePicker.value);
      if (chosen && header && chosen.headers.length && !chosen.headers.includes(header)) {
        templatePicker.value = "";
      }
    };
    headerPicker.addEventListener("change", () => {
      if (headerPicker.value) {
        senderId.value = headerPicker.value;
        changed(senderId);
      }
      filterTemplates();
    });
    templatePicker.addEventListener("change", () => {
      const chosen = byId.get(templatePicker.value);
      if (!chosen) return;
      templateId.value = chosen.template_id;
      if (template) { template.value = chosen.text; changed(template); }
      const entity = form.querySelector("[name=entity_id]");
      if (entity) entity.value = chosen.entity_id;
      const kind = form.querySelector(`[name=kind][value="${chosen.kind}"]`);
      if (kind && !kind.checked) {
        kind.checked = true;
        kind.dispatchEvent(new Event("change", { bubbles: true }));
      }
      changed(templateId);
    });
    filterTemplates();
  }

  /* ---------------------------------------------------------------- provider fields */

  const provider = form.querySelector("[name=provider]");
  const namesByProvider = JSON.parse(document.getElementById("provider-placeholders").textContent);
  const section = form.querySelector("[data-variables-section]");

  function showVariables() {
    const used = new Set(namesByProvider[provider.value] || []);
    for (const box of form.querySelectorAll("[data-var]")) box.hidden = !used.has(box.dataset.var);
    section.hidden = used.size === 0;
  }
  provider.addEventListener("change", showVariables);
  showVariables();

  /* ---------------------------------------------------------------- schedule */

  const scheduleAt = form.querySelector("[data-schedule-at]");
  function showSchedule() {
    const choice = form.querySelector("[name=schedule]:checked");
    scheduleAt.hidden = !choice || choice.value !== "later";
  }
  for (const radio of form.querySelectorAll("[name=schedule]")) {
    radio.addEventListener("change", showSchedule);
  }
  showSchedule();
})();
