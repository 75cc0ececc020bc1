"""Reads for the dashboard: provider lists, statistics, message logs and histories.

Counting happens in SQL (one aggregate per question); Python only decorates the
handful of rows a page shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.urls import reverse

from .error_codes import failure_meaning
from .models import Message, MessageEvent, Provider
from .transport import ERROR_TITLES

Status = Message.Status


def error_meaning(code: str) -> str:
    """What a message's error code means: CleverTap's 900-920 codes or our send failures."""
    return failure_meaning(code) or ERROR_TITLES.get(code, "")


# ---------------------------------------------------------------- providers


def provider_list() -> QuerySet[Provider]:
    """Every provider with its message count (one query)."""
    return Provider.objects.annotate(message_count=Count("messages")).order_by("nickname")


def endpoint_host(provider: Provider) -> str:
    return urlsplit(provider.endpoint).netloc


def provider_uses_sandbox(*, provider: Provider) -> bool:
    """True when the sandbox is on and this provider points at its endpoint."""
    if not settings.SMSGATEWAY_SANDBOX_ENABLED:
        return False
    return urlsplit(provider.endpoint).path == reverse("sandbox_send")


def sandbox_test_numbers() -> list[dict[str, str]]:
    """The sandbox's test numbers as {"number", "note"} rows, or [] without a sandbox.

    The sandbox module is optional (and may not define `test_numbers` yet), and its
    answer may be a list of numbers, of (number, note) pairs, of dicts, or a dict
    keyed by number: all are shown the same way.
    """
    try:
        from . import sandbox
    except ImportError:
        return []
    test_numbers = getattr(sandbox, "test_numbers", None)
    if not callable(test_numbers):
        return []
    raw = test_numbers()
    items: Iterable[Any] = raw.items() if isinstance(raw, dict) else raw or []
    return [_sandbox_row(item) for item in items]


_NUMBER_KEYS = ("number", "to", "phone", "mobile", "msisdn")
_NOTE_KEYS = ("note", "description", "outcome", "result", "status", "behaviour", "behavior")


def _sandbox_row(item: Any) -> dict[str, str]:
    if isinstance(item, dict):
        number = next((str(item[k]) for k in _NUMBER_KEYS if item.get(k)), "")
        notes = [str(item[k]) for k in _NOTE_KEYS if item.get(k)]
        if item.get("code"):
            notes.append(f"code {item['code']}")
        return {"number": number, "note": " · ".join(notes)}
    if isinstance(item, list | tuple) and item:
        number, *rest = item
        note = rest[0] if len(rest) == 1 else rest
        if isinstance(note, dict):
            return {"number": str(number), "note": _sandbox_row(note)["note"]}
        return {"number": str(number), "note": " · ".join(map(str, rest)) if rest else ""}
    return {"number": str(item), "note": ""}


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


# "Sent" means the provider accepted the message: it is submitted or delivered, or it
# failed after submission (a failure DLR). Messages refused at send time only count
# as failed.
SENT = Q(status__in=[Status.SUBMITTED, Status.DELIVERED]) | Q(
    status=Status.FAILED, submitted_at__isnull=False
)


def provider_stats(*, provider: Provider) -> ProviderStats:
    """Counts by outcome and failures by code for one provider (two queries)."""
    messages = Message.objects.filter(provider=provider)
    totals = messages.aggregate(
        total=Count("id"),
        pending=Count("id", filter=Q(status__in=[Status.QUEUED, Status.SENDING, Status.SUBMITTED])),
        sent=Count("id", filter=SENT),
        delivered=Count("id", filter=Q(status=Status.DELIVERED)),
        failed=Count("id", filter=Q(status=Status.FAILED)),
    )
    by_code = (
        messages.filter(status=Status.FAILED)
        .values("error_code")
        .annotate(count=Count("id"))
        .order_by("-count", "error_code")
    )
    failures = [
        FailureCount(
            code=row["error_code"], meaning=error_meaning(row["error_code"]), count=row["count"]
        )
        for row in by_code
    ]
    return ProviderStats(failures=failures, **totals)


# ---------------------------------------------------------------- messages


def provider_messages(
    *, provider: Provider, status: str = "", number: str = ""
) -> QuerySet[Message]:
    """A provider's messages, newest first, optionally filtered by status and number."""
    messages = Message.objects.filter(provider=provider).order_by("-created_at", "-id")
    if status:
        messages = messages.filter(status=status)
    digits = "".join(ch for ch in number if ch.isdigit())
    if digits:
        # Numbers are stored as E.164; searching by digits finds "98765", "+9198765…"
        # and "919876…" alike.
        messages = messages.filter(to__contains=digits)
    return messages


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
