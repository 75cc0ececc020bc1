"""Inserting many messages or events at once, as fast as the database takes them.

A campaign of a million recipients creates a million rows before the first send and
as many send events after it, so this skips model instances: COPY on PostgreSQL, one
prepared INSERT run over every row (executemany) elsewhere. What every row shares goes
through its field's own conversion once; what varies gets the cheapest conversion that
gives the same stored value.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from .models import Message, MessageEvent


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

    rows_insert(
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
    rows_insert(
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
    told when it commits (`providers.wakeups`).

    PostgreSQL: one statement, so one round trip where the ORM takes five (the opt-out
    check, BEGIN, two INSERTs, COMMIT) for the API's commonest call. Elsewhere: the same
    in one transaction.
    """
    from . import wakeups
    from .models import OptOut

    q = connection.ops.quote_name
    table = q(Message._meta.db_table)
    fields = list(Message._meta.concrete_fields)
    columns = ", ".join(q(str(f.column)) for f in fields)
    values = [f.get_db_prep_save(getattr(message, f.attname), connection) for f in fields]
    marks = ", ".join(["%s"] * len(values))
    opt_out = f"SELECT 1 FROM {q(OptOut._meta.db_table)} WHERE phone = %s"
    condition = f"WHERE NOT EXISTS ({opt_out})" if unless_opted_out else "WHERE 1 = 1"
    condition_params = [message.to] if unless_opted_out else []
    insert = (
        f"INSERT INTO {table} ({columns}) SELECT {marks} {condition}"
        " ON CONFLICT DO NOTHING RETURNING id"
    )
    event_fields = ("created_at", "source", "status", "code", "description", "data")
    event_column = {f.attname: f.column for f in MessageEvent._meta.concrete_fields}
    event_columns = ", ".join(q(str(event_column[name])) for name in event_fields)
    event_values = [
        connection.ops.adapt_datetimefield_value(event.created_at),
        event.source,
        event.status,
        event.code,
        event.description,
        "{}",
    ]
    events = q(MessageEvent._meta.db_table)
    if connection.vendor == "postgresql":
        notify = "pg_notify(%s, %s)" if wake else "1"
        sql = (
            f"WITH m AS ({insert}), e AS (INSERT INTO {events} (message_id, {event_columns})"
            f" SELECT id, %s, %s, %s, %s, %s, %s::jsonb FROM m) SELECT {notify} FROM m"
        )
        params = [*values, *condition_params, *event_values]
        if wake:
            params += [wakeups.CHANNEL, str(message.provider_id)]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
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
    rows_insert(
        MessageEvent,
        varying=EVENT_FIELDS,
        rows=rows,
        shared={"created_at": timezone.now(), **shared},
    )


def rows_insert(
    model: type[models.Model],
    *,
    varying: Sequence[str],
    rows: Iterable[Sequence[Any]],
    shared: dict[str, Any],
) -> None:
    """Insert rows of `varying` field values; other fields take `shared` or their default."""
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    names = [f.attname for f in fields]
    constant = []
    for field in fields:
        value = shared.get(field.attname, field.get_default() if field.has_default() else None)
        # Converted as the rows' own values are, once (a shared JSON value is encoded here,
        # not by the driver for every row of the COPY).
        constant.append(_converter(field)(value))
    slots = [names.index(name) for name in varying]
    converters = [_converter(fields[slot]) for slot in slots]
    values = []
    for row in rows:
        record = list(constant)
        for slot, convert, value in zip(slots, converters, row, strict=True):
            record[slot] = convert(value)
        values.append(record)
    rows_write(model, names, values)


def rows_write(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    ignore_conflicts: bool = False,
) -> None:
    """Write rows whose values are already in the database's own forms, one per `fields`
    (attnames): COPY on PostgreSQL (even for one row no slower than an INSERT, where
    psycopg's executemany is slower by half), one prepared INSERT over every row elsewhere.
    With `ignore_conflicts`, rows that would break a unique constraint are skipped (an
    INSERT … ON CONFLICT DO NOTHING everywhere: COPY has no such option).
    """
    if not rows:
        return
    column = {f.attname: f.column for f in model._meta.concrete_fields}
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(str(column[name])) for name in fields)
    if connection.vendor == "postgresql" and not ignore_conflicts:
        # The psycopg cursor under Django's wrapper, its errors translated like Django's own.
        with connection.cursor() as cursor, connection.wrap_database_errors:
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    marks = ", ".join(["%s"] * len(fields))
    conflicts = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({marks}){conflicts}",
            rows,
        )


def uuid_adapter() -> Callable[[uuid.UUID | None], Any]:
    """How this database takes a UUID as a parameter, looked up once for many values:
    the UUID itself where the database has a uuid type, else the hex text Django stores."""
    return _same if connection.features.has_native_uuid_field else _hex


def _same(value: Any) -> Any:
    return value


def _hex(value: uuid.UUID | None) -> str | None:
    return None if value is None else value.hex


def among(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """`column` among these values (in the database's own forms) and its parameters: one
    array parameter on PostgreSQL, so the statement is planned as fast whatever the count;
    an `IN (...)` list elsewhere (callers keep within the limit on parameters)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def among_ids(
    column: str, ids: Sequence[uuid.UUID], *, chunk: int
) -> Iterator[tuple[str, list[Any]]]:
    """`among` for UUIDs, `chunk` of them per condition, each in the database's own form."""
    uuid_ = uuid_adapter()
    for start in range(0, len(ids), chunk):
        yield among(column, [uuid_(value) for value in ids[start : start + chunk]])


def check_only(column: str, *, text: bool = True) -> str:
    """`column` written so that no index can serve it: for conditions that only check the
    rows a statement finds by id (`among("id", ...)`), such as the status a claim expects.

    The planners estimate from statistics, and statistics lag a campaign: right after
    100,000 messages are queued PostgreSQL still believes few are, and would find a
    claim's 1,000 rows by reading every queued message's index entry (measured: 60-75 ms
    per 1,000 instead of 13); SQLite picks the provider's index over a list of ids.
    An expression hides the column from both (`|| ''` or unary `+` on PostgreSQL, unary
    `+` on SQLite, the form its documentation gives for this), so the ids find the rows.
    """
    if connection.vendor == "postgresql" and text:
        return f"({column} || '')"
    return f"(+{column})"


def _converter(field: models.Field[Any, Any]) -> Callable[[Any], Any]:
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    if isinstance(field, models.UUIDField):
        return uuid_adapter()
    if isinstance(field, models.DateTimeField) and connection.vendor == "postgresql":
        return _same  # aware datetimes go as they are
    if isinstance(field, models.JSONField):
        # The JSON text Django would store; COPY and the INSERT both take it as it is.
        encoder = field.encoder
        return lambda value: None if value is None else json.dumps(value, cls=encoder)
    if isinstance(field, models.DateTimeField):
        # The text Django itself stores, so that rows compare and sort alike.
        return connection.ops.adapt_datetimefield_value
    return _same
