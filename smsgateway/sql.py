"""The project's SQL helpers: quoting, parameters in the database's own forms, id lists,
and the COPY / executemany writers. Every hand-written statement (claims, callbacks,
imports, campaign dispatch) builds on these; the statements themselves stay with the
module whose rule they carry, written per database where the databases differ.

Statements are built with named parameters (`%(name)s`, a dict), so a statement whose
SQL differs between databases still takes one set of values.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, models


def quote(name: str) -> str:
    """A table or column name quoted for this database."""
    return connection.ops.quote_name(name)


def table(model: type[models.Model]) -> str:
    return quote(model._meta.db_table)


def columns(model: type[models.Model]) -> dict[str, str]:
    """The model's quoted column names by field attname (`provider_id`, not `provider`)."""
    return _quoted_columns(model, connection.vendor)


@functools.cache
def _quoted_columns(model: type[models.Model], vendor: str) -> dict[str, str]:
    # Asked several times per callback; quoting depends on the database's kind only.
    return {f.attname: quote(f.column) for f in model._meta.concrete_fields if f.column}


def marks(count: int) -> str:
    """`count` positional parameter marks, comma-separated."""
    return ", ".join(["%s"] * count)


def named_marks(prefix: str, count: int) -> str:
    """`count` named parameter marks `%(prefix0)s, …` (values from `named_values`)."""
    return ", ".join(f"%({prefix}{n})s" for n in range(count))


def named_values(prefix: str, values: Sequence[Any]) -> dict[str, Any]:
    return {f"{prefix}{n}": value for n, value in enumerate(values)}


def uuid_adapter() -> Callable[[uuid.UUID | None], Any]:
    """How this database takes a UUID as a parameter, looked up once for many values:
    the UUID itself where the database has a uuid type, else the hex text Django stores."""
    return _same if connection.features.has_native_uuid_field else _hex


def time_value(value: datetime | None) -> Any:
    """A time as this database takes it as a parameter (the text Django stores on
    SQLite, so that rows compare and sort alike; the aware datetime elsewhere)."""
    return connection.ops.adapt_datetimefield_value(value)


def time_adapter() -> Callable[[datetime | None], Any]:
    """`time_value`, looked up once for many values (the rows of a bulk write)."""
    return connection.ops.adapt_datetimefield_value


def uuid_from_row(value: Any) -> uuid.UUID:
    """A UUID read back from a row (text on databases without a uuid type)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


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
    return f"{column} IN ({marks(len(values))})", list(values)


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


def commit_without_waiting() -> None:
    """Let this transaction's commit return before PostgreSQL flushes it to disk.

    For commits that only move a progress bar (the chunks of an import): a server crash
    can lose the last few, never reorder them, and the final status write waits for all
    of them. Elsewhere a no-op.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


# ---------------------------------------------------------------- writing many rows


def rows_insert(
    model: type[models.Model],
    *,
    varying: Sequence[str],
    rows: Iterable[Sequence[Any]],
    shared: dict[str, Any],
) -> None:
    """Insert rows of `varying` field values; other fields take `shared` or their default.

    What every row shares goes through its field's own conversion once; what varies gets
    the cheapest conversion that gives the same stored value.
    """
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
    column = columns(model)
    names = ", ".join(column[name] for name in fields)
    if connection.vendor == "postgresql" and not ignore_conflicts:
        # The psycopg cursor under Django's wrapper, its errors translated like Django's own.
        with connection.cursor() as cursor, connection.wrap_database_errors:
            with cursor.cursor.copy(f"COPY {table(model)} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    conflicts = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table(model)} ({names}) VALUES ({marks(len(fields))}){conflicts}",
            rows,
        )


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
        return time_adapter()
    return _same
