from __future__ import annotations

import json
import uuid
from urllib.parse import parse_qs, parse_qsl, urlsplit

import hypothesis
import phonenumbers
import pytest
from hypothesis import strategies as st

from providers.config.presets import SINCH_INDIA_PAYLOAD
from providers.models import Message, Provider
from providers.sending.claims import Claimed
from providers.sending.rendering import MASK, RenderError, format_number, render_request


def make_provider(**fields) -> Provider:
    defaults = {
        "nickname": "p",
        "endpoint": "https://sms.example.com/send",
        "payload": {"to": "$$To", "text": "$$Body", "id": "$$MessageID"},
    }
    return Provider(**{**defaults, **fields})


def make_message(provider: Provider, **fields) -> Message:
    defaults = {"to": "+919876543210", "body": "Hello"}
    return Message(provider=provider, **{**defaults, **fields})


def test_it_fills_every_standard_placeholder():
    provider = make_provider(
        payload={
            "to": "$$To",
            "b": "$$Body",
            "m": "$$MessageID",
            "t": "$$TemplateID",
            "c": "$$CampaignID",
            "v": "$$TemplateVariables",
        },
    )
    message = make_message(
        provider,
        template_id="1107",
        campaign_ref="c-9",
        variables={"TemplateVariables": ["Asha", "42"]},
    )
    body = json.loads(render_request(provider, [message]).body)
    assert body == {
        "to": "919876543210",
        "b": "Hello",
        "m": str(message.id),
        "t": "1107",
        "c": "c-9",
        "v": "Asha,42",
    }


@pytest.mark.parametrize("text", ['He said "hi"\nthen left', "नमस्ते 🎉", "back\\slash\t{}"])
def test_the_body_survives_json_exactly(text):
    provider = make_provider()
    body = json.loads(render_request(provider, [make_message(provider, body=text)]).body)
    assert body["text"] == text


def test_substitution_is_single_pass():
    provider = make_provider()
    message = make_message(provider, body="call $$To or $$MessageID")
    body = json.loads(render_request(provider, [message]).body)
    assert body["text"] == "call $$To or $$MessageID"


def test_placeholders_inside_longer_strings_are_replaced():
    provider = make_provider(payload={"to": "$$To", "text": "Hi: $$Body!"})
    body = json.loads(render_request(provider, [make_message(provider)]).body)
    assert body["text"] == "Hi: Hello!"


def test_custom_placeholders_come_from_the_message_variables():
    provider = make_provider(payload={"to": "$$To", "text": "$$Body", "from": "$$SenderID"})
    message = make_message(provider, variables={"SenderID": "ACMEIN"})
    assert json.loads(render_request(provider, [message]).body)["from"] == "ACMEIN"


def test_a_missing_custom_value_is_a_render_error():
    provider = make_provider(payload={"to": "$$To", "text": "$$Body", "from": "$$SenderID"})
    with pytest.raises(RenderError, match=r"\$\$SenderID"):
        render_request(provider, [make_message(provider)])


@pytest.mark.parametrize(
    ("number_format", "expected"),
    [("digits", "919876543210"), ("e164", "+919876543210"), ("national", "9876543210")],
)
def test_number_formats(number_format, expected):
    assert format_number("+919876543210", number_format) == expected


def test_form_encoding_sends_key_value_pairs():
    provider = make_provider(content_type="form")
    request = render_request(provider, [make_message(provider, body="a&b=c ✓")])
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    fields = parse_qs(request.body.decode())
    assert fields["text"] == ["a&b=c ✓"]
    assert fields["to"] == ["919876543210"]


def test_get_puts_the_payload_in_the_query_string_url_encoded():
    provider = make_provider(
        request_type="GET",
        payload={"text": "$$Body"},
        endpoint="https://sms.example.com/send?key=k1&to=$$To",
    )
    request = render_request(provider, [make_message(provider, body="50% off & more")])
    query = parse_qs(urlsplit(request.url).query)
    assert request.body is None
    assert query["key"] == ["k1"]
    assert query["to"] == ["919876543210"]
    assert query["text"] == ["50% off & more"]


