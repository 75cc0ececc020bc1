"""The statements that run for every message a campaign sends or a provider reports find
their messages by id, whatever the planner's statistics say.

Statistics lag a campaign: right after thousands of messages are queued the database
still believes few are, and a claim that let the planner use the status index read
every queued message's entry to find its own thousand (measured: 60-75 ms per 1,000
instead of 13, for every claim of a 100,000-message campaign). Here the statistics are
taken while every message is delivered, then thousands are queued, and each statement
is put to the database's own planner.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from providers.dlr.rows import messages_change, messages_lock
from providers.http.transport import SendResult
from providers.models import Message, Provider
from providers.sending import claims, lanes
from providers.sending.record import Outcome, messages_record
from smsgateway.sql import rows_insert

pytestmark = pytest.mark.django_db
Status = Message.Status
QUEUED = 3000


@pytest.fixture
def provider() -> Provider:
    return Provider.objects.create(nickname="Plans", endpoint="https://sms.example.com/send")


@pytest.fixture
def queued(provider: Provider) -> list[uuid.UUID]:
    """Thousands of queued messages the statistics know nothing about."""
    _insert(provider, [uuid.uuid4() for _ in range(50)], Status.DELIVERED)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Message._meta.db_table}")
    ids = [uuid.uuid4() for _ in range(QUEUED)]
    _insert(provider, ids, Status.QUEUED)
    return ids


def test_a_claim_reads_the_due_index_and_its_submission_the_primary_key(
    provider: Provider, queued: list[uuid.UUID]
) -> None:
    with CaptureQueriesContext(connection) as claim:
        claimed = claims.messages_claim_due(
            lane_id=lanes.transactional_lane_id(provider_id=provider.pk),
            limit=1000,
            token=uuid.uuid4(),
            now=timezone.now(),
        )
    outcome = Outcome(messages=claimed, result=SendResult(ok=True), masked_request={})
    with CaptureQueriesContext(connection) as record:
        messages_record(outcomes=[outcome])

    assert len(claimed) == 1000
    assert Message.objects.filter(status=Status.SUBMITTED).count() == 1000
    [claim_sql] = _message_updates(claim)
    # The oldest due messages, read in order from the index of queued messages alone (and
    # the lane's row, by its key, to see that it is open).
    message_indexes = _indexes_read(claim_sql) - {"providers_lane_pkey"}
    assert message_indexes == {"message_due_idx", "primary key"}, claim_sql[:300]
    for sql in _message_updates(record):
        assert _indexes_read(sql) <= {"primary key"}, sql[:200]


def test_a_delivery_report_set_finds_its_messages_by_id(
    provider: Provider, queued: list[uuid.UUID]
) -> None:
    ids = set(queued[:500])
    Message.objects.filter(id__in=ids).update(status=Status.SUBMITTED)
    with CaptureQueriesContext(connection) as queries:
        locked = messages_lock(provider_id=provider.pk, message_ids=ids)
        messages_change(
            message_ids=sorted(ids),
            values={"status": Status.DELIVERED, "completed_at": timezone.now()},
            from_statuses=[Status.QUEUED, Status.SENDING, Status.SUBMITTED],
        )

    assert len(locked) == 500
    assert Message.objects.filter(status=Status.DELIVERED).count() == 50 + 500
    statements = [q["sql"] for q in queries.captured_queries if "providers_message" in q["sql"]]
    assert len(statements) == 2
    for sql in statements:
        assert _indexes_read(sql) <= {"primary key"}, sql[:200]


def _insert(provider: Provider, ids: list[uuid.UUID], status: str) -> None:
    now = timezone.now()
    rows_insert(
        Message,
        varying=["id"],
        rows=[(message_id,) for message_id in ids],
        shared={
            "provider_id": provider.pk,
            "lane_id": lanes.transactional_lane_id(provider_id=provider.pk),
            "to": "+919876543210",
            "body": "Hello",
            "status": status,
            "created_at": now,
            "updated_at": now,
        },
    )


def _message_updates(queries: CaptureQueriesContext) -> list[str]:
    update = 'UPDATE "providers_message"'
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith(update)]


def _indexes_read(sql: str) -> set[str]:
    """The message table's indexes the planner would read for this statement, the
    primary key named as such on either database."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            names = set(re.findall(r"(?:Index|Index Only|Bitmap Index) Scan on (\w+)", plan))
            names |= set(re.findall(r"Index Scan using (\w+)", plan))
            pk = "providers_message_pkey"
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
            names = set(re.findall(r"USING (?:COVERING )?INDEX (\w+)", plan))
            pk = "sqlite_autoindex_providers_message_1"
    return {"primary key" if name == pk else name for name in names}
