"""Writes in the delivery layer: messages, recording sends, test SMS (delivery reports:
reports.py; sending itself: dispatcher.py)."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from smsgateway import sql

from . import dlt_scrub, lanes, phones, transport, wakeups
from .bulk import events_insert, instances_insert, message_insert
from .claims import Claimed, in_sending
from .models import Message, MessageEvent, OptOut, Provider, WorkerHeartbeat, new_callback_token
from .rendering import RenderError, render_request
from .transport import ErrorKind, SendResult

logger = logging.getLogger(__name__)

Status = Message.Status
# The longest Retry-After a provider's 429 or 503 is obeyed for.
RETRY_AFTER_LIMIT = 3600.0
# Messages one request to the API may queue at once.
MAX_MESSAGES_PER_REQUEST = 1000


# ---------------------------------------------------------------- messages


class InvalidMessages(ValueError):
    """Some messages of a list cannot be queued: `errors` has each one's field errors, by
    its position in the list."""

    def __init__(self, errors: dict[int, dict[str, list[str]]]) -> None:
        super().__init__(f"{len(errors)} invalid message(s)")
        self.errors = errors


@dataclass
class NewMessage:
    """One message a caller asks to queue."""

    provider: Provider
    to: str
    body: str = ""
    template_id: str = ""
    variables: dict[str, Any] = field(default_factory=dict)


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
    claimed: bool = False,
) -> Message:
    """Queue a message; the dispatchers are woken when the transaction commits.

    With `claimed`, the message is created already claimed for sending by the caller
    (the test SMS, sent inline), so that no dispatcher takes it.
    Raises ValidationError for a bad number, an opted-out number or a missing custom value.
    With an idempotency key already used by this user, returns that first message; a
    message this call queued carries its first history event as `queued_event`.
    """
    new = NewMessage(provider, to, body, template_id, variables or {})
    # The opt-out list is checked by the write itself.
    errors = messages_errors([new], opt_outs=False, dlt=not is_test).get(0)
    if errors:
        raise ValidationError(errors)
    lane_id = lanes.transactional_lane_id(provider_id=provider.pk)
    message = _message(
        new, lane_id, campaign_ref=campaign_ref, is_test=is_test, created_by=created_by
    )
    message.idempotency_key = idempotency_key
    message.created_at = message.updated_at = message.next_attempt_at = timezone.now()
    if claimed:
        message.status, message.claim = Status.SENDING, uuid.uuid4()
    event = MessageEvent(
        created_at=message.created_at,
        source=MessageEvent.Source.API,
        status=Status.QUEUED,
        description="Test SMS" if is_test else "Queued",
    )
    if message_insert(message, event=event, unless_opted_out=True, wake=not claimed):
        message._state.adding = False
        # What this call wrote, for an answer that needs no query (the API's).
        message.queued_event = event  # type: ignore[attr-defined]
        return message
    if idempotency_key and created_by is not None:
        # This user's key was used before (or just now, by a parallel request).
        existing = Message.objects.filter(created_by=created_by, idempotency_key=idempotency_key)
        if first := existing.first():
            return first
    raise ValidationError({"to": [opted_out(message.to)]})


def messages_create(
    *, messages: Sequence[NewMessage], created_by: Any = None, idempotency_key: str = ""
) -> list[Message]:
    """Queue several messages at once, all or none, in the order given.

    Raises InvalidMessages with the errors of each invalid message by its position
    (nothing is queued then). With an idempotency key, the messages carry it with their
    position appended (`key[0]`, `key[1]` …); when this user used the key before, the
    messages of that first request are returned instead.
    """
    keys = [f"{idempotency_key}[{i}]" if idempotency_key else "" for i in range(len(messages))]
    if idempotency_key and created_by is not None:
        earlier = _messages_by_key(created_by, keys)
        if earlier is not None:
            return earlier
    errors = messages_errors(messages)
    if errors:
        raise InvalidMessages(errors)
    lane_ids = {
        provider_id: lanes.transactional_lane_id(provider_id=provider_id)
        for provider_id in {new.provider.pk for new in messages}
    }
    created = [_message(new, lane_ids[new.provider.pk], created_by=created_by) for new in messages]
    now = timezone.now()
    for position, (message, key) in enumerate(zip(created, keys, strict=True)):
        message.idempotency_key = key
        # One microsecond apart, so that they are listed (and sent) in the order given.
        message.created_at = message.next_attempt_at = now + timedelta(microseconds=position)
        message.updated_at = now
        message._state.adding = False
    try:
        with transaction.atomic():
            instances_insert(created)
            events_insert(
                rows=[
                    (message.id, Status.QUEUED, "", "Queued", None, None, {}) for message in created
                ],
                shared={"source": MessageEvent.Source.API},
            )
            for provider_id in {message.provider_id for message in created}:
                wakeups.wake(provider_id=provider_id)
    except IntegrityError:
        if idempotency_key and created_by is not None:
            earlier = _messages_by_key(created_by, keys)
            if earlier is not None:
                return earlier
        raise
    return created


def _messages_by_key(created_by: Any, keys: list[str]) -> list[Message] | None:
    """The messages a list request with these keys created before, in order (None when
    that key has not been used). Only the first key is looked up: a list is queued whole."""
    first = Message.objects.filter(created_by=created_by, idempotency_key=keys[0]).first()
    if first is None:
        return None
    found = {
        message.idempotency_key: message
        for message in Message.objects.filter(created_by=created_by, idempotency_key__in=keys)
    }
    return [found[key] for key in keys if key in found]


def _message(
    new: NewMessage,
    lane_id: int,
    *,
    campaign_ref: str = "",
    is_test: bool = False,
    created_by: Any = None,
) -> Message:
    return Message(
        provider=new.provider,
        lane_id=lane_id,
        to=phones.normalize(new.to),
        body=new.body,
        template_id=new.template_id,
        variables={str(k): v for k, v in new.variables.items()},
        campaign_ref=campaign_ref,
        is_test=is_test,
        created_by=created_by,
        next_attempt_at=timezone.now(),
    )


def messages_errors(
    messages: Sequence[NewMessage], *, opt_outs: bool = True, dlt: bool = True
) -> dict[int, dict[str, list[str]]]:
    """Field errors that stop messages from being queued, by position (none: all may go).

    Opt-outs are looked up in one query for all of them (with `opt_outs`). A message naming
    a template of the DLT registry gets its $$Alert from the template's category and, with
    `dlt`, must pass its scrub check.
    """
    errors: dict[int, dict[str, list[str]]] = {}
    numbers: dict[int, str] = {}
    for position, new in enumerate(messages):
        found: dict[str, list[str]] = {}
        try:
            numbers[position] = phones.normalize(new.to)
        except phones.InvalidNumber as exc:
            found["to"] = [str(exc)]
        if not new.body and not new.template_id:
            found["body"] = ["Enter a message body or a template id."]
        missing = [
            name
            for name in new.provider.custom_placeholders
            if not str(new.variables.get(name, ""))
        ]
        if missing:
            found["variables"] = [
                "A value is required for " + ", ".join("$$" + name for name in missing) + "."
            ]
        if not found:
            # Scrubbed even when a rejection is not refused (a test SMS): the template's
            # category still sets the message's $$Alert.
            rejected = dlt_scrub.scrub(
                body=new.body, template_id=new.template_id, variables=new.variables
            )
            if dlt:
                found.update(rejected)
        if found:
            errors[position] = found
    stopped: set[str] = set()
    if opt_outs and numbers:
        listed = OptOut.objects.filter(phone__in=set(numbers.values()))
        stopped = set(listed.values_list("phone", flat=True))
    for position, number in numbers.items():
        if number in stopped:
            errors.setdefault(position, {}).setdefault("to", []).append(opted_out(number))
    return dict(sorted(errors.items()))


def opted_out(number: str) -> str:
    return f"{number} has opted out of SMS (replied STOP)."


def message_retry(*, message: Message, actor: str = "operator") -> bool:
    """Put a failed message back in the queue (an operator's decision). False if not failed."""
    with transaction.atomic():
        now = timezone.now()
        lane_id = lanes.lane_for_retry(message=message)
        changed = Message.objects.filter(id=message.id, status=Status.FAILED).update(
            lane_id=lane_id,
            status=Status.QUEUED,
            attempts=0,
            next_attempt_at=now,
            error_code="",
            error_description="",
            completed_at=None,
            updated_at=now,
        )
        if not changed:
            return False
        MessageEvent.objects.create(
            message_id=message.id,
            source=MessageEvent.Source.ADMIN,
            status=Status.QUEUED,
            description=f"Retried by {actor}",
        )
        wakeups.wake(provider_id=message.provider_id)
    return True


# ---------------------------------------------------------------- recording sends


def message_send_now(*, message: Message, retry: bool = True) -> SendResult:
    """Send a message created claimed (`message_create(claimed=True)`) here and now, over
    the single-call transport, and record the outcome: the test SMS, whose result is
    shown at once. With `retry` off, a transient failure fails it at once."""
    claimed = Claimed(
        id=message.id,
        provider_id=message.provider_id,
        to=message.to,
        body=message.body,
        template_id=message.template_id,
        variables=message.variables,
        campaign_ref=message.campaign_ref,
        attempts=message.attempts,
    )
    result, masked = _request_and_send(message.provider, [claimed])
    messages_record(outcomes=[Outcome([claimed], result, masked)], retry=retry)
    return result


@dataclass
class Outcome:
    """One request's messages and what came of it."""

    messages: list[Claimed]
    result: SendResult
    masked_request: dict[str, Any]


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


def messages_requeue_stuck(*, older_than: timedelta | None = None) -> int:
    """Put messages abandoned in `sending` back in the queue; returns how many.

    A message is in `sending` while its request is in flight or its outcome waits to be
    recorded (a worker whose database went away keeps outcomes until it answers). So a
    message claimed by a worker that is still alive (its heartbeat is recent) is never
    taken back, however long it waits; one claimed by a worker that is gone, or by a
    process that does not beat (the test SMS), is taken back once it has been in
    `sending` for `older_than`. Its request may or may not have reached the provider, so
    sending it again can duplicate at most the messages that were in flight when that
    worker died.
    """
    if older_than is None:
        older_than = stuck_after()
    now = timezone.now()
    alive = WorkerHeartbeat.objects.filter(
        seen_at__gte=now - timedelta(seconds=settings.SMSGATEWAY_WORKER_STALE_SECONDS),
        token__isnull=False,
    ).values_list("token", flat=True)
    stuck = (
        Message.objects.filter(in_sending(), updated_at__lt=now - older_than)
        .exclude(claim__in=list(alive))
        .values_list("id", "provider_id", "claim")
    )
    requeued = 0
    providers = set()
    for message_id, provider_id, claim in stuck.iterator():
        with transaction.atomic():
            changed = Message.objects.filter(
                id=message_id, status=Status.SENDING, claim=claim
            ).update(status=Status.QUEUED, next_attempt_at=now, claim=None, updated_at=now)
            if not changed:
                continue
            requeued += 1
            providers.add(provider_id)
            MessageEvent.objects.create(
                message_id=message_id,
                source=MessageEvent.Source.SYSTEM,
                status=Status.QUEUED,
                description="Requeued: the worker sending it stopped before recording a result",
            )
    for provider_id in providers:
        wakeups.wake(provider_id=provider_id)
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
            claimed=True,
        )
    except ValidationError as exc:
        errors = {("mobile" if k == "to" else k): v for k, v in exc.message_dict.items()}
        return TestSmsResult(ok=False, message_id=None, errors=errors)
    # A test is answered now: no silent retry in the background.
    outcome = message_send_now(message=created, retry=False)
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


