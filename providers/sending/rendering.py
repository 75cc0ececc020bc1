"""Turn a provider's templates and one or more messages into an HTTP request.

Substitution happens inside parsed JSON string values, single-pass, so quotes,
newlines, emoji and Devanagari in a message body can never break the payload.

A campaign renders every message through here, so a payload template is parsed once
(and kept while it stays the same) into encoded JSON text with a slot for each string
that holds a placeholder; a message then costs only its own values, each computed
only if the templates use it. The body is the same text `json.dumps` would give.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit

import phonenumbers

from providers.sending.placeholders import (
    fill,
    find_placeholders,
    split_placeholders,
    substitute,
    substitute_json,
)

if TYPE_CHECKING:
    from providers.models import Provider

MASK = "********"


class Renderable(Protocol):
    """What rendering reads from a message: a `Message`, or a message claimed for sending."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def to(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def template_id(self) -> str: ...
    @property
    def variables(self) -> Mapping[str, Any] | None: ...
    @property
    def campaign_ref(self) -> str: ...


R = TypeVar("R", bound=Renderable)


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
    # The OAuth 2.0 access token it carries, if any (a 401 to it drops the token).
    access_token: str = ""

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
        return _national_number(e164)
    return e164.lstrip("+")


@lru_cache(maxsize=4096)
def _national_number(e164: str) -> str:
    # Parsing is slow; the cache also spares a batch parsing each number twice.
    return str(phonenumbers.parse(e164).national_number)


# How each standard placeholder's value is read.
_STANDARD_VALUES: dict[str, Callable[[Provider, Renderable], str]] = {
    "To": lambda provider, message: format_number(message.to, provider.number_format),
    "Body": lambda provider, message: message.body,
    "MessageID": lambda provider, message: str(message.id),
    "TemplateID": lambda provider, message: message.template_id,
    "CampaignID": lambda provider, message: message.campaign_ref,
    "Alert": lambda provider, message: _alert(message),
    # Sinch India's intflag: whether the number is outside India.
    "International": lambda provider, message: "false" if message.to.startswith("+91") else "true",
    "Username": lambda provider, message: provider.username,
    "Password": lambda provider, message: provider.password,
    # OAuth 2.0: the token render_request was given (providers.http.oauth).
    "AccessToken": lambda provider, message: _access_token.get(),
}

_access_token: ContextVar[str] = ContextVar("access_token", default="")


def _alert(message: Renderable) -> str:
    """Sinch India's alert flag: 0 for promotional messages, 1 for the others.

    A campaign's messages carry it from the campaign's kind, an API message from its DLT
    template's category or the caller's value; without either it is transactional (1),
    like every message the API sends.
    """
    value = (message.variables or {}).get("Alert")
    return "1" if value in (None, "") else _as_text(value)


def _value(provider: Provider, message: Renderable, name: str) -> str | None:
    """A message's value for this placeholder, or None where it has none."""
    standard = _STANDARD_VALUES.get(name)
    if standard is not None:
        return standard(provider, message)
    variables = message.variables or {}
    if name in variables:
        return _as_text(variables[name])
    return "" if name == "TemplateVariables" else None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(_as_text(item) for item in value)
    return json.dumps(value, ensure_ascii=False)


class _Values(Mapping[str, str]):
    """A message's placeholder values, each read only when a template asks for it."""

    def __init__(self, provider: Provider, message: Renderable) -> None:
        self.provider = provider
        self.message = message

    def __getitem__(self, name: str) -> str:
        value = _value(self.provider, self.message, name)
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        names = [*_STANDARD_VALUES, "TemplateVariables", *(self.message.variables or {})]
        return iter(dict.fromkeys(names))

    def __len__(self) -> int:
        return len(list(self))


def render_request(
    provider: Provider, messages: Sequence[Renderable], *, access_token: str = ""
) -> RenderedRequest:
    """Build the request for these messages (one, or up to batch_size in batch mode).

    For an OAuth 2.0 provider, `access_token` goes where the templates use
    `$$AccessToken`, or else in an `Authorization: Bearer` header.
    """
    if provider.auth_type == "oauth2":
        reset = _access_token.set(access_token)
        try:
            request = _render_request(provider, messages)
        finally:
            _access_token.reset(reset)
        request.secrets.append(access_token)
        request.access_token = access_token
        if "AccessToken" not in _templates(provider).all_names:
            request.headers["Authorization"] = "Bearer " + access_token
        return request
    return _render_request(provider, messages)


