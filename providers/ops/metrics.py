"""`/metrics`: the delivery layer's numbers in Prometheus' text exposition format.

Every number is read from the database at scrape time, so any web process gives the
same answer however many there are. Each metric is one aggregate query: counts are
GROUP BYs, rates and the DLR lag read only a recent, indexed time window, and the lag
looks at a bounded number of reports.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from providers.models import DeliveryReport, Message, MessageEvent
from providers.ops import health

Status = Message.Status
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RATE_WINDOW = timedelta(seconds=60)
LAG_WINDOW = timedelta(minutes=10)
# The lag percentiles come from at most this many of the window's latest reports.
LAG_SAMPLE = 10_000
LAG_QUANTILES = (0.5, 0.95)


@dataclass
class Family:
    """One metric: its name, type, help text and samples (labels, value)."""

    name: str
    kind: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)


# ---------------------------------------------------------------- collecting


def metrics_collect() -> list[Family]:
    """Every metric, read from the database now."""
    now = timezone.now()
    by_status, sent_total = message_counts()
    sent_recently = MessageEvent.objects.filter(
        created_at__gte=now - RATE_WINDOW,
        source=MessageEvent.Source.SEND,
        status=Status.SUBMITTED,
    ).count()
    reports_recently = DeliveryReport.objects.filter(received_at__gte=now - RATE_WINDOW).count()
    window = RATE_WINDOW.total_seconds()
    lags = dlr_lags(since=now - LAG_WINDOW)
    return [
        Family(
            "smsgateway_messages",
            "gauge",
            "Messages by current status.",
            [({"status": status}, by_status.get(status, 0)) for status in Status.values],
        ),
        Family(
            "smsgateway_messages_sent_total",
            "counter",
            "Messages the provider accepted (submitted, or since delivered).",
            [({}, sent_total)],
        ),
        Family(
            "smsgateway_dlr_reports_total",
            "counter",
            "Delivery reports received, by what applying them did.",
            [({"outcome": outcome}, count) for outcome, count in dlr_report_counts().items()],
        ),
        Family(
            "smsgateway_send_rate_per_second",
            "gauge",
            "Messages accepted by the provider per second over the last 60 seconds.",
            [({}, sent_recently / window)],
        ),
        Family(
            "smsgateway_dlr_rate_per_second",
            "gauge",
            "Delivery reports received per second over the last 60 seconds.",
            [({}, reports_recently / window)],
        ),
        Family(
            "smsgateway_queue_depth",
            "gauge",
            "Background tasks ready to run and waiting for a worker.",
            [({}, health.queue_depth())],
        ),
        Family(
            "smsgateway_dlr_lag_seconds",
            "gauge",
            "Seconds from the provider accepting a message to the delivery report that "
            "settled it, over reports received in the last 10 minutes (NaN: none).",
            [({"quantile": str(q)}, quantile(lags, q)) for q in LAG_QUANTILES],
        ),
        Family(
            "smsgateway_workers_alive",
            "gauge",
            "db_worker processes whose heartbeat is recent.",
            [({}, health.workers_alive())],
        ),
    ]


def message_counts() -> tuple[dict[str, int], int]:
    """Messages per status, and how many the provider accepted: one GROUP BY query.

    Accepted means `submitted_at` is set, or delivered: a DLR that arrives before the
    send's own answer delivers the message without setting `submitted_at`.
    """
    rows = (
        Message.objects.order_by()
        .values("status")
        .annotate(count=Count("id"), submitted=Count("submitted_at"))
    )
    by_status: dict[str, int] = {}
    sent = 0
    for row in rows:
        by_status[row["status"]] = row["count"]
        sent += row["count"] if row["status"] == Status.DELIVERED else row["submitted"]
    return by_status, sent


def dlr_report_counts() -> dict[str, int]:
    """Delivery reports per outcome, every outcome listed (one GROUP BY query)."""
    counts = dict.fromkeys(DeliveryReport.Outcome.values, 0)
    rows = DeliveryReport.objects.order_by().values_list("outcome").annotate(count=Count("id"))
    for outcome, count in rows:
        counts[outcome] = count
    return counts


def dlr_lags(*, since: datetime) -> list[float]:
    """Seconds from acceptance to the settling DLR, for recent reports (one bounded query).

    Only reports that settled their message (applied delivered/failed) count:
    duplicates, replies and clicks say nothing about how fast delivery is reported.
    """
    rows = (
        DeliveryReport.objects.filter(
            received_at__gte=since,
            outcome=DeliveryReport.Outcome.APPLIED,
            event__in=[Status.DELIVERED, Status.FAILED],
            message__submitted_at__isnull=False,
        )
        .order_by("-received_at")
        .values_list("received_at", "message__submitted_at")[:LAG_SAMPLE]
    )
    return [
        (received - submitted).total_seconds()
        for received, submitted in rows
        if submitted is not None  # always, by the filter; for the type checker
    ]


def quantile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-quantile of `values`; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# ---------------------------------------------------------------- rendering


def metrics_render(families: Iterable[Family]) -> str:
    """The text exposition format (version 0.0.4), one line per sample."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in family.samples:
            if labels:
                pairs = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
                lines.append(f"{family.name}{{{pairs}}} {_number(value)}")
            else:
                lines.append(f"{family.name} {_number(value)}")
    return "\n".join(lines) + "\n"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


# ---------------------------------------------------------------- /metrics


def metrics_allowed(request: HttpRequest) -> bool:
    """Staff with a session, or `Authorization: Bearer <SMSGATEWAY_METRICS_TOKEN>`."""
    token = settings.SMSGATEWAY_METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and given.strip():
        # Bytes: compare_digest refuses str with non-ASCII characters.
        if secrets.compare_digest(given.strip().encode(), token.encode()):
            return True
    user = request.user
    return bool(user.is_authenticated and user.is_staff)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        return HttpResponse("Forbidden.", status=403, content_type="text/plain")
    return HttpResponse(metrics_render(metrics_collect()), content_type=CONTENT_TYPE)
