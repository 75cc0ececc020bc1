"""Writes to lanes: the rules a set of messages (a campaign's) is sent under.

The layer that owns a lane changes it through these, in its own transaction: holding a
lane stops its claims at once (every claim checks the lane's state in its statement);
opening it wakes the dispatchers. A sealed lane whose last message has been sent is
drained, and the task it names is enqueued with its id.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from providers.models import Lane, Message, Provider
from providers.sending import claims, wakeups
from smsgateway import sql

Status = Message.Status


def lane_create(
    *,
    provider: Provider,
    name: str,
    starts_at: datetime | None = None,
    rate: float | None = None,
    quiet_hours: bool = False,
    drained_task: str = "",
) -> Lane:
    return Lane.objects.create(
        provider=provider,
        name=name[:200],
        starts_at=starts_at,
        rate=rate,
        quiet_hours=quiet_hours,
        drained_task=drained_task,
    )


# The transactional lane of each provider, as found by this process once it is
# committed (a lane stays as long as its provider, so what was found stays true).
_transactional: dict[int, int] = {}


def transactional_lane_id(*, provider_id: int) -> int:
    """The lane of the provider's messages queued through the API, made on first use."""
    lane_id = _transactional.get(provider_id)
    if lane_id is not None:
        return lane_id
    lane = Lane.objects.filter(provider_id=provider_id, transactional=True).first()
    if lane is None:
        try:
            with transaction.atomic():
                lane = Lane.objects.create(
                    provider_id=provider_id, name="API messages", transactional=True
                )
        except IntegrityError:
            # Another process made it first.
            lane = Lane.objects.get(provider_id=provider_id, transactional=True)
    found = lane.id
    # Remembered only once committed: a lane made in a transaction that rolls back is gone.
    transaction.on_commit(lambda: _transactional.__setitem__(provider_id, found))
    return found


def lane_for_retry(*, message: Message) -> int:
    """The lane a failed message an operator retries goes back to: its own, opened again
    if it was drained; the API's when it had none (queued before lanes) or its own was
    closed for good (a cancelled campaign)."""
    lane = message.lane
    if lane is None or lane.state == Lane.State.CLOSED:
        return transactional_lane_id(provider_id=message.provider_id)
    if lane.drained_at is not None:
        Lane.objects.filter(id=lane.id).update(drained_at=None)
    return lane.id


def lane_hold(*, lane_id: int) -> None:
    """No more of the lane's messages are claimed until it is opened again."""
    Lane.objects.filter(id=lane_id, state=Lane.State.OPEN).update(state=Lane.State.HELD)


def lane_open(*, lane_id: int, now: bool = False) -> None:
    """Let the lane's messages be claimed again (with `now`, also before its start)."""
    changes: dict[str, object] = {"state": Lane.State.OPEN}
    if now:
        changes["starts_at"] = None
    lane = Lane.objects.filter(id=lane_id).exclude(state=Lane.State.CLOSED)
    if lane.update(**changes):
        wakeups.wake(provider_id=Lane.objects.values_list("provider_id", flat=True).get(id=lane_id))


def lane_close(*, lane_id: int) -> None:
    """The lane sends nothing more, ever (its owner fails what is still queued)."""
    Lane.objects.filter(id=lane_id).update(state=Lane.State.CLOSED)


def lane_seal(*, lane_id: int) -> bool:
    """Every message of the lane exists now; True if that drained it (nothing left to send)."""
    Lane.objects.filter(id=lane_id).update(sealed=True)
    return lane_drain_check(lane_id=lane_id)


def lane_drain_check(*, lane_id: int) -> bool:
    """Mark a sealed lane drained once none of its messages is queued or being sent, and
    enqueue its drained task (after commit). True if this call drained it."""
    messages = sql.table(Message)
    # One condition per status, each the condition of its partial index (as a literal,
    # which SQLite needs to use one).
    statement = (
        f"UPDATE {sql.table(Lane)} SET drained_at = %s"
        " WHERE id = %s AND sealed AND drained_at IS NULL"
        f" AND NOT EXISTS (SELECT 1 FROM {messages} WHERE lane_id = %s AND {claims.QUEUED})"
        f" AND NOT EXISTS (SELECT 1 FROM {messages} WHERE lane_id = %s AND {claims.SENDING})"
    )
    now = sql.time_value(timezone.now())
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement, [now, lane_id, lane_id, lane_id])
            drained = cursor.rowcount
        if drained:
            task = Lane.objects.values_list("drained_task", flat=True).get(id=lane_id)
            if task:
                transaction.on_commit(lambda: import_string(task).enqueue(lane_id))
    return bool(drained)
