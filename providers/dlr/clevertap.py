"""CleverTap's generic DLR format, our default.

POST of a JSON array of `{"event": "delivered|failed|failed_dnd|replied|clicked", "data":
[records]}`; each record has `meta` (our message id), `ts`, and per event `code`,
`description`, `incomingText` (or `incomingMessage`) or `url`. Other keys are ignored
(kept in the raw record). `failed_dnd` is a failure because the number is on India's
Do Not Disturb registry (code 901 unless the record gives one). A `replied` record is
also a reply (`providers.inbound.clevertap`); one without `meta` names no message and is
only that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from providers.dlr.apply import Report
from providers.dlr.base import Parsed, parse_time, text
from providers.inbound import clevertap as replies
from providers.inbound.base import Incoming
from providers.models import Message

Status = Message.Status

# Replies and clicks are recorded without changing the message's status.
EVENT_STATUS: dict[str, str] = {
    "delivered": Status.DELIVERED,
    "failed": Status.FAILED,
    "failed_dnd": Status.FAILED,
    "replied": "",
    "clicked": "",
}
DND_CODE = "901"


@dataclass
class CleverTapParsed(Parsed):
    # Every `replied` record's reply, those with `meta` included (they are reports too).
    replies: list[Incoming] = field(default_factory=list)


def parse(body: bytes) -> CleverTapParsed:
    parsed = CleverTapParsed()
    for event, record in replies.event_records(body, parsed.reject):
        if event == replies.EVENT:
            _reply(parsed, record)
            continue
        problem = _problem(event, record)
        if problem:
            parsed.reject(record, problem)
        else:
            parsed.reports.append(_report(event, record))
    return parsed


def _reply(parsed: CleverTapParsed, record: Any) -> None:
    found = replies.incoming(record)
    if isinstance(found, str):
        parsed.reject(record, found)
        return
    parsed.replies.append(found)
    if found.message_ref:
        parsed.reports.append(_report(replies.EVENT, record))


def _problem(event: str, record: Any) -> str:
    if not isinstance(record, dict):
        return "record is not an object"
    if not event:
        return "missing event"
    if event not in EVENT_STATUS:
        return f"unknown event {event[:40]!r}"
    if not text(record.get("meta")):
        return "missing meta"
    return ""


def _report(event: str, record: dict[str, Any]) -> Report:
    description = text(record.get("description"))
    if event == "clicked" and not description:
        description = text(record.get("url"))
    code = text(record.get("code"))
    if event == "failed_dnd" and not code:
        code = DND_CODE
    return Report(
        message_ref=text(record["meta"]),
        event=event,
        status=EVENT_STATUS[event],
        code=code,
        description=description,
        occurred_at=parse_time(record.get("ts")),
        reply_text=replies.reply_text(record),
        raw={**record, "event": event},
    )
