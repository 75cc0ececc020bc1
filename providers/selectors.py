"""Reads for the dashboard: provider lists, statistics, message logs and histories.

Counting happens in SQL (one aggregate per question); Python only decorates the
handful of rows a page shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from providers.error_codes import failure_meaning
from providers.http.transport import ERROR_TITLES
from providers.models import Message, MessageEvent, Provider
from providers.phones import InvalidNumber, normalize

Status = Message.Status
# Numbers typed without a country code are Indian, as everywhere in the product.
DEFAULT_REGION = "IN"


def error_meaning(code: str) -> str:
    """What a message's error code means: CleverTap's 900-920 codes, our send failures, or
    an opt-out that came before the send."""
    if code == "opted_out":
        return "The number opted out before this message was sent"
    return failure_meaning(code) or ERROR_TITLES.get(code, "")


# ---------------------------------------------------------------- providers


def message_counts() -> Coalesce:
    """The outer provider's message count, as a subquery.

    It counts rows, not message ids, so the database answers from an index of
    (provider, ...) without reading the messages.
    """
    counts = (
        Message.objects.filter(provider=OuterRef("pk"))
        .order_by()
        .values("provider")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


# How long the list's message counts and send health are kept: with a million messages
# counting them takes a quarter of a second, and a figure a few seconds old tells the
# same story. The page says they are updated every few seconds.
LIST_FIGURES_SECONDS = 5
LIST_FIGURES_KEY = "provider-list-figures"


@dataclass
class ProviderFigures:
    message_count: int
    health: ProviderHealth


def provider_list() -> list[tuple[Provider, ProviderHealth]]:
    """Every provider by nickname, with its message count and the health of its sends.

    The figures of all providers are counted in the query that lists them and kept
    LIST_FIGURES_SECONDS; meanwhile the list reads only the providers themselves, so a
    renamed provider shows at once. Either way it is one query.
    """
    providers = Provider.objects.order_by("nickname")
    figures: dict[int, ProviderFigures] | None = cache.get(LIST_FIGURES_KEY)
    if figures is None:
        rows = list(_with_figures(providers))
        figures = {provider.pk: _figures_of(provider) for provider in rows}
        cache.set(LIST_FIGURES_KEY, figures, LIST_FIGURES_SECONDS)
    else:
        rows = list(providers)
        added = [provider.pk for provider in rows if provider.pk not in figures]
        if added:
            # Providers created since the figures were counted.
            new = _with_figures(Provider.objects.filter(pk__in=added))
            figures = {**figures, **{provider.pk: _figures_of(provider) for provider in new}}
    result = []
    for provider in rows:
        provider.message_count = figures[provider.pk].message_count  # type: ignore[attr-defined]
        result.append((provider, figures[provider.pk].health))
    return result


def _with_figures(providers: QuerySet[Provider]) -> QuerySet[Provider]:
    return _with_health(providers).annotate(message_count=message_counts())


def _figures_of(provider: Provider) -> ProviderFigures:
    return ProviderFigures(
        message_count=provider.message_count,  # type: ignore[attr-defined]
        health=_health_of(provider),
    )


def endpoint_host(provider: Provider) -> str:
    return urlsplit(provider.endpoint).netloc


def provider_uses_sandbox(*, provider: Provider) -> bool:
    """True when the sandbox is on and this provider points at its endpoint."""
    if not settings.SMSGATEWAY_SANDBOX_ENABLED:
        return False
    return urlsplit(provider.endpoint).path == reverse("sandbox_send")


def sandbox_test_numbers() -> list[dict[str, str]]:
    """The sandbox's test numbers as {"number", "note"} rows, for the provider page."""
    from providers.ops import sandbox

    return [{"number": row["number"], "note": row["outcome"]} for row in sandbox.test_numbers()]


# ---------------------------------------------------------------- recent send health

HEALTH_WINDOW = timedelta(minutes=15)
# Failing: the last HEALTH_STREAK send attempts in the window all failed, or at least
# half of them did, out of at least HEALTH_MIN_ATTEMPTS.
HEALTH_STREAK = 5
HEALTH_MIN_ATTEMPTS = 5
# Only the attempts on the provider's newest HEALTH_SAMPLE messages are looked at, read
# newest first from the (provider, created_at) index: a provider that sent a hundred
# thousand messages in the window costs no more to judge than one that sent a few, and
# no index is kept on a column that every status change rewrites. A provider that is
# failing fails its newest messages too (they are retried or fail), so they show it;
# each sampled message costs a look-up of its attempts, hence a sample of hundreds.
HEALTH_SAMPLE = 200
# A send attempt that failed leaves the message queued (to be retried) or failed.
FAILED_ATTEMPT = [Status.QUEUED, Status.FAILED]