def test_batch_repeats_the_record_and_renders_globals_once():
    provider = make_provider(
        payload={"tid": "$$TemplateID", "msgs": [{"to": "$$To", "mid": "$$MessageID"}]},
        batch_enabled=True,
        batch_key="msgs",
        batch_size=1000,
    )
    messages = [make_message(provider, to=f"+91987654321{i}", template_id="T1") for i in range(3)]
    body = json.loads(render_request(provider, messages).body)
    assert body["tid"] == "T1"
    assert body["msgs"] == [
        {"to": f"91987654321{i}", "mid": str(m.id)} for i, m in enumerate(messages)
    ]


def test_several_messages_need_batch_mode():
    provider = make_provider()
    with pytest.raises(RenderError):
        render_request(provider, [make_message(provider), make_message(provider)])


def test_credentials_render_but_are_masked_in_the_logged_copy():
    provider = make_provider(
        payload={"to": "$$To", "text": "$$Body", "userId": "$$Username", "pass": "$$Password"},
        username="acme",
        password='p"ss w0rd',
        headers={"X-Key": "hdr-secret"},
    )
    request = render_request(provider, [make_message(provider)])
    assert json.loads(request.body)["pass"] == 'p"ss w0rd'
    shown = json.dumps(request.masked())
    for secret in ("acme", 'p\\"ss w0rd', 'p"ss w0rd', "hdr-secret"):
        assert secret not in shown
    assert MASK in shown


def test_basic_auth_is_passed_to_the_transport_and_masked():
    provider = make_provider(auth_type="basic", username="u1", password="pw-123")
    request = render_request(provider, [make_message(provider)])
    assert request.auth == ("u1", "pw-123")
    assert "pw-123" not in json.dumps(request.masked())


def test_header_values_are_latin1_safe():
    provider = make_provider(headers={"X-Name": "line\r\nInjected: 1", "X-Uni": "नमस्ते"})
    headers = render_request(provider, [make_message(provider)]).headers
    assert "\n" not in headers["X-Name"]
    assert headers["X-Uni"] == "नमस्ते".encode()


def test_a_claimed_message_renders_as_the_message_it_was_claimed_from():
    provider = make_provider(payload={"to": "$$To", "text": "$$Body", "id": "$$MessageID"})
    message = make_message(provider, body="Hi", variables={"SenderID": "ACMEIN"})
    claimed = Claimed(
        id=message.id,
        provider_id=1,
        to=message.to,
        body=message.body,
        template_id=message.template_id,
        variables=message.variables,
        campaign_ref=message.campaign_ref,
        attempts=0,
    )
    assert render_request(provider, [claimed]) == render_request(provider, [message])


def test_a_template_edited_in_place_is_used_from_the_next_request():
    provider = make_provider(payload={"to": "$$To", "text": "$$Body"})
    message = make_message(provider)
    render_request(provider, [message])
    provider.payload["text"] = "From ACME: $$Body"
    provider.payload["to"] = 1
    assert json.loads(render_request(provider, [message]).body) == {
        "to": 1,
        "text": "From ACME: Hello",
    }


def test_a_later_batch_record_without_a_custom_value_keeps_the_placeholder():
    provider = make_provider(
        payload={"msgs": [{"to": "$$To", "from": "$$SenderID"}]},
        batch_enabled=True,
        batch_key="msgs",
    )
    messages = [
        make_message(provider, variables={"SenderID": "ACMEIN"}),
        make_message(provider, variables={}),
    ]
    body = json.loads(render_request(provider, messages).body)
    assert [record["from"] for record in body["msgs"]] == ["ACMEIN", "$$SenderID"]


# --- JSON bodies, written out ------------------------------------------------------


def test_json_escapes_quotes_backslashes_control_characters_and_unicode():
    provider = make_provider(payload={"to": "$$To", "text": "$$Body"})
    text = 'a"b\\c\n\r\t\x00\x08\x0c\x1f\x7f\u2028é नमस्ते 🎉👩🏽\u200d💻'
    body = render_request(provider, [make_message(provider, body=text)]).body
    expected = (
        r'{"to": "919876543210", "text": "a\"b\\c\n\r\t\u0000\b\f\u001f'
        + '\x7f\u2028é नमस्ते 🎉👩🏽\u200d💻"}'
    )
    assert body == expected.encode("utf-8")


def test_percent_signs_in_templates_and_values_are_sent_as_written():
    provider = make_provider(payload={"%s": "%(Body)s %% $$Body %s", "k%": "%", "%%": "$$To"})
    body = render_request(provider, [make_message(provider, body="50% %s %(x)s")]).body
    assert body == b'{"%s": "%(Body)s %% 50% %s %(x)s %s", "k%": "%", "%%": "919876543210"}'


