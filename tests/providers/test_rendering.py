from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from providers.models import Message, Provider
from providers.rendering import MASK, RenderError, format_number, render_request
from providers.services import Claimed


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
