"""Writes in the delivery layer: messages, sending, test SMS (delivery reports: reports.py)."""

from __future__ import annotations

import json
import logging
import queue
import random
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from . import phones, transport
from .bulk import among_ids, check_only, events_insert, uuid_adapter
from .models import Message, MessageEvent, OptOut, Provider, new_callback_token
from .rendering import RenderedRequest, RenderError, render_request
from .reports import Report as Report
from .reports import report_apply as report_apply
from .reports import reports_apply as reports_apply
from .transport import ErrorKind, SendResult

logger = logging.getLogger(__name__)

Status = Message.Status
# The longest Retry-After a provider's 429 or 503 is obeyed for.
RETRY_AFTER_LIMIT = 3600.0


# ---------------------------------------------------------------- messages


def message_create(
    *,
    provider: Provider,
    to: str,
    body: str = "",
    template_id: str = "",
    variables: dict[str, Any] | None = None,
    campaign_ref: str = "",
    is_test: bool = False,
    created_by: Any = None,
    idempotency_key: str = "",
    enqueue: bool = True,
) -> Message:
    """Create a queued message and (after commit) a task that sends it.

    Raises ValidationError for a bad number, an opted-out number or a missing custom value.
    With an idempotency key already used by this user, returns that first message.
    """
    if idempotency_key and created_by is not None:
        existing = Message.objects.filter(
            created_by=created_by, idempotency_key=idempotency_key
        ).first()
        if existing:
            return existing
    errors = message_errors(
        provider=provider, to=to, body=body, template_id=template_id, variables=variables or {}
    )
    if errors:
        raise ValidationError(errors)
    number = phones.normalize(to)
    message = Message(
        provider=provider,
        to=number,
        body=body,
        template_id=template_id,
        variables={str(k): v for k, v in (variables or {}).items()},
        campaign_ref=campaign_ref,
        is_test=is_test,
        created_by=created_by,
        idempotency_key=idempotency_key,
    )
    try:
        with transaction.atomic():
            message.save()
            MessageEvent.objects.create(
                message=message,
                source=MessageEvent.Source.API,
                status=Status.QUEUED,
                description="Test SMS" if is_test else "Queued",
            )
    except IntegrityError:
        if idempotency_key and created_by is not None:
            # The same key raced in from a parallel request: return the winner.
            return Message.objects.get(created_by=created_by, idempotency_key=idempotency_key)
        raise
    if enqueue:
        _enqueue_send(message.id)
    return message


def message_errors(
    *, provider: Provider, to: str, body: str, template_id: str, variables: dict[str, Any]
) -> dict[str, list[str]]:
    """Field errors that stop a message from being created (empty when it may be sent)."""
    errors: dict[str, list[str]] = {}
    try:
        number = phones.normalize(to)
    except phones.InvalidNumber as exc:
        errors["to"] = [str(exc)]
    else:
        if OptOut.objects.filter(phone=number).exists():
            errors["to"] = [f"{number} has opted out of SMS (replied STOP)."]
    if not body and not template_id:
        errors["body"] = ["Enter a message body or a template id."]
    missing = [name for name in provider.custom_placeholders if not str(variables.get(name, ""))]
    if missing:
        errors["variables"] = [
            "A value is required for " + ", ".join("$$" + name for name in missing) + "."
        ]
    return errors


def _enqueue_send(message_id: uuid.UUID, *, run_after: datetime | None = None) -> None:
    from .tasks import send_message

    task = send_message.using(run_after=run_after) if run_after else send_message
    transaction.on_commit(lambda: task.enqueue(str(message_id)))


