"""Sinch REST (xms) inbound messages.

POST of one `{"type": "mo_text", "id", "from", "to", "body", "received_at", "sent_at"}`
or an array of them. Binary messages (`mo_binary`) carry no text a keyword could be in
and are refused by name.
"""

from __future__ import annotations

from typing import Any

from providers.dlr.base import load_records, parse_time, text
from providers.inbound.base import Incoming, ParsedReplies

TYPE = "mo_text"


def parse(body: bytes) -> ParsedReplies:
    parsed = ParsedReplies()
    for record in load_records(body):
        problem = _problem(record)
        if problem:
            parsed.reject(record, problem)
            continue
        parsed.replies.append(
            Incoming(
                phone=text(record["from"]),
                text=text(record.get("body")),
                to=text(record.get("to")),
                sent_at=parse_time(record.get("sent_at") or record.get("received_at")),
                raw=record,
            )
        )
    return parsed


def _problem(record: dict[str, Any]) -> str:
    if record.get("type") != TYPE:
        return f"unsupported message type {text(record.get('type'))[:40]!r}"
    if not text(record.get("from")):
        return "missing from"
    if "body" not in record:
        return "missing body"
    return ""
