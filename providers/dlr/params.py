"""Kannel- and Jasmin-style DLRs: query or form parameters, GET or POST.

Jasmin sends `id`, `message_status` (DELIVRD, UNDELIV, ...), `err` and `donedate`
and expects the text `ACK/Jasmin` back. Kannel calls the dlr-url we gave it with our
message id in a parameter (`id`, `msgid` or `meta`) and `type` set to the dlr-mask
value; `reply` or `smsc_reply` may carry the SMSC's answer.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from providers.dlr.apply import Report
from providers.dlr.base import MalformedBody, parse_time, text
from providers.models import DeliveryReport, Message

Status = Message.Status
JASMIN_ACK = "ACK/Jasmin"

JASMIN_STATUSES: dict[str, str] = {
    "DELIVRD": Status.DELIVERED,
    "EXPIRED": Status.FAILED,
    "DELETED": Status.FAILED,
    "UNDELIV": Status.FAILED,
    "REJECTD": Status.FAILED,
    "UNKNOWN": Status.FAILED,
    "ACCEPTD": Status.SUBMITTED,
    # Level-1 DLRs carry the SMPP submit_sm_resp status instead.
    "ESME_ROK": Status.SUBMITTED,
}
KANNEL_TYPES: dict[str, str] = {
    "1": Status.DELIVERED,
    "2": Status.FAILED,
    "4": Status.SUBMITTED,
    "8": Status.SUBMITTED,
    "16": Status.FAILED,
}
# Our own id first: a dlr-url may add `?meta=<our id>` next to the gateway's own `id`.
# Jasmin's `id` is its own (the id its answer to the send gave): for a provider whose
# response rules read ids, a reference that is not one of our messages is looked up as
# the provider's (providers.dlr.apply).
ID_PARAMS = ("meta", "msgid", "id")
# Jasmin's donedate is YYMMDDhhmm (some SMSCs add seconds), which an epoch reading would
# turn into a wrong date; other forms are tried as epoch seconds or ISO 8601.
DONEDATE_FORMATS = {10: "%y%m%d%H%M", 12: "%y%m%d%H%M%S"}


def parse(params: dict[str, str]) -> Report:
    """The one report a request carries; MalformedBody when it cannot be read."""
    ref = next((text(params[name]) for name in ID_PARAMS if text(params.get(name))), "")
    if not ref:
        raise MalformedBody("missing message id (id, msgid or meta)")
    if is_jasmin(params):
        word = text(params["message_status"]).upper()
        # Any other SMPP error status on a level-1 DLR means the SMSC refused the message.
        status = JASMIN_STATUSES.get(word, Status.FAILED if word.startswith("ESME_") else "")
        description = word
    else:
        word = text(params.get("type"))
        status = KANNEL_TYPES.get(word, "")
        description = text(params.get("reply") or params.get("smsc_reply"))
    if not status:
        raise MalformedBody(f"unknown status {word[:40]!r}")
    return Report(
        message_ref=ref,
        event=status,
        status=status,
        code=text(params.get("err")),
        description=description,
        occurred_at=_time(params),
        raw=dict(params),
    )


def is_jasmin(params: dict[str, str]) -> bool:
    return "message_status" in params


def answer(params: dict[str, str], outcome: str) -> str:
    """The text to answer with once the report is stored.

    Jasmin retries until it reads its ACK, and a retry cannot make an unknown id known.
    """
    if is_jasmin(params):
        return JASMIN_ACK
    return "unknown message id" if outcome == DeliveryReport.Outcome.UNKNOWN_MESSAGE else "OK"


def _time(params: dict[str, str]) -> datetime | None:
    donedate = text(params.get("donedate"))
    fmt = DONEDATE_FORMATS.get(len(donedate))
    if fmt and donedate.isdigit():
        try:
            return timezone.make_aware(datetime.strptime(donedate, fmt))
        except ValueError:
            return None
    return parse_time(donedate or params.get("ts") or params.get("time"))