def message_retry(*, message: Message, actor: str = "operator") -> bool:
    """Put a failed message back in the queue (an operator's decision). False if not failed."""
    with transaction.atomic():
        changed = Message.objects.filter(id=message.id, status=Status.FAILED).update(
            status=Status.QUEUED,
            attempts=0,
            next_attempt_at=None,
            error_code="",
            error_description="",
            completed_at=None,
            updated_at=timezone.now(),
        )
        if not changed:
            return False
        MessageEvent.objects.create(
            message_id=message.id,
            source=MessageEvent.Source.ADMIN,
            status=Status.QUEUED,
            description=f"Retried by {actor}",
        )
    _enqueue_send(message.id)
    return True


# ---------------------------------------------------------------- sending


def message_send(*, message_id: str | uuid.UUID, retry: bool = True) -> SendResult | None:
    """Send one queued message. Does nothing (returns None) if it is not ours to send.

    Claiming is one atomic UPDATE from `queued` to `sending`, so a task that runs
    twice, or two workers, can never send the same message twice.
    """
    claimed = messages_claim(message_ids=[message_id])
    if not claimed:
        return None
    provider = Provider.objects.get(id=claimed[0].provider_id)
    return messages_send_claimed(provider=provider, messages=claimed, retry=retry)[0]


def messages_claim(*, message_ids: Sequence[str | uuid.UUID]) -> list[Claimed]:
    """Claim the due, queued messages among these ids for sending; returns the ones won,
    oldest first.

    One UPDATE from `queued` to `sending` tagged with a fresh claim token: whatever
    another worker claimed first is simply not among the rows this claim finds. The
    UPDATE returns what sending needs (RETURNING), so no second query and no model
    instances: this runs for every message a campaign sends.
    """
    token = uuid.uuid4()
    now = timezone.now()
    ids = [value if isinstance(value, uuid.UUID) else uuid.UUID(value) for value in message_ids]
    ops = connection.ops
    table = ops.quote_name(Message._meta.db_table)
    returning = ", ".join(ops.quote_name(column) for column in CLAIM_COLUMNS)
    sql = (
        f"UPDATE {table} SET status = %s, claim = %s, updated_at = %s WHERE {{ids}}"
        f" AND {check_only('status')} = %s AND (next_attempt_at IS NULL OR next_attempt_at <= %s)"
        f" RETURNING {returning}"
    )
    rows: list[tuple[Any, ...]] = []
    uuid_ = uuid_adapter()
    with connection.cursor() as cursor:
        for where, id_params in among_ids("id", ids, chunk=UPDATE_CHUNK):
            params = [
                Status.SENDING,
                uuid_(token),
                ops.adapt_datetimefield_value(now),
                *id_params,
                Status.QUEUED,
                ops.adapt_datetimefield_value(now),
            ]
            cursor.execute(sql.replace("{ids}", where), params)
            rows.extend(cursor.fetchall())
    # RETURNING comes in no particular order; requests go out oldest first, as queued.
    rows.sort(key=lambda row: (row[-1], row[0]))
    native = connection.features.has_native_uuid_field
    return [
        Claimed(
            id=message_id if native else uuid.UUID(message_id),
            provider_id=provider_id,
            to=to,
            body=body,
            template_id=template_id,
            variables=json.loads(variables) if isinstance(variables, str) else variables,
            campaign_ref=campaign_ref,
            attempts=attempts,
        )
        for (
            message_id,
            provider_id,
            to,
            body,
            template_id,
            variables,
            campaign_ref,
            attempts,
            _,
        ) in rows
    ]


# What rendering and recording a send need, in Claimed's order; created_at orders them.
CLAIM_COLUMNS = (
    "id",
    "provider_id",
    "to",
    "body",
    "template_id",
    "variables",
    "campaign_ref",
    "attempts",
    "created_at",
)


@dataclass(slots=True)
class Claimed:
    """A message claimed for sending: what rendering and recording read from it."""

    id: uuid.UUID
    provider_id: int
    to: str
    body: str
    template_id: str
    variables: dict[str, Any]
    campaign_ref: str
    attempts: int
    # Set when the send failed and the message goes back to the queue.
    retry_delay: float | None = None


