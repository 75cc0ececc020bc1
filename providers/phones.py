"""Phone number parsing and normalisation (always through phonenumbers)."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


class InvalidNumber(ValueError):
    pass


# Parsing costs more than the rest of queueing a message, and validating a message and
# storing it both need its number.
@lru_cache(maxsize=4096)
def normalize(number: str, *, default_region: str | None = None) -> str:
    """Return the E.164 form of a number, or raise InvalidNumber with a readable reason."""
    text = (number or "").strip()
    if not text:
        raise InvalidNumber("The number is empty.")
    if not text.startswith("+") and default_region is None:
        # Digits with a country code, as Indian gateways write them (919876543210).
        text = "+" + text.lstrip("0")
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"{number!r} is not a phone number.") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(f"{number!r} is not a valid phone number.")
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