def test_dollar_signs_that_are_not_placeholders_stay_as_written():
    provider = make_provider(
        payload={
            "a": "$$",
            "b": "$",
            "c": "$$$Body",
            "d": "$$1",
            "e": "$$Body$$Body",
            "f": "$$Body-x",
            "g": "x$$Body",
        }
    )
    body = render_request(provider, [make_message(provider)]).body
    assert body == (
        b'{"a": "$$", "b": "$", "c": "$Hello", "d": "$$1", '
        b'"e": "HelloHello", "f": "Hello-x", "g": "xHello"}'
    )


def test_values_are_never_expanded_again_in_any_part_of_the_request():
    fields = {
        "payload": {"text": "Hi $$Body!", "from": "$$SenderID"},
        "endpoint": "https://sms.example.com/send?m=<$$Body>",
        "headers": {"X-Sig": "<$$SenderID>"},
    }
    values = {"body": "$$To $$SenderID", "variables": {"SenderID": "$$Body"}}
    json_provider = make_provider(**fields)
    request = render_request(json_provider, [make_message(json_provider, **values)])
    assert request.body == b'{"text": "Hi $$To $$SenderID!", "from": "$$Body"}'
    assert request.url == "https://sms.example.com/send?m=%3C%24%24To+%24%24SenderID%3E"
    assert request.headers["X-Sig"] == "<$$Body>"
    form = make_provider(content_type="form", **fields)
    assert render_request(form, [make_message(form, **values)]).body == (
        b"text=Hi+%24%24To+%24%24SenderID%21&from=%24%24Body"
    )


def test_placeholders_in_keys_are_not_substituted_but_still_need_a_value():
    provider = make_provider(payload={"$$To": "$$Body", "$$SenderID": "x", 'q"k é': "y"})
    message = make_message(provider, variables={"SenderID": "ACMEIN"})
    body = render_request(provider, [message]).body
    assert body == '{"$$To": "Hello", "$$SenderID": "x", "q\\"k é": "y"}'.encode()
    with pytest.raises(RenderError, match=r"^no value for \$\$SenderID$"):
        render_request(provider, [make_message(provider)])


def test_non_string_keys_are_written_as_json_writes_them():
    provider = make_provider(payload={1: "a", 2.5: "b", False: "c", None: "d", -7: "$$Body"})
    body = render_request(provider, [make_message(provider)]).body
    assert body == b'{"1": "a", "2.5": "b", "false": "c", "null": "d", "-7": "Hello"}'


NON_STRING_VALUES = {
    "zero": 0,
    "neg": -12,
    "big": 10**20,
    "one": 1.0,
    "negzero": -0.0,
    "e": 1e100,
    "nan": float("nan"),
    "inf": float("inf"),
    "yes": True,
    "no": False,
    "nil": None,
    "empty": "",
    "tuple": ("$$Body", 1),
    "s1": "1",
    "strue": "true",
    "snull": "null",
}


def test_numbers_booleans_null_and_numbers_as_strings_in_a_json_body():
    provider = make_provider(payload=NON_STRING_VALUES)
    body = render_request(provider, [make_message(provider)]).body
    assert body == (
        b'{"zero": 0, "neg": -12, "big": 100000000000000000000, "one": 1.0, "negzero": -0.0, '
        b'"e": 1e+100, "nan": NaN, "inf": Infinity, "yes": true, "no": false, "nil": null, '
        b'"empty": "", "tuple": ["$$Body", 1], "s1": "1", "strue": "true", "snull": "null"}'
    )


def test_numbers_booleans_null_and_numbers_as_strings_in_a_form_body():
    provider = make_provider(payload=NON_STRING_VALUES, content_type="form")
    body = render_request(provider, [make_message(provider)]).body
    assert body == (
        b"zero=0&neg=-12&big=100000000000000000000&one=1.0&negzero=-0.0&e=1e%2B100"
        b"&nan=NaN&inf=Infinity&yes=true&no=false&nil=null&empty="
        b"&tuple=%5B%22%24%24Body%22%2C+1%5D&s1=1&strue=true&snull=null"
    )


def test_nested_objects_and_lists_are_substituted_at_every_depth():
    provider = make_provider(
        payload={
            "a": {"b": ["$$Body", {"c": "$$To", "d": []}, {}], "e": {}},
            "l": [[["id-$$MessageID"]]],
        }
    )
    message = make_message(provider, id=uuid.UUID(int=1))
    body = render_request(provider, [message]).body
    assert body == (
        b'{"a": {"b": ["Hello", {"c": "919876543210", "d": []}, {}], "e": {}}, '
        b'"l": [[["id-00000000-0000-0000-0000-000000000001"]]]}'
    )


