"""India's DLT scrub check (the `dlt` registry) for messages queued through the API.

A message naming a template that the registry holds is checked as the operators would
check it, and refused with the reasons when they would reject it; its `$$Alert` follows
the template's category. A template the registry does not hold is sent as written, as
with an empty registry.
"""

from __future__ import annotations

import time
from typing import Any

from dlt.check import alert_flag, registry_for
from dlt.models import Template
from dlt.services import headers_used

# When this process last noted each header as used: one write a minute, not one a message.
_HEADER_NOTE_SECONDS = 60.0
_headers_noted: dict[str, float] = {}


# Where a message's DLT rejections are reported among its field errors.
DLT_FIELD = "dlt"


def scrub(*, body: str, template_id: str, variables: dict[str, Any]) -> dict[str, list[str]]:
    """The reasons the operator would reject the message, under DLT_FIELD (none: it may go).

    Fills `variables["Alert"]` from the template's category unless the caller gave one.
    """
    if not template_id:
        return {}
    sender_id = str(variables.get("SenderID", "") or "")
    registry = registry_for(template_id=template_id, sender_id=sender_id)
    if template_id not in registry.templates:
        return {}
    result = registry.check(body, sender_id=sender_id, template_id=template_id)
    variables.setdefault("Alert", alert_flag(result.category))
    if result.errors:
        return {DLT_FIELD: result.errors}
    _note_header(sender_id)
    return {}


def only_dlt(errors: dict[str, list[str]]) -> bool:
    """Whether these field errors are all DLT rejections (the API answers them 422)."""
    return bool(errors) and set(errors) == {DLT_FIELD}


def test_sms_warnings(*, body: str, template_id: str, sender_id: str) -> list[str]:
    """What the operators would reject in a test SMS, for a warning the user may send past:
    against its template when the registry holds it, else against the header's approved
    templates (with an empty registry, nothing)."""
    if not body:
        return []
    if template_id:
        registry = registry_for(template_id=template_id, sender_id=sender_id)
        if template_id in registry.templates:
            return registry.check(body, sender_id=sender_id, template_id=template_id).errors
    if not Template.objects.exists():
        return []
    return registry_for(sender_id=sender_id).check(body, sender_id=sender_id).errors


def _note_header(sender_id: str) -> None:
    if not sender_id:
        return
    now = time.monotonic()
    if now - _headers_noted.get(sender_id, -_HEADER_NOTE_SECONDS) >= _HEADER_NOTE_SECONDS:
        _headers_noted[sender_id] = now
        headers_used(sender_ids=[sender_id])
