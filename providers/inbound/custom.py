"""Replies in a provider's own JSON, read through the provider's field mapping.

`inbound_mapping` names the fields: `{"from": "msisdn", "text": "message", "to":
"shortcode", "time": "received"}` (from and text required). The body is one object
or an array of them, as for the custom DLR format.
"""

from __future__ import annotations

from typing import Any

from providers.dlr.base import NotConfigured, load_records, parse_time, text
from providers.inbound.base import Incoming, ParsedReplies

REQUIRED = ("from", "text")


def parse(body: bytes, mapping: dict[str, Any]) -> ParsedReplies:
    if not isinstance(mapping, dict) or not all(text(mapping.get(key)) for key in REQUIRED):
        raise NotConfigured("the provider's inbound mapping needs the from and text field names")
    parsed = ParsedReplies()
    for record in load_records(body):
        sender = text(_field(record, mapping["from"]))
        value = _field(record, mapping["text"])
        if not sender:
            parsed.reject(record, f"missing {mapping['from']}")
        elif value is None:
            parsed.reject(record, f"missing {mapping['text']}")
        else:
            parsed.replies.append(
                Incoming(
                    phone=sender,
                    text=text(value),
                    to=text(_field(record, mapping.get("to"))),
                    sent_at=parse_time(_field(record, mapping.get("time"))),
                    raw=record,
                )
            )
    return parsed


def _field(record: dict[str, Any], name: Any) -> Any:
    """The record's value for a mapped field (None when it is not mapped or not there)."""
    return record.get(text(name)) if text(name) else None
