"""Recording what each send did: statuses, retries and history events, in sets (one
UPDATE per chunk of ids, one bulk insert of events) for every message a campaign sends."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from providers.dlr.apply import awaiting_reports_apply
from providers.http.response_rules import answer_read
from providers.http.transport import SendResult
from providers.models import Message, MessageEvent, Provider
from providers.sending.bulk import events_insert
from providers.sending.claims import Claimed
from providers.sending.retry import retry_delay
from smsgateway import sql

logger = logging.getLogger(__name__)

Status = Message.Status


@dataclass
class Outcome:
    """One request's messages and what came of it: the request's result, and where the
    provider's response rules read one per message (a batch's records), each message's."""

    messages: list[Claimed]
    result: SendResult
    masked_request: dict[str, Any]
    results: list[SendResult] | None = None
    # What the response rules read from the answer, line by line.
    readout: list[str] = field(default_factory=list)

    def result_of(self, position: int) -> SendResult:
        return self.results[position] if self.results is not None else self.result

    def by_result(self) -> list[tuple[SendResult, list[Claimed]]]:
        """The messages grouped by their result, in order."""
        if self.results is None:
            return [(self.result, self.messages)]
        groups: dict[int, tuple[SendResult, list[Claimed]]] = {}
        for result, message in zip(self.results, self.messages, strict=True):
            groups.setdefault(id(result), (result, []))[1].append(message)
        return list(groups.values())


def answer_outcome(
    provider: Provider, messages: list[Claimed], result: SendResult, masked: dict[str, Any]
) -> Outcome:
    """The outcome of one request, its answer read with the provider's response rules."""
    reading = answer_read(
        provider.response,
        result,
        message_ids=[str(message.id) for message in messages],
        batch=provider.batch_enabled,
    )
    return Outcome(messages, reading.result, masked, reading.results, reading.readout)


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
    submitted: list[tuple[uuid.UUID, str]] = []
    named: dict[int, set[str]] = {}  # the provider ids answers named, by provider
    events: list[tuple[Any, ...]] = []
    with transaction.atomic():
        for outcome in outcomes:
            for result, messages in outcome.by_result():
                if result.ok:
                    ref = result.provider_message_id
                    submitted.extend((message.id, ref) for message in messages)
                    if ref:
                        named.setdefault(messages[0].provider_id, set()).add(ref)
                    continue
                retrying = [
                    message
                    for message in messages
                    if retry
                    and result.transient
                    and message.attempts + 1 < settings.SMSGATEWAY_MAX_SEND_ATTEMPTS
                ]
                if retrying:
                    _record_retry(retrying, result, now)
                again = {m.id for m in retrying}
                _record_failure([m for m in messages if m.id not in again], result, now)
            for position, message in enumerate(outcome.messages):
                events.append(_send_event(outcome, position, message))
        _record_submitted(submitted, now)
        events_insert(rows=events, shared={"source": MessageEvent.Source.SEND})
        for provider_id, refs in named.items():
            # Reports that came before these answers, waiting for the ids they name.
            awaiting_reports_apply(provider_id=provider_id, refs=refs)
    _log_outcomes(outcomes, events)


def _record_submitted(submitted: list[tuple[uuid.UUID, str]], now: datetime) -> None:
    """Mark accepted messages submitted, with the provider's id where its answer named
    one: one UPDATE per chunk of messages, as this runs for every message a campaign
    sends."""
    at = sql.time_value(now)
    plain = [message_id for message_id, ref in submitted if not ref]
    named = [(message_id, ref) for message_id, ref in submitted if ref]
    # An earlier attempt's error no longer describes the message.
    change = (
        f"UPDATE {sql.table(Message)}"
        " SET status = %s, attempts = attempts + 1, submitted_at = %s, updated_at = %s,"
        " error_code = '', error_description = ''"
    )
    with connection.cursor() as cursor:
        for where, id_params in sql.among_ids("id", plain, chunk=UPDATE_CHUNK):
            cursor.execute(
                f"{change} WHERE {where} AND {sql.check_only('status')} = %s",
                [Status.SUBMITTED, at, at, *id_params, Status.SENDING],
            )
        for start in range(0, len(named), UPDATE_CHUNK):
            rows, params = _named_rows(named[start : start + UPDATE_CHUNK])
            cursor.execute(
                f"WITH named (ref_id, ref) AS ({rows}) {change},"
                " provider_message_id = named.ref FROM named"
                f" WHERE id = named.ref_id AND {sql.check_only('status')} = %s",
                [*params, Status.SUBMITTED, at, at, Status.SENDING],
            )


def _named_rows(chunk: list[tuple[uuid.UUID, str]]) -> tuple[str, list[Any]]:
    """(id, provider id) rows as a query, and its parameters: two arrays on PostgreSQL
    (one parameter each, where a VALUES list of a thousand rows took longer to parse than
    to run), a VALUES list elsewhere."""
    if connection.vendor == "postgresql":
        ids = [message_id for message_id, _ in chunk]
        return "SELECT * FROM unnest(%s::uuid[], %s::text[])", [ids, [ref for _, ref in chunk]]
    uuid_value = sql.uuid_adapter()
    rows = ", ".join(["(%s, %s)"] * len(chunk))
    return f"VALUES {rows}", [v for message_id, ref in chunk for v in (uuid_value(message_id), ref)]


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
    result = outcome.result_of(position)
    attempts = message.attempts + 1
    data: dict[str, Any] = {"attempt": attempts}
    if result.provider_message_id:
        data["provider_message_id"] = result.provider_message_id
    if result.code:
        data["provider_code"] = result.code
    if position == 0:
        data.update(request=outcome.masked_request, response=result.response)
        if outcome.readout:
            data["response_rules"] = outcome.readout
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
        if result.provider_message_id:
            description += f", its id {result.provider_message_id}"
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