@pytest.mark.parametrize(
    ("payload", "expected"),
    [({}, b"{}"), ("$$Body", b'"Hello"'), (["$$Body", 1, None], b'["Hello", 1, null]')],
)
def test_a_json_payload_need_not_be_an_object(payload, expected):
    provider = make_provider(payload=payload)
    assert render_request(provider, [make_message(provider)]).body == expected


def test_a_value_json_cannot_encode_fails_the_render():
    provider = make_provider(payload={"to": "$$To", "bad": {"a set"}})
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        render_request(provider, [make_message(provider)])


# --- Placeholder values ---------------------------------------------------------------


def test_variable_values_that_are_not_strings_are_sent_as_text():
    provider = make_provider(
        payload={"l": "$$L", "n": "$$N", "f": "$$F", "t": "$$T", "u": "$$U", "d": "$$D"}
    )
    variables = {
        "L": ["a", 42, None, ["x", 1.5]],
        "N": 7,
        "F": 0.1,
        "T": True,
        "U": None,
        "D": {"k": 'é"'},
    }
    body = render_request(provider, [make_message(provider, variables=variables)]).body
    assert (
        body
        == (
            '{"l": "a,42,null,x,1.5", "n": "7", "f": "0.1", "t": "true", "u": "null", '
            '"d": "{\\"k\\": \\"é\\\\\\"\\"}"}'
        ).encode()
    )


def test_message_variables_cannot_override_standard_placeholders():
    provider = make_provider(payload={"to": "$$To", "text": "$$Body"})
    message = make_message(provider, variables={"Body": "spoof", "To": "+15550000000"})
    body = render_request(provider, [message]).body
    assert body == b'{"to": "919876543210", "text": "Hello"}'


@pytest.mark.parametrize(
    ("to", "variables", "expected"),
    [
        ("+919876543210", None, b'{"a": "1", "i": "false", "v": ""}'),
        (
            "+14155550123",
            {"Alert": "0", "TemplateVariables": "x"},
            b'{"a": "0", "i": "true", "v": "x"}',
        ),
        ("+447911123456", {"Alert": ""}, b'{"a": "1", "i": "true", "v": ""}'),
    ],
)
def test_alert_international_and_template_variables(to, variables, expected):
    provider = make_provider(
        payload={"a": "$$Alert", "i": "$$International", "v": "$$TemplateVariables"},
        number_format="e164",
    )
    message = make_message(provider, to=to, variables=variables)
    assert render_request(provider, [message]).body == expected


@pytest.mark.parametrize(
    ("e164", "national"),
    [
        ("+14155550123", "4155550123"),
        ("+447911123456", "7911123456"),
        ("+5491123456789", "91123456789"),
    ],
)
def test_national_numbers_of_other_countries(e164, national):
    assert format_number(e164, "national") == national
    assert format_number(e164, "digits") == e164[1:]
    assert format_number(e164, "e164") == e164


def test_a_number_phonenumbers_rejects_fails_national_format_even_without_to():
    provider = make_provider(payload={"text": "$$Body"}, number_format="national")
    with pytest.raises(phonenumbers.NumberParseException):
        render_request(provider, [make_message(provider, to="12345")])
    provider.number_format = "digits"
    assert render_request(provider, [make_message(provider, to="12345")]).body == (
        b'{"text": "Hello"}'
    )


# --- Endpoints, GET and form encodings -----------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("https://sms.example.com/send?", "https://sms.example.com/send"),
        (
            "https://sms.example.com/send?a=b c&&k=1#frag",
            "https://sms.example.com/send?a=b+c&k=1#frag",
        ),
        (
            "https://sms.example.com/$$Username/send?msg=$$Body",
            "https://sms.example.com/a%20b%2Fc%3F/send?msg=x%26y%3Dz+%2F%C3%A9",
        ),
        (
            "https://sms.example.com/v1/$$SenderID?q=1",
            "https://sms.example.com/v1/S%2F1%20%C3%A9?q=1",
        ),
        (
            "https://sms.example.com/send?to=$$To&t=$$TemplateID$$CampaignID",
            "https://sms.example.com/send?to=919876543210&t=T+1c%262",
        ),
    ],
)
def test_endpoint_placeholders_are_quoted_in_the_path_and_encoded_in_the_query(endpoint, expected):
    provider = make_provider(endpoint=endpoint, username="a b/c?", payload={})
    message = make_message(
        provider,
        body="x&y=z /é",
        template_id="T 1",
        campaign_ref="c&2",
        variables={"SenderID": "S/1 é"},
    )
    assert render_request(provider, [message]).url == expected


