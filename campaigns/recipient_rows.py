"""Recipient rows written and looked up in sets, without model instances.

An upload of a million rows would spend most of its time building `Recipient` objects
and letting the ORM take them apart again; these functions send plain tuples instead:
COPY on PostgreSQL, one executemany elsewhere. Run them inside a transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from django.db import IntegrityError, connection, transaction

from providers.bulk import among, rows_write
from providers.models import OptOut

from .models import Recipient


class NewRecipient(NamedTuple):
    campaign_id: int
    upload_id: int
    row: int
    phone: str
    fields: dict[str, str]


class ExistingRecipient(NamedTuple):
    upload_id: int
    row: int


# Recipient's columns as Django names them (no db_column on these fields).
_COLUMNS = ("campaign_id", "upload_id", "row", "phone", "fields")
_Values = tuple[int, int, int, str, str]


def recipients_insert(rows: Sequence[NewRecipient]) -> None:
    """Store new recipients; a number another upload stored meanwhile is left as it is."""
    if not rows:
        return
    # The JSONField's own encoding, so these rows read back like any other.
    values: list[_Values] = [
        (row.campaign_id, row.upload_id, row.row, row.phone, json.dumps(row.fields)) for row in rows
    ]
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                rows_write(Recipient, _COLUMNS, values)
            return
        except IntegrityError:
            pass  # a concurrent upload to the same campaign took one of these numbers
    rows_write(Recipient, _COLUMNS, values, ignore_conflicts=True)


def commit_without_waiting() -> None:
    """Let this transaction's commit return before PostgreSQL flushes it to disk.

    For the chunks of an import, whose commits only move the progress bar: a server crash
    can lose the last few, never reorder them, and the import's final status write waits
    for all of them. Elsewhere a no-op.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def recipients_existing(*, campaign_id: int, phones: list[str]) -> dict[str, ExistingRecipient]:
    """Which of these numbers the campaign already has, and from which upload and row."""
    if not phones:
        return {}
    table, (campaign, upload, row, phone, _) = _table(), _quoted_columns()
    found: dict[str, ExistingRecipient] = {}
    with connection.cursor() as cursor:
        for where, params in _among(phone, phones):
            cursor.execute(
                f"SELECT {phone}, {upload}, {row} FROM {table} "  # noqa: S608
                f"WHERE {campaign} = %s AND {where}",
                [campaign_id, *params],
            )
            found.update((number, ExistingRecipient(up, r)) for number, up, r in cursor.fetchall())
    return found


def opted_out(phones: list[str]) -> set[str]:
    """Which of these numbers asked not to be messaged."""
    if not phones:
        return set()
    table = connection.ops.quote_name(OptOut._meta.db_table)
    phone = connection.ops.quote_name("phone")
    found: set[str] = set()
    with connection.cursor() as cursor:
        for where, params in _among(phone, phones):
            cursor.execute(f"SELECT {phone} FROM {table} WHERE {where}", params)  # noqa: S608
            found.update(number for (number,) in cursor.fetchall())
    return found


def _among(column: str, values: list[str]) -> Iterator[tuple[str, list[Any]]]:
    """`column` among a few thousand values, in as many conditions as the database's limit
    on parameters needs (one parameter is left for the query's own)."""
    if connection.vendor == "postgresql":
        yield among(column, values)
        return
    size = (connection.features.max_query_params or len(values) + 1) - 1
    for start in range(0, len(values), size):
        yield among(column, values[start : start + size])


def _table() -> str:
    return connection.ops.quote_name(Recipient._meta.db_table)


def _quoted_columns() -> list[str]:
    return [connection.ops.quote_name(name) for name in _COLUMNS]
