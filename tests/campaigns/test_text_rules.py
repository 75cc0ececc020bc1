from __future__ import annotations

import pytest

from campaigns.personalisation import MissingField, field_names, personalise
from dlt.check import free_text_check
from dlt.rules import sender_id_error
from providers.sending.sms_length import sms_length


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),
        ("a" * 159 + "[", "GSM-7", 161, 2),
        ("नमस्ते", "UCS-2", 6, 1),
        ("a" * 69 + "é" + "ç", "UCS-2", 71, 2),
        ("🎉" * 35, "UCS-2", 70, 1),
        ("x" * 134 + "✓", "UCS-2", 135, 3),
    ],
)
def test_sms_length(text, encoding, units, parts):
    length = sms_length(text)
    assert (length.encoding, length.characters, length.parts) == (encoding, units, parts)


def test_personalisation_fills_fields_and_defaults():
    message = "Hi {{first_name|there}}, your code is {{ Code }}"
    assert field_names(message) == ["first_name", "code"]
    assert personalise(message, {"first_name": "Asha", "code": "42"}) == "Hi Asha, your code is 42"
    assert personalise(message, {"first_name": " ", "code": "42"}) == "Hi there, your code is 42"


def test_personalisation_without_value_or_default_names_the_field():
    with pytest.raises(MissingField) as error:
        personalise("Hi {{first_name}}", {})
    assert error.value.name == "first_name"


def test_personalisation_is_single_pass():
    assert personalise("{{a}}", {"a": "{{b}}", "b": "x"}) == "{{b}}"


TEMPLATE = "Dear {#var#}, your OTP is {#var#}. Do not share it. - ACME"


def test_dlt_template_matches_rendered_text():
    assert free_text_check(TEMPLATE, "Dear Asha, your OTP is 1234. Do not share it. - ACME").ok


def test_dlt_template_mismatch_is_explained():
    result = free_text_check(TEMPLATE, "Hello Asha, your OTP is 1234.")
    assert result.errors == [
        "The message does not match the registered template: "
        "the template's text 'Dear' is not in the message."
    ]


def test_dlt_variables_are_limited_to_30_characters():
    long_name = "A" * 31
    result = free_text_check(TEMPLATE, f"Dear {long_name}, your OTP is 1. Do not share it. - ACME")
    assert result.errors == [
        f"variable 1 {{#var#}} '{long_name}' is 31 characters; at most 30 are allowed"
    ]


@pytest.mark.parametrize(
    ("sender", "promotional", "ok"),
    [
        ("123456", True, True),
        ("ACMEIN", True, False),
        ("ACMEIN", False, True),
        ("ACME12", False, False),
        ("12345", True, False),
    ],
)
def test_sender_id_rules(sender, promotional, ok):
    assert (sender_id_error(sender, promotional=promotional) is None) is ok
