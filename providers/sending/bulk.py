"""Inserting many messages or events at once, as fast as the database takes them.

A campaign of a million recipients creates a million rows before the first send and
as many send events after it, so this skips model instances and writes through
`smsgateway.sql.rows_insert` (COPY on PostgreSQL, one executemany elsewhere).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from providers.models import Message, MessageEvent
from smsgateway import sql


def messages_insert(*, rows: Sequence[tuple[uuid.UUID, str, str]], shared: dict[str, Any]) -> None:
    """Insert queued messages, one per (id, to, body) row, with `shared` field values.

    Each row's created_at (and time due) is one microsecond after the previous row's, so
    ordering by either keeps the order the rows were given in.
    """
    start = timezone.now()

    def timed() -> Iterator[tuple[Any, ...]]:
        for position, (message_id, to, body) in enumerate(rows):
            at = start + timedelta(microseconds=position)
            yield message_id, to, body, at, at

    sql.rows_insert(
        Message,
        varying=("id", "to", "body", "created_at", "next_attempt_at"),
        rows=timed(),
        shared={**shared, "updated_at": start},
    )


def instances_insert(instances: Sequence[models.Model]) -> None:
    """Insert model instances whose every field is set (auto_now ones included) in one
    statement, where bulk_create would take one per few dozen rows on SQLite."""
    if not instances:
        return
    model = type(instances[0])
    names = [f.attname for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    sql.rows_insert(
        model,
        varying=names,
        rows=[[getattr(instance, name) for name in names] for instance in instances],
        shared={},
    )


def message_insert(
    message: Message, *, event: MessageEvent, unless_opted_out: bool, wake: bool
) -> bool:
    """Insert a message (every field set) and its first history event as one write; True
    if it was inserted. Not inserted: its number is on the opt-out list (when
    `unless_opted_out`), or its idempotency key is taken. With `wake`, the dispatchers are
    told when it commits (`providers.sending.wakeups`).

    PostgreSQL: one statement, so one round trip where the ORM takes five (the opt-out
    check, BEGIN, two INSERTs, COMMIT) for the API's commonest call. Elsewhere: the same
    in one transaction.
    """
    from providers.models import OptOut
    from providers.sending import wakeups

    table = sql.table(Message)
    fields = list(Message._meta.concrete_fields)
    columns = ", ".join(sql.quote(str(f.column)) for f in fields)
    values = [f.get_db_prep_save(getattr(message, f.attname), connection) for f in fields]
    opt_out = f"SELECT 1 FROM {sql.table(OptOut)} WHERE phone = %s"
    condition = f"WHERE NOT EXISTS ({opt_out})" if unless_opted_out else "WHERE 1 = 1"
    condition_params = [message.to] if unless_opted_out else []
    insert = (
        f"INSERT INTO {table} ({columns}) SELECT {sql.marks(len(values))} {condition}"
        " ON CONFLICT DO NOTHING RETURNING id"
    )
    event_fields = ("created_at", "source", "status", "code", "description", "data")
    event_column = sql.columns(MessageEvent)
    event_columns = ", ".join(event_column[name] for name in event_fields)
    event_values = [
        sql.time_value(event.created_at),
        event.source,
        event.status,
        event.code,
        event.description,
        "{}",
    ]
    events = sql.table(MessageEvent)
    if connection.vendor == "postgresql":
        notify = "pg_notify(%s, %s)" if wake else "1"
        statement = (
            f"WITH m AS ({insert}), e AS (INSERT INTO {events} (message_id, {event_columns})"
            f" SELECT id, %s, %s, %s, %s, %s, %s::jsonb FROM m) SELECT {notify} FROM m"
        )
        params = [*values, *condition_params, *event_values]
        if wake:
            params += [wakeups.CHANNEL, str(message.provider_id)]
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchone() is not None
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(insert, [*values, *condition_params])
        if cursor.fetchone() is None:
            return False
        cursor.execute(
            f"INSERT INTO {events} (message_id, {event_columns})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [values[0], *event_values],
        )
    return True


EVENT_FIELDS = ("message_id", "status", "code", "description", "http_status", "duration_ms", "data")


def events_insert(*, rows: Iterable[Sequence[Any]], shared: dict[str, Any]) -> None:
    """Insert message events, one per row of EVENT_FIELDS values, with `shared` values."""
    sql.rows_insert(
        MessageEvent,
        varying=EVENT_FIELDS,
        rows=rows,
        shared={"created_at": timezone.now(), **shared},
    )