def messages_send_claimed(
    *, provider: Provider, messages: Sequence[Claimed], retry: bool = True
) -> list[SendResult]:
    """Send claimed messages in one request (one, or a batch) and record each outcome.

    With `retry` off, a transient failure fails the messages at once (a test SMS).
    """
    result, masked = _request_and_send(provider, messages)
    messages_record(outcomes=[Outcome(list(messages), result, masked)], retry=retry)
    return [result] * len(messages)


@dataclass
class Outcome:
    """One request's messages and what came of it."""

    messages: list[Claimed]
    result: SendResult
    masked_request: dict[str, Any]


class GroupSender:
    """Sends groups of claimed messages over the bulk transport and records the outcomes.

    Requests run in the process's sender (a background event loop whose connections stay
    open from one task to the next); rendering and every database write stay in
    the calling thread, and outcomes are recorded in sets as they come back.
    `wait_for_room` lets a caller claim only what can be sent at once, so that little sits
    in `sending` and a pause takes effect at the next claim.
    """

    def __init__(self, *, provider: Provider, concurrency: int) -> None:
        from .async_transport import shared_sender

        self.provider = provider
        self.concurrency = max(1, concurrency)
        self._sender = shared_sender()
        self._in_flight: dict[Future[SendResult], tuple[list[Claimed], RenderedRequest]] = {}
        # Finished requests, in the order they finish: waiting on this costs nothing per
        # request still in flight, where concurrent.futures.wait() walks all of them.
        self._done: queue.SimpleQueue[Future[SendResult]] = queue.SimpleQueue()

    def __enter__(self) -> GroupSender:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        # Every request started is recorded before the task ends, even on an error.
        while self._in_flight:
            self._collect(wait_for=len(self._in_flight))

    @property
    def room(self) -> int:
        """How many more requests may start now."""
        return self.concurrency - len(self._in_flight)

    def submit(self, groups: Sequence[Sequence[Claimed]]) -> None:
        """Render and start one request per group (waiting for room as needed)."""
        remaining = [list(group) for group in groups]
        while remaining:
            room = self.wait_for_room(1)
            now, remaining = remaining[:room], remaining[room:]
            started: list[tuple[list[Claimed], RenderedRequest]] = []
            failed: list[Outcome] = []
            for messages in now:
                try:
                    started.append((messages, render_request(self.provider, messages)))
                except RenderError as exc:
                    result = SendResult(ok=False, error_kind=ErrorKind.INVALID, error=str(exc))
                    failed.append(Outcome(messages, result, {}))
            futures = self._sender.submit([request for _, request in started])
            self._in_flight.update(zip(futures, started, strict=True))
            for future in futures:
                future.add_done_callback(self._done.put)
            self._record(failed)

    def wait_for_room(self, requests: int) -> int:
        """Record finished requests until `requests` more may start; returns the room."""
        needed = min(requests, self.concurrency)
        if self.room < needed:
            self._collect(wait_for=needed - self.room)
        return self.room

    def _collect(self, *, wait_for: int) -> None:
        finished = [self._done.get() for _ in range(min(wait_for, len(self._in_flight)))]
        # What else has finished meanwhile goes into the same set.
        while not self._done.empty():
            finished.append(self._done.get())
        outcomes = []
        for future in finished:
            messages, request = self._in_flight.pop(future)
            try:
                result = future.result()
            except Exception as exc:
                # A fault the transport did not foresee: the request may or may not have
                # gone out, as after a timeout, so it is recorded (and retried) like one.
                logger.exception("sending to %s failed unexpectedly", self.provider.nickname)
                result = SendResult(ok=False, error_kind=ErrorKind.CONNECTION, error=str(exc))
            # The provider may echo a credential back; it must not reach our records.
            result.response = transport_mask(result.response, request.secrets)
            result.error = transport_mask(result.error, request.secrets)
            outcomes.append(Outcome(messages, result, request.masked()))
        self._record(outcomes)

    def _record(self, outcomes: list[Outcome]) -> None:
        if outcomes:
            messages_record(outcomes=outcomes)


