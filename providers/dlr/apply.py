"""Applying delivery reports to messages: every report of one callback as one set.

A callback may carry hundreds of reports. They are applied in one transaction with a
handful of statements whatever their number: one SELECT that locks the messages they
name, one UPDATE per kind of change, one INSERT of the audit rows and one of the
history events. The rules are decided in Python, on the locked rows, in the order the
reports came, so a set gives the same result as applying its reports one by one:

- `delivered` and `failed` are terminal; nothing moves a message out of them.
- The same report twice changes the status once (the second is a duplicate).
- A report that arrives before the send's response is recorded still applies.
- A report may name the message by our id or by the provider's (the id the provider's
  answer gave, `Message.provider_message_id`; with the number when one id covers a batch).
  One naming a provider id no message has yet is kept as `awaiting` and applied when the
  send's answer that carries the id is recorded (`awaiting_reports_apply`).
- Every report is stored once for audit, including those naming no known message.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from providers.dlr.rows import (
    AuditRow,
    EventRow,
    audits_insert,
    events_insert,
    messages_by_provider_ref,
    messages_change,
    messages_change_returning,
    messages_lock,
    report_change,
)
from providers.error_codes import failure_meaning
from providers.http.response_rules import reads_message_ids
from providers.models import DeliveryReport, Message, MessageEvent, Provider

Status = Message.Status
Outcome = DeliveryReport.Outcome
UNKNOWN = Outcome.UNKNOWN_MESSAGE
APPLIED = Outcome.APPLIED
AWAITING = Outcome.AWAITING
# Which statuses a report may move a message out of: never out of a final one.
CHANGES_FROM: dict[str, tuple[str, ...]] = {
    Status.DELIVERED: (Status.QUEUED, Status.SENDING, Status.SUBMITTED),
    Status.FAILED: (Status.QUEUED, Status.SENDING, Status.SUBMITTED),
    Status.SUBMITTED: (Status.QUEUED, Status.SENDING),
}


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
    # `message_ref` is the provider's id for the message, not ours (Sinch REST's batch_id,
    # Jasmin's id); `recipient` tells apart the messages of a batch that share one.
    by_provider_id: bool = False
    recipient: str = ""


@dataclass
class _Locked:
    """A message named by the reports, as read under its lock and changed so far."""

    status: str
    to: str
    changes: dict[str, Any] = field(default_factory=dict)


def report_apply(*, provider: Provider, report: Report) -> str:
    """Apply one report to the message it names; returns the DeliveryReport outcome."""
    return reports_apply(provider=provider, reports=[report])[0]


def reports_apply(*, provider: Provider, reports: Sequence[Report]) -> list[str]:
    """Apply reports to the provider's messages; returns each one's outcome, in order."""
    if not reports:
        return []
    by_provider_id = reads_message_ids(provider.response)
    message_ids = _message_ids(provider, reports, by_provider_id)
    now = timezone.now()
    if len(reports) == 1 and _single_report_applied(provider, reports[0], message_ids[0], now):
        return [APPLIED]
    audits: list[AuditRow] = []
    events: list[EventRow] = []
    unknown: str = AWAITING if by_provider_id else UNKNOWN
    with _writer_turn(), transaction.atomic():
        applied = _applied_at_once(provider, reports, message_ids, now)
        messages = _lock(provider, {m for m in message_ids if m is not None and m not in applied})
        if by_provider_id:
            messages.update(_by_provider_id_after_all(provider, reports, message_ids, messages))
        for report, message_id in zip(reports, message_ids, strict=True):
            raw = json.dumps(report.raw)
            if message_id is not None and message_id in applied:
                description = _description(report)
                audits.append(_audit(provider, report, raw, message_id, description, APPLIED))
                events.append(_event(report, raw, message_id, description, APPLIED))
                continue
            if message_id is None or message_id not in messages:
                missing = unknown if report.status else UNKNOWN
                audits.append(_audit(provider, report, raw, None, report.description, missing))
                continue
            message = messages[message_id]
            description = _description(report)
            outcome = _decide(message, report, description, now)
            audits.append(_audit(provider, report, raw, message_id, description, outcome))
            events.append(_event(report, raw, message_id, description, outcome))
        _write_changes(messages, now)
        audits_insert(audits, received_at=now)
        events_insert(events, created_at=now)
    return [audit.outcome for audit in audits]


def awaiting_reports_apply(*, provider_id: int, refs: set[str]) -> int:
    """Apply the provider's reports that named one of these ids of its own before any
    message had it (they came before the send's answer); returns how many there were.
    Run where the ids were just recorded, in the same transaction."""
    awaiting = DeliveryReport.objects.filter(provider_id=provider_id, outcome=AWAITING)
    # Almost always none: one look at the (partial) index instead of a lookup of every id.
    if not awaiting.exists():
        return 0
    waiting: list[DeliveryReport] = []
    ordered = sorted(refs)
    for start in range(0, len(ordered), 500):
        waiting.extend(awaiting.filter(message_ref__in=ordered[start : start + 500]))
    if not waiting:
        return 0
    waiting.sort(key=lambda row: (row.received_at, row.id))
    reports = [
        Report(
            message_ref=row.message_ref,
            event=row.event,
            status=row.event if row.event in CHANGES_FROM else "",
            code=row.code,
            description=row.description,
            occurred_at=row.occurred_at,
            raw=row.raw,
            by_provider_id=True,
            recipient=row.recipient,
        )
        for row in waiting
    ]
    # Received again, as it were: each is stored with its outcome now, once.
    DeliveryReport.objects.filter(id__in=[row.id for row in waiting]).delete()
    reports_apply(provider=Provider.objects.get(id=provider_id), reports=reports)
    return len(reports)


def _message_ids(
    provider: Provider, reports: Sequence[Report], by_provider_id: bool
) -> list[uuid.UUID | None]:
    """The message each report names, where that is known before locking: by our id, or
    (for a provider whose answers give ids) by the provider's id when it is not ours."""
    message_ids = [
        None if report.by_provider_id else _message_id(report.message_ref) for report in reports
    ]
    if by_provider_id:
        wanted = [i for i, message_id in enumerate(message_ids) if message_id is None]
        if wanted:
            found = messages_by_provider_ref(
                provider_id=provider.pk, refs={reports[i].message_ref for i in wanted}
            )
            for i in wanted:
                message_ids[i] = _pick(found.get(reports[i].message_ref), reports[i].recipient)
    return message_ids


def _by_provider_id_after_all(
    provider: Provider,
    reports: Sequence[Report],
    message_ids: list[uuid.UUID | None],
    messages: dict[uuid.UUID, _Locked],
) -> dict[uuid.UUID, _Locked]:
    """Reports whose reference reads as one of our ids but names none of our messages:
    the provider's own id (Jasmin's ids look like ours). Points them at the messages that
    have it and returns those, locked."""
    unmatched = [
        i
        for i, message_id in enumerate(message_ids)
        if message_id is not None and message_id not in messages and not reports[i].by_provider_id
    ]
    if not unmatched:
        return {}
    found = messages_by_provider_ref(
        provider_id=provider.pk, refs={reports[i].message_ref.strip() for i in unmatched}
    )
    for i in unmatched:
        message_ids[i] = _pick(found.get(reports[i].message_ref.strip()), reports[i].recipient)
    found_ids = {message_ids[i] for i in unmatched}
    return _lock(provider, {m for m in found_ids if m is not None} - set(messages))


def _pick(candidates: list[tuple[uuid.UUID, str]] | None, recipient: str) -> uuid.UUID | None:
    """The message a provider id names: the one to the recipient when several share the
    id (a batch), else the newest."""
    if not candidates:
        return None
    if recipient:
        digits = "".join(ch for ch in recipient if ch.isdigit())
        for message_id, to in candidates:
            if "".join(ch for ch in to if ch.isdigit()) == digits:
                return message_id
        return None
    return candidates[0][0]


def _single_report_applied(
    provider: Provider, report: Report, message_id: uuid.UUID | None, now: datetime
) -> bool:
    """One report that changes its message's status, the commonest callback there is:
    the change, its audit row and its history event written at once, when the message is
    in a status the report may move it from. Anything else (unknown id, duplicate, final,
    no status change, a STOP reply) is decided on the locked row as usual, and this wrote
    nothing.

    PostgreSQL: one statement, so one round trip instead of five. SQLite: the statements
    are built before taking the database's single write lock, which is held only while
    they run.
    """
    if message_id is None or report.status not in CHANGES_FROM:
        return False
    if not connection.features.can_return_columns_from_insert:
        return False
    description = _description(report)
    raw = json.dumps(report.raw)
    change = report_change(
        provider_id=provider.pk,
        message_id=message_id,
        values={**_change(report, description, now), "updated_at": now},
        from_statuses=CHANGES_FROM[report.status],
        audit=_audit(provider, report, raw, message_id, description, APPLIED),
        event=_event(report, raw, message_id, description, APPLIED),
        at=now,
    )
    if connection.vendor == "postgresql":
        return change.run()
    with _writer_turn(), transaction.atomic():
        return change.run()


def _applied_at_once(
    provider: Provider,
    reports: Sequence[Report],
    message_ids: list[uuid.UUID | None],
    now: datetime,
) -> set[uuid.UUID]:
    """The messages changed straight away, one statement less than locking them first:
    each UPDATE, conditioned on the statuses its change may move from, is the lock and the
    decision at once. Only for reports that change a status and name a message no other
    report of the set names (so their order cannot matter); the others, and those whose
    message did not change (unknown, duplicate, final), are decided on locked rows.

    PostgreSQL locks an UPDATE's rows in no set order, so two callbacks naming the same
    messages could deadlock: there only a callback's single report is changed straight
    away, by `_single_report_applied`, before this. SQLite locks the whole database at
    BEGIN. A single report has had its try already.
    """
    if not connection.features.can_return_columns_from_insert:
        return set()
    if connection.features.has_select_for_update or len(reports) == 1:
        return set()
    named = Counter(message_ids)
    groups: dict[tuple[tuple[str, Any], ...], list[uuid.UUID]] = {}
    for report, message_id in zip(reports, message_ids, strict=True):
        if message_id is None or named[message_id] > 1 or report.status not in CHANGES_FROM:
            continue
        change = _change(report, _description(report), now)
        groups.setdefault(tuple(sorted(change.items())), []).append(message_id)
    applied: set[uuid.UUID] = set()
    for key, ids in groups.items():
        values = {**dict(key), "updated_at": now}
        applied |= messages_change_returning(
            provider_id=provider.pk,
            message_ids=ids,
            values=values,
            from_statuses=CHANGES_FROM[values["status"]],
        )
    return applied


def _description(report: Report) -> str:
    if report.status == Status.FAILED and not report.description:
        return failure_meaning(report.code)
    return report.description


def _event(
    report: Report, raw: str, message_id: uuid.UUID, description: str, outcome: str
) -> EventRow:
    return EventRow(
        message_id=message_id,
        source=MessageEvent.Source.DLR,
        status=report.status if outcome == Outcome.APPLIED else "",
        code=report.code[:32],
        description=_report_description(report, description, outcome),
        data=raw,
    )


def _audit(
    provider: Provider,
    report: Report,
    raw: str,
    message_id: uuid.UUID | None,
    description: str,
    outcome: str,
) -> AuditRow:
    return AuditRow(
        provider_id=provider.pk,
        message_id=message_id,
        message_ref=report.message_ref[:100],
        recipient=report.recipient[:32],
        event=report.event[:32],
        code=report.code[:32],
        description=description,
        occurred_at=report.occurred_at,
        outcome=outcome,
        raw=raw,
    )


# SQLite has one writer at a time and makes the others poll, sleeping up to 100 ms between
# tries; under a burst of callbacks some wait for seconds. Callbacks queue instead, and
# each is woken the moment the one before it commits: this process's threads on a lock,
# and the web server's processes on an advisory lock on a file next to the database.
_sqlite_writer = threading.Lock()
_lock_files: dict[tuple[int, str], int] = {}


@contextmanager
def _writer_turn() -> Iterator[None]:
    # Inside an outer transaction this thread may already hold SQLite's lock (IMMEDIATE
    # takes it at BEGIN): waiting here then could block the thread that waits for it.
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with _sqlite_writer:
        lock_file = _lock_file(str(connection.settings_dict["NAME"]))
        if lock_file is None:
            yield
            return
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _lock_file(database: str) -> int | None:
    """This process's descriptor of the database's writer lock file (call it holding
    `_sqlite_writer`); None for an in-memory database, which no other process shares."""
    if database == ":memory:" or database.startswith("file:"):
        return None
    # By process: a descriptor inherited across a fork would share its lock with the parent.
    key = (os.getpid(), database)
    if key not in _lock_files:
        _lock_files[key] = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
    return _lock_files[key]


def _message_id(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(ref).strip())
    except ValueError:
        return None


def _lock(provider: Provider, message_ids: set[uuid.UUID]) -> dict[uuid.UUID, _Locked]:
    rows = messages_lock(provider_id=provider.pk, message_ids=message_ids)
    return {message_id: _Locked(status, to) for message_id, status, to in rows}


def _decide(message: _Locked, report: Report, description: str, now: datetime) -> str:
    """The report's outcome; an applied report's change is added to the message's."""
    if message.status in CHANGES_FROM.get(report.status, ()):
        message.status = report.status
        message.changes.update(_change(report, description, now))
        return Outcome.APPLIED
    if not report.status:
        return Outcome.RECORDED
    return Outcome.DUPLICATE if message.status == report.status else Outcome.IGNORED


def _change(report: Report, description: str, now: datetime) -> dict[str, Any]:
    """The fields an applied report sets on its message."""
    change: dict[str, Any] = {"status": report.status}
    if report.status == Status.SUBMITTED:
        change["submitted_at"] = now
    else:
        change["completed_at"] = now
    if report.status == Status.FAILED:
        change.update(error_code=report.code[:32], error_description=description)
    return change


def _write_changes(messages: dict[uuid.UUID, _Locked], now: datetime) -> None:
    """One UPDATE per distinct change (most callbacks: one for delivered, a few for failed)."""
    groups: dict[tuple[tuple[str, Any], ...], list[uuid.UUID]] = {}
    for message_id, message in messages.items():
        if message.changes:
            groups.setdefault(tuple(sorted(message.changes.items())), []).append(message_id)
    for change, message_ids in groups.items():
        values = {**dict(change), "updated_at": now}
        # The rows are locked and were decided on, so this condition always holds; it
        # states the rule in the statement that could break it.
        from_statuses = CHANGES_FROM[values["status"]]
        messages_change(message_ids=message_ids, values=values, from_statuses=from_statuses)


def _report_description(report: Report, description: str, outcome: str) -> str:
    text = description or report.event
    if report.event == "replied":
        text = f"Reply: {report.reply_text}"
    if outcome == Outcome.IGNORED:
        text += " (ignored: the message already has a final status)"
    elif outcome == Outcome.DUPLICATE:
        text += " (duplicate)"
    return text
