"""The fast renderer sends exactly what the straightforward one did, for any input.

`reference_render` below is the renderer as it was before templates were parsed once:
every value computed for every message, each JSON string substituted by a regex, and
the payload passed through `json.dumps`. Generated providers and messages go through
both, and the requests (or the errors) must be identical, byte for byte.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from typing import Any
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit

import phonenumbers
import pytest

from providers.models import Message, Provider
from providers.presets import SINCH_INDIA_PAYLOAD
from providers.rendering import RenderedRequest, RenderError, render_request
from providers.services import Claimed

# --- The reference: the renderer before it was made fast ---------------------------

REFERENCE_RE = re.compile(r"\$\$([A-Za-z][A-Za-z0-9_]*)")


def reference_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from reference_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from reference_strings(item)


def reference_find(*values):
    found = {}
    for value in values:
        for text in reference_strings(value):
            for match in REFERENCE_RE.finditer(text):
                found.setdefault(match.group(1), None)
    return list(found)


def reference_substitute(text, values, escape=str):
    def replace(match):
        name = match.group(1)
        if name not in values:
            return match.group(0)
        return escape(values[name])

    return REFERENCE_RE.sub(replace, text)


def reference_substitute_json(template, values):
    if isinstance(template, str):
        return reference_substitute(template, values)
    if isinstance(template, dict):
        return {key: reference_substitute_json(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [reference_substitute_json(item, values) for item in template]
    return template


def reference_format_number(e164, number_format):
    if number_format == "e164":
        return e164
    if number_format == "national":
        return str(phonenumbers.parse(e164).national_number)
    return e164.lstrip("+")


def reference_as_text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(reference_as_text(item) for item in value)
    return json.dumps(value, ensure_ascii=False)


def reference_values(provider, message):
    values = {str(k): reference_as_text(v) for k, v in (message.variables or {}).items()}
    values.update(
        {
            "To": reference_format_number(message.to, provider.number_format),
            "Body": message.body,
            "MessageID": str(message.id),
            "TemplateID": message.template_id,
            "CampaignID": message.campaign_ref,
            "Alert": reference_as_text((message.variables or {}).get("Alert") or "1"),
            "International": "false" if message.to.startswith("+91") else "true",
            "Username": provider.username,
            "Password": provider.password,
        }
    )
    values.setdefault("TemplateVariables", "")
    return values


def reference_render(provider, messages):
    if not messages:
        raise RenderError("no messages to render")
    if len(messages) > 1 and not provider.batch_enabled:
        raise RenderError("several messages in one request need batch mode")
    per_message = [reference_values(provider, message) for message in messages]
    first = per_message[0]
    templates = [provider.payload, provider.endpoint, provider.headers]
    missing = [name for name in reference_find(*templates) if name not in first]
    if missing:
        raise RenderError("no value for " + ", ".join("$$" + name for name in missing))

    secrets = [s for s in (provider.username, provider.password) if s]
    secrets += [str(v) for v in (provider.headers or {}).values() if v]

    url = reference_url(provider.endpoint, first)
    headers = {
        name: reference_header(reference_substitute(str(value), first))
        for name, value in (provider.headers or {}).items()
    }
    auth = None
    if provider.auth_type == "basic":
        auth = (provider.username, provider.password)

    payload = reference_payload(provider, per_message)
    body = None
    if provider.request_type == "GET":
        params = reference_flat(payload)
        if params:
            url += ("&" if urlsplit(url).query else "?") + urlencode(params)
    elif provider.content_type == "form":
        body = urlencode(reference_flat(payload)).encode("ascii")
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    else:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
    return RenderedRequest(
        method=str(provider.request_type),
        url=url,
        headers=headers,
        body=body,
        auth=auth,
        secrets=secrets,
    )


def reference_payload(provider, per_message):
    template = provider.payload
    if not provider.batch_enabled:
        return reference_substitute_json(template, per_message[0])
    if not isinstance(template, dict) or not isinstance(template.get(provider.batch_key), list):
        raise RenderError(f"the payload has no array under the batch key {provider.batch_key!r}")
    record_templates = template[provider.batch_key]
    if len(record_templates) != 1:
        raise RenderError("the batch array must hold exactly one record template")
    rendered = {
        key: reference_substitute_json(value, per_message[0])
        for key, value in template.items()
        if key != provider.batch_key
    }
    rendered[provider.batch_key] = [
        reference_substitute_json(record_templates[0], values) for values in per_message
    ]
    return {key: rendered[key] for key in template}


def reference_flat(payload):
    if not isinstance(payload, dict):
        raise RenderError("form and GET payloads must be a JSON object of key-value pairs")
    return [
        (str(key), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for key, value in payload.items()
    ]


def reference_url(endpoint, values):
    parts = urlsplit(endpoint)
    query = [
        (key, reference_substitute(value, values))
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    path = reference_substitute(parts.path, values, escape=lambda v: quote(v, safe=""))
    return SplitResult(parts.scheme, parts.netloc, path, urlencode(query), parts.fragment).geturl()


def reference_header(value):
    value = value.replace("\r", " ").replace("\n", " ")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")
    return value


# --- Generated inputs ---------------------------------------------------------------

STANDARD = [
    "To",
    "Body",
    "MessageID",
    "TemplateID",
    "CampaignID",
    "Alert",
    "International",
    "Username",
    "Password",
]
CUSTOM = ["SenderID", "EntityID", "AppID", "Name_1", "TemplateVariables", "x"]
UNKNOWN = ["Nope", "Bodyx", "To2"]


def random_name(rng: random.Random) -> str:
    roll = rng.random()
    return rng.choice(STANDARD if roll < 0.6 else CUSTOM if roll < 0.97 else UNKNOWN)


# Pieces of text that JSON, URLs, headers or the renderer itself treat specially.
TRICKY = [
    '"',
    "\\",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x08",
    "\x0c",
    "\x1f",
    "\x7f",
    "\u2028",
    "é",
    "नमस्ते",
    "🎉",
    "👩🏽‍💻",
    "$$",
    "$",
    "$$$",
    "$$Body",
    "$$To",
    "$$Nope",
    "$$1",
    "%",
    "%s",
    "%(Body)s",
    "%%",
    "{",
    "}",
    "[",
    "&",
    "=",
    "+",
    "?",
    "#",
    "/",
    " ",
    "abc",
    "Hello",
    "0",
    "null",
]

NUMBERS = ["+919876543210", "+14155550123", "+447911123456", "+5491123456789", "+390612345678"]
ENDPOINTS = [
    "https://sms.example.com/send",
    "https://sms.example.com/send?",
    "https://sms.example.com/send?key=k1&to=$$To",
    "https://sms.example.com/send?a=b c&&x=%24%24Body#frag",
    "https://sms.example.com/$$Username/send?msg=$$Body&raw=%24%24Nope%24%24To",
    "https://sms.example.com/v1/$$SenderID?q=1",
    "https://sms.example.com/send?to=$$To&t=$$TemplateID$$CampaignID",
]


def random_text(rng: random.Random, size: int = 6) -> str:
    return "".join(rng.choice(TRICKY) for _ in range(rng.randint(0, size)))


def random_template_string(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.4:
        return "$$" + random_name(rng)
    if roll < 0.55:
        return random_text(rng, 3)
    pieces = []
    for _ in range(rng.randint(1, 4)):
        pieces.append(random_text(rng, 2))
        pieces.append("$$" + random_name(rng))
    pieces.append(rng.choice(["", "", "!", " ", "-", "$", "x"]))
    return "".join(pieces)


BATCH_KEYS = ["msgs", "records"]


def random_key(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.06:
        return rng.choice([1, 2.5, True, None, -7])
    if roll < 0.16:
        return "$$" + random_name(rng)
    if roll < 0.22:
        return rng.choice(BATCH_KEYS)
    return rng.choice(["to", "text", "from", "id", "a b", 'q"k', "é", "%", "msgs"]) + str(
        rng.randint(0, 3)
    )


def random_leaf(rng: random.Random) -> Any:
    return rng.choice(
        [
            0,
            1,
            -12,
            10**20,
            1.0,
            -0.0,
            2.5,
            1e100,
            float("nan"),
            float("inf"),
            True,
            False,
            None,
            "",
            ("$$Body", 1),
            {"not JSON"},
        ]
    )


def random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 3 and roll < 0.2:
        return {random_key(rng): random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if depth < 3 and roll < 0.3:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if roll < 0.45:
        return random_leaf(rng)
    return random_template_string(rng)


def random_payload(rng: random.Random, *, batch_key: str | None, flat: bool) -> Any:
    roll = rng.random()
    if roll < 0.03:
        return random_json(rng)  # anything, even a bare string or list
    fields = {random_key(rng): random_json(rng, 1) for _ in range(rng.randint(0, 6))}
    if flat and rng.random() < 0.7:
        fields = {key: random_template_string(rng) for key in fields}
    if batch_key is None:
        return fields
    record = {random_key(rng): random_json(rng, 2) for _ in range(rng.randint(0, 5))}
    records: Any = [record]
    if rng.random() < 0.04:
        records = rng.choice([[], [record, record], record, "$$Body"])
    items = list(fields.items())
    items.insert(rng.randint(0, len(items)), (batch_key, records))
    return dict(items)


def random_variables(rng: random.Random, *, share: float) -> dict[str, Any] | None:
    """Values for about `share` of the custom placeholders (and for some standard ones)."""
    if rng.random() < 0.1:
        return rng.choice([None, {}])
    values = [
        lambda: random_text(rng),
        lambda: [random_text(rng, 2), 42, None, ["x", 1.5]],
        lambda: rng.choice([7, 0.1, True, None]),
        lambda: {"k": random_text(rng, 2)},
    ]
    names = [name for name in CUSTOM if rng.random() < share]
    names += [name for name in ("Body", "To", "Other") if rng.random() < 0.2]
    return {name: rng.choice(values)() for name in names}


def random_message(rng: random.Random, provider: Provider, share: float) -> Message | Claimed:
    fields = {
        "to": rng.choice(NUMBERS) if rng.random() < 0.97 else rng.choice(["+0", "12345", ""]),
        # Now and then a lone surrogate, which UTF-8 cannot encode.
        "body": random_text(rng, 12) + ("\ud83d" if rng.random() < 0.02 else ""),
        "template_id": random_text(rng, 2),
        "campaign_ref": random_text(rng, 2),
        "variables": random_variables(rng, share=share),
    }
    if rng.random() < 0.5:
        return Message(provider=provider, **fields)
    return Claimed(id=uuid.uuid4(), provider_id=1, attempts=0, **fields)


def random_messages(rng: random.Random, provider: Provider, count: int) -> list:
    # The first message fills the global placeholders, and must have every value (or
    # the request is refused); later ones may lack some, which then stay as written.
    return [random_message(rng, provider, 0.97 if i == 0 else 0.7) for i in range(count)]


def randomize(rng: random.Random, provider: Provider) -> None:
    """Reconfigure the provider in place, as an edited provider would be."""
    provider.request_type = "GET" if rng.random() < 0.15 else "POST"
    provider.content_type = "form" if rng.random() < 0.2 else "json"
    provider.batch_enabled = rng.random() < 0.4
    provider.batch_key = rng.choice(BATCH_KEYS)
    provider.number_format = rng.choice(["digits", "e164", "national"])
    provider.auth_type = rng.choice(["none", "basic"])
    provider.username = random_text(rng, 2)
    provider.password = random_text(rng, 2)
    provider.endpoint = rng.choice(ENDPOINTS)
    provider.headers = rng.choice(
        [{}, {"X-Key": "k-1"}, {"X-Sig": random_template_string(rng), "Accept": "text/plain"}]
    )
    flat = provider.request_type == "GET" or provider.content_type == "form"
    batch_key = provider.batch_key if provider.batch_enabled else None
    provider.payload = random_payload(rng, batch_key=batch_key, flat=flat)


def outcome(render, provider: Provider, messages: list) -> Any:
    try:
        request = render(provider, messages)
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    return (
        request.method,
        request.url,
        request.headers,
        request.body,
        request.auth,
        request.secrets,
    )


def assert_same(provider: Provider, messages: list) -> None:
    expected = outcome(reference_render, provider, messages)
    assert outcome(render_request, provider, messages) == expected, (
        provider.payload,
        provider.endpoint,
        provider.headers,
    )


# --- The tests ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_generated_requests_match_the_reference(seed):
    rng = random.Random(seed)
    provider = Provider(nickname="p")
    for _ in range(60):
        randomize(rng, provider)
        count = rng.choice([1, 1, 1, 2, 3, 7]) if provider.batch_enabled else 1
        if rng.random() < 0.03:
            count = rng.choice([0, 2])
        assert_same(provider, random_messages(rng, provider, count))


@pytest.mark.parametrize("seed", range(10))
def test_templates_edited_in_place_between_requests_match_the_reference(seed):
    rng = random.Random(1000 + seed)
    provider = Provider(nickname="p")
    randomize(rng, provider)
    provider.request_type, provider.content_type = "POST", "json"
    for _ in range(30):
        assert_same(provider, random_messages(rng, provider, 3 if provider.batch_enabled else 1))
        payload = provider.payload
        roll = rng.random()
        if roll < 0.2:
            provider.endpoint = rng.choice(ENDPOINTS)
        elif roll < 0.3:
            provider.headers = {"X-Sig": random_template_string(rng)}
        elif roll < 0.4:
            provider.batch_enabled = not provider.batch_enabled
        elif isinstance(payload, dict) and payload:
            key = rng.choice(list(payload))
            payload[key] = rng.choice([1, 1.0, True, "$$Body", "1", [1], (1,), {"a": "$$To"}])
        else:
            batch_key = provider.batch_key if provider.batch_enabled else None
            provider.payload = random_payload(rng, batch_key=batch_key, flat=False)


def test_a_sinch_india_batch_of_1000_matches_the_reference():
    rng = random.Random(7)
    record = {key: value for key, value in SINCH_INDIA_PAYLOAD.items() if key != "appid"}
    provider = Provider(
        nickname="sinch",
        endpoint="https://ap.awsigateway.com/v1/enterprises/messages.json",
        payload={"appid": "$$AppID", "msgs": [record]},
        batch_enabled=True,
        batch_key="msgs",
        batch_size=1000,
        username="acme",
        password='p"ss',
    )
    messages = [
        Claimed(
            id=uuid.uuid4(),
            provider_id=1,
            to=f"+9198{i:08d}",
            body=random_text(rng, 20),
            template_id="1107161234567890",
            variables={"AppID": "app", "SenderID": "ACMEIN", "EntityID": "1101234"},
            campaign_ref="c-1",
            attempts=0,
        )
        for i in range(1000)
    ]
    for number_format in ("digits", "national"):
        provider.number_format = number_format
        assert_same(provider, messages)
