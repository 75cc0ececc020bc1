"""Kannel- and Jasmin-style replies: query or form parameters, GET or POST.

Kannel calls a get-url written by whoever sets it up; the usual one is
`?from=%p&to=%P&text=%a&time=%t`. Jasmin's HTTP MO push sends `from`, `to`, `content`
(and `id`, `origin-connector`, `coding` …) and retries until it reads `ACK/Jasmin`.
"""

from __future__ import annotations

from providers.dlr.base import MalformedBody, parse_time, text
from providers.dlr.params import JASMIN_ACK
from providers.inbound.base import Incoming

TEXT_PARAMS = ("text", "content")
TIME_PARAMS = ("time", "ts", "timestamp")


def parse(params: dict[str, str]) -> Incoming:
    """The one reply a request carries; MalformedBody when it cannot be read."""
    sender = text(params.get("from"))
    if not sender:
        raise MalformedBody("missing from (the number that replied)")
    if not any(name in params for name in TEXT_PARAMS):
        raise MalformedBody("missing text (Jasmin: content)")
    value = next((params[name] for name in TEXT_PARAMS if name in params), "")
    moment = next((params[name] for name in TIME_PARAMS if text(params.get(name))), None)
    return Incoming(
        phone=sender,
        text=text(value),
        to=text(params.get("to")),
        sent_at=parse_time(moment),
        raw=dict(params),
    )


def answer(params: dict[str, str]) -> str:
    return JASMIN_ACK if "content" in params else "OK"
