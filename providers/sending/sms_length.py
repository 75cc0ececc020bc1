"""How long an SMS is: encoding (GSM-7 or UCS-2) and the number of parts.

The one copy of these rules: pages get them through `sms_length_rules()` (rendered
with json_script) and static/js/sms-length.js counts with what it is handed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# GSM 03.38 basic character set.
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each costs two septets (escape + character).
GSM7_EXTENSION = set("^{}\\[~]|€\f")

# Units that fit one SMS, and each part of a longer (concatenated) one.
GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" or "UCS-2"
    characters: int  # length in the encoding's units (septets or UTF-16 code units)
    parts: int
    per_part: int  # capacity of each part at this length

    @property
    def remaining(self) -> int:
        return self.parts * self.per_part - self.characters


def sms_length(text: str) -> SmsLength:
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, multi, encoding = GSM7_SINGLE, GSM7_MULTI, "GSM-7"
    else:
        # UCS-2 counts UTF-16 code units: an emoji outside the BMP takes two.
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = UCS2_SINGLE, UCS2_MULTI, "UCS-2"
    if units <= single:
        return SmsLength(encoding, units, 1 if units else 0, single)
    parts = -(-units // multi)
    return SmsLength(encoding, units, parts, multi)


def sms_length_rules() -> dict[str, Any]:
    """What the browser needs to count like `sms_length` (for json_script)."""
    return {
        "gsm7_basic": "".join(sorted(GSM7_BASIC)),
        "gsm7_extension": "".join(sorted(GSM7_EXTENSION)),
        "gsm7": {"single": GSM7_SINGLE, "multi": GSM7_MULTI},
        "ucs2": {"single": UCS2_SINGLE, "multi": UCS2_MULTI},
    }
