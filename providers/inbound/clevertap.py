"""CleverTap's replies: the `replied` event of its generic callback format.

A provider posts `[{"event": "replied", "data": [records]}]` (or one such object) to
the inbound URL; the DLR callback hands its `replied` records here too. A record has the
text in `incomingText` (or `incomingMessage`, CleverTap's newer name), our number or
short code in `toPhone`, `ts`, and either `meta` (the message replied to, whose number
is the sender) or the sender's number. CleverTap's draft does not name the sender's key
publicly, so `fromPhone`, `from`, `phone` and `msisdn` are all read (first one wins).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from providers.dlr.base import MalformedBody, load_json, parse_time, text
from providers.inbound.base import Incoming, ParsedReplies

EVENT = "replied"
SENDER_KEYS = ("fromPhone", "from", "phone", "msisdn")
TEXT_KEYS = ("incomingText", "incomingMessage")


def parse(body: bytes) -> ParsedReplies:
    parsed = ParsedReplies()
    for event, record in event_records(body, parsed.reject, lone_object=True):
        if event != EVENT:
            problem = "missing event" if not event else f"not a reply: {event[:40]!r}"
            parsed.reject(record, problem + " (delivery reports go to the callback URL)")
            continue
        found = incoming(record)
        if isinstance(found, str):
            parsed.reject(record, found)
        else:
            parsed.replies.append(found)
    return parsed


def event_records(
    body: bytes, reject: Callable[[Any, str], None], *, lone_object: bool = False
) -> Iterator[tuple[str, Any]]:
    """Each record of a CleverTap body (a JSON array of `{"event", "data": [records]}`,
    or with `lone_object` one such object) with its event in lower case; an item without
    a list of records is rejected. The DLR callback reads its bodies with this too."""
    payload = load_json(body)
    if lone_object and isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
        raise MalformedBody("expected a JSON array of event objects")
    for item in payload:
        event = text(item.get("event")).lower()
        records = item.get("data")
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list):
            reject(item, "missing data: a list of records")
            continue
        for record in records:
            yield event, record


def incoming(record: Any) -> Incoming | str:
    """The reply a `replied` record carries, or why it cannot be read."""
    if not isinstance(record, dict):
        return "record is not an object"
    meta = text(record.get("meta"))
    sender = next((text(record[key]) for key in SENDER_KEYS if text(record.get(key))), "")
    if not sender and not meta:
        return "missing fromPhone (the number that replied) or meta"
    if not meta and not any(key in record for key in TEXT_KEYS):
        return "missing incomingText"
    return Incoming(
        phone=sender,
        text=reply_text(record),
        to=text(record.get("toPhone")),
        sent_at=parse_time(record.get("ts")),
        message_ref=meta,
        raw={**record, "event": EVENT},
    )


def reply_text(record: dict[str, Any]) -> str:
    value = next((record[key] for key in TEXT_KEYS if record.get(key) is not None), "")
    return text(value)
