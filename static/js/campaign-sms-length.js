/* How long an SMS is: encoding (GSM-7 or UCS-2) and the number of parts.
   A line-for-line port of campaigns/sms_length.py; a browser test checks that both
   give the same answer. Exposed as window.smsgateway.smsLength(text). */
(function () {
  "use strict";

  // GSM 03.38 basic character set.
  const GSM7_BASIC = new Set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
  );
  // The extension table: each costs two septets (escape + character).
  const GSM7_EXTENSION = new Set("^{}\\[~]|€\f");

  /** {encoding, characters, parts, perPart, remaining}, as SmsLength in Python. */
  function smsLength(text) {
    // Python iterates a string by code points; Array.from does the same.
    const chars = Array.from(text);
    let units, single, multi, encoding;
    if (chars.every((ch) => GSM7_BASIC.has(ch) || GSM7_EXTENSION.has(ch))) {
      units = chars.reduce((sum, ch) => sum + (GSM7_EXTENSION.has(ch) ? 2 : 1), 0);
      [single, multi, encoding] = [160, 153, "GSM-7"];
    } else {
      // UCS-2 counts UTF-16 code units (a JS string's length): an emoji takes two.
      units = text.length;
      [single, multi, encoding] = [70, 67, "UCS-2"];
    }
    let parts, perPart;
    if (units <= single) {
      [parts, perPart] = [units ? 1 : 0, single];
    } else {
      [parts, perPart] = [Math.ceil(units / multi), multi];
    }
    return { encoding, characters: units, parts, perPart, remaining: parts * perPart - units };
  }

  window.smsgateway = Object.assign(window.smsgateway || {}, { smsLength });
})();
