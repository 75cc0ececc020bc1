"""Recipient rows written and looked up in sets, without model instances.

An upload of a million rows would spend most of its time building `Recipient` objects
and letting the ORM take them apart again; these functions send plain tuples instead:
COPY on PostgreSQL, one executemany elsewhere. Run them inside a transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from django.db import IntegrityError, connection, transaction
from django.db.models import Model

from providers.models import OptOut
from smsgateway import sql

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
                sql.rows_write(Recipient, _COLUMNS, values)
            return
        except IntegrityError:
            pass  # a concurrent upload to the same campaign took one of these numbers
    sql.rows_write(Recipient, _COLUMNS, values, ignore_conflicts=True)


def recipients_existing(*, campaign_id: int, phones: list[str]) -> dict[str, ExistingRecipient]:
    """Which of these numbers the campaign already has, and from which upload and row."""
    campaign, upload, row, phone, _ = _quoted_columns()
    rows = _rows_of_numbers(
        Recipient, [phone, upload, row], phones, where=f"t.{campaign} = %s", params=[campaign_id]
    )
    return {number: ExistingRecipient(up, r) for number, up, r in rows}


def opted_out(phones: list[str]) -> set[str]:
    """Which of these numbers asked not to be messaged."""
    phone = sql.quote("phone")
    return {number for (number,) in _rows_of_numbers(OptOut, [phone], phones)}


def _rows_of_numbers(
    model: type[Model],
    columns: list[str],
    phones: list[str],
    *,
    where: str = "",
    params: Sequence[Any] = (),
) -> list[tuple[Any, ...]]:
    """`columns` of the model's rows whose `phone` is one of these numbers (and that meet
    `where`, on table alias `t`), found by one index lookup per number.

    The numbers drive the statement, whatever the planner's statistics say. Given a
    campaign and a list of numbers together, PostgreSQL trusted statistics taken before an
    upload (a campaign of a few rows) and read every recipient the campaign had so far for
    each chunk of an import: 87 ms per 5,000 numbers at 300,000 recipients, and growing,
    where the lookups take 10. SQLite, with such statistics, read the whole table.
    A LATERAL subquery with a LIMIT is not turned into a join by PostgreSQL (a number
    matches one row at most, by the unique index); SQLite keeps the left side of a CROSS
    JOIN as the outer loop. The numbers are E.164, never containing a comma, and go as
    one parameter: quoting 5,000 into an array literal one by one cost 5 ms a chunk.
    """
    if not phones:
        return []
    table, phone = sql.table(model), sql.quote("phone")
    condition = f"{where} AND " if where else ""
    selected = ", ".join(f"t.{column}" for column in columns)
    if connection.vendor == "postgresql":
        statement = (
            f"SELECT r.* FROM unnest(string_to_array(%s, ',')) AS n(number)"
            f" CROSS JOIN LATERAL (SELECT {selected} FROM {table} AS t"
            f" WHERE {condition}t.{phone} = n.number LIMIT 1) AS r"
        )
        values = [",".join(phones), *params]
    else:
        statement = (
            f"SELECT {selected} FROM json_each(%s) AS n"
            f" CROSS JOIN {table} AS t ON {condition}t.{phone} = n.value"
        )
        values = [json.dumps(phones), *params]
    with connection.cursor() as cursor:
        cursor.execute(statement, values)
        return cursor.fetchall()


def _quoted_columns() -> list[str]:
    return [sql.quote(name) for name in _COLUMNS]
