"""Turn a provider's templates and one or more messages into an HTTP request.

Substitution happens inside parsed JSON string values, single-pass, so quotes,
newlines, emoji and Devanagari in a message body can never break the payload.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit

import phonenumbers

from .placeholders import find_placeholders, substitute, substitute_json

if TYPE_CHECKING:
    from .models import Message, Provider

MASK = "********"


class RenderError(Exception):
    """The templates cannot be rendered for these messages (a permanent failure)."""


@dataclass
class RenderedRequest:
    method: str
    url: str
    headers: dict[str, str | bytes] = field(default_factory=dict)
    body: bytes | None = None
    auth: tuple[str, str] | None = None
    # Plaintext secrets that went into the request; masked wherever it is shown or stored.
    secrets: list[str] = field(default_factory=list)

    def masked(self) -> dict[str, Any]:
        """A loggable copy of the request with every secret replaced by a mask."""
        headers = {}
        for name, value in self.headers.items():
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            headers[name] = MASK if name.lower() not in SAFE_HEADERS else text
        if self.auth:
            headers["Authorization"] = "Basic " + MASK
        body = self.body.decode("utf-8", "replace") if self.body is not None else None
        return {
            "method": self.method,
            "url": mask_secrets(self.url, self.secrets),
            "headers": headers,
            "body": mask_secrets(body, self.secrets) if body is not None else None,
        }


SAFE_HEADERS = {"content-type", "accept", "user-agent"}


def mask_secrets(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
            # The same secret as it appears once JSON-escaped or URL-encoded.
            text = text.replace(json.dumps(secret)[1:-1], MASK)
            text = text.replace(quote(secret, safe=""), MASK)
            text = text.replace(quote(secret, safe="").replace("%20", "+"), MASK)
    return text


def format_number(e164: str, number_format: str) -> str:
    """Render a stored E.164 number the way the provider wants `$$To`."""
    if number_format == "e164":
        return e164
    if number_format == "national":
        return str(phonenumbers.parse(e164).national_number)
    return e164.lstrip("+")


def message_values(provider: Provider, message: Message) -> dict[str, str]:
    """The placeholder values for one message."""
    values = {str(k): _as_text(v) for k, v in (message.variables or {}).items()}
    values.update(
        {
            "To": format_number(message.to, provider.number_format),
            "Body": message.body,
            "MessageID": str(message.id),
            "TemplateID": message.template_id,
            "CampaignID": message.campaign_ref,
            "Username": provider.username,
            "Password": provider.password,
        }
    )
    values.setdefault("TemplateVariables", "")
    return values


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(_as_text(item) for item in value)
    return json.dumps(value, ensure_ascii=False)


def missing_values(provider: Provider, values: dict[str, str]) -> list[str]:
    templates = [provider.payload, provider.endpoint, provider.headers]
    return [name for name in find_placeholders(*templates) if name not in values]


def render_request(provider: Provider, messages: Sequence[Message]) -> RenderedRequest:
    """Build the request for these messages (one, or up to batch_size in batch mode)."""
    if not messages:
        raise RenderError("no messages to render")
    if len(messages) > 1 and not provider.batch_enabled:
        raise RenderError("several messages in one request need batch mode")
    per_message = [message_values(provider, message) for message in messages]
    first = per_message[0]
    missing = missing_values(provider, first)
    if missing:
        raise RenderError("no value for " + ", ".join("$$" + name for name in missing))

    secrets = [s for s in (provider.username, provider.password) if s]
    secrets += [str(v) for v in (provider.headers or {}).values() if v]

    url = _render_url(provider.endpoint, first)
    headers: dict[str, str | bytes] = {
        name: _header_value(substitute(str(value), first))
        for name, value in (provider.headers or {}).items()
    }
    auth = None
    if provider.auth_type == "basic":
        auth = (provider.username, provider.password)

    payload = _render_payload(provider, per_message)
    body = None
    if provider.request_type == "GET":
        url = _append_query(url, _flat(payload))
    elif provider.content_type == "form":
        body = urlencode(_flat(payload)).encode("ascii")
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


def _render_payload(provider: Provider, per_message: list[dict[str, str]]) -> Any:
    template = provider.payload
    if not provider.batch_enabled:
        return substitute_json(template, per_message[0])
    if not isinstance(template, dict) or not isinstance(template.get(provider.batch_key), list):
        raise RenderError(f"the payload has no array under the batch key {provider.batch_key!r}")
    record_templates = template[provider.batch_key]
    if len(record_templates) != 1:
        raise RenderError("the batch array must hold exactly one record template")
    # Keys outside the array are global: rendered once, from the first message.
    rendered = {
        key: substitute_json(value, per_message[0])
        for key, value in template.items()
        if key != provider.batch_key
    }
    rendered[provider.batch_key] = [
        substitute_json(record_templates[0], values) for values in per_message
    ]
    # Keep the template's key order so the request reads like the template.
    return {key: rendered[key] for key in template}


def _flat(payload: Any) -> list[tuple[str, str]]:
    if not isinstance(payload, dict):
        raise RenderError("form and GET payloads must be a JSON object of key-value pairs")
    return [
        (str(key), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for key, value in payload.items()
    ]


def _render_url(endpoint: str, values: dict[str, str]) -> str:
    """Placeholders in the endpoint's query string are URL-encoded; elsewhere quoted as a path."""
    parts = urlsplit(endpoint)
    query = [
        (key, substitute(value, values))
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    path = substitute(parts.path, values, escape=lambda v: quote(v, safe=""))
    return SplitResult(parts.scheme, parts.netloc, path, urlencode(query), parts.fragment).geturl()


def _append_query(url: str, params: list[tuple[str, str]]) -> str:
    if not params:
        return url
    separator = "&" if urlsplit(url).query else "?"
    return url + separator + urlencode(params)


def _header_value(value: str) -> str | bytes:
    # Header values travel as latin-1: CR/LF would split headers, and characters
    # outside latin-1 go as their UTF-8 bytes rather than failing the send.
    value = value.replace("\r", " ").replace("\n", " ")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")
    return value
