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
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from providers import services as provider_services
from providers.bulk import messages_insert
from providers.models import Message

from .models import Campaign, Recipient
from .personalisation import personalise
from .services import campaign_variables

logger = logging.getLogger(__name__)

CampaignStatus = Campaign.Status
MessageStatus = Message.Status
IST = ZoneInfo("Asia/Kolkata")
CREATE_CHUNK = 5000
MESSAGES_PER_TASK = 5000
THROTTLED_PER_TASK = 1000
MIN_BATCHES_IN_FLIGHT = 4
# How often a running campaign looks for due retries and for the end of sending.
CHECK_INTERVAL = timedelta(seconds=5)


def campaign_prepare(*, campaign_id: int) -> None:
    """Create one queued Message per recipient (ids fixed before any send), a chunk at a
    time, and queue each chunk's sending as it is created.

    The chunk's tasks are enqueued in the transaction that creates its messages, so a
    second worker starts sending the first chunk while this one creates the next, and a
    crash leaves no message without its task (prepare, run again, creates the rest).
    """
    campaign = Campaign.objects.select_related("provider").get(id=campaign_id)
    if campaign.status == CampaignStatus.CANCELLED:
        return
    variables = campaign_variables(campaign)
    used = set(campaign.provider.custom_placeholders)
    shared = {
        "provider_id": campaign.provider_id,
        "template_id": campaign.template_id,
        "variables": {name: value for name, value in variables.items() if name in used},
        "campaign_ref": str(campaign.id),
        "created_by_id": campaign.created_by_id,
    }
    pending = Recipient.objects.filter(campaign=campaign, message__isnull=True).order_by("id")
    last = 0
    while True:
        recipients = list(
            pending.filter(id__gt=last).values_list("id", "phone", "fields")[:CREATE_CHUNK]
        )
        if not recipients:
            break
        last = recipients[-1][0]
        rows = [
            (uuid.uuid4(), phone, personalise(campaign.message, fields))
            for _, phone, fields in recipients
        ]
        with transaction.atomic():
            # The campaign row is locked first, so a cancel either comes before this chunk
            # (and nothing more is created) or after it (and fails its messages with the
            # rest). A pause holds the chunk back: resuming enqueues every queued message.
            campaign.status, campaign.scheduled_at = (
                Campaign.objects.select_for_update()
                .values_list("status", "scheduled_at")
                .get(id=campaign.id)
            )
            if campaign.status == CampaignStatus.CANCELLED:
                return
            messages_insert(rows=rows, shared=shared)
            link_recipients([r[0] for r in recipients], [row[0] for row in rows])
            _enqueue_chunks(campaign, [row[0] for row in rows])
    _enqueue_check(campaign)


def link_recipients(recipient_ids: list[int], message_ids: list[uuid.UUID]) -> None:
    """Point each recipient at its message: one statement, not one UPDATE per row.

    The recipients' id range is stated as well as their ids: a campaign's recipients were
    stored together, so the range finds them by the primary key, where the planner,
    misled by statistics that lag an upload, would hash the whole table.
    """
    if not recipient_ids:
        return
    table = connection.ops.quote_name(Recipient._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} AS r SET message_id = v.m"
                " FROM unnest(%s::bigint[], %s::uuid[]) AS v(i, m)"
                " WHERE r.id = v.i AND r.id BETWEEN %s AND %s",
                [recipient_ids, message_ids, min(recipient_ids), max(recipient_ids)],
            )
        else:
            pk = Message._meta.pk
            cursor.executemany(
                f"UPDATE {table} SET message_id = %s WHERE id = %s",
                [
                    (pk.get_db_prep_value(m, connection), i)
                    for i, m in zip(recipient_ids, message_ids, strict=True)
                ],
            )


def campaign_enqueue_pending(*, campaign_id: int) -> None:
    """Enqueue chunk tasks for every queued message of a running or scheduled campaign."""
    campaign = Campaign.objects.select_related("provider").get(id=campaign_id)
    ids = list(
        Message.objects.filter(campaign_ref=str(campaign.id), status=MessageStatus.QUEUED)
        .order_by("created_at", "id")
        .values_list("id", flat=True)
    )
    _enqueue_chunks(campaign, ids)
    _enqueue_check(campaign)


def _enqueue_chunks(campaign: Campaign, ids: Sequence[uuid.UUID]) -> None:
    """One dispatch task per chunk of these messages, if the campaign is to send now or at
    its scheduled time (a draft, paused or finished one is not)."""
    from .tasks import dispatch_chunk

    if campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED):
        return
    run_after = _run_after(campaign)
    task = dispatch_chunk.using(run_after=run_after) if run_after else dispatch_chunk
    size = _task_size(campaign)
    for start in range(0, len(ids), size):
        task.enqueue(campaign.id, [str(i) for i in ids[start : start + size]])


def _enqueue_check(campaign: Campaign) -> None:
    from .tasks import check_campaign_complete

    if campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED):
        return
    run_after = _run_after(campaign)
    task = (
        check_campaign_complete.using(run_after=run_after) if run_after else check_campaign_complete
    )
    task.enqueue(campaign.id)


def _run_after(campaign: Campaign) -> datetime | None:
    return campaign.scheduled_at if campaign.status == CampaignStatus.SCHEDULED else None


def _task_size(campaign: Campaign) -> int:
    provider = campaign.provider
    # Unthrottled, a big task keeps many requests in flight; throttled, a small one keeps
    # a worker from being held for long by one slow campaign.
    size = MESSAGES_PER_TASK if throttle_rate(campaign) is None else THROTTLED_PER_TASK
    if provider.batch_enabled:
        # Whole batches per task.
        return max(1, size // provider.batch_size) * provider.batch_size
    return size


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
    concurrency = requests_in_flight(group_size) if rate is None else 1
    # Claim a few requests' worth at a time, as room frees up: little sits in `sending`,
    # and a pause or cancel takes effect at the next claim. A sixteenth of the requests:
    # waiting for half of them let each round's requests finish together, so that at
    # 100 ms latency only about 200 of 512 were in flight; one at a time spends more on
    # rounds than it gains (measured per worker: 2,100-2,400 msg/s at 100 ms and
    # 3,900-4,100 at 0 ms with half, 2,900-3,100 and 4,400-4,900 with a sixteenth).
    step = max(1, concurrency // 16)
    position = 0
    with provider_services.GroupSender(provider=provider, concurrency=concurrency) as sender:
        while position < len(ids):
            room = sender.wait_for_room(step)
            batch = ids[position : position + room * group_size]
            if rate is not None:
                # Wait for the slot before claiming: nothing sits in `sending` meanwhile.
                _wait_until(throttle_reserve(campaign_id=campaign_id, count=len(batch), rate=rate))
            if (position or rate is not None) and not _still_running(campaign_id):
                return
            position += len(batch)
            claimed = provider_services.messages_claim(message_ids=batch)
            sender.submit([claimed[i : i + group_size] for i in range(0, len(claimed), group_size)])
    campaign_check_complete(campaign_id=campaign_id)


def requests_in_flight(group_size: int) -> int:
    """Requests a task keeps in flight: SMSGATEWAY_SEND_CONCURRENCY counts messages, so
    a batch provider is not sent hundreds of 1,000-record requests at once; a few stay in
    flight so that recording one batch overlaps sending the next."""
    limit = settings.SMSGATEWAY_SEND_CONCURRENCY
    return min(limit, max(MIN_BATCHES_IN_FLIGHT, limit // group_size))


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
