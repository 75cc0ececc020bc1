"""Sinch REST (xms) per-recipient delivery reports.

POST of one `{"type": "recipient_delivery_report_sms", "batch_id", "recipient", "code",
"status", "at", "operator_status_at", "client_reference"}` or an array of them;
`client_reference` carries our message id when the send set it; otherwise the report is
matched by the provider's id for the batch (`batch_id`, which the send's answer gave as
`id`) and the `recipient`.
"""

from __future__ import annotations

from typing import Any

from providers.dlr.apply import Report
from providers.dlr.base import Parsed, load_records, parse_time, text
from providers.models import Message

Status = Message.Status
REPORT_TYPE = "recipient_delivery_report_sms"

STATUSES: dict[str, str] = {
    "delivered": Status.DELIVERED,
    "failed": Status.FAILED,
    "expired": Status.FAILED,
    "rejected": Status.FAILED,
    "aborted": Status.FAILED,
    "cancelled": Status.FAILED,
    "deleted": Status.FAILED,
    "unknown": Status.FAILED,
    # Intermediate: accepted on the way, not yet final.
    "queued": Status.SUBMITTED,
    "dispatched": Status.SUBMITTED,
}


def parse(body: bytes) -> Parsed:
    parsed = Parsed()
    for record in load_records(body):
        problem = _problem(record)
        if problem:
            parsed.reject(record, problem)
            continue
        word = text(record["status"])
        status = STATUSES[word.lower()]
        ours = text(record.get("client_reference"))
        parsed.reports.append(
            Report(
                message_ref=ours or text(record["batch_id"]),
                by_provider_id=not ours,
                recipient="" if ours else text(record.get("recipient")),
                event=status,
                status=status,
                code=text(record.get("code")),
                # Sinch's own word (Expired, Rejected...) says more than our status does.
                description=word,
                occurred_at=parse_time(record.get("at")),
                raw=record,
            )
        )
    return parsed


def _problem(record: dict[str, Any]) -> str:
    if record.get("type") != REPORT_TYPE:
        return f"unsupported report type {text(record.get('type'))[:40]!r}"
    if not text(record.get("client_reference")) and not text(record.get("batch_id")):
        return "missing client_reference and batch_id"
    word = text(record.get("status"))
    if not word:
        return "missing status"
    if word.lower() not in STATUSES:
        return f"unknown status {word[:40]!r}"
    return ""
