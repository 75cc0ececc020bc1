"""Sending a campaign: messages created in bulk, then chunks of them sent by tasks.

A chunk task claims its messages (one atomic UPDATE), so a chunk that runs twice, or
two workers, never send a message twice. The throttle is a cursor on the campaign row,
advanced under a row lock, so it holds across every worker.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from providers import services as provider_services
from providers.models import Message

from .models import Campaign, Recipient
from .personalisation import personalise
from .services import campaign_variables

logger = logging.getLogger(__name__)

CampaignStatus = Campaign.Status
MessageStatus = Message.Status
IST = ZoneInfo("Asia/Kolkata")
CREATE_CHUNK = 2000
MESSAGES_PER_TASK = 1000
# How often a running campaign looks for due retries and for the end of sending.
CHECK_INTERVAL = timedelta(seconds=5)


def campaign_prepare(*, campaign_id: int) -> None:
    """Create one queued Message per recipient (ids fixed before any send), then dispatch."""
    campaign = Campaign.objects.select_related("provider").get(id=campaign_id)
    if campaign.status == CampaignStatus.CANCELLED:
        return
    variables = campaign_variables(campaign)
    used = set(campaign.provider.custom_placeholders)
    variables = {name: value for name, value in variables.items() if name in used}
    pending = Recipient.objects.filter(campaign=campaign, message__isnull=True).order_by("id")
    while True:
        recipients = list(pending[:CREATE_CHUNK])
        if not recipients:
            break
        messages = [
            Message(
                id=uuid.uuid4(),
                provider=campaign.provider,
                to=recipient.phone,
                body=personalise(campaign.message, recipient.fields),
                template_id=campaign.template_id,
                variables=variables,
                campaign_ref=str(campaign.id),
                created_by=campaign.created_by,
            )
            for recipient in recipients
        ]
        with transaction.atomic():
            Message.objects.bulk_create(messages)
            for recipient, message in zip(recipients, messages, strict=True):
                recipient.message_id = message.id
            Recipient.objects.bulk_update(recipients, ["message"])
    campaign_enqueue_pending(campaign_id=campaign.id)


def campaign_enqueue_pending(*, campaign_id: int) -> None:
    """Enqueue chunk tasks for every queued message of a running or scheduled campaign."""
    from .tasks import check_campaign_complete, dispatch_chunk

    campaign = Campaign.objects.select_related("provider").get(id=campaign_id)
    if campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED):
        return
    run_after = campaign.scheduled_at if campaign.status == CampaignStatus.SCHEDULED else None
    ids = list(
        Message.objects.filter(campaign_ref=str(campaign.id), status=MessageStatus.QUEUED)
        .order_by("created_at", "id")
        .values_list("id", flat=True)
    )
    size = _task_size(campaign)
    task = dispatch_chunk.using(run_after=run_after) if run_after else dispatch_chunk
    for start in range(0, len(ids), size):
        task.enqueue(campaign.id, [str(i) for i in ids[start : start + size]])
    check = (
        check_campaign_complete.using(run_after=run_after) if run_after else check_campaign_complete
    )
    check.enqueue(campaign.id)


def _task_size(campaign: Campaign) -> int:
    provider = campaign.provider
    if provider.batch_enabled:
        # Whole batches per task, at least MESSAGES_PER_TASK messages.
        return max(1, MESSAGES_PER_TASK // provider.batch_size) * provider.batch_size
    return MESSAGES_PER_TASK


def dispatch_chunk(*, campaign_id: int, message_ids: Sequence[str]) -> None:
    """Send a chunk of a campaign's messages, honouring status, quiet hours and throttle."""
    from .tasks import dispatch_chunk as dispatch_task

    campaign = Campaign.objects.select_related("provider").get(id=campaign_id)
    now = timezone.now()
    if campaign.status == CampaignStatus.SCHEDULED:
        if campaign.scheduled_at and campaign.scheduled_at > now:
            dispatch_task.using(run_after=campaign.scheduled_at).enqueue(
                campaign_id, list(message_ids)
            )
            return
        Campaign.objects.filter(id=campaign_id, status=CampaignStatus.SCHEDULED).update(
            status=CampaignStatus.RUNNING, updated_at=now
        )
        campaign.status = CampaignStatus.RUNNING
    if campaign.status != CampaignStatus.RUNNING:
        return  # paused (resume enqueues again) or cancelled/completed

    ids = list(message_ids)
    if campaign.is_promotional:
        opens_at = promotional_window_opens(now)
        if opens_at is not None:
            indian = list(
                Message.objects.filter(id__in=ids, to__startswith="+91").values_list(
                    "id", flat=True
                )
            )
            if indian:
                dispatch_task.using(run_after=opens_at).enqueue(
                    campaign_id, [str(i) for i in indian]
                )
                held = {str(i) for i in indian}
                ids = [i for i in ids if i not in held]

    provider = campaign.provider
    rate = throttle_rate(campaign)
    group_size = provider.batch_size if provider.batch_enabled else 1
    if rate is not None:
        group_size = max(1, min(group_size, int(rate)))
    concurrency = settings.SMSGATEWAY_SEND_CONCURRENCY
    # Work in slices so that pause and cancel take effect within a slice.
    slice_size = group_size * (concurrency if rate is None else 1)
    for start in range(0, len(ids), slice_size):
        batch = ids[start : start + slice_size]
        if rate is not None:
            # Wait for the slot before claiming: nothing sits in `sending` meanwhile.
            _wait_until(throttle_reserve(campaign_id=campaign_id, count=len(batch), rate=rate))
        if (start or rate is not None) and not _still_running(campaign_id):
            return
        claimed = provider_services.messages_claim(message_ids=batch)
        groups = [claimed[i : i + group_size] for i in range(0, len(claimed), group_size)]
        provider_services.messages_send_groups(
            provider=provider, groups=groups, concurrency=concurrency if rate is None else 1
        )
    campaign_check_complete(campaign_id=campaign_id)


