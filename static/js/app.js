/* smsgateway: behaviour shared by every page (copy buttons, flash messages, menus)
   and small helpers the page scripts use through window.smsgateway.
   No inline handlers anywhere: everything hooks on data- attributes. */
(function () {
  "use strict";

  /** Build an element: el("p", {class: "x"}, "text", child). Text is never parsed as HTML. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function csrfToken(form) {
    const input = (form || document).querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /** POST a JSON body; resolves to {status, data} (data is null when the answer is not JSON). */
  async function postJson(url, body, form) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": csrfToken(form),
      },
      body: JSON.stringify(body),
    });
    let data = null;
    if ((response.headers.get("Content-Type") || "").includes("application/json")) {
      data = await response.json();
    }
    return { status: response.status, data: data };
  }

  /** GET a JSON answer, never from the browser's cache; resolves to null unless 2xx. */
  async function getJson(url) {
    const response = await fetch(url, {
      credentials: "same-origin", headers: { "Accept": "application/json" }, cache: "no-store",
    });
    return response.ok ? response.json() : null;
  }

  /**
   * The server's field errors ({name: [messages]}) shown beside each [data-field=name]
   * of `form`, and those of no field (such as __all__) in `formError`; clear() removes
   * what show() added. The first input with an error gets the focus.
   */
  function fieldErrors(form, formError) {
    function clear() {
      for (const node of form.querySelectorAll("[data-client-error]")) node.remove();
      for (const field of form.querySelectorAll(".field--error")) field.classList.remove("field--error");
      for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
      formError.hidden = true;
      formError.textContent = "";
    }
    function show(errors) {
      let first = null;
      for (const [name, messages] of Object.entries(errors)) {
        const field = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
        if (!field) {
          formError.hidden = false;
          formError.textContent = [formError.textContent, ...messages].filter(Boolean).join(" ");
          continue;
        }
        field.classList.add("field--error");
        const input = field.querySelector("input, textarea, select");
        if (input) {
          input.setAttribute("aria-invalid", "true");
          first = first || input;
        }
        for (const message of messages) {
          field.append(el("p", { class: "field__error", "data-client-error": true }, message));
        }
      }
      if (first) first.focus();
    }
    return { clear, show };
  }

  /**
   * Poll a message_status URL every `interval` ms until the message is final, the
   * time limit passes or stop() is called. onUpdate gets every answer; onGiveUp the
   * last one when the time limit passes first.
   */
  function pollStatus(url, options) {
    const interval = options.interval || 1000;
    const deadline = Date.now() + (options.maxMs || 120000);
    let timer = null;
    let stopped = false;
    let last = null;
    async function tick() {
      if (stopped) return;
      try {
        const answer = await getJson(url);
        if (answer) {
          last = answer;
          options.onUpdate(last);
          if (last.terminal) return;
        }
      } catch (error) {
        // A dropped request is retried on the next tick.
      }
      if (stopped) return;
      if (Date.now() >= deadline) {
        if (options.onGiveUp) options.onGiveUp(last);
        return;
      }
      timer = window.setTimeout(tick, interval);
    }
    timer = window.setTimeout(tick, options.immediate ? 0 : interval);
    return { stop() { stopped = true; window.clearTimeout(timer); } };
  }

  /**
   * Fetch this page again and swap in the fresh copy of every [data-live] region, so
   * the server's templates stay the only thing that knows how to draw them.
   */
  async function refreshLive() {
    const response = await fetch(window.location.href, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const region of document.querySelectorAll("[data-live]")) {
      const replacement = fresh.querySelector(`[data-live="${region.dataset.live}"]`);
      if (replacement) region.replaceWith(document.importNode(replacement, true));
    }
  }

  function statusBadge(status, label) {
    return el("span", { class: "badge badge--" + status, "data-status-badge": true }, label);
  }

  window.smsgateway = {
    el, csrfToken, getJson, postJson, fieldErrors, pollStatus, refreshLive, statusBadge,
  };

  /* ---------------------------------------------------------------- copy buttons */

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    // http:// pages (local installs) have no async clipboard: fall back to a selection.
    const scratch = el("textarea", { class: "visually-hidden", readonly: true });
    scratch.value = text;
    document.body.append(scratch);
    scratch.select();
    document.execCommand("copy");
    scratch.remove();
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    try {
      await copyText(source.value !== undefined ? source.value : source.textContent);
      button.textContent = "Copied";
      button.classList.add("is-copied");
    } catch (error) {
      source.select && source.select();
      button.textContent = "Press Ctrl+C";
    }
    window.setTimeout(() => {
      button.textContent = original;
      button.classList.remove("is-copied");
    }, 1800);
  });

  /* ---------------------------------------------------------------- flash messages */

  document.addEventListener("click", (event) => {
    const close = event.target.closest("[data-dismiss]");
    if (close) close.closest("[data-flash]").remove();
  });

  /* ---------------------------------------------------------------- dropdown menus */

  document.addEventListener("click", (event) => {
    for (const menu of document.querySelectorAll("details[data-dropdown][open]")) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const menu of document.querySelectorAll("details[data-dropdown][open]")) {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    }
  });
})();
