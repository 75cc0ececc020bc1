"""Writes in the delivery layer: messages, sending, test SMS, delivery reports."""

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
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import phones, transport
from .error_codes import failure_meaning
from .models import DeliveryReport, Message, MessageEvent, OptOut, Provider, new_callback_token
from .rendering import RenderError, render_request
from .transport import ErrorKind, SendResult

logger = logging.getLogger(__name__)

Status = Message.Status
# The longest Retry-After a provider's 429 or 503 is obeyed for.
RETRY_AFTER_LIMIT = 3600.0
OPT_OUT_WORDS = {"STOP", "UNSUBSCRIBE", "STOPALL", "END", "QUIT", "CANCEL", "OPTOUT"}


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
    return messages_send_claimed(provider=claimed[0].provider, messages=claimed, retry=retry)[0]


def messages_claim(*, message_ids: Sequence[str | uuid.UUID]) -> list[Message]:
    """Claim the due, queued messages among these ids for sending; returns the ones won.

    One UPDATE from `queued` to `sending` tagged with a fresh claim token: whatever
    another worker claimed first is simply not among the rows this claim finds.
    """
    token = uuid.uuid4()
    now = timezone.now()
    Message.objects.filter(id__in=list(message_ids), status=Status.QUEUED).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    ).update(status=Status.SENDING, claim=token, updated_at=now)
    return list(Message.objects.filter(claim=token).select_related("provider"))


def messages_send_claimed(
    *, provider: Provider, messages: Sequence[Message], retry: bool = True
) -> list[SendResult]:
    """Send claimed messages in one request (one, or a batch) and record each outcome.

    With `retry` off, a transient failure fails the messages at once (a test SMS).
    """
    result, masked = _request_and_send(provider, messages)
    for message in messages:
        _record_attempt(message, result, masked, retry=retry)
    return [result] * len(messages)


def messages_send_groups(
    *, provider: Provider, groups: Sequence[Sequence[Message]], concurrency: int
) -> None:
    """Send several groups of claimed messages, up to `concurrency` requests in flight.

    Only the HTTP runs in threads; every database write stays in the calling thread.
    """
    from concurrent.futures import ThreadPoolExecutor

    if len(groups) <= 1 or concurrency <= 1:
        for group in groups:
            messages_send_claimed(provider=provider, messages=group)
        return
    with ThreadPoolExecutor(max_workers=min(concurrency, len(groups))) as pool:
        futures = [pool.submit(_request_and_send, provider, group) for group in groups]
        for group, future in zip(groups, futures, strict=True):
            result, masked = future.result()
            for message in group:
                _record_attempt(message, result, masked)


def _request_and_send(
    provider: Provider, messages: Sequence[Message]
) -> tuple[SendResult, dict[str, Any]]:
    """Render and send one request; no database access (safe in a thread)."""
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


def _record_attempt(
    message: Message, result: SendResult, masked_request: dict[str, Any], *, retry: bool = True
) -> None:
    now = timezone.now()
    attempts = message.attempts + 1
    event = MessageEvent(
        message_id=message.id,
        source=MessageEvent.Source.SEND,
        http_status=result.http_status,
        duration_ms=result.duration_ms,
        data={"request": masked_request, "response": result.response, "attempt": attempts},
    )
    base = Message.objects.filter(id=message.id, status=Status.SENDING)
    with transaction.atomic():
        if result.ok:
            # A DLR may already have moved it on (delivered/failed): then this changes nothing.
            # An earlier attempt's error no longer describes the message.
            base.update(
                status=Status.SUBMITTED,
                attempts=attempts,
                submitted_at=now,
                updated_at=now,
                error_code="",
                error_description="",
            )
            event.status = Status.SUBMITTED
            event.description = f"Accepted by the provider (HTTP {result.http_status})"
        elif retry and result.transient and attempts < settings.SMSGATEWAY_MAX_SEND_ATTEMPTS:
            delay = retry_delay(attempts, result.retry_after)
            retry_at = now + timedelta(seconds=delay)
            base.update(
                status=Status.QUEUED,
                attempts=attempts,
                next_attempt_at=retry_at,
                error_code=result.error_kind,
                error_description=result.error,
                updated_at=now,
            )
            event.status = Status.QUEUED
            event.code = result.error_kind
            event.description = f"{result.error_title}: {result.error} (retry in {delay:.0f} s)"
            event.data["retry_in_seconds"] = round(delay, 3)
            # A bulk sender (campaign_ref set) retries its own messages, so that its
            # pause, throttle and quiet hours also hold for retries.
            if not message.campaign_ref:
                _enqueue_send(message.id, run_after=retry_at)
        else:
            base.update(
                status=Status.FAILED,
                attempts=attempts,
                error_code=result.error_kind,
                error_description=result.error,
                completed_at=now,
                updated_at=now,
            )
            event.status = Status.FAILED
            event.code = result.error_kind
            suffix = " (retries exhausted)" if retry and result.transient else ""
            event.description = f"{result.error_title}: {result.error}{suffix}"
        event.save()
    logger.info(
        "message %s attempt %s: %s %s",
        message.id,
        attempts,
        event.status,
        result.http_status or result.error_kind,
        extra={"message_id": str(message.id), "attempt": attempts, "status": event.status},
    )


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


