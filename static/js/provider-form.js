/* Add/Edit Provider: the payload JSON editor (validates as you type, lists the
   placeholders it finds), header rows, and sections that follow the choices made.
   The server checks everything again; this only gives answers sooner. */
(function () {
  "use strict";

  const form = document.querySelector("[data-provider-form]");
  if (!form) return;
  const el = window.smsgateway.el;
  const PLACEHOLDER = /\$\$([A-Za-z][A-Za-z0-9_]*)/g;
  const standard = new Map(JSON.parse(document.getElementById("standard-placeholders").textContent));
  // The server's payload rules (providers/config/validation.py payload_rules), word for word.
  const payloadRules = JSON.parse(document.getElementById("payload-rules").textContent);

  /* ---------------------------------------------------------------- JSON errors */

  /**
   * Find where JSON text goes wrong: {pos, message}, or null when it parses. Browsers
   * word (and place) JSON.parse errors differently, so the position comes from this
   * small strict reader instead.
   */
  function findJsonError(text) {
    let i = 0;
    const fail = (message) => {
      throw { pos: i, message: i >= text.length ? message + " but the text ended" : message };
    };
    const space = () => { while (i < text.length && " \t\n\r".includes(text[i])) i++; };
    const expect = (ch, message) => { if (text[i] !== ch) fail(message); i++; };

    function value() {
      space();
      const ch = text[i];
      if (ch === "{") return object();
      if (ch === "[") return array();
      if (ch === "\"") return string();
      if (ch === "-" || (ch >= "0" && ch <= "9")) return number();
      for (const word of ["true", "false", "null"]) {
        if (text.startsWith(word, i)) { i += word.length; return; }
      }
      if (ch === "'") fail("strings need double quotes, not single quotes");
      fail(i >= text.length ? "expected a value" : "unexpected " + JSON.stringify(ch));
    }
    function object() {
      i++; space();
      if (text[i] === "}") { i++; return; }
      for (;;) {
        space();
        if (text[i] === "}") fail("no comma allowed before '}'");
        if (text[i] !== "\"") fail("expected a property name in double quotes");
        string(); space();
        expect(":", "expected ':' after the property name");
        value(); space();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "}") { i++; return; }
        fail("expected ',' or '}' after the property value");
      }
    }
    function array() {
      i++; space();
      if (text[i] === "]") { i++; return; }
      for (;;) {
        space();
        if (text[i] === "]") fail("no comma allowed before ']'");
        value(); space();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "]") { i++; return; }
        fail("expected ',' or ']' after the array item");
      }
    }
    function string() {
      const start = i;
      i++;
      while (i < text.length) {
        const ch = text[i];
        if (ch === "\"") { i++; return; }
        if (ch === "\\") {
          i++;
          if (!"\"\\/bfnrtu".includes(text[i] || "x")) fail("invalid escape in a string");
          if (text[i] === "u" && !/^[0-9a-fA-F]{4}$/.test(text.substr(i + 1, 4))) fail("invalid \\u escape");
          i += text[i] === "u" ? 5 : 1;
          continue;
        }
        if (ch < " ") {
          if (ch === "\n") { i = start; fail("this string has no closing quote on its line"); }
          fail("control character inside a string");
        }
        i++;
      }
      i = start;
      fail("this string has no closing quote");
    }
    function number() {
      const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
      if (!match) fail("invalid number");
      i += match[0].length;
    }

    try {
      value(); space();
      if (i < text.length) fail("unexpected text after the end of the JSON");
      return null;
    } catch (error) {
      if (error && typeof error.pos === "number") return error;
      throw error;
    }
  }

  function lineAndColumn(text, pos) {
    const before = text.slice(0, pos);
    const line = before.split("\n").length;
    return { line, column: pos - before.lastIndexOf("\n") };
  }

  /* ---------------------------------------------------------------- the editor */

  const editor = form.querySelector("[data-json-editor]");
  const textarea = editor.querySelector("textarea");
  const gutter = editor.querySelector("[data-gutter]");
  const status = form.querySelector("[data-json-status]");
  const warnings = form.querySelector("[data-json-warnings]");
  const list = form.querySelector("[data-placeholder-list]");
  const listEmpty = form.querySelector("[data-placeholder-empty]");
  const endpoint = form.querySelector("[name=endpoint]");
  let errorLine = 0;

  function drawGutter(lines) {
    gutter.replaceChildren(...Array.from({ length: lines }, (_, n) =>
      el("span", { class: n + 1 === errorLine ? "is-error" : null }, n + 1)));
    gutter.scrollTop = textarea.scrollTop;
  }

  function setStatus(kind, text) {
    status.className = "json-status" + (kind ? " json-status--" + kind : "");
    status.textContent = text;
  }

  function analyse() {
    const text = textarea.value;
    errorLine = 0;
    let parsed = null;
    if (!text.trim()) {
      setStatus("error", "Enter a JSON payload template.");
    } else {
      try {
        parsed = JSON.parse(text);
        setStatus("ok", "Valid JSON");
      } catch (parseError) {
        const found = findJsonError(text);
        if (found) {
          const where = lineAndColumn(text, found.pos);
          errorLine = where.line;
          setStatus("error", `Invalid JSON at line ${where.line}, column ${where.column}: ${found.message}.`);
        } else {
          setStatus("error", "Invalid JSON: " + parseError.message);
        }
      }
    }
    drawGutter(text.split("\n").length);
    // Once the user edits the payload, the server's old verdict on it is stale.
    if (textarea.dataset.touched) {
      for (const old of form.querySelectorAll("[data-field=payload] [data-server-error]")) old.remove();
      form.querySelector("[data-field=payload]").classList.toggle("field--error", errorLine > 0 || !text.trim());
    }
    showPlaceholders(text, parsed);
  }

  function showPlaceholders(text, parsed) {
    const names = [...new Set(Array.from(text.matchAll(PLACEHOLDER), (m) => m[1]))];
    list.replaceChildren(...names.map((name) => {
      const custom = !standard.has(name);
      return el("li", { class: custom ? "is-custom" : null, "data-placeholder": name },
        el("code", {}, "$$" + name),
        el("span", {}, custom ? "custom — asked for when sending" : standard.get(name)));
    }));
    listEmpty.hidden = names.length > 0;

    const everywhere = new Set([...names, ...Array.from((endpoint.value || "").matchAll(PLACEHOLDER), (m) => m[1])]);
    const notes = [];
    if (text.trim()) {
      for (const rule of payloadRules.required) {
        if (!rule.any_of.some((name) => everywhere.has(name))) notes.push(rule.message);
      }
    }
    if (parsed !== null && isFlat()) {
      if (typeof parsed !== "object" || Array.isArray(parsed)) {
        notes.push(payloadRules.flat.object);
      } else if (Object.values(parsed).some((v) => v !== null && typeof v === "object")) {
        notes.push(payloadRules.flat.flat);
      }
    }
    // Until the payload is edited, the server's messages say the same thing.
    const serverSaid = form.querySelector("[data-field=payload] [data-server-error]");
    warnings.replaceChildren(...(serverSaid ? [] : notes).map((note) => el("li", {}, note)));
    syncSections();
  }

  function isFlat() {
    return checked("request_type") === "GET" || checked("content_type") === "form";
  }

  textarea.addEventListener("input", () => { textarea.dataset.touched = "1"; analyse(); });
  textarea.addEventListener("scroll", () => { gutter.scrollTop = textarea.scrollTop; });
  textarea.addEventListener("keydown", (event) => {
    // Tab indents inside the editor; Shift+Tab still leaves it.
    if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !event.altKey) {
      event.preventDefault();
      textarea.setRangeText("  ", textarea.selectionStart, textarea.selectionEnd, "end");
      textarea.dispatchEvent(new Event("input"));
    }
  });
  endpoint.addEventListener("input", analyse);

  form.querySelector("[data-format-json]").addEventListener("click", () => {
    try {
      textarea.value = JSON.stringify(JSON.parse(textarea.value), null, 2);
      textarea.dispatchEvent(new Event("input"));
    } catch (error) {
      textarea.focus();
    }
  });

  for (const chip of form.querySelectorAll("[data-insert]")) {
    chip.addEventListener("click", () => {
      textarea.focus();
      textarea.setRangeText(chip.dataset.insert, textarea.selectionStart, textarea.selectionEnd, "end");
      textarea.dispatchEvent(new Event("input"));
    });
  }

  /* ---------------------------------------------------------------- sections */

  function checked(name) {
    const input = form.querySelector(`[name=${name}]:checked`);
    return input ? input.value : "";
  }

  function section(name) {
    return form.querySelector(`[data-section=${name}]`);
  }

  function syncSections() {
    const names = new Set(Array.from(textarea.value.matchAll(PLACEHOLDER), (m) => m[1]));
    section("content_type").hidden = checked("request_type") === "GET";
    section("credentials").hidden = !(checked("auth_type") === "basic" || names.has("Username") || names.has("Password"));
    section("oauth").hidden = checked("auth_type") !== "oauth2";
    section("batch").hidden = !form.querySelector("[name=batch_enabled]").checked;
    section("dlr_mapping").hidden = form.querySelector("[name=dlr_format]").value !== "custom";
    section("callback_auth").hidden = !form.querySelector("[name=callback_auth]").checked;
  }

  form.addEventListener("change", (event) => {
    if (["request_type", "content_type", "auth_type", "batch_enabled", "dlr_format", "callback_auth"].includes(event.target.name)) {
      analyse();
    }
  });

  /* ---------------------------------------------------------------- header rows */

  const rows = form.querySelector("[data-header-rows]");
  const rowTemplate = form.querySelector("[data-header-template]");
  const headersEmpty = form.querySelector("[data-headers-empty]");

  const headersTable = form.querySelector("[data-headers]");

  function syncHeadersEmpty() {
    headersEmpty.hidden = rows.children.length > 0;
    headersTable.hidden = rows.children.length === 0;
  }

  form.querySelector("[data-add-header]").addEventListener("click", () => {
    const row = rowTemplate.content.firstElementChild.cloneNode(true);
    rows.append(row);
    syncHeadersEmpty();
    row.querySelector("[name=header_name]").focus();
  });

  rows.addEventListener("click", (event) => {
    const remove = event.target.closest("[data-remove-header]");
    if (!remove) return;
    remove.closest("[data-header-row]").remove();
    syncHeadersEmpty();
  });

  // A masked value is all-or-nothing: focusing it selects it, so typing replaces it.
  rows.addEventListener("focusin", (event) => {
    if (event.target.matches("[data-masked]")) event.target.select();
  });

  analyse();
})();