# ---------------------------------------------------------------- provider fixes


def provider_sinch_flags_fix(*, provider: Provider) -> bool:
    """Make a Sinch India payload send each message's own `alert` and `intflag`
    ($$Alert, $$International) instead of the old constants. False if nothing changed."""
    from .presets import sinch_constant_flags, sinch_flags_fixed

    if provider.kind != Provider.Kind.SINCH_INDIA or not sinch_constant_flags(provider.payload):
        return False
    provider.payload = sinch_flags_fixed(provider.payload)
    provider.save(update_fields=["payload", "updated_at"])
    return True


class ProviderInUse(Exception):
    """A provider that cannot be deleted: messages or other records still refer to it."""


def provider_in_use(*, provider: Provider) -> str | None:
    """Why the provider cannot be deleted because of its messages (None: it has none)."""
    count = Message.objects.filter(provider=provider).count()
    if not count:
        return None
    return (
        f"“{provider.nickname}” has {count:,} message(s), so it cannot be deleted: their "
        "history and delivery reports refer to it."
    )


def provider_delete(*, provider: Provider) -> None:
    """Delete a provider (and its empty lanes), or raise ProviderInUse saying why not.

    Its messages are counted first, by index: Django's PROTECT check would load every
    one of them into memory to say the same.
    """
    from django.db.models import ProtectedError

    if reason := provider_in_use(provider=provider):
        raise ProviderInUse(reason)
    try:
        with transaction.atomic():
            provider.delete()
    except ProtectedError as exc:
        kinds = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects})
        raise ProviderInUse(
            f"“{provider.nickname}” is still used by {', '.join(kinds)}, so it cannot be deleted."
        ) from exc