def _request_and_send(
    provider: Provider, messages: Sequence[Claimed]
) -> tuple[SendResult, dict[str, Any]]:
    """Render and send one request (the single-call transport); no database access."""
    try:
        request = render_request(provider, messages)
    except RenderError as exc:
        return SendResult(ok=False, error_kind=ErrorKind.INVALID, error=str(exc)), {}
    result = transport.send(request, session=transport.session_for(provider.id))
    # The provider may echo a credential back; it must not reach our records.
    result.response = transport_mask(result.response, request.secrets)
    result.error = transport_mask(result.error, request.secrets)
    return result, request.masked()


def transport_mask(text: str, secrets: Sequence[str]) -> str:
    from .rendering import mask_secrets

    return mask_secrets(text, secrets) if text else text


# A batch request's body and answer are kept once, on its first message's event; the
# others point there (1,000 copies of a 1,000-record body would dwarf the messages).
SHARED_RESPONSE_CHARS = 500
UPDATE_CHUNK = 5000


def messages_record(*, outcomes: Sequence[Outcome], retry: bool = True) -> None:
    """Record send outcomes: one UPDATE per outcome set and the events in bulk.

    Only messages still in `sending` change: a DLR that already moved one on wins.
    """
    now = timezone.now()
    submitted: list[uuid.UUID] = []
    events: list[tuple[Any, ...]] = []
    later: list[tuple[uuid.UUID, datetime]] = []
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
                    retry_at = _record_retry(retrying, result, now)
                    later += [(m.id, retry_at) for m in retrying if not m.campaign_ref]
                again = {m.id for m in retrying}
                _record_failure([m for m in outcome.messages if m.id not in again], result, now)
            for position, message in enumerate(outcome.messages):
                events.append(_send_event(outcome, position, message))
        _record_submitted(submitted, now)
        events_insert(rows=events, shared={"source": MessageEvent.Source.SEND})
    for message_id, retry_at in later:
        # A bulk sender (campaign_ref set) retries its own messages, so that its pause,
        # throttle and quiet hours also hold for retries; the rest get a task each.
        _enqueue_send(message_id, run_after=retry_at)
    _log_outcomes(outcomes, events)


def _record_submitted(ids: list[uuid.UUID], now: datetime) -> None:
    """Mark accepted messages submitted: one plain UPDATE per chunk of ids, as this runs
    for every message a campaign sends."""
    ops = connection.ops
    at = ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        for where, id_params in among_ids("id", ids, chunk=UPDATE_CHUNK):
            # An earlier attempt's error no longer describes the message.
            cursor.execute(
                f"UPDATE {ops.quote_name(Message._meta.db_table)}"
                " SET status = %s, attempts = attempts + 1, submitted_at = %s, updated_at = %s,"
                " error_code = '', error_description = ''"
                f" WHERE {where} AND {check_only('status')} = %s",
                [Status.SUBMITTED, at, at, *id_params, Status.SENDING],
            )


def _record_retry(messages: list[Claimed], result: SendResult, now: datetime) -> datetime:
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
    return retry_at


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


def messages_requeue_stuck(*, older_than: timedelta | None = None) -> int:
    """Put messages left in `sending` by a worker that died back in the queue.

    A message is in `sending` only while its request is in flight, which the transport
    bounds by its timeouts; one still there long after was abandoned. Its request may or
    may not have reached the provider, so sending it again can duplicate at most the
    messages that were in flight when the worker died. Returns how many were requeued.
    """
    if older_than is None:
        older_than = stuck_after()
    now = timezone.now()
    stuck = Message.objects.filter(status=Status.SENDING, updated_at__lt=now - older_than)
    requeued = 0
    for message in stuck.only("id", "campaign_ref").iterator():
        with transaction.atomic():
            changed = Message.objects.filter(
                id=message.id, status=Status.SENDING, updated_at__lt=now - older_than
            ).update(status=Status.QUEUED, next_attempt_at=now, claim=None, updated_at=now)
            if not changed:
                continue
            requeued += 1
            MessageEvent.objects.create(
                message_id=message.id,
                source=MessageEvent.Source.SYSTEM,
                status=Status.QUEUED,
                description="Requeued: the worker sending it stopped before recording a result",
            )
            if not message.campaign_ref:
                _enqueue_send(message.id)
    if requeued:
        logger.warning("requeued %s messages stuck in sending", requeued)
    return requeued