def _render_request(provider: Provider, messages: Sequence[Renderable]) -> RenderedRequest:
    if not messages:
        raise RenderError("no messages to render")
    if len(messages) > 1 and not provider.batch_enabled:
        raise RenderError("several messages in one request need batch mode")
    if provider.number_format == "national":
        # Every number is formatted up front, as it always was: one that phonenumbers
        # rejects fails the request even where $$To is not used.
        for message in messages:
            format_number(message.to, provider.number_format)
    templates = _templates(provider)
    variables = messages[0].variables or {}
    missing = [name for name in templates.variable_names if name not in variables]
    if missing:
        raise RenderError("no value for " + ", ".join("$$" + name for name in missing))
    first = _Values(provider, messages[0])

    secrets = [s for s in (provider.username, provider.password) if s]
    secrets += [str(v) for v in (provider.headers or {}).values() if v]

    url = templates.url or _render_url(provider.endpoint, first)
    headers: dict[str, str | bytes] = {
        name: _header_value(substitute(str(value), first))
        for name, value in (provider.headers or {}).items()
    }
    auth = None
    if provider.auth_type == "basic":
        auth = (provider.username, provider.password)

    body = None
    if provider.request_type == "GET":
        url = _append_query(url, _flat(_render_payload(provider, messages)))
    elif provider.content_type == "form":
        body = urlencode(_flat(_render_payload(provider, messages))).encode("ascii")
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    else:
        body = _render_json(provider, templates, messages).encode("utf-8")
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
    return RenderedRequest(
        method=str(provider.request_type),
        url=url,
        headers=headers,
        body=body,
        auth=auth,
        secrets=secrets,
    )


def request_groups(provider: Provider, messages: Sequence[R]) -> list[list[R]]:
    """The messages as requests: one each, or in batch mode up to batch_size each, in
    order, a request taking only messages that agree on what its messages share (the
    payload outside the records, the endpoint and the headers are rendered once, from
    the first message)."""
    if not provider.batch_enabled:
        return [[message] for message in messages]
    names = _templates(provider).shared_names
    groups: dict[tuple[str | None, ...], list[R]] = {}
    requests: list[list[R]] = []
    for message in messages:
        key = tuple(_value(provider, message, name) for name in names)
        group = groups.get(key)
        if group is None or len(group) >= provider.batch_size:
            group = groups[key] = []
            requests.append(group)
        group.append(message)
    return requests


def _render_payload(provider: Provider, messages: Sequence[Renderable]) -> Any:
    """The payload as JSON data: for a form, a query string, or JSON `_JsonText` cannot take."""
    template = provider.payload
    first = _Values(provider, messages[0])
    if not provider.batch_enabled:
        return substitute_json(template, first)
    record_template = _batch_record(template, provider.batch_key)
    # Keys outside the array are global: rendered once, from the first message.
    rendered = {
        key: substitute_json(value, first)
        for key, value in template.items()
        if key != provider.batch_key
    }
    rendered[provider.batch_key] = [
        substitute_json(record_template, _Values(provider, message)) for message in messages
    ]
    # Keep the template's key order so the request reads like the template.
    return {key: rendered[key] for key in template}


def _batch_record(template: Any, batch_key: str) -> Any:
    """The one record template in the batch array."""
    if not isinstance(template, dict) or not isinstance(template.get(batch_key), list):
        raise RenderError(f"the payload has no array under the batch key {batch_key!r}")
    record_templates = template[batch_key]
    if len(record_templates) != 1:
        raise RenderError("the batch array must hold exactly one record template")
    return record_templates[0]


def _render_json(provider: Provider, templates: _Templates, messages: Sequence[Renderable]) -> str:
    if templates.body is None:
        # The general way reports the problem (a bad batch shape, a value JSON refuses).
        return json.dumps(_render_payload(provider, messages), ensure_ascii=False)
    first = messages[0]
    if templates.record is None:
        (body,) = templates.body
        return body.render(provider, first)
    before, after = templates.body
    records = ", ".join([templates.record.render(provider, message) for message in messages])
    # One join: a batch's text is large, and each copy of it costs.
    return "".join(
        [before.render(provider, first), "[", records, "]", after.render(provider, first)]
    )


# What json.dumps(value, ensure_ascii=False) writes, and how it writes a string.
_ENCODER = json.JSONEncoder(ensure_ascii=False)

# Reads one slot of a JSON template for a message: its string, substituted.
Slot = Callable[["Provider", Renderable], str]


@dataclass(frozen=True)
class _JsonText:
    """JSON text encoded once: a %-format with a `%s` for each slot.

    A slot is a string that holds a placeholder; it is filled for each message.
    """

    format: str
    slots: list[Slot]

    def render(self, provider: Provider, message: Renderable) -> str:
        return self.format % tuple(
            [encode_basestring(slot(provider, message)) for slot in self.slots]
        )

    @classmethod
    def parse(cls, template: Any, records_key: str | None = None) -> list[_JsonText]:
        """Encode the template as json.dumps would, keys and separators included.

        With `records_key`, the top-level value under that key is a batch's records,
        left out: the result is the text before them and the text after.
        """
        texts: list[_JsonText] = []
        out: list[str] = []
        slots: list[Slot] = []

        def add(text: str) -> None:
            out.append(text.replace("%", "%%"))

        def end_text() -> None:
            texts.append(cls("".join(out), slots.copy()))
            out.clear()
            slots.clear()

        def write(node: Any, records_key: str | None = None) -> None:
            if isinstance(node, str) and len(parts := split_placeholders(node)) > 1:
                out.append("%s")
                slots.append(_slot(parts))
            elif isinstance(node, dict):
                add("{")
                for index, (key, value) in enumerate(node.items()):
                    add((", " if index else "") + _json_key(key) + ": ")
                    if records_key is not None and key == records_key:
                        end_text()
                    else:
                        write(value)
                add("}")
            elif isinstance(node, list):
                add("[")
                for index, item in enumerate(node):
                    add(", " if index else "")
                    write(item)
                add("]")
            else:
                # Other values (numbers, null, tuples) are never substituted into.
                add(_ENCODER.encode(node))

        write(template, records_key)
        end_text()
        return texts


