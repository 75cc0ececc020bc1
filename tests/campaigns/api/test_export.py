"""The per-recipient results download."""

from __future__ import annotations

import pytest
from django.http import StreamingHttpResponse

from campaigns import services
from campaigns.dispatch import campaign_prepare
from providers.models import Message
from tests.campaigns.api.conftest import detail_url, read_csv
from tests.factories import csv_file

pytestmark = pytest.mark.django_db

LIST = (
    "phone,first_name,note\n"
    "+919876500001,Asha,=cmd()\n"
    "9876500002,Bo,+91 spoof\n"
    "+14155550123,Cy,-5\n"
)


@pytest.fixture
def uploaded(draft):
    services.upload_create(campaign=draft, file=csv_file(LIST))
    return draft


def test_the_export_is_a_csv_attachment_with_one_row_per_recipient(api, uploaded):
    response = api.get(f"{detail_url(uploaded)}export/")

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="campaign-{uploaded.pk}-results.csv"'
    )
    rows = read_csv(response)
    assert [r["phone"] for r in rows] == ["+919876500001", "+919876500002", "+14155550123"]
    assert [r["status"] for r in rows] == ["not sent"] * 3
    assert [r["field:first_name"] for r in rows] == ["Asha", "Bo", "Cy"]


def test_formula_like_cells_are_neutralised_and_numbers_kept(api, uploaded):
    rows = read_csv(api.get(f"{detail_url(uploaded)}export/"))

    assert [r["field:note"] for r in rows] == ["'=cmd()", "'+91 spoof", "-5"]


def test_the_export_shows_each_message_outcome(api, uploaded):
    services.campaign_launch(campaign=uploaded)
    campaign_prepare(campaign_id=uploaded.pk)
    Message.objects.filter(to="+919876500002").update(
        status="failed", error_code="DND", error_description="Number on the DND registry"
    )

    rows = read_csv(api.get(f"{detail_url(uploaded)}export/"))

    assert [(r["phone"], r["status"], r["error_code"]) for r in rows] == [
        ("+919876500001", "queued", ""),
        ("+919876500002", "failed", "DND"),
        ("+14155550123", "queued", ""),
    ]
    assert all(r["message_id"] for r in rows)


def test_the_export_answers_an_accept_text_csv_request(api, uploaded):
    response = api.get(f"{detail_url(uploaded)}export/", HTTP_ACCEPT="text/csv")

    assert response.status_code == 200
    assert len(read_csv(response)) == 3


def test_an_unknown_campaign_is_404(api, db):
    assert api.get(f"{detail_url(999999)}export/").status_code == 404
    assert api.get(f"{detail_url(999999)}export/", HTTP_ACCEPT="text/csv").status_code == 404
