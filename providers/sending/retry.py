"""Sending a message again: an operator's retry, the back-off between attempts, and
messages a dead worker left in `sending`."""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from providers.models import Message, MessageEvent, WorkerHeartbeat
from providers.sending import lanes, wakeups
from providers.sending.claims import in_sending

logger = logging.getLogger(__name__)

Status = Message.Status
# The longest Retry-After a provider's 429 or 503 is obeyed for.
RETRY_AFTER_LIMIT = 3600.0


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
