"""The SQL helpers every hand-written statement builds on, run against the database the
suite runs on (SQLite, or PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from providers.models import Message, MessageEvent, OptOut, Provider
from smsgateway import sql

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(db):
    return Provider.objects.create(
        nickname="Acme", endpoint="https://sms.example.com/send", payload={"to": "$$To"}
    )


def select_ids(condition: str, params: list) -> set[uuid.UUID]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {sql.table(Message)} WHERE {condition}", params)
        return {sql.uuid_from_row(value) for (value,) in cursor.fetchall()}


def test_rows_insert_stores_rows_that_read_back_like_the_orms(provider):
    ids = [uuid.uuid4(), uuid.uuid4()]
    at = timezone.now() - timedelta(minutes=5)
    sql.rows_insert(
        Message,
        varying=("id", "to", "created_at"),
        rows=[(ids[0], "+919800000001", at), (ids[1], "+919800000002", at)],
        shared={
            "provider_id": provider.id,
            "body": "hello",
            "variables": {"name": "Asha"},
            "updated_at": at,
        },
    )

    first = Message.objects.get(id=ids[0])
    assert (first.to, first.body, first.variables) == ("+919800000001", "hello", {"name": "Asha"})
    assert first.created_at == at
    assert first.status == Message.Status.QUEUED  # the field's default
    assert Message.objects.filter(created_at=at).count() == 2  # times compare as stored


def test_rows_write_can_skip_rows_that_break_a_unique_constraint(db):
    fields = ["phone", "source", "text", "created_at"]
    now = sql.time_value(timezone.now())
    sql.rows_write(OptOut, fields, [("+919800000001", "first", "", now)])

    rows = [("+919800000001", "again", "", now), ("+919800000002", "second", "", now)]
    sql.rows_write(OptOut, fields, rows, ignore_conflicts=True)

    assert dict(OptOut.objects.values_list("phone", "source")) == {
        "+919800000001": "first",
        "+919800000002": "second",
    }


def test_among_ids_finds_exactly_the_ids_given_in_chunks(provider):
    messages = [
        Message.objects.create(provider=provider, to=f"+9198000000{n:02d}") for n in range(7)
    ]
    wanted = [m.id for m in messages[:5]]

    found: set[uuid.UUID] = set()
    conditions = list(sql.among_ids("id", wanted, chunk=2))
    for condition, params in conditions:
        found |= select_ids(condition, params)

    assert len(conditions) == 3
    assert found == set(wanted)


def test_check_only_still_compares_the_column(provider):
    queued = Message.objects.create(provider=provider, to="+919800000001")
    Message.objects.create(provider=provider, to="+919800000002", status=Message.Status.FAILED)
    condition, params = sql.among("id", [sql.uuid_adapter()(m.id) for m in Message.objects.all()])

    found = select_ids(f"{condition} AND {sql.check_only('status')} = %s", [*params, "queued"])

    assert found == {queued.id}


def test_named_parameters_work_with_one_dict_for_every_statement(provider):
    message = Message.objects.create(provider=provider, to="+919800000001")
    column = sql.columns(Message)
    params = {
        **sql.named_values("from_", ["queued", "sending"]),
        "id": sql.uuid_adapter()(message.id),
        "status": "failed",
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {sql.table(Message)} SET {column['status']} = %(status)s "
            f"WHERE {column['id']} = %(id)s "
            f"AND {column['status']} IN ({sql.named_marks('from_', 2)})",
            params,
        )
        changed = cursor.rowcount

    assert changed == 1
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED


def test_columns_are_quoted_by_attname(db):
    column = sql.columns(MessageEvent)
    assert column["message_id"] == connection.ops.quote_name("message_id")
    assert "message" not in column