@dataclass
class ProviderHealth:
    """A provider's send attempts (one per message per try) in the last HEALTH_WINDOW."""

    attempts: int = 0
    failures: int = 0
    latest_failures: int = 0  # among the last HEALTH_STREAK attempts
    last_error_code: str = ""

    @property
    def failing(self) -> bool:
        if self.latest_failures >= HEALTH_STREAK:
            return True
        return self.attempts >= HEALTH_MIN_ATTEMPTS and 2 * self.failures >= self.attempts

    @property
    def last_error(self) -> str:
        """What the most recent failure was, e.g. "Timed out"."""
        return error_meaning(self.last_error_code) or self.last_error_code

    @property
    def summary(self) -> str:
        minutes = int(HEALTH_WINDOW.total_seconds() // 60)
        text = (
            f"{self.failures} of the last {self.attempts} attempts failed "
            f"in the last {minutes} minutes"
        )
        return f"{text}: {self.last_error}" if self.last_error else text


def provider_health(*, providers: QuerySet[Provider]) -> list[tuple[Provider, ProviderHealth]]:
    """The providers, each with the health of its recent sends.

    Read in the same query that lists the providers (a few subqueries per provider
    row), so a page of providers costs no more queries than the list alone.
    """
    return [(provider, _health_of(provider)) for provider in _with_health(providers)]


def _with_health(providers: QuerySet[Provider]) -> QuerySet[Provider]:
    since = timezone.now() - HEALTH_WINDOW
    attempts = _send_attempts(provider=OuterRef(OuterRef("pk")), since=since)
    failures = attempts.filter(status__in=FAILED_ATTEMPT)
    # The provider's latest attempts, from inside the subquery that counts their failures.
    latest = _send_attempts(provider=OuterRef(OuterRef(OuterRef("pk"))), since=since).order_by(
        "-created_at", "-id"
    )
    return providers.annotate(
        health_attempts=_count(attempts),
        health_failures=_count(failures),
        health_latest_failures=_count(failures.filter(pk__in=latest.values("pk")[:HEALTH_STREAK])),
        health_last_error=Subquery(failures.order_by("-created_at", "-id").values("code")[:1]),
    )


def _health_of(provider: Provider) -> ProviderHealth:
    """The health read by `_with_health` into the provider's annotations."""
    return ProviderHealth(
        attempts=provider.health_attempts or 0,  # type: ignore[attr-defined]
        failures=provider.health_failures or 0,  # type: ignore[attr-defined]
        latest_failures=provider.health_latest_failures or 0,  # type: ignore[attr-defined]
        last_error_code=provider.health_last_error or "",  # type: ignore[attr-defined]
    )


def _send_attempts(*, provider: Any, since: datetime) -> QuerySet[MessageEvent]:
    """Send attempts since `since` on the provider's HEALTH_SAMPLE newest messages.

    `provider` refers to the provider from inside the sample's own subquery.
    """
    newest = (
        Message.objects.filter(provider=provider)
        .order_by("-created_at")
        .values("pk")[:HEALTH_SAMPLE]
    )
    return MessageEvent.objects.filter(
        source=MessageEvent.Source.SEND, created_at__gte=since, message__in=newest
    )


def _count(events: QuerySet[MessageEvent]) -> Subquery:
    """How many `events` there are, as a subquery (NULL when none, read as 0)."""
    # Every send attempt has the same source: grouping by it makes one group, one count.
    counted = events.order_by().values("source").annotate(count=Count("pk")).values("count")
    return Subquery(counted)


# ---------------------------------------------------------------- statistics


@dataclass
class FailureCount:
    code: str
    meaning: str
    count: int


@dataclass
class ProviderStats:
    total: int = 0
    pending: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    failures: list[FailureCount] = field(default_factory=list)

    @property
    def delivery_rate(self) -> float | None:
        """Delivered as a percentage of sent, or None before anything was sent."""
        return 100.0 * self.delivered / self.sent if self.sent else None


def provider_stats(*, provider: Provider) -> ProviderStats:
    """Counts by outcome and failures by code for one provider (two queries).

    The counts by status come from the (provider, status, ...) index without reading
    the messages; only the failed ones are read, for their code and whether the
    provider had accepted them.
    """
    messages = Message.objects.filter(provider=provider).order_by()
    by_status = dict(messages.values_list("status").annotate(n=Count("*")))
    by_code = (
        messages.filter(status=Status.FAILED)
        .values("error_code")
        .annotate(count=Count("*"), refused=Count("status", filter=Q(submitted_at__isnull=True)))
        .order_by("-count", "error_code")
    )
    failures, accepted_then_failed = [], 0
    for row in by_code:
        code = row["error_code"]
        failures.append(FailureCount(code=code, meaning=error_meaning(code), count=row["count"]))
        # Failed after the provider accepted it (a failure DLR): it was sent. Messages
        # refused at send time only count as failed.
        accepted_then_failed += row["count"] - row["refused"]
    submitted = by_status.get(Status.SUBMITTED, 0)
    delivered = by_status.get(Status.DELIVERED, 0)
    return ProviderStats(
        total=sum(by_status.values()),
        pending=by_status.get(Status.QUEUED, 0) + by_status.get(Status.SENDING, 0) + submitted,
        sent=submitted + delivered + accepted_then_failed,
        delivered=delivered,
        failed=by_status.get(Status.FAILED, 0),
        failures=failures,
    )


# ---------------------------------------------------------------- messages


# A search by part of a number reads each message's number, so it looks only among a
# provider's newest messages; a full number is found among all of them through the
# index on `to`.
PARTIAL_SEARCH_SCOPE = 20_000


class MessageSearch(NamedTuple):
    messages: QuerySet[Message]
    # The number or provider's id matched exactly; "" for part of a number, or no search.
    exact: str


def provider_messages(*, provider: Provider, status: str = "", number: str = "") -> MessageSearch:
    """A provider's messages, newest first, optionally filtered by status and number.

    A full number (E.164, or ten Indian digits) matches exactly; then the provider's own
    id for a message (as its answer gave it) exactly; anything else is a search for
    those digits among the newest PARTIAL_SEARCH_SCOPE messages.
    """
    messages = Message.objects.filter(provider=provider).order_by("-created_at", "-id")
    if status:
        messages = messages.filter(status=status)
    full = full_number(number)
    if full:
        return MessageSearch(messages.filter(to=full), full)
    by_reference = provider_reference_messages(messages, number)
    if by_reference is not None:
        return MessageSearch(by_reference, number.strip())
    digits = "".join(ch for ch in number if ch.isdigit())
    if digits:
        # Numbers are stored as E.164; searching by digits finds "98765", "+9198765…"
        # and "919876…" alike.
        # Ordered by the index alone, so the database counts off index entries.
        scope = messages.order_by("-created_at").values_list("created_at", flat=True)
        oldest = list(scope[PARTIAL_SEARCH_SCOPE - 1 : PARTIAL_SEARCH_SCOPE])
        if oldest:
            messages = messages.filter(created_at__gte=oldest[0])
        messages = messages.filter(to__contains=digits)
    return MessageSearch(messages, "")


def provider_reference_messages(messages: QuerySet[Message], text: str) -> QuerySet[Message] | None:
    """The messages the provider knows by this id of its own, or None when none has it."""
    reference = text.strip()
    if not reference:
        return None
    # The index is per provider: each provider's part of it is looked in.
    found = messages.filter(
        provider_message_id=reference, provider_id__in=Provider.objects.values("id")
    ).exclude(provider_message_id="")
    return found if found.exists() else None


def full_number(text: str) -> str:
    """The E.164 form of `text` when it is a whole phone number, else ""."""
    if not any(ch.isdigit() for ch in text):
        return ""
    try:
        # "+919876543210", "919876543210" and "9876543210" are all the same number.
        return normalize(text, default_region=DEFAULT_REGION)
    except InvalidNumber:
        pass
    if text.strip().startswith("+"):
        return ""
    try:
        # Digits with another country's code, without the "+".
        return normalize(text)
    except InvalidNumber:
        return ""


def with_error_meanings(messages: Iterable[Message]) -> list[Message]:
    """The given (already fetched) messages, each with an `error_meaning` attribute."""
    rows = list(messages)
    for message in rows:
        message.error_meaning = error_meaning(message.error_code)  # type: ignore[attr-defined]
    return rows


def message_get(*, message_id: Any) -> Message:
    return Message.objects.select_related("provider", "created_by").get(id=message_id)


@dataclass
class HistoryEntry:
    event: MessageEvent
    meaning: str = ""
    request: dict[str, Any] | None = None
    request_body: str = ""
    response: str = ""
    raw: str = ""


def message_history(*, message: Message) -> list[HistoryEntry]:
    """The message's events in time order, with request/response bodies made readable."""
    entries = []
    for event in message.events.all().order_by("created_at", "id"):
        entry = HistoryEntry(event=event, meaning=error_meaning(event.code))
        data = event.data or {}
        if event.source == MessageEvent.Source.SEND and isinstance(data, dict):
            request = data.get("request")
            if isinstance(request, dict) and request:
                entry.request = request
                entry.request_body = pretty_json(request.get("body"))
            entry.response = pretty_json(data.get("response"))
        elif data:
            entry.raw = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
        entries.append(entry)
    return entries


def pretty_json(text: Any) -> str:
    """Indent text that is JSON; return anything else unchanged."""
    if not isinstance(text, str) or not text:
        return "" if text is None else str(text)
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text
