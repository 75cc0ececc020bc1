"""Recipient numbers to E.164, with a shortcut for the common shape of Indian mobiles.

An upload of a million rows spends most of its time in `phonenumbers.parse`. Most rows
hold an Indian number in one of a few plain shapes (9876543210, 09876543210,
919876543210, +91 98765 43210), whose parse result is known: country code 91 and the
ten digits as the national number. For those, validity is decided by phonenumbers' own
metadata patterns for India, exactly as `is_valid_number` decides it. Anything else,
and any number the shortcut does not accept, goes through phonenumbers in full, so the
shortcut can only ever give the answer phonenumbers gives (tests/campaigns/test_phones.py
compares the two over many generated inputs).
"""

from __future__ import annotations

import functools
import re

import phonenumbers

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


def normalise_phone(raw: str, default_country: str) -> str:
    """The number in E.164, or ValueError with a reason a user can act on."""
    text = raw.strip()
    fast = _indian_fast_path(text, default_country)
    if fast:
        return fast
    if not text:
        raise ValueError("No phone number.")
    try:
        parsed = phonenumbers.parse(text, default_country)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{text!r} is not a phone number.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{text!r} is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _indian_fast_path(text: str, default_country: str) -> str:
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
