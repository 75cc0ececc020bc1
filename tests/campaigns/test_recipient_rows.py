from __future__ import annotations

import pytest
from django.db import transaction

from campaigns.models import Recipient, Upload
from campaigns.recipient_rows import NewRecipient, recipients_existing, recipients_insert
from tests.campaigns.conftest import make_campaign

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
