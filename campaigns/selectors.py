"""Reads in the bulk layer: campaign progress, statistics and exports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, TruncMinute
from django.utils import timezone

from providers.inbound.selectors import replies_list
from providers.models import Message, Reply
from providers.selectors import error_meaning

from .models import Campaign, Recipient

Status = Message.Status


def campaign_messages(campaign: Campaign):  # type: ignore[no-untyped-def]
    return Message.objects.filter(campaign_ref=str(campaign.id))


def campaign_stats(*, campaign: Campaign) -> dict[str, Any]:
    """Counts by status in one query, plus recipients and the delivery rate."""
    # Count("*"), not Count("id"): rows are counted in the (campaign_ref, status) index.
    by_status = dict(
        campaign_messages(campaign).values_list("status").annotate(n=Count("*")).order_by()
    )
    recipients = Recipient.objects.filter(campaign=campaign).count()
    created = sum(by_status.values())
    delivered = by_status.get(Status.DELIVERED, 0)
    failed = by_status.get(Status.FAILED, 0)
    submitted = by_status.get(Status.SUBMITTED, 0)
    sent = submitted + delivered + failed
    finished = delivered + failed
    return {
        "total": recipients,
        "created": created,
        "queued": by_status.get(Status.QUEUED, 0),
        "sending": by_status.get(Status.SENDING, 0),
        "submitted": submitted,
        "delivered": delivered,
        "failed": failed,
        "sent": sent,
        "pending": recipients - finished,
        "delivery_rate": round(100.0 * delivered / finished, 1) if finished else None,
    }


def campaign_send_rate(*, campaign: Campaign, seconds: int = 60) -> float:
    """Messages accepted by the provider per second over the last `seconds`."""
    since = timezone.now() - timedelta(seconds=seconds)
    count = campaign_messages(campaign).filter(submitted_at__gte=since).count()
    return count / seconds


def campaign_failures_by_code(*, campaign: Campaign) -> list[dict[str, Any]]:
    rows = (
        campaign_messages(campaign)
        .filter(status=Status.FAILED)
        .values("error_code")
        .annotate(count=Count("*"))
        .order_by("-count", "error_code")
    )
    return [
        {
            "code": row["error_code"] or "-",
            "meaning": _failure_meaning(row["error_code"]),
            "count": row["count"],
        }
        for row in rows
    ]


def campaign_replies(*, campaign: Campaign) -> QuerySet[Reply]:
    """Replies from the campaign's numbers that answer it (newest first)."""
    return replies_list(campaign_ref=str(campaign.id))


def _failure_meaning(code: str) -> str:
    if code == "cancelled":
        return "Campaign cancelled before this message was sent"
    return error_meaning(code)