# ---------------------------------------------------------------- delivery reports


@dataclass
class Report:
    """One delivery report, whatever format it arrived in.

    `status` is what the report means for the message: delivered, failed, submitted
    (accepted but not final), or "" for events that do not change the status
    (replies, clicks).
    """

    message_ref: str
    event: str
    status: str = ""
    code: str = ""
    description: str = ""
    occurred_at: datetime | None = None
    reply_text: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


def report_apply(*, provider: Provider, report: Report) -> str:
    """Apply one report to the message it names; returns the DeliveryReport outcome.

    Terminal statuses never regress; the same report twice changes the status once
    (the change is one conditional UPDATE).
    """
    Outcome = DeliveryReport.Outcome
    message = _message_for_ref(provider, report.message_ref)
    audit = DeliveryReport(
        provider=provider,
        message=message,
        message_ref=report.message_ref[:100],
        event=report.event[:32],
        code=report.code[:32],
        description=report.description,
        occurred_at=report.occurred_at,
        raw=report.raw,
    )
    if message is None:
        audit.outcome = Outcome.UNKNOWN_MESSAGE
        audit.save()
        return audit.outcome

    description = report.description
    if report.status == Status.FAILED and not description:
        description = failure_meaning(report.code)
    audit.description = description
    now = timezone.now()
    with transaction.atomic():
        if report.status in (Status.DELIVERED, Status.FAILED):
            changes: dict[str, Any] = {
                "status": report.status,
                "completed_at": now,
                "updated_at": now,
            }
            if report.status == Status.FAILED:
                changes.update(error_code=report.code, error_description=description)
            changed = (
                Message.objects.filter(id=message.id)
                .exclude(status__in=Message.TERMINAL)
                .update(**changes)
            )
        elif report.status == Status.SUBMITTED:
            changed = Message.objects.filter(
                id=message.id, status__in=[Status.QUEUED, Status.SENDING]
            ).update(status=Status.SUBMITTED, submitted_at=now, updated_at=now)
        else:
            changed = 0
        if changed:
            audit.outcome = Outcome.APPLIED
        elif report.status:
            current = Message.objects.values_list("status", flat=True).get(id=message.id)
            audit.outcome = Outcome.DUPLICATE if current == report.status else Outcome.IGNORED
        else:
            audit.outcome = Outcome.RECORDED
        audit.save()
        MessageEvent.objects.create(
            message=message,
            source=MessageEvent.Source.DLR,
            status=report.status if changed else "",
            code=report.code[:32],
            description=_report_description(report, description, audit.outcome),
            data=report.raw,
        )
        if report.event == "replied" and report.reply_text.strip().upper() in OPT_OUT_WORDS:
            OptOut.objects.get_or_create(
                phone=message.to,
                defaults={
                    "source": f"reply via {provider.nickname}",
                    "text": report.reply_text[:512],
                },
            )
    return audit.outcome


def _report_description(report: Report, description: str, outcome: str) -> str:
    text = description or report.event
    if report.event == "replied":
        text = f"Reply: {report.reply_text}"
    if outcome == DeliveryReport.Outcome.IGNORED:
        text += " (ignored: the message already has a final status)"
    elif outcome == DeliveryReport.Outcome.DUPLICATE:
        text += " (duplicate)"
    return text


def _message_for_ref(provider: Provider, ref: str) -> Message | None:
    try:
        message_id = uuid.UUID(str(ref).strip())
    except ValueError:
        return None
    return Message.objects.filter(id=message_id, provider=provider).first()


# ---------------------------------------------------------------- providers


def provider_rotate_token(*, provider: Provider) -> str:
    """Give the provider a new callback token; the old callback URL stops working."""
    provider.callback_token = new_callback_token()
    provider.save(update_fields=["callback_token", "updated_at"])
    return provider.callback_token