def stuck_after() -> timedelta:
    """How long a message may stay in `sending` before it counts as abandoned."""
    if settings.SMSGATEWAY_STUCK_AFTER_SECONDS:
        return timedelta(seconds=settings.SMSGATEWAY_STUCK_AFTER_SECONDS)
    request = settings.SMSGATEWAY_CONNECT_TIMEOUT + settings.SMSGATEWAY_READ_TIMEOUT
    return timedelta(seconds=max(120.0, 4 * request))


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter; a provider's Retry-After is honoured."""
    cap = settings.SMSGATEWAY_RETRY_MAX_SECONDS
    ceiling = min(cap, settings.SMSGATEWAY_RETRY_BASE_SECONDS * (2 ** (attempt - 1)))
    delay = random.uniform(0, ceiling)
    if retry_after is not None:
        # The provider said when: not earlier, and up to an hour even past our own cap.
        delay = max(delay, min(retry_after, max(cap, RETRY_AFTER_LIMIT)))
    return delay


# ---------------------------------------------------------------- test SMS


@dataclass
class TestSmsResult:
    ok: bool
    message_id: str | None
    http_status: int | None = None
    response: str = ""
    error: str = ""
    error_kind: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)


def test_sms_send(
    *,
    provider: Provider,
    country_code: str,
    mobile: str,
    message: str,
    template_id: str = "",
    variables: dict[str, Any] | None = None,
    user: Any = None,
) -> TestSmsResult:
    """Send a test SMS inline so its outcome can be shown at once.

    Invalid input comes back as `errors` (nothing is sent); a provider failure as
    `ok=False` with the kind of failure and the provider's answer.
    """
    try:
        number = phones.from_parts(country_code, mobile)
    except phones.InvalidNumber as exc:
        return TestSmsResult(ok=False, message_id=None, errors={"mobile": [str(exc)]})
    try:
        created = message_create(
            provider=provider,
            to=number,
            body=message,
            template_id=template_id,
            variables=variables,
            is_test=True,
            created_by=user,
            enqueue=False,
        )
    except ValidationError as exc:
        errors = {("mobile" if k == "to" else k): v for k, v in exc.message_dict.items()}
        return TestSmsResult(ok=False, message_id=None, errors=errors)
    # A test is answered now: no silent retry in the background.
    outcome = message_send(message_id=created.id, retry=False)
    assert outcome is not None  # freshly created and queued: always ours to send
    title = outcome.error_title
    error = f"{title}: {outcome.error}" if not outcome.ok else ""
    summary = (f"Sent (HTTP {outcome.http_status})" if outcome.ok else error)[:300]
    Provider.objects.filter(id=provider.id).update(
        last_test_at=timezone.now(),
        last_test_ok=outcome.ok,
        last_test_summary=summary,
    )
    return TestSmsResult(
        ok=outcome.ok,
        message_id=str(created.id),
        http_status=outcome.http_status,
        response=outcome.response,
        error=error,
        error_kind=outcome.error_kind,
    )


# ---------------------------------------------------------------- providers


def provider_rotate_token(*, provider: Provider) -> str:
    """Give the provider a new callback token; the old callback URL stops working."""
    provider.callback_token = new_callback_token()
    provider.save(update_fields=["callback_token", "updated_at"])
    return provider.callback_token
