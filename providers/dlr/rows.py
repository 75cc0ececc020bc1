"""The SQL behind applying delivery reports: messages locked and changed, audit rows and
history events inserted, in sets and without model instances.

A callback of 500 reports would spend most of its time building 1,000 model instances
and letting `bulk_create` take them apart field by field, and a callback of one report
as long building the ORM's queries as running them; these functions send plain tuples
instead: COPY on PostgreSQL, one executemany elsewhere. Values are prepared the way the
fields' own `get_db_prep_value` would, so the rows read back like any other. Run them
inside a transaction; which change to make is decided by `providers.dlr.apply`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection

from providers.models import DeliveryReport, Message, MessageEvent
from smsgateway import sql


class AuditRow(NamedTuple):
    """One DeliveryReport, but for the time it was received (one for the whole set)."""

    provider_id: int
    message_id: uuid.UUID | None
    message_ref: str
    recipient: str
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
    column = sql.columns(Message)
    id_, status, to = column["id"], column["status"], column["to"]
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    found: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for where, params in sql.among_ids(id_, sorted(message_ids), chunk=CHUNK):
            cursor.execute(
                f"SELECT {id_}, {status}, {to} FROM {sql.table(Message)} "
                f"WHERE {sql.check_only(column['provider_id'], text=False)} = %s AND {where} "
                f"ORDER BY {id_}{lock}",
                [provider_id, *params],
            )
            found.extend(cursor.fetchall())
    return [(sql.uuid_from_row(message_id), *rest) for message_id, *rest in found]


def messages_change(
    *, message_ids: list[uuid.UUID], values: dict[str, Any], from_statuses: Sequence[str]
) -> None:
    """Set these fields on the messages among these ids that are in one of `from_statuses`."""
    with connection.cursor() as cursor:
        for statement, params in _change_statements(message_ids, values, from_statuses, ""):
            cursor.execute(statement, params)


def messages_change_returning(
    *,
    provider_id: int,
    message_ids: list[uuid.UUID],
    values: dict[str, Any],
    from_statuses: Sequence[str],
) -> set[uuid.UUID]:
    """Like `messages_change` for the provider's messages; returns the ids it changed.
    Needs UPDATE ... RETURNING (`connection.features.can_return_columns_from_insert`)."""
    column = sql.columns(Message)
    provider_column, id_column = column["provider_id"], column["id"]
    provider = sql.check_only(provider_column, text=False)
    condition = f" AND {provider} = {int(provider_id)} RETURNING {id_column}"
    changed: set[uuid.UUID] = set()
    with connection.cursor() as cursor:
        for statement, params in _change_statements(message_ids, values, from_statuses, condition):
            cursor.execute(statement, params)
            changed.update(sql.uuid_from_row(message_id) for (message_id,) in cursor.fetchall())
    return changed


@dataclass(frozen=True)
class ReportChange:
    """The statements that apply one status-changing report to its message, with its
    audit row and history event, built before any lock is taken: the first changes the
    message (returning a row if it did), the others run only if it did.

    PostgreSQL gets one statement (one round trip, atomic on its own: BEGIN, UPDATE, two
    inserts and COMMIT become one); SQLite three, for one transaction.
    """

    statements: list[tuple[str, dict[str, Any]]]

    def run(self) -> bool:
        """Run the statements; True if the message changed (else nothing was written)."""
        (change_sql, change_params), *inserts = self.statements
        with connection.cursor() as cursor:
            cursor.execute(change_sql, change_params)
            if cursor.fetchone() is None:
                return False
            for statement, params in inserts:
                cursor.execute(statement, params)
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
    column = sql.columns(Message)
    params: dict[str, Any] = {
        **{f"set_{name}": _db_value(value) for name, value in values.items()},
        **sql.named_values("from_", from_statuses),
        # message_id is given once, below, in the database's form.
        **{f"audit_{k}": v for k, v in audit._asdict().items() if k != "message_id"},
        **{f"event_{k}": v for k, v in event._asdict().items() if k != "message_id"},
        "audit_occurred_at": sql.time_value(audit.occurred_at),
        "message_id": sql.uuid_adapter()(message_id),
        "provider_id": provider_id,
        "at": sql.time_value(at),
    }
    assignments = ", ".join(f"{column[name]} = %(set_{name})s" for name in values)
    change = (
        f"UPDATE {sql.table(Message)} SET {assignments} "
        f"WHERE {column['id']} = %(message_id)s AND {column['provider_id']} = %(provider_id)s "
        f"AND {column['status']} IN ({sql.named_marks('from_', len(from_statuses))}) "
        f"RETURNING {column['id']}"
    )
    # The audit row and the event, field by field; on PostgreSQL the message id comes
    # from the UPDATE (`changed.id`), so nothing is inserted unless it changed.
    postgres = connection.vendor == "postgresql"

    def value(prefix: str, name: str) -> str:
        if name == "message_id":
            return "changed.id" if postgres else "%(message_id)s"
        mark = "%(at)s" if name in ("received_at", "created_at") else f"%({prefix}{name})s"
        return mark + _POSTGRES_CASTS.get(name, "") if postgres else mark

    audit_columns = ", ".join(sql.columns(DeliveryReport)[name] for name in AUDIT_FIELDS)
    audit_values = ", ".join(value("audit_", name) for name in AUDIT_FIELDS)
    event_columns = ", ".join(sql.columns(MessageEvent)[name] for name in EVENT_FIELDS)
    event_values = ", ".join(value("event_", name) for name in EVENT_FIELDS)
    if postgres:
        statement = (
            f"WITH changed AS ({change} AS id), "
            f"audit AS (INSERT INTO {sql.table(DeliveryReport)} ({audit_columns}) "
            f"SELECT {audit_values} FROM changed) "
            f"INSERT INTO {sql.table(MessageEvent)} ({event_columns}) "
            f"SELECT {event_values} FROM changed RETURNING 1"
        )
        return ReportChange([(statement, params)])
    return ReportChange(
        [
            (change, params),
            (
                f"INSERT INTO {sql.table(DeliveryReport)} ({audit_columns}) "
                f"VALUES ({audit_values})",
                params,
            ),
            (
                f"INSERT INTO {sql.table(MessageEvent)} ({event_columns}) VALUES ({event_values})",
                params,
            ),
        ]
    )


def _db_value(value: Any) -> Any:
    return sql.time_value(value) if isinstance(value, datetime) else value


# The types PostgreSQL is told for report_change's untyped parameters.
_POSTGRES_CASTS = {
    "occurred_at": "::timestamptz",
    "received_at": "::timestamptz",
    "created_at": "::timestamptz",
    "raw": "::jsonb",
    "data": "::jsonb",
}
# The columns report_change fills, in this order.
AUDIT_FIELDS = (
    "provider_id",
    "message_id",
    "message_ref",
    "recipient",
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
    column = sql.columns(Message)
    assignments = ", ".join(f"{column[name]} = %s" for name in values)
    prepared = [_db_value(v) for v in values.values()]
    for where, params in sql.among_ids(column["id"], message_ids, chunk=CHUNK):
        status = sql.check_only(column["status"])
        statement = (
            f"UPDATE {sql.table(Message)} SET {assignments} "
            f"WHERE {where} AND {status} IN ({sql.marks(len(from_statuses))}){tail}"
        )
        yield statement, [*prepared, *params, *from_statuses]


def messages_by_provider_ref(
    *, provider_id: int, refs: set[str]
) -> dict[str, list[tuple[uuid.UUID, str]]]:
    """`(id, to)` of the provider's messages by the provider's id for them, newest first."""
    found: dict[str, list[tuple[uuid.UUID, str]]] = {}
    ordered = sorted(refs)
    for start in range(0, len(ordered), CHUNK):
        rows = (
            Message.objects.filter(
                provider_id=provider_id, provider_message_id__in=ordered[start : start + CHUNK]
            )
            .order_by("-created_at")
            .values_list("provider_message_id", "id", "to")
        )
        for ref, message_id, to in rows:
            found.setdefault(ref, []).append((message_id, to))
    return found


def audits_insert(rows: Sequence[AuditRow], *, received_at: datetime) -> None:
    uuid_, datetime_ = sql.uuid_adapter(), sql.time_adapter()
    received = datetime_(received_at)
    sql.rows_write(
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
    uuid_, datetime_ = sql.uuid_adapter(), sql.time_adapter()
    created = datetime_(created_at)
    sql.rows_write(
        MessageEvent,
        (*EventRow._fields, "created_at"),
        [(*row._replace(message_id=uuid_(row.message_id)), created) for row in rows],
    )
