"""Claiming due messages for sending: one atomic statement per set.

A claim moves up to `limit` of a lane's due messages from `queued` to `sending`, oldest
due first, and returns what sending them needs. Whatever another worker claimed first is
simply not among the rows a claim returns: PostgreSQL skips rows another claim has
locked (`FOR UPDATE SKIP LOCKED`), SQLite runs one writer at a time. So a message is
claimed once, however many workers look.

A claim checks, in the same statement, that the lane is open and past its start,
so a pause or a cancel holds from the next claim on; a throttled lane's claim reserves
its send slots on the lane's row, under the row's lock, in the claim's transaction.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from providers.models import Lane, Message
from smsgateway import sql

Status = Message.Status
IST = ZoneInfo("Asia/Kolkata")
THROTTLE_SLICE_SECONDS = 0.05
# The conditions of the partial indexes on messages, as SQL (see messages_claim_due).
QUEUED = f"status = '{Status.QUEUED}'"
SENDING = f"status = '{Status.SENDING}'"


def in_sending() -> RawSQL:
    """`status = 'sending'` for the ORM, as a literal, so that SQLite may read the index of
    messages in flight (`Message.objects.filter(in_sending())`)."""
    return RawSQL(SENDING, [], output_field=BooleanField())


# What rendering and recording a send need, in Claimed's order; next_attempt_at orders them.
CLAIM_COLUMNS = (
    "id",
    "provider_id",
    "lane_id",
    "to",
    "body",
    "template_id",
    "variables",
    "campaign_ref",
    "attempts",
    "next_attempt_at",
    "created_at",
)


@dataclass(slots=True)
class Claimed:
    """A message claimed for sending: what rendering and recording read from it."""

    id: uuid.UUID
    provider_id: int
    to: str
    body: str
    template_id: str
    variables: dict[str, Any]
    campaign_ref: str
    attempts: int
    lane_id: int | None = None
    # Set when the send failed and the message goes back to the queue.
    retry_delay: float | None = None


@dataclass(frozen=True)
class LaneClaim:
    """What a lane's claim found: the messages, and when the lane may give more
    (None: as soon as there are any)."""

    messages: list[Claimed]
    not_before: datetime | None = None


def messages_claim_due(
    *, lane_id: int, limit: int, token: uuid.UUID, now: datetime
) -> list[Claimed]:
    """Claim up to `limit` of an open, started lane's due messages, oldest due first."""
    if limit <= 0:
        return []
    table, lanes = sql.table(Message), sql.table(Lane)
    at = sql.time_value(now)
    lock = (
        " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    returning = ", ".join(sql.quote(column) for column in CLAIM_COLUMNS)
    # The status is written as a literal: only then may SQLite read the due index, whose
    # condition it is (a parameter could be anything). Nothing but the lane and the time
    # narrows the search, so no other index of messages can serve it, whatever the
    # planner's statistics (which lag a campaign) believe.
    statement = (
        f"UPDATE {table} SET status = %s, claim = %s, updated_at = %s WHERE id IN ("
        f"SELECT id FROM {table} WHERE lane_id = %s AND {QUEUED} AND next_attempt_at <= %s"
        f" AND EXISTS (SELECT 1 FROM {lanes} WHERE id = %s AND state = %s"
        f" AND (starts_at IS NULL OR starts_at <= %s))"
        f" ORDER BY next_attempt_at LIMIT %s{lock})"
        f" RETURNING {returning}"
    )
    params = [
        Status.SENDING,
        sql.uuid_adapter()(token),
        at,
        lane_id,
        at,
        lane_id,
        Lane.State.OPEN,
        at,
        limit,
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    # RETURNING comes in no particular order; requests go out in the order they are due,
    # as queued (a batch that is retried keeps its order).
    rows.sort(key=lambda row: (row[-2], row[-1]))
    return [
        Claimed(
            id=sql.uuid_from_row(message_id),
            provider_id=provider,
            lane_id=lane,
            to=to,
            body=body,
            template_id=template_id,
            variables=json.loads(variables) if isinstance(variables, str) else variables,
            campaign_ref=campaign_ref,
            attempts=attempts,
        )
        for (
            message_id,
            provider,
            lane,
            to,
            body,
            template_id,
            variables,
            campaign_ref,
            attempts,
            _,
            _,
        ) in rows
    ]


def lane_claim(*, lane: Lane, limit: int, token: uuid.UUID, now: datetime) -> LaneClaim:
    """Claim up to `limit` due messages of an open lane, within its rate and hours."""
    if lane.quiet_hours:
        opens_at = promotional_window_opens(now)
        if opens_at is not None:
            messages_put_off_indian(lane=lane, until=opens_at, now=now)
    if lane.rate is None:
        return LaneClaim(messages_claim_due(lane_id=lane.id, limit=limit, token=token, now=now))
    with transaction.atomic():
        # The lane's row lock (SQLite: the write lock) makes workers take turns with the
        # cursor, so together they never exceed the rate.
        cursor_at = (
            Lane.objects.select_for_update()
            .values_list("throttle_cursor", flat=True)
            .get(id=lane.id)
        )
        start = max(now, cursor_at or now)
        if start > now:
            return LaneClaim([], not_before=start)
        # A twentieth of a second's worth at a time (at least one), so the messages go
        # out evenly and a one-second window sees at most the rate and one slice more.
        allowed = min(limit, max(1, int(lane.rate * THROTTLE_SLICE_SECONDS)))
        claimed = messages_claim_due(lane_id=lane.id, limit=allowed, token=token, now=now)
        if not claimed:
            return LaneClaim([])
        until = start + timedelta(seconds=len(claimed) / lane.rate)
        Lane.objects.filter(id=lane.id).update(throttle_cursor=until)
    return LaneClaim(claimed, not_before=until if until > now else None)


def messages_put_off_indian(*, lane: Lane, until: datetime, now: datetime) -> int:
    """Move the lane's due messages to Indian numbers to `until` (the promotional window's
    opening); one statement, which finds only what became due since it last ran."""
    statement = (
        f"UPDATE {sql.table(Message)} SET next_attempt_at = %s"
        f" WHERE lane_id = %s AND {QUEUED} AND next_attempt_at <= %s AND {sql.quote('to')} LIKE %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [sql.time_value(until), lane.id, sql.time_value(now), "+91%"])
        return cursor.rowcount


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


def throttle_rate(*, per_second: int | None, per_5min: int | None) -> float | None:
    """Messages per second allowed: the tighter of a per-second and a per-5-minutes cap."""
    rates = []
    if per_second:
        rates.append(float(per_second))
    if per_5min:
        rates.append(per_5min / 300.0)
    return min(rates) if rates else None


def messages_release(*, token: uuid.UUID, keep: set[uuid.UUID]) -> int:
    """Put this claimant's messages in `sending` back in the queue, but those in `keep`
    (in flight, or sent and waiting to be recorded); returns how many.

    For after a claim whose outcome is unknown (the connection broke while it ran): it may
    have committed, and then its messages are claimed with no request to send them.
    """
    claimed = Message.objects.filter(in_sending(), claim=token)
    ids = [
        message_id for message_id in claimed.values_list("id", flat=True) if message_id not in keep
    ]
    released = 0
    now = timezone.now()
    for start in range(0, len(ids), 500):
        released += Message.objects.filter(
            id__in=ids[start : start + 500], status=Status.SENDING, claim=token
        ).update(status=Status.QUEUED, claim=None, next_attempt_at=now, updated_at=now)
    return released