@pytest.mark.parametrize(
    ("endpoint", "payload", "expected"),
    [
        ("https://sms.example.com/send", {}, "https://sms.example.com/send"),
        (
            "https://sms.example.com/send?",
            {"t": "$$Body"},
            "https://sms.example.com/send?t=a+b%26c",
        ),
        (
            "https://sms.example.com/send",
            {"t": "$$Body", "n": 1, "l": ["$$To", None], 2: True},
            "https://sms.example.com/send?t=a+b%26c&n=1&l=%5B%22919876543210%22%2C+null%5D&2=true",
        ),
    ],
)
def test_get_query_strings(endpoint, payload, expected):
    provider = make_provider(request_type="GET", endpoint=endpoint, payload=payload)
    request = render_request(provider, [make_message(provider, body="a b&c")])
    assert (request.method, request.url, request.body) == ("GET", expected, None)
    assert "Content-Type" not in request.headers


@pytest.mark.parametrize(
    ("fields", "payload", "error"),
    [
        ({"request_type": "GET"}, ["$$Body"], "^form and GET payloads must be a JSON object"),
        ({"content_type": "form"}, "$$Body", "^form and GET payloads must be a JSON object"),
        (
            {"content_type": "form", "batch_enabled": True, "batch_key": "msgs"},
            ["$$Body"],
            "^the payload has no array under the batch key 'msgs'$",
        ),
    ],
)
def test_form_and_get_payloads_must_be_objects(fields, payload, error):
    provider = make_provider(payload=payload, **fields)
    with pytest.raises(RenderError, match=error):
        render_request(provider, [make_message(provider)])


# --- Headers, credentials --------------------------------------------------------------


def test_headers_are_substituted_and_the_request_lists_its_secrets():
    provider = make_provider(
        username="acme",
        password="pw",
        auth_type="basic",
        headers={
            "X-Sig": "s-$$Body",
            "Accept": "text/plain",
            "X-N": 5,
            "Content-Type": "text/json",
            "X-Uni": "$$SenderID",
        },
    )
    message = make_message(provider, body="l1\r\nl2 é", variables={"SenderID": "नमस्ते"})
    request = render_request(provider, [message])
    assert request.headers == {
        "X-Sig": "s-l1  l2 é",
        "Accept": "text/plain",
        "X-N": "5",
        "Content-Type": "text/json",
        "X-Uni": "नमस्ते".encode(),
    }
    assert request.auth == ("acme", "pw")
    assert request.secrets == [
        "acme",
        "pw",
        "s-$$Body",
        "text/plain",
        "5",
        "text/json",
        "$$SenderID",
    ]


def test_a_header_placeholder_without_a_value_is_a_render_error():
    provider = make_provider(headers={"X-Sig": "$$Nope"})
    with pytest.raises(RenderError, match=r"^no value for \$\$Nope$"):
        render_request(provider, [make_message(provider)])


def test_no_messages_is_a_render_error():
    with pytest.raises(RenderError, match="^no messages to render$"):
        render_request(make_provider(), [])


# --- Batches ---------------------------------------------------------------------------


def make_batch_provider(payload, **fields) -> Provider:
    return make_provider(
        payload=payload, batch_enabled=True, batch_key="msgs", batch_size=1000, **fields
    )


def test_a_batch_keeps_the_template_key_order_and_renders_globals_from_the_first_message():
    provider = make_batch_provider(
        {"a": "$$TemplateID", "msgs": [{"t": "$$Body", "k": 1}], "z": "$$CampaignID"},
        headers={"X-C": "$$CampaignID"},
    )
    messages = [
        make_message(provider, template_id="T1", campaign_ref="C1", body="one"),
        make_message(provider, template_id="T2", campaign_ref="C2", body='t"wo'),
    ]
    request = render_request(provider, messages)
    assert request.body == (
        b'{"a": "T1", "msgs": [{"t": "one", "k": 1}, {"t": "t\\"wo", "k": 1}], "z": "C1"}'
    )
    assert request.headers["X-C"] == "C1"


