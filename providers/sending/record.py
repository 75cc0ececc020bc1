"""Recording what each send did: statuses, retries and history events, in sets (one
UPDATE per chunk of ids, one bulk insert of events) for every message a campaign sends."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from providers.http.transport import SendResult
from providers.models import Message, MessageEvent
from providers.sending.bulk import events_insert
from providers.sending.claims import Claimed
from providers.sending.retry import retry_delay
from smsgateway import sql

logger = logging.getLogger(__name__)

Status = Message.Status


@dataclass
class Outcome:
    """One request's messages and what came of it."""

    messages: list[Claimed]
    result: SendResult
    masked_request: dict[str, Any]


def transport_mask(text: str, secrets: Sequence[str]) -> str:
    from providers.sending.rendering import mask_secrets

    return mask_secrets(text, secrets) if text else text


# A batch request's body and answer are kept once, on its first message's event; the
# others point there (1,000 copies of a 1,000-record body would dwarf the messages).
SHARED_RESPONSE_CHARS = 500
UPDATE_CHUNK = 5000


def messages_record(*, outcomes: Sequence[Outcome], retry: bool = True) -> None:
    """Record send outcomes: one UPDATE per outcome set and the events in bulk.

    Only messages still in `sending` change: a DLR that already moved one on wins. A
    message put back in the queue gets its next attempt's time (`Claimed.retry_delay`
    says after how long); the dispatchers find it when it is due.
    """
    now = timezone.now()
    submitted: list[uuid.UUID] = []
    events: list[tuple[Any, ...]] = []
    with transaction.atomic():
        for outcome in outcomes:
            result = outcome.result
            if result.ok:
                submitted.extend(message.id for message in outcome.messages)
            else:
                retrying = [
                    message
                    for message in outcome.messages
                    if retry
                    and result.transient
                    and message.attempts + 1 < settings.SMSGATEWAY_MAX_SEND_ATTEMPTS
                ]
                if retrying:
                    _record_retry(retrying, result, now)
                again = {m.id for m in retrying}
                _record_failure([m for m in outcome.messages if m.id not in again], result, now)
            for position, message in enumerate(outcome.messages):
                events.append(_send_event(outcome, position, message))
        _record_submitted(submitted, now)
        events_insert(rows=events, shared={"source": MessageEvent.Source.SEND})
    _log_outcomes(outcomes, events)


def _record_submitted(ids: list[uuid.UUID], now: datetime) -> None:
    """Mark accepted messages submitted: one plain UPDATE per chunk of ids, as this runs
    for every message a campaign sends."""
    at = sql.time_value(now)
    with connection.cursor() as cursor:
        for where, id_params in sql.among_ids("id", ids, chunk=UPDATE_CHUNK):
            # An earlier attempt's error no longer describes the message.
            cursor.execute(
                f"UPDATE {sql.table(Message)}"
                " SET status = %s, attempts = attempts + 1, submitted_at = %s, updated_at = %s,"
                " error_code = '', error_description = ''"
                f" WHERE {where} AND {sql.check_only('status')} = %s",
                [Status.SUBMITTED, at, at, *id_params, Status.SENDING],
            )


def _record_retry(messages: list[Claimed], result: SendResult, now: datetime) -> None:
    # One delay per request: a batch's messages go back together.
    delay = retry_delay(messages[0].attempts + 1, result.retry_after)
    retry_at = now + timedelta(seconds=delay)
    Message.objects.filter(id__in=[m.id for m in messages], status=Status.SENDING).update(
        status=Status.QUEUED,
        attempts=F("attempts") + 1,
        next_attempt_at=retry_at,
        error_code=result.error_kind,
        error_description=result.error,
        updated_at=now,
    )
    for message in messages:
        message.retry_delay = delay


def _record_failure(messages: list[Claimed], result: SendResult, now: datetime) -> None:
    if not messages:
        return
    Message.objects.filter(id__in=[m.id for m in messages], status=Status.SENDING).update(
        status=Status.FAILED,
        attempts=F("attempts") + 1,
        error_code=result.error_kind,
        error_description=result.error,
        completed_at=now,
        updated_at=now,
    )


def _send_event(outcome: Outcome, position: int, message: Claimed) -> tuple[Any, ...]:
    """The send event of one message, as a row of bulk.EVENT_FIELDS."""
    result = outcome.result
    attempts = message.attempts + 1
    data: dict[str, Any] = {"attempt": attempts}
    if position == 0:
        data.update(request=outcome.masked_request, response=result.response)
    else:
        response = result.response
        if len(response) > SHARED_RESPONSE_CHARS:
            response = response[:SHARED_RESPONSE_CHARS] + " [truncated]"
        first = outcome.messages[0].id
        data.update(response=response, batch={"size": len(outcome.messages), "first": str(first)})
    delay = message.retry_delay
    code = result.error_kind
    if result.ok:
        status = Status.SUBMITTED
        description = f"Accepted by the provider (HTTP {result.http_status})"
    elif delay is not None:
        status = Status.QUEUED
        description = f"{result.error_title}: {result.error} (retry in {delay:.0f} s)"
        data["retry_in_seconds"] = round(delay, 3)
    else:
        status = Status.FAILED
        exhausted = result.transient and attempts >= settings.SMSGATEWAY_MAX_SEND_ATTEMPTS
        suffix = " (retries exhausted)" if exhausted else ""
        description = f"{result.error_title}: {result.error}{suffix}"
    return (message.id, status, code, description, result.http_status, result.duration_ms, data)


def _log_outcomes(outcomes: Sequence[Outcome], events: list[tuple[Any, ...]]) -> None:
    """One line per failed request; accepted messages in one line per set (their events
    hold each message's details, and a line per message would cost more than its send)."""
    position = 0
    accepted = requests = 0
    for outcome in outcomes:
        first = outcome.messages[0]
        status = events[position][1]
        position += len(outcome.messages)
        if outcome.result.ok and len(outcomes) > 1:
            accepted += len(outcome.messages)
            requests += 1
            continue
        more = len(outcome.messages) - 1
        logger.info(
            "message %s attempt %s: %s %s%s",
            first.id,
            first.attempts + 1,
            status,
            outcome.result.http_status or outcome.result.error_kind,
            f" (and {more} more in the same request)" if more else "",
            extra={"message_id": str(first.id), "attempt": first.attempts + 1, "status": status},
        )
    if accepted:
        logger.info("%s messages submitted in %s requests", accepted, requests)
