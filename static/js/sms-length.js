/* How long an SMS is: encoding (GSM-7 or UCS-2) and the number of parts.
   The rules (character sets, part sizes) are the server's, handed to the page with
   json_script as #sms-length-rules (providers/sending/sms_length.py sms_length_rules); this
   only counts with them, as providers.sending.sms_length.sms_length does. A browser test
   checks that both give the same answer. Exposed as window.smsgateway.smsLength(text). */
(function () {
  "use strict";

  const source = document.getElementById("sms-length-rules");
  if (!source) return;
  const rules = JSON.parse(source.textContent);
  const basic = new Set(Array.from(rules.gsm7_basic));
  // The extension table: each costs two septets (escape + character).
  const extension = new Set(Array.from(rules.gsm7_extension));

  /** {encoding, characters, parts, perPart, remaining}, as SmsLength in Python. */
  function smsLength(text) {
    // Python iterates a string by code points; Array.from does the same.
    const chars = Array.from(text);
    let units, sizes, encoding;
    if (chars.every((ch) => basic.has(ch) || extension.has(ch))) {
      units = chars.reduce((sum, ch) => sum + (extension.has(ch) ? 2 : 1), 0);
      [sizes, encoding] = [rules.gsm7, "GSM-7"];
    } else {
      // UCS-2 counts UTF-16 code units (a JS string's length): an emoji takes two.
      units = text.length;
      [sizes, encoding] = [rules.ucs2, "UCS-2"];
    }
    let parts, perPart;
    if (units <= sizes.single) {
      [parts, perPart] = [units ? 1 : 0, sizes.single];
    } else {
      [parts, perPart] = [Math.ceil(units / sizes.multi), sizes.multi];
    }
    return { encoding, characters: units, parts, perPart, remaining: parts * perPart - units };
  }

  window.smsgateway = Object.assign(window.smsgateway || {}, { smsLength });
})();
