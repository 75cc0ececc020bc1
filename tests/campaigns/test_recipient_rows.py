from __future__ import annotations

import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from campaigns.models import Recipient, Upload
from campaigns.recipient_rows import NewRecipient, recipients_existing, recipients_insert
from tests.factories import make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def upload(generic_provider):
    campaign = make_campaign(generic_provider)
    return Upload.objects.create(campaign=campaign, file="uploads/a.csv", original_name="a.csv")


def test_a_number_stored_meanwhile_by_another_upload_keeps_its_first_row(upload):
    # Two uploads to one campaign imported at once: both may find a number free.
    Recipient.objects.create(
        campaign=upload.campaign, upload=upload, row=7, phone="+919876500001", fields={"n": "1"}
    )
    with transaction.atomic():
        recipients_insert(
            [
                NewRecipient(upload.campaign_id, upload.id, 2, "+919876500001", {"n": "2"}),
                NewRecipient(upload.campaign_id, upload.id, 3, "+919876500002", {"n": "3"}),
            ]
        )
    assert sorted(Recipient.objects.values_list("phone", "row", "fields")) == [
        ("+919876500001", 7, {"n": "1"}),
        ("+919876500002", 3, {"n": "3"}),
    ]


def test_existing_numbers_are_found_with_their_upload_and_row(upload):
    recipients_insert(
        [
            NewRecipient(upload.campaign_id, upload.id, 4, f"+91987650{i:04d}", {})
            for i in range(3000)
        ]
    )
    found = recipients_existing(
        campaign_id=upload.campaign_id, phones=["+919876500005", "+919999999999"]
    )
    assert found == {"+919876500005": (upload.id, 4)}


def test_numbers_are_looked_up_one_by_one_whatever_the_statistics_say(upload):
    # Statistics taken while the campaign was small; then an upload's first chunks land.
    # Reading every recipient of the campaign for each chunk made a big import's cost grow
    # with the square of its size.
    def numbers(start: int, count: int) -> list[NewRecipient]:
        return [
            NewRecipient(upload.campaign_id, upload.id, n, f"+91987{n:07d}", {})
            for n in range(start, start + count)
        ]

    recipients_insert(numbers(0, 20))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Recipient._meta.db_table}")
    recipients_insert(numbers(20, 20_000))
    phones = [row.phone for row in numbers(19_000, 2_000)]

    with CaptureQueriesContext(connection) as queries:
        found = recipients_existing(campaign_id=upload.campaign_id, phones=phones)

    assert len(found) == 1_020  # 19,000 to 20,019 are in the campaign
    for lookup in [q["sql"] for q in queries.captured_queries]:
        assert _index_conditions(lookup) and all(
            "phone" in condition for condition in _index_conditions(lookup)
        ), lookup[:200]


def _index_conditions(sql: str) -> list[str]:
    """What the planner would look up in an index for this statement."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"EXPLAIN {sql}")
            return re.findall(r"Index Cond: (.*)", "\n".join(row[0] for row in cursor))
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return re.findall(r"INDEX \w+ (\(.*\))", "\n".join(str(row[-1]) for row in cursor))