def recipients_count() -> Coalesce:
    """Recipients of the outer campaign, as a subquery run only for the rows fetched."""
    counts = (
        Recipient.objects.filter(campaign=OuterRef("pk"))
        .order_by()
        .values("campaign")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


# How long the per-minute counts of minutes that have passed are kept. They do not
# change: a message's completed_at is the time its report was applied.
TIMELINE_CACHE_SECONDS = 600


def campaign_timeline(*, campaign: Campaign) -> list[dict[str, Any]]:
    """Deliveries and failures per minute, for the chart.

    Minutes that have passed are counted once and kept in the cache; each call then
    only counts the messages completed since, so a poll of a campaign with a million
    messages reads a minute's worth of them.
    """
    # One minute of margin for reports whose transaction was still open at the turn.
    closed_until = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    # created_at too: a campaign made again under a reused id starts afresh.
    key = f"campaign-timeline:{campaign.pk}:{campaign.created_at.timestamp()}"
    cached = cache.get(key)
    if cached is not None and cached["until"] == closed_until:
        # Polled again within the minute: nothing closed since, nothing to store again
        # (a campaign of weeks has tens of thousands of minutes).
        closed = cached["rows"]
    else:
        if cached is not None and cached["until"] < closed_until:
            closed = cached["rows"] + _timeline_rows(campaign, cached["until"], closed_until)
        else:
            closed = _timeline_rows(campaign, None, closed_until)
        cache.set(key, {"until": closed_until, "rows": closed}, TIMELINE_CACHE_SECONDS)
    return closed + _timeline_rows(campaign, closed_until, None)


# The chart draws at most this many bars (CHART.maxBars in static/js/campaign-detail.js).
CHART_BARS = 60


def chart_rows(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline with the minutes of each of the chart's bars merged into one row.

    The chart spreads first..last minute over at most CHART_BARS bars and adds up the
    rows that fall in each. Rows merged here land in the same bars: each keeps a minute
    of its bar, the first its first minute and the last its last, so the chart spans the
    same minutes. A campaign whose reports span weeks then sends sixty rows, not tens
    of thousands, on every poll.
    """
    if not timeline:
        return timeline
    first = datetime.fromisoformat(timeline[0]["minute"])
    last = datetime.fromisoformat(timeline[-1]["minute"])
    minutes = round((last - first).total_seconds() / 60) + 1
    size = max(1, -(-minutes // CHART_BARS))
    if size == 1:
        return timeline
    bars: dict[int, dict[str, Any]] = {}
    for row in timeline:
        offset = round((datetime.fromisoformat(row["minute"]) - first).total_seconds() / 60)
        bar = bars.get(offset // size)
        if bar is None:
            bar = bars[offset // size] = {"minute": row["minute"], "delivered": 0, "failed": 0}
        bar["delivered"] += row["delivered"]
        bar["failed"] += row["failed"]
    merged = list(bars.values())
    merged[-1]["minute"] = timeline[-1]["minute"]
    return merged


def _timeline_rows(
    campaign: Campaign, since: datetime | None, until: datetime | None
) -> list[dict[str, Any]]:
    messages = campaign_messages(campaign).filter(completed_at__isnull=False)
    if since is not None:
        messages = messages.filter(completed_at__gte=since)
    if until is not None:
        messages = messages.filter(completed_at__lt=until)
    rows = (
        messages.annotate(minute=TruncMinute("completed_at"))
        .values("minute")
        .annotate(
            delivered=Count("status", filter=Q(status=Status.DELIVERED)),
            failed=Count("status", filter=Q(status=Status.FAILED)),
        )
        .order_by("minute")
    )
    return [
        {
            "minute": row["minute"].isoformat(),
            "delivered": row["delivered"],
            "failed": row["failed"],
        }
        for row in rows
    ]


def campaign_list_stats(campaigns: list[Campaign]) -> dict[int, dict[str, Any]]:
    """Delivered / finished counts for many campaigns in one query (the list page)."""
    refs = [str(c.id) for c in campaigns]
    rows = (
        Message.objects.filter(campaign_ref__in=refs)
        .values("campaign_ref")
        .annotate(
            # Counted from the (campaign_ref, status) index, without reading the messages.
            total=Count("*"),
            delivered=Count("status", filter=Q(status=Status.DELIVERED)),
            failed=Count("status", filter=Q(status=Status.FAILED)),
        )
        .order_by()
    )
    return {int(row["campaign_ref"]): dict(row) for row in rows}


# How long the counts of a campaign are kept for its pages: counting the messages of a
# campaign of a million takes a quarter of a second, and a figure a few seconds old
# tells the same story. The pages say they are updated every few seconds.
COUNTS_SECONDS = 5


def campaign_list_figures(campaigns: list[Campaign]) -> dict[int, dict[str, int]]:
    """Recipients, delivered and failed of each campaign (the list page).

    Each campaign's figures are kept COUNTS_SECONDS; those not kept are counted together,
    one query for their recipients and one for their messages.
    """
    # created_at too: a campaign made again under a reused id starts afresh.
    keys = {c.pk: f"campaign-list-figures:{c.pk}:{c.created_at.timestamp()}" for c in campaigns}
    kept = cache.get_many(list(keys.values()))
    missing = [c for c in campaigns if keys[c.pk] not in kept]
    if missing:
        recipients = dict(
            Recipient.objects.filter(campaign__in=missing)
            .values_list("campaign")
            .annotate(n=Count("*"))
            .order_by()
        )
        messages = campaign_list_stats(missing)
        counted = {
            keys[c.pk]: {
                "recipients": recipients.get(c.pk, 0),
                "delivered": messages.get(c.pk, {}).get("delivered", 0),
                "failed": messages.get(c.pk, {}).get("failed", 0),
            }
            for c in missing
        }
        cache.set_many(counted, COUNTS_SECONDS)
        kept.update(counted)
    return {pk: kept[key] for pk, key in keys.items()}


EXPORT_FIXED = [
    "row",
    "phone",
    "status",
    "error_code",
    "error_description",
    "message_id",
    "submitted_at",
    "completed_at",
]


def campaign_export_rows(*, campaign: Campaign) -> Iterator[list[str]]:
    """The per-recipient results, header first, streamed in chunks (cells made safe)."""
    field_names: list[str] = []
    for fields in Recipient.objects.filter(campaign=campaign).values_list("fields", flat=True)[:1]:
        field_names = [name for name in fields if name]
    yield EXPORT_FIXED + [f"field:{name}" for name in field_names]
    recipients = (
        Recipient.objects.filter(campaign=campaign)
        .select_related("message")
        .order_by("upload_id", "row")
    )
    for recipient in recipients.iterator(chunk_size=2000):
        message = recipient.message
        values = [
            str(recipient.row),
            recipient.phone,
            message.status if message else "not sent",
            message.error_code if message else "",
            message.error_description if message else "",
            str(message.id) if message else "",
            message.submitted_at.isoformat() if message and message.submitted_at else "",
            message.completed_at.isoformat() if message and message.completed_at else "",
        ]
        values += [str(recipient.fields.get(name, "")) for name in field_names]
        yield [safe_cell(value) for value in values]


def safe_cell(value: str) -> str:
    """Neutralise cells a spreadsheet would run as a formula.

    A plain number such as +919876543210 stays as it is, so phone numbers round-trip.
    """
    if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _plain_number(value):
        return "'" + value
    return value


def _plain_number(value: str) -> bool:
    body = value[1:] if value[:1] in "+-" else value
    return body.replace(".", "", 1).isdigit()