def _still_running(campaign_id: int) -> bool:
    status = Campaign.objects.values_list("status", flat=True).get(id=campaign_id)
    return status == CampaignStatus.RUNNING


def _wait_until(moment: datetime) -> None:
    delay = (moment - timezone.now()).total_seconds()
    if delay > 0:
        time.sleep(delay)


def throttle_rate(campaign: Campaign) -> float | None:
    """Messages per second allowed: the tighter of the per-second and per-5-minutes caps."""
    rates = []
    if campaign.throttle_per_second:
        rates.append(float(campaign.throttle_per_second))
    if campaign.throttle_per_5min:
        rates.append(campaign.throttle_per_5min / 300.0)
    return min(rates) if rates else None


def throttle_reserve(*, campaign_id: int, count: int, rate: float) -> datetime:
    """Reserve send slots for `count` messages; returns when they may go.

    The cursor lives on the campaign row and moves under a row lock (SQLite: the write
    lock), so workers together never exceed the rate.
    """
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().only("throttle_cursor").get(id=campaign_id)
        now = timezone.now()
        start = max(now, campaign.throttle_cursor or now)
        Campaign.objects.filter(id=campaign_id).update(
            throttle_cursor=start + timedelta(seconds=count / rate)
        )
    return start


def promotional_window_opens(now: datetime) -> datetime | None:
    """None inside the promotional window (IST); otherwise when it next opens."""
    opening, closing = (
        datetime.strptime(part.strip(), "%H:%M").time()
        for part in settings.SMSGATEWAY_PROMOTIONAL_WINDOW.split("-")
    )
    local = now.astimezone(IST)
    if opening <= local.time() < closing:
        return None
    day = local.date() if local.time() < opening else local.date() + timedelta(days=1)
    return datetime.combine(day, opening, tzinfo=IST)


def campaign_check_complete(*, campaign_id: int, reschedule: bool = False) -> bool:
    """Mark a running campaign completed once none of its messages waits to be sent.

    With `reschedule` (the one check task per launch or resume), while messages are
    pending it dispatches the retries that are due and checks again later.
    """
    from .tasks import check_campaign_complete, dispatch_chunk

    campaign = Campaign.objects.select_related("provider").get(id=campaign_id)
    if campaign.status != CampaignStatus.RUNNING:
        return False
    if Recipient.objects.filter(campaign=campaign, message__isnull=True).exists():
        return False  # still being prepared; prepare's own check comes later
    unfinished = Message.objects.filter(
        campaign_ref=str(campaign_id), status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]
    )
    if unfinished.exists():
        if not reschedule:
            return False
        now = timezone.now()
        retries = unfinished.filter(status=MessageStatus.QUEUED, next_attempt_at__isnull=False)
        due = list(retries.filter(next_attempt_at__lte=now).values_list("id", flat=True))
        size = _task_size(campaign)
        for start in range(0, len(due), size):
            dispatch_chunk.enqueue(campaign_id, [str(i) for i in due[start : start + size]])
        later = retries.filter(next_attempt_at__gt=now).aggregate(at=Min("next_attempt_at"))["at"]
        check_campaign_complete.using(
            run_after=min(later or now + CHECK_INTERVAL, now + CHECK_INTERVAL)
        ).enqueue(campaign_id)
        return False
    now = timezone.now()
    return bool(
        Campaign.objects.filter(id=campaign_id, status=CampaignStatus.RUNNING).update(
            status=CampaignStatus.COMPLETED, completed_at=now, updated_at=now
        )
    )
