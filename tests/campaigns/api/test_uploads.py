"""Uploading recipient lists over the API: counts, rejected rows, refused files, background."""

from __future__ import annotations

import codecs

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.models import Recipient, Upload
from providers.models import OptOut
from tests.campaigns.api.conftest import read_csv, set_status, uploads_url
from tests.factories import csv_file, numbers_csv, run_worker

pytestmark = pytest.mark.django_db

FIELDS = {
    "id",
    "name",
    "status",
    "progress",
    "rows_total",
    "rows_accepted",
    "rows_rejected",
    "error",
    "errors",
    "errors_csv",
    "created_at",
    "finished_at",
}


def upload(api, campaign, text: str, name: str = "list.csv", **fields: str):
    return api.post(
        uploads_url(campaign), {"file": csv_file(text, name), **fields}, format="multipart"
    )


def test_a_small_file_is_imported_at_once(api, draft):
    response = upload(api, draft, "phone,first_name\n98765 43210,Asha\n+14155550123,Bo\n")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == FIELDS
    assert body["name"] == "list.csv"
    assert (body["status"], body["progress"]) == ("done", 100)
    assert (body["rows_total"], body["rows_accepted"], body["rows_rejected"]) == (2, 2, 0)
    assert body["errors"] == [] and body["error"] == ""
    assert response["Location"].endswith(f"{uploads_url(draft)}{body['id']}/")
    assert sorted(Recipient.objects.values_list("phone", flat=True)) == [
        "+14155550123",
        "+919876543210",
    ]


def test_rejected_rows_are_listed_with_their_reasons(api, draft):
    OptOut.objects.create(phone="+919876500003")
    first = upload(api, draft, "phone\n9876500009\n", name="first.csv")
    assert first.status_code == 201
    data = (
        "phone,name\n"
        "9876500001,A\n"  # row 2: accepted
        "not-a-number,B\n"  # row 3
        "9876500001,C\n"  # row 4: duplicate of row 2
        "9876500003,D\n"  # row 5: opted out
        "+919876500009,E\n"  # row 6: already in the campaign from first.csv
        "9876500004,F\n"  # row 7: accepted
    )

    response = upload(api, draft, data)

    assert response.status_code == 201
    body = response.json()
    assert (body["rows_total"], body["rows_accepted"], body["rows_rejected"]) == (6, 2, 4)
    assert body["errors"] == [
        {"row": 3, "phone": "not-a-number", "error": "'not-a-number' is not a phone number."},
        {"row": 4, "phone": "9876500001", "error": "Duplicate of row 2."},
        {"row": 5, "phone": "9876500003", "error": "Opted out (replied STOP)."},
        {"row": 6, "phone": "+919876500009", "error": "Already in this campaign (from first.csv)."},
    ]


def test_the_phone_column_and_country_can_be_chosen(api, draft):
    response = upload(
        api, draft, "name,cell\nBo,(415) 555-0123\n", phone_column="cell", default_country="us"
    )

    assert response.status_code == 201, response.json()
    assert Recipient.objects.get().phone == "+14155550123"


def test_only_the_first_100_errors_are_shown_and_the_csv_has_all(api, draft):
    response = upload(api, draft, "phone\n" + "12345\n" * 150)

    body = response.json()
    assert body["rows_rejected"] == 150
    assert len(body["errors"]) == 100
    assert [e["row"] for e in body["errors"]] == list(range(2, 102))
    download = api.get(body["errors_csv"])
    assert download.status_code == 200
    assert len(read_csv(download)) == 150


def test_the_errors_csv_lists_rejected_rows_with_safe_cells(api, draft):
    body = upload(api, draft, "phone\n=cmd()\n9876500001\n@SUM(A1)\n").json()

    response = api.get(body["errors_csv"])

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    rows = read_csv(response)
    assert [(r["row"], r["phone"]) for r in rows] == [("2", "'=cmd()"), ("4", "'@SUM(A1)")]
    assert rows[0]["error"] == "'=cmd()' is not a phone number."


def test_the_errors_csv_answers_an_accept_text_csv_request(api, draft):
    body = upload(api, draft, "phone\n12345\n").json()

    assert api.get(body["errors_csv"], HTTP_ACCEPT="text/csv").status_code == 200


# ---------------------------------------------------------------- refused files


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not a CSV text file"),
        (codecs.BOM_UTF16_LE + "phone\n9876543210\n".encode("utf-16-le"), "UTF-16"),
        (b"", "file is empty"),
        (b"\n\n", "The file is empty"),
        (b"name,city\nAsha,Pune\n", "No phone column"),
        (b"phone,,name\n9876543210,x,Asha\n", "needs a name"),
    ],
    ids=["binary", "utf-16", "empty", "blank-lines", "no-phone-column", "unnamed-column"],
)
def test_a_file_that_cannot_be_read_is_refused_with_the_reason(api, draft, content, reason):
    file = SimpleUploadedFile("list.csv", content, content_type="text/csv")

    response = api.post(uploads_url(draft), {"file": file}, format="multipart")

    assert response.status_code == 400
    assert list(response.json()) == ["file"]
    assert reason in response.json()["file"][0]
    assert not Upload.objects.exists()


def test_a_missing_phone_column_that_was_named_is_refused(api, draft):
    response = upload(api, draft, "phone\n9876543210\n", phone_column="mobile")

    assert response.status_code == 400
    assert "There is no column 'mobile'" in response.json()["file"][0]