def _slot(parts: list[str]) -> Slot:
    """Reads a string cut by `split_placeholders`, filled for a message."""
    if len(parts) == 3 and not parts[0] and not parts[2]:
        # The whole string is one placeholder, as in most templates.
        name = parts[1]
        standard = _STANDARD_VALUES.get(name)
        if standard is not None:
            return standard

        def read_variable(provider: Provider, message: Renderable) -> str:
            value = _value(provider, message, name)
            return "$$" + name if value is None else value  # unknown: left as written

        return read_variable

    def read_parts(provider: Provider, message: Renderable) -> str:
        return fill(parts, _Values(provider, message))

    return read_parts


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return encode_basestring(key)
    # json turns int, float, bool and None keys into strings and refuses other kinds:
    # encoding the key in a one-key object and cutting it out keeps exactly that.
    return _ENCODER.encode({key: None})[1 : -len(": null}")]


@dataclass(frozen=True)
class _Templates:
    """A provider's templates, parsed once for every request that uses them."""

    # The placeholders only a message's variables can fill (in keys too): each needs a
    # value to send.
    variable_names: list[str]
    # The payload's text (in batch mode: before and after the records), and a record's;
    # None where the payload is not plain JSON data or its batch array is malformed.
    body: list[_JsonText] | None
    record: _JsonText | None
    # The endpoint as sent, when nothing in it is substituted (the usual case).
    url: str | None
    # The placeholders in what every message of a batch request shares (the payload
    # outside the records, the endpoint, the headers): rendered from its first message.
    shared_names: list[str]
    # Every placeholder the payload, the endpoint and the headers use.
    all_names: list[str]

    @classmethod
    def parse(cls, provider: Provider) -> _Templates:
        payload = provider.payload
        names = find_placeholders(payload, provider.endpoint, provider.headers)
        variable_names = [
            name for name in names if name not in _STANDARD_VALUES and name != "TemplateVariables"
        ]
        url = _fixed_url(provider.endpoint)
        shared = payload
        if provider.batch_enabled and isinstance(payload, dict):
            shared = {key: value for key, value in payload.items() if key != provider.batch_key}
        shared_names = find_placeholders(shared, provider.endpoint, provider.headers)
        try:
            if not provider.batch_enabled:
                return cls(variable_names, _JsonText.parse(payload), None, url, shared_names, names)
            record = _batch_record(payload, provider.batch_key)
            (record_text,) = _JsonText.parse(record)
            return cls(
                variable_names,
                _JsonText.parse(payload, records_key=provider.batch_key),
                record_text,
                url,
                shared_names,
                names,
            )
        except (RenderError, TypeError, ValueError):
            return cls(variable_names, None, None, url, shared_names, names)


_TEMPLATES: dict[tuple[str, str | None, str, str], _Templates] = {}


def _templates(provider: Provider) -> _Templates:
    # repr tells apart every difference json.dumps or the substitution would make
    # (1, 1.0 and true; a list and a tuple), and costs far less than parsing again.
    key = (
        repr(provider.payload),
        provider.batch_key if provider.batch_enabled else None,
        provider.endpoint,
        repr(provider.headers),
    )
    templates = _TEMPLATES.get(key)
    if templates is None:
        # Bounded, so templates edited over and over cannot grow it without end.
        if len(_TEMPLATES) >= 100:
            _TEMPLATES.clear()
        templates = _TEMPLATES[key] = _Templates.parse(provider)
    return templates


def _flat(payload: Any) -> list[tuple[str, str]]:
    if not isinstance(payload, dict):
        raise RenderError("form and GET payloads must be a JSON object of key-value pairs")
    return [
        (str(key), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for key, value in payload.items()
    ]


def _fixed_url(endpoint: str) -> str | None:
    """The endpoint as sent when nothing in it is substituted (the usual case), else None."""
    parts = urlsplit(endpoint)
    query_values = [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    if find_placeholders(parts.path, *query_values):
        return None
    return _render_url(endpoint, {})


def _render_url(endpoint: str, values: Mapping[str, str]) -> str:
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
