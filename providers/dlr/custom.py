"""A provider's own JSON DLR format, read through the field mapping it is configured with.

`Provider.dlr_mapping` = `{"id", "provider_id", "status", "code", "time", "description":
<field names>, "status_map": {"<their status>": "delivered|failed|submitted"}}`: `id`
names the field with our message id, `provider_id` the one with the provider's (the id
its answer to the send gave); a record is matched by ours when it has it. The body is one JSON
object or a list of them (Sinch India pushes up to 500 per POST, with `msg_id`,
`sms_delv_status`, `sms_delv_dttime`, `remarks`).
"""

from __future__ import annotations

from typing import Any

from providers.dlr.apply import Report
from providers.dlr.base import NotConfigured, Parsed, load_records, parse_time, text
from providers.models import Message

Status = Message.Status

# Used for status values the provider's status_map does not name.
DEFAULT_STATUS_MAP: dict[str, str] = {
    "DELIVRD": Status.DELIVERED,
    "DELIVERED": Status.DELIVERED,
    "UNDELIV": Status.FAILED,
    "UNDELIVERED": Status.FAILED,
    "EXPIRED": Status.FAILED,
    "REJECTD": Status.FAILED,
    "REJECTED": Status.FAILED,
    "FAILED": Status.FAILED,
    "ACCEPTD": Status.SUBMITTED,
    "ACCEPTED": Status.SUBMITTED,
}
REPORT_STATUSES = {Status.DELIVERED, Status.FAILED, Status.SUBMITTED}


def parse(body: bytes, mapping: Any) -> Parsed:
    fields = mapping if isinstance(mapping, dict) else {}
    id_field, status_field = text(fields.get("id")), text(fields.get("status"))
    provider_field = text(fields.get("provider_id"))
    if not (id_field or provider_field) or not status_field:
        raise NotConfigured(
            "the custom DLR mapping needs the status field name and the id or provider_id one"
        )
    status_map = _status_map(fields.get("status_map"))
    parsed = Parsed()
    for record in load_records(body):
        ours = text(record.get(id_field)) if id_field else ""
        ref = ours or (text(record.get(provider_field)) if provider_field else "")
        word = text(record.get(status_field))
        status = status_map.get(word.upper())
        if not ref:
            named = " or ".join(name for name in (id_field, provider_field) if name)
            parsed.reject(record, f"missing {named}")
        elif not word:
            parsed.reject(record, f"missing {status_field}")
        elif status not in REPORT_STATUSES:
            parsed.reject(record, f"unknown status {word[:40]!r}")
        else:
            parsed.reports.append(
                Report(
                    message_ref=ref,
                    by_provider_id=not ours,
                    event=status,
                    status=status,
                    code=text(_value(record, fields, "code")),
                    description=text(_value(record, fields, "description")),
                    occurred_at=parse_time(_value(record, fields, "time")),
                    raw=record,
                )
            )
    return parsed


def _status_map(configured: Any) -> dict[str, str]:
    """The defaults overlaid with the provider's own map, keys compared in upper case."""
    own = configured if isinstance(configured, dict) else {}
    mapped = {text(key).upper(): text(value).lower() for key, value in own.items()}
    return {**DEFAULT_STATUS_MAP, **mapped}


def _value(record: dict[str, Any], fields: dict[str, Any], name: str) -> Any:
    """The record's value for an optional mapped field (None when the field is not mapped)."""
    key = text(fields.get(name))
    return record.get(key) if key else None
