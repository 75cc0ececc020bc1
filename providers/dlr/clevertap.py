"""CleverTap's generic DLR format, our default.

POST of a JSON array of `{"event": "delivered|failed|replied|clicked", "data": [records]}`;
each record has `meta` (our message id), `ts`, and per event `code`, `description`,
`incomingText` or `url`. Other keys are ignored (kept in the raw record).
"""

from __future__ import annotations

from typing import Any

from providers.dlr.apply import Report
from providers.dlr.base import MalformedBody, Parsed, load_json, parse_time, text
from providers.models import Message

Status = Message.Status

# Replies and clicks are recorded without changing the message's status.
EVENT_STATUS: dict[str, str] = {
    "delivered": Status.DELIVERED,
    "failed": Status.FAILED,
    "replied": "",
    "clicked": "",
}


def parse(body: bytes) -> Parsed:
    payload = load_json(body)
    if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
        raise MalformedBody("expected a JSON array of event objects")
    parsed = Parsed()
    for item in payload:
        event = text(item.get("event")).lower()
        records = item.get("data")
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list):
            parsed.reject(item, "missing data: a list of records")
            continue
        for record in records:
            problem = _problem(event, record)
            if problem:
                parsed.reject(record, problem)
            else:
                parsed.reports.append(_report(event, record))
    return parsed


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
    return Report(
        message_ref=text(record["meta"]),
        event=event,
        status=EVENT_STATUS[event],
        code=text(record.get("code")),
        description=description,
        occurred_at=parse_time(record.get("ts")),
        reply_text=text(record.get("incomingText")),
        raw={**record, "event": event},
    )
