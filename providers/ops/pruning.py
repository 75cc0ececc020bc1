"""Pruning old message history (prune_events): events and delivery reports of final
messages, in batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from providers.models import DeliveryReport, Message, MessageEvent

# ---------------------------------------------------------------- pruning history


@dataclass
class PruneResult:
    """How many rows `message_history_prune` deleted (or, in a dry run, would delete)."""

    events: int
    reports: int


def message_history_prune(
    *, older_than: timedelta, dry_run: bool = False, batch_size: int = 1000
) -> PruneResult:
    """Delete old events and delivery reports of messages that are final.

    A row goes when it is older than `older_than` and its message has been delivered
    or failed for at least that long, so a message's history is removed whole rather
    than cut in the middle. Messages themselves, the history of unfinished messages and
    reports that matched no message are kept. Deletes in batches of `batch_size`, each
    its own transaction, so a large prune never holds long locks.
    """
    cutoff = timezone.now() - older_than
    finished = Q(message__status__in=Message.TERMINAL) & (
        Q(message__completed_at__lt=cutoff)
        | Q(message__completed_at__isnull=True, message__updated_at__lt=cutoff)
    )
    events = MessageEvent.objects.filter(finished, created_at__lt=cutoff)
    reports = DeliveryReport.objects.filter(finished, received_at__lt=cutoff)
    if dry_run:
        return PruneResult(events=events.count(), reports=reports.count())
    return PruneResult(
        events=_delete_in_batches(events, batch_size),
        reports=_delete_in_batches(reports, batch_size),
    )


def _delete_in_batches(rows: QuerySet[Any], batch_size: int) -> int:
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(rows.values_list("id", flat=True)[:batch_size])
            if not ids:
                return deleted
            # The conditions again: a message retried since the ids were read keeps its history.
            count, _ = rows.filter(id__in=ids).delete()
        deleted += count
