from __future__ import annotations

import random

import phonenumbers
import pytest

from providers.phones import normalize

SEPARATORS = ["", " ", "-", "  ", " - ", "--"]
PREFIXES = ["", "+91", "91", "0", "+ 91", "+91 ", "0 ", "91-", "+910", "0091", "00", "+9", "+"]


def by_phonenumbers(text: str, country: str) -> str:
    """What normalize answered before it had a shortcut: phonenumbers alone."""
    try:
        parsed = phonenumbers.parse(text.strip(), country)
    except phonenumbers.NumberParseException:
        return "not a number"
    if not phonenumbers.is_valid_number(parsed):
        return "not valid"
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def ours(text: str, country: str) -> str:
    try:
        return normalize(text, default_region=country)
    except ValueError as exc:
        return "not valid" if "not a valid" in str(exc) else "not a number"


def test_every_indian_mobile_prefix_reads_as_phonenumbers_reads_it():
    # Validity of a ten-digit Indian number is decided by its leading digits; try every
    # five-digit start the shortcut takes (the longest prefix the metadata uses).
    rnd = random.Random(5)
    for start in range(60_000, 100_000):
        digits = f"{start:05d}{rnd.randrange(100_000):05d}"
        text = rnd.choice(PREFIXES) + digits
        assert ours(text, "IN") == by_phonenumbers(text, "IN"), text


def test_numbers_in_any_shape_and_default_country_read_as_phonenumbers_reads_them():
    rnd = random.Random(7)
    for _ in range(30_000):
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(8, 12)))
        cut = rnd.randint(0, len(digits))
        digits = digits[:cut] + rnd.choice(SEPARATORS) + digits[cut:]
        text = rnd.choice(PREFIXES) + rnd.choice(SEPARATORS) + digits + rnd.choice(["", " ", "-"])
        country = rnd.choice(["IN", "IN", "US", "GB", "AE"])
        assert ours(text, country) == by_phonenumbers(text, country), (text, country)


@pytest.mark.parametrize(
    ("text", "country", "expected"),
    [
        ("9876543210", "IN", "+919876543210"),
        ("09876543210", "IN", "+919876543210"),
        ("919876543210", "IN", "+919876543210"),
        ("+91 98765-43210", "US", "+919876543210"),
        ("9123456789", "IN", "+919123456789"),  # starts with 91 but is ten digits
        ("919876543210", "US", "not valid"),  # 91… is not India under US rules
        ("０９８７６５４３２１０", "IN", "+919876543210"),  # full-width digits
        ("५९८७६५४३२१", "IN", by_phonenumbers("५९८७६५४३२१", "IN")),  # Devanagari digits
        ("+919876543210 ext. 5", "IN", by_phonenumbers("+919876543210 ext. 5", "IN")),
        ("98765432", "IN", "not valid"),
        ("(415) 555-0123", "US", "+14155550123"),
    ],
)
def test_edge_cases_agree_with_phonenumbers(text, country, expected):
    assert ours(text, country) == expected == by_phonenumbers(text, country)


def test_the_reasons_name_the_text():
    with pytest.raises(ValueError, match="No phone number"):
        normalize("  ", default_region="IN")
    with pytest.raises(ValueError, match="'abc' is not a phone number"):
        normalize("abc", default_region="IN")
    with pytest.raises(ValueError, match="'12345' is not a valid phone number"):
        normalize("12345", default_region="IN")
