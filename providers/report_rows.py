"""The SQL behind applying delivery reports: messages locked and changed, audit rows and
history events inserted, in sets and without model instances.

A callback of 500 reports would spend most of its time building 1,000 model instances
and letting `bulk_create` take them apart field by field, and a callback of one report
as long building the ORM's queries as running them; these functions send plain tuples
instead: COPY on PostgreSQL, one executemany elsewhere. Values are prepared the way the
fields' own `get_db_prep_value` would, so the rows read back like any other. Run them
inside a transaction; which change to make is decided by `providers.reports`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import Model

from .bulk import among_ids, check_only, rows_write, uuid_adapter
from .models import DeliveryReport, Message, MessageEvent


class AuditRow(NamedTuple):
    """One DeliveryReport, but for the time it was received (one for the whole set)."""

    provider_id: int
    message_id: uuid.UUID | None
    message_ref: str
    event: str
    code: str
    description: str
    occurred_at: datetime | None
    outcome: str
    raw: str  # the report as JSON text, encoded once for both rows


class EventRow(NamedTuple):
    """One DLR MessageEvent, but for its time (one for the whole set)."""

    message_id: uuid.UUID
    source: str
    status: str
    code: str
    description: str
    data: str  # JSON text


# Ids per `IN (...)`: well under any database's limit on query parameters.
CHUNK = 500


def messages_lock(*, provider_id: int, message_ids: set[uuid.UUID]) -> list[tuple[Any, ...]]:
    """`(id, status, to)` of the provider's messages among these ids, locked until the
    transaction ends.

    PostgreSQL locks the rows in id order, so that two callbacks naming the same messages
    queue instead of deadlocking; SQLite's IMMEDIATE transaction already holds the
    database's write lock.
    """
    column = _columns(Message)
    id_, status, to = column["id"], column["status"], column["to"]
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    found: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for where, params in among_ids(id_, sorted(message_ids), chunk=CHUNK):
            cursor.execute(
                f"SELECT {id_}, {status}, {to} FROM {_table(Message)} "
                f"WHERE {check_only(column['provider_id'], text=False)} = %s AND {where} "
                f"ORDER BY {id_}{lock}",
                [provider_id, *params],
            )
            found.extend(cursor.fetchall())
    if connection.features.has_native_uuid_field:
        return found
    return [(uuid.UUID(message_id), *rest) for message_id, *rest in found]


def messages_change(
    *, message_ids: list[uuid.UUID], values: dict[str, Any], from_statuses: Sequence[str]
) -> None:
    """Set these fields on the messages among these ids that are in one of `from_statuses`."""
    with connection.cursor() as cursor:
        for sql, params in _change_statements(message_ids, values, from_statuses, ""):
            cursor.execute(sql, params)


def messages_change_returning(
    *,
    provider_id: int,
    message_ids: list[uuid.UUID],
    values: dict[str, Any],
    from_statuses: Sequence[str],
) -> set[uuid.UUID]:
    """Like `messages_change` for the provider's messages; returns the ids it changed.
    Needs UPDATE ... RETURNING (`connection.features.can_return_columns_from_insert`)."""
    provider_column, id_column = _columns(Message)["provider_id"], _columns(Message)["id"]
    provider = check_only(provider_column, text=False)
    condition = f" AND {provider} = {int(provider_id)} RETURNING {id_column}"
    changed: set[uuid.UUID] = set()
    with connection.cursor() as cursor:
        for sql, params in _change_statements(message_ids, values, from_statuses, condition):
            cursor.execute(sql, params)
            changed.update(_uuid(message_id) for (message_id,) in cursor.fetchall())
    return changed


@dataclass(frozen=True)
class ReportChange:
    """The statements that apply one status-changing report to its message, with its
    audit row and history event, built before any lock is taken: the first changes the
    message (returning a row if it did), the others run only if it did.

    PostgreSQL gets one statement (one round trip, atomic on its own: BEGIN, UPDATE, two
    inserts and COMMIT become one); SQLite three, for one transaction.
    """

    statements: list[tuple[str, list[Any]]]

    def run(self) -> bool:
        """Run the statements; True if the message changed (else nothing was written)."""
        (change_sql, change_params), *inserts = self.statements
        with connection.cursor() as cursor:
            cursor.execute(change_sql, change_params)
            if cursor.fetchone() is None:
                return False
            for sql, params in inserts:
                cursor.execute(sql, params)
        return True


def report_change(
    *,
    provider_id: int,
    message_id: uuid.UUID,
    values: dict[str, Any],
    from_statuses: Sequence[str],
    audit: AuditRow,
    event: EventRow,
    at: datetime,
) -> ReportChange:
    column = _columns(Message)
    assignments = ", ".join(f"{column[name]} = %s" for name in values)
    audit_columns = ", ".join(_columns(DeliveryReport)[name] for name in AUDIT_FIELDS)
    event_columns = ", ".join(_columns(MessageEvent)[name] for name in EVENT_FIELDS)
    change = (
        f"UPDATE {_table(Message)} SET {assignments} "
        f"WHERE {column['id']} = %s AND {column['provider_id']} = %s "
        f"AND {column['status']} IN ({_marks(from_statuses)}) RETURNING {column['id']}"
    )
    audit_params = [
        audit.provider_id,
        audit.message_ref,
        audit.event,
        audit.code,
        audit.description,
        audit.occurred_at,
        audit.outcome,
        audit.raw,
        at,
    ]
    event_params = [event.source, event.status, event.code, event.description, event.data, at]
    if connection.vendor == "postgresql":
        # The message id comes from the UPDATE, so nothing is inserted unless it changed.
        sql = (
            f"WITH changed AS ({change} AS id), "
            f"audit AS (INSERT INTO {_table(DeliveryReport)} ({audit_columns}) SELECT "
            "%s, changed.id, %s, %s, %s, %s, %s::timestamptz, %s, %s::jsonb, %s::timestamptz "
            f"FROM changed) INSERT INTO {_table(MessageEvent)} ({event_columns}) "
            "SELECT changed.id, %s, %s, %s, %s, %s::jsonb, %s::timestamptz FROM changed "
            "RETURNING 1"
        )
        params = [*values.values(), message_id, provider_id, *from_statuses]
        return ReportChange([(sql, [*params, *audit_params, *event_params])])
    uuid_, datetime_ = _adapters()
    id_ = uuid_(message_id)
    audit_params[5] = datetime_(audit.occurred_at)
    audit_params[-1] = event_params[-1] = datetime_(at)
    change_params = [
        *(datetime_(v) if isinstance(v, datetime) else v for v in values.values()),
        id_,
        provider_id,
        *from_statuses,
    ]
    return ReportChange(
        [
            (change, change_params),
            (
                f"INSERT INTO {_table(DeliveryReport)} ({audit_columns}) "
                f"VALUES ({_marks(audit_params)}, %s)",
                [*audit_params[:1], id_, *audit_params[1:]],
            ),
            (
                f"INSERT INTO {_table(MessageEvent)} ({event_columns}) "
                f"VALUES (%s, {_marks(event_params)})",
                [id_, *event_params],
            ),
        ]
    )


# The columns report_change fills, in this order.
AUDIT_FIELDS = (
    "provider_id",
    "message_id",
    "message_ref",
    "event",
    "code",
    "description",
    "occurred_at",
    "outcome",
    "raw",
    "received_at",
)
EVENT_FIELDS = ("message_id", "source", "status", "code", "description", "data", "created_at")


def _change_statements(
    message_ids: list[uuid.UUID], values: dict[str, Any], from_statuses: Sequence[str], tail: str
) -> Iterator[tuple[str, list[Any]]]:
    datetime_ = connection.ops.adapt_datetimefield_value
    column = _columns(Message)
    assignments = ", ".join(f"{column[name]} = %s" for name in values)
    prepared = [datetime_(v) if isinstance(v, datetime) else v for v in values.values()]
    for where, params in among_ids(column["id"], message_ids, chunk=CHUNK):
        sql = (
            f"UPDATE {_table(Message)} SET {assignments} "
            f"WHERE {where} AND {check_only(column['status'])} IN ({_marks(from_statuses)}){tail}"
        )
        yield sql, [*prepared, *params, *from_statuses]


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def audits_insert(rows: Sequence[AuditRow], *, received_at: datetime) -> None:
    uuid_, datetime_ = _adapters()
    received = datetime_(received_at)
    rows_write(
        DeliveryReport,
        (*AuditRow._fields, "received_at"),
        [
            (
                *row._replace(
                    message_id=uuid_(row.message_id), occurred_at=datetime_(row.occurred_at)
                ),
                received,
            )
            for row in rows
        ],
    )


def events_insert(rows: Sequence[EventRow], *, created_at: datetime) -> None:
    uuid_, datetime_ = _adapters()
    created = datetime_(created_at)
    rows_write(
        MessageEvent,
        (*EventRow._fields, "created_at"),
        [(*row._replace(message_id=uuid_(row.message_id)), created) for row in rows],
    )


def _adapters() -> tuple[Callable[[uuid.UUID | None], Any], Callable[[datetime | None], Any]]:
    """How this database takes a UUID and a time."""
    return uuid_adapter(), connection.ops.adapt_datetimefield_value


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _columns(model: type[Model]) -> dict[str, str]:
    """Quoted column names by field attname (`provider_id`, not `provider`)."""
    return _quoted_columns(model, connection.vendor)


@functools.cache
def _quoted_columns(model: type[Model], vendor: str) -> dict[str, str]:
    # Asked several times per callback; quoting depends on the database's kind only.
    quote = connection.ops.quote_name
    return {f.attname: quote(f.column) for f in model._meta.concrete_fields if f.column}


def _marks(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))