def test_a_batch_of_one_is_still_a_list_of_records():
    provider = make_batch_provider({"msgs": [{"t": "$$Body"}]})
    assert render_request(provider, [make_message(provider)]).body == b'{"msgs": [{"t": "Hello"}]}'


def test_a_form_batch_sends_the_records_as_json_text():
    provider = make_batch_provider(
        {"a": "$$TemplateID", "msgs": [{"t": "$$Body"}]}, content_type="form"
    )
    messages = [
        make_message(provider, template_id="T1", body="one"),
        make_message(provider, body="two é"),
    ]
    assert render_request(provider, messages).body == (
        b"a=T1&msgs=%5B%7B%22t%22%3A+%22one%22%7D%2C+%7B%22t%22%3A+%22two+%C3%A9%22%7D%5D"
    )


def test_a_get_batch_sends_the_records_as_json_text():
    provider = make_batch_provider(
        {"a": "$$TemplateID", "msgs": [{"t": "$$Body"}]}, request_type="GET"
    )
    messages = [
        make_message(provider, template_id="T1", body="one"),
        make_message(provider, body="two"),
    ]
    assert render_request(provider, messages).url == (
        "https://sms.example.com/send?a=T1&msgs=%5B%7B%22t%22%3A+%22one%22%7D%2C+%7B%22t%22%3A+%22two%22%7D%5D"
    )


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"msgs": []}, "^the batch array must hold exactly one record template$"),
        ({"msgs": [{"a": 1}, {"a": 1}]}, "^the batch array must hold exactly one record template$"),
        ({"msgs": {"a": 1}}, "^the payload has no array under the batch key 'msgs'$"),
        ({"msgs": "$$Body"}, "^the payload has no array under the batch key 'msgs'$"),
        ({"other": [{"a": 1}]}, "^the payload has no array under the batch key 'msgs'$"),
        (["$$Body"], "^the payload has no array under the batch key 'msgs'$"),
    ],
)
def test_a_malformed_batch_array_is_a_render_error(payload, error):
    provider = make_batch_provider(payload)
    with pytest.raises(RenderError, match=error):
        render_request(provider, [make_message(provider)])


def sinch_message(i: int) -> Claimed:
    return Claimed(
        id=uuid.UUID(int=i),
        provider_id=1,
        to=f"+9198{i:08d}",
        body=f'Hi "{i}"\nनमस्ते',
        template_id="1107161234567890",
        variables={"AppID": "app", "SenderID": "ACMEIN", "EntityID": "1101234"},
        campaign_ref="c-1",
        attempts=0,
    )


def sinch_record(i: int, to: str) -> dict[str, str]:
    return {
        "userId": "acme",
        "pass": 'p"ss',
        "contenttype": "1",
        "from": "ACMEIN",
        "to": to,
        "selfid": "true",
        "msgid": str(uuid.UUID(int=i)),
        "intflag": "false",
        "alert": "1",
        "text": f'Hi "{i}"\nनमस्ते',
        "dpi": "1101234",
        "dtm": "1107161234567890",
    }


@pytest.mark.parametrize(("number_format", "prefix"), [("digits", "9198"), ("national", "98")])
def test_a_sinch_india_batch_of_1000(number_format, prefix):
    record = {key: value for key, value in SINCH_INDIA_PAYLOAD.items() if key != "appid"}
    provider = make_batch_provider(
        {"appid": "$$AppID", "msgs": [record]},
        endpoint="https://ap.awsigateway.com/v1/enterprises/messages.json",
        username="acme",
        password='p"ss',
        number_format=number_format,
    )
    request = render_request(provider, [sinch_message(i) for i in range(1000)])
    assert json.loads(request.body)["msgs"][7] == sinch_record(7, f"{prefix}00000007")
    expected = {
        "appid": "app",
        "msgs": [sinch_record(i, f"{prefix}{i:08d}") for i in range(1000)],
    }
    assert request.body == json.dumps(expected, ensure_ascii=False).encode("utf-8")
    assert request.url == "https://ap.awsigateway.com/v1/enterprises/messages.json"


# --- Templates edited between requests ------------------------------------------------