def test_a_file_over_the_size_limit_is_refused(api, draft, settings):
    settings.SMSGATEWAY_MAX_UPLOAD_BYTES = 100

    response = upload(api, draft, numbers_csv(20))

    assert response.status_code == 400
    assert "the limit is" in response.json()["file"][0]
    assert not Upload.objects.exists()


def test_a_request_without_a_file_is_refused(api, draft):
    response = api.post(uploads_url(draft), {"phone_column": "phone"}, format="multipart")

    assert response.status_code == 400
    assert response.json()["file"] == ["No file was submitted."]


def test_a_json_body_is_refused_as_an_unsupported_media_type(api, draft):
    response = api.post(uploads_url(draft), {"file": "phone\n9876543210\n"}, format="json")

    assert response.status_code == 415


def test_an_unknown_default_country_is_a_field_error(api, draft):
    response = upload(api, draft, "phone\n9876543210\n", default_country="XX")

    assert response.status_code == 400
    assert "default_country" in response.json()


@pytest.mark.parametrize("status", ["scheduled", "running", "paused", "completed", "cancelled"])
def test_a_launched_campaign_takes_no_more_lists(api, draft, status):
    set_status(draft, status)

    response = upload(api, draft, "phone\n9876543210\n")

    assert response.status_code == 409
    assert "Only a draft campaign can be given recipients" in response.json()["detail"]
    assert not Upload.objects.exists()


def test_an_unknown_campaign_is_404(api, db):
    assert upload(api, 999999, "phone\n9876543210\n").status_code == 404
    assert api.get(uploads_url(999999)).status_code == 404


# ---------------------------------------------------------------- list and detail


def test_the_list_and_detail_show_counts_errors_and_progress(api, draft):
    first = upload(api, draft, "phone\n9876500001\n12345\n", name="a.csv").json()
    upload(api, draft, "phone\n9876500002\n", name="b.csv")

    listed = api.get(uploads_url(draft))
    detail = api.get(f"{uploads_url(draft)}{first['id']}/")

    assert listed.status_code == 200
    assert [u["name"] for u in listed.json()["results"]] == ["a.csv", "b.csv"]
    assert listed.json()["results"][0] == detail.json()
    assert detail.json()["progress"] == 100
    assert detail.json()["errors"] == [
        {"row": 3, "phone": "12345", "error": "'12345' is not a valid phone number."}
    ]


def test_the_upload_list_makes_the_same_few_queries_however_many_uploads(
    api, draft, django_assert_max_num_queries
):
    for number in range(8):
        upload(api, draft, f"phone\n98765000{number:02d}\n12345\n")

    # The campaign, the page count, the page and the first errors of every upload.
    with django_assert_max_num_queries(4):
        response = api.get(uploads_url(draft))

    assert len(response.json()["results"]) == 8
    assert all(len(u["errors"]) == 1 for u in response.json()["results"])


@pytest.mark.parametrize("path", ["", "1/", "1/errors.csv"], ids=["list", "detail", "errors"])
def test_a_campaign_number_beyond_any_id_is_404(api, db, path):
    assert api.get(f"{uploads_url(2**63)}{path}").status_code == 404


def test_an_upload_of_another_campaign_is_404(api, draft, generic_provider):
    from tests.factories import make_campaign

    other = make_campaign(generic_provider, name="Other")
    body = upload(api, draft, "phone\n9876500001\n").json()

    assert api.get(f"{uploads_url(other)}{body['id']}/").status_code == 404
    assert api.get(f"{uploads_url(other)}{body['id']}/errors.csv").status_code == 404


# ---------------------------------------------------------------- background import


@pytest.mark.django_db(transaction=True)
def test_a_large_file_is_accepted_then_imported_by_the_worker(api, draft, settings):
    settings.SMSGATEWAY_INLINE_IMPORT_BYTES = 10

    response = upload(api, draft, numbers_csv(50) + "12345,Bad\n")

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert (body["rows_total"], body["progress"]) == (0, 0)
    assert not Recipient.objects.exists()

    run_worker()

    detail = api.get(f"{uploads_url(draft)}{body['id']}/").json()
    assert (detail["status"], detail["progress"]) == ("done", 100)
    assert (detail["rows_total"], detail["rows_accepted"], detail["rows_rejected"]) == (51, 50, 1)
    assert detail["errors"] == [
        {"row": 52, "phone": "12345", "error": "'12345' is not a valid phone number."}
    ]
    assert detail["finished_at"] is not None
    assert Recipient.objects.count() == 50


def test_a_long_file_name_is_kept_for_display(api, draft):
    name = "recipients-" + "x" * 200 + ".csv"

    response = upload(api, draft, "phone\n9876543210\n", name=name)

    assert response.status_code == 201, response.json()
    assert response.json()["name"] == name


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            b'phone,name\n9876543210,Asha\n9876543211,"open\n9876543212,B\n',
            "Row 3: a quote opens here and is never closed",
        ),
        (
            b"phone,note\n9876543210," + b"x" * 1_000_000 + b"\n",
            "Row 2: a field is longer than 10,000 characters",
        ),
    ],
    ids=["unmatched-quote", "1-mb-field"],
)
def test_a_broken_file_is_refused_as_a_whole(api, draft, content, reason):
    file = SimpleUploadedFile("list.csv", content, content_type="text/csv")

    response = api.post(uploads_url(draft), {"file": file}, format="multipart")

    assert response.status_code == 400
    assert reason in response.json()["file"][0]
    assert not Upload.objects.exists()
    assert not draft.recipients.exists()
