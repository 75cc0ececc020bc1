"""Phone numbers to E.164, the one way every part of the product reads them.

Always through phonenumbers, with a shortcut for the common shape of Indian mobiles: a
message queued through the API, and an upload of a million rows, spend most of their
time in `phonenumbers.parse`. Most numbers are Indian in one of a few plain shapes
(9876543210, 09876543210, 919876543210, +91 98765 43210), whose parse result is known:
country code 91 and the ten digits as the national number. For those, validity is
decided by phonenumbers' own metadata patterns for India, exactly as `is_valid_number`
decides it. Anything else, and any number the shortcut does not accept, goes through
phonenumbers in full, so the shortcut can only ever give the answer phonenumbers gives
(tests/providers/test_phones.py compares the two over many generated inputs).
"""

from __future__ import annotations

import functools
import re

import phonenumbers


class InvalidNumber(ValueError):
    pass


# Validating a message and storing it both need its number.
@functools.lru_cache(maxsize=4096)
def normalize(number: str, *, default_region: str | None = None) -> str:
    """The E.164 form of a number, or InvalidNumber with a reason a user can act on.

    With a default region (an upload's default country), a number without a country
    code is national. Without one (the API), digits without a + carry their country
    code, as Indian gateways write them: 919876543210.
    """
    text = (number or "").strip()
    if not text:
        raise InvalidNumber("No phone number.")
    parsed_text = text
    if not text.startswith("+") and default_region is None:
        parsed_text = "+" + text.lstrip("0")
    fast = _indian_fast_path(parsed_text, default_region)
    if fast:
        return fast
    try:
        parsed = phonenumbers.parse(parsed_text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidNumber(f"{text!r} is not a phone number.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(f"{text!r} is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def from_parts(country_code: str, mobile: str) -> str:
    """E.164 from a country calling code (91 or +91) and a national mobile number."""
    code = (country_code or "").strip().lstrip("+")
    if not code.isdigit():
        raise InvalidNumber("The country code must be digits, such as 91.")
    digits = "".join(ch for ch in (mobile or "") if ch.isdigit())
    if not digits:
        raise InvalidNumber("Enter a mobile number.")
    return normalize("+" + code + digits.lstrip("0"))


# After dropping spaces and hyphens: +91, 91 (with IN as the default country) or the
# national prefix 0, then ten ASCII digits starting 6-9 (\d would take other scripts).
_INDIAN_SHAPE = re.compile(r"(\+91|91|0)?([6-9][0-9]{9})")
_DESC_NAMES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


def _indian_fast_path(text: str, default_country: str | None) -> str:
    """+91 and the ten digits when the text is a valid Indian number in a plain shape, else ""."""
    match = _INDIAN_SHAPE.fullmatch(text.replace(" ", "").replace("-", ""))
    if match is None:
        return ""
    prefix, national = match.groups()
    if prefix != "+91" and default_country != "IN":
        return ""  # 91… or 0… mean something else under another country's rules
    patterns = _indian_ten_digit_patterns()
    if patterns is None:
        return ""
    general, types = patterns
    if general.fullmatch(national) and types.fullmatch(national):
        return "+91" + national
    return ""


@functools.cache
def _indian_ten_digit_patterns() -> tuple[re.Pattern[str], re.Pattern[str]] | None:
    """What `is_valid_number` checks for a ten-digit Indian number: the general pattern,
    then any number type whose possible lengths allow ten digits (None: no shortcut)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("IN")
    if metadata is None or metadata.general_desc is None:
        return None
    general = metadata.general_desc
    if not general.national_number_pattern or (
        general.possible_length and 10 not in general.possible_length
    ):
        return None
    alternatives = []
    for name in _DESC_NAMES:
        desc = getattr(metadata, name)
        if desc is None or not desc.national_number_pattern:
            continue
        if desc.possible_length and 10 not in desc.possible_length:
            continue
        alternatives.append(f"(?:{desc.national_number_pattern})")
    if not alternatives:
        return None
    return re.compile(general.national_number_pattern), re.compile("|".join(alternatives))