def test_payload_values_edited_in_place_are_sent_as_their_new_type():
    provider = make_provider(payload={"to": "$$To", "v": 1})
    message = make_message(provider)
    sent = []
    for value in [1, 1.0, True, "1", [1], {"a": "$$Body"}, "$$Body"]:
        provider.payload["v"] = value
        sent.append(render_request(provider, [message]).body)
    assert sent == [
        b'{"to": "919876543210", "v": 1}',
        b'{"to": "919876543210", "v": 1.0}',
        b'{"to": "919876543210", "v": true}',
        b'{"to": "919876543210", "v": "1"}',
        b'{"to": "919876543210", "v": [1]}',
        b'{"to": "919876543210", "v": {"a": "Hello"}}',
        b'{"to": "919876543210", "v": "Hello"}',
    ]


def test_batch_mode_endpoint_and_headers_edited_between_requests_are_used():
    provider = make_provider(payload={"msgs": [{"t": "$$Body"}]}, batch_key="msgs")
    message = make_message(provider)
    assert render_request(provider, [message]).body == b'{"msgs": [{"t": "Hello"}]}'
    provider.batch_enabled = True
    request = render_request(provider, [message, make_message(provider, body="Bye")])
    assert request.body == b'{"msgs": [{"t": "Hello"}, {"t": "Bye"}]}'
    provider.endpoint = "https://sms.example.com/v2?to=$$To"
    provider.headers = {"X-Sig": "$$Body"}
    request = render_request(provider, [message])
    assert request.url == "https://sms.example.com/v2?to=919876543210"
    assert request.headers["X-Sig"] == "Hello"


# --- Properties: any text round-trips exactly ----------------------------------------

TEXT_SETTINGS = hypothesis.settings(
    max_examples=200, deadline=None, derandomize=True, database=None
)

# Any text, and text made of what JSON, URLs, %-formats and placeholders treat specially.
TRICKY = ['"', "\\", "\n", "\r\n", "\x00", "\x1f", "\u2028", "é", "नमस्ते", "🎉", "$", "$$"]
TRICKY += ["$$Body", "$$To", "$$SenderID", "$$Nope", "%", "%s", "%(Body)s", "&", "=", "+", "#", " "]
TEXT = st.one_of(st.text(), st.lists(st.sampled_from(TRICKY)).map("".join))


@TEXT_SETTINGS
@hypothesis.given(body=TEXT, sender=TEXT, template_id=TEXT)
def test_any_text_round_trips_through_a_json_body(body, sender, template_id):
    provider = make_provider(
        payload={
            "to": "$$To",
            "text": "Hi $$Body!",
            "meta": {"from": "$$SenderID", "tags": ["$$TemplateID", 1, None]},
            "k%s": "%",
        }
    )
    message = make_message(
        provider, body=body, template_id=template_id, variables={"SenderID": sender}
    )
    expected = {
        "to": "919876543210",
        "text": f"Hi {body}!",
        "meta": {"from": sender, "tags": [template_id, 1, None]},
        "k%s": "%",
    }
    rendered = render_request(provider, [message]).body
    assert json.loads(rendered) == expected
    assert rendered == json.dumps(expected, ensure_ascii=False).encode("utf-8")


@TEXT_SETTINGS
@hypothesis.given(bodies=st.lists(TEXT, min_size=1, max_size=5), tid=TEXT)
def test_any_text_round_trips_through_a_json_batch(bodies, tid):
    provider = make_batch_provider({"tid": "$$TemplateID", "msgs": [{"text": "$$Body"}]})
    messages = [make_message(provider, body=body, template_id=tid) for body in bodies]
    expected = {"tid": tid, "msgs": [{"text": body} for body in bodies]}
    rendered = render_request(provider, messages).body
    assert json.loads(rendered) == expected
    assert rendered == json.dumps(expected, ensure_ascii=False).encode("utf-8")


@TEXT_SETTINGS
@hypothesis.given(body=TEXT)
def test_any_text_round_trips_through_form_and_get_encodings(body):
    form = make_provider(payload={"to": "$$To", "text": "[$$Body]"}, content_type="form")
    fields = parse_qsl(render_request(form, [make_message(form, body=body)]).body.decode("ascii"))
    assert fields == [("to", "919876543210"), ("text", f"[{body}]")]

    get = make_provider(
        payload={"text": "[$$Body]"}, request_type="GET", endpoint="https://x.test/s?to=$$To"
    )
    url = render_request(get, [make_message(get, body=body)]).url
    assert parse_qsl(urlsplit(url).query) == [("to", "919876543210"), ("text", f"[{body}]")]
