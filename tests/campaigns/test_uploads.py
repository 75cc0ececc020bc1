from __future__ import annotations

import pytest

from campaigns import services
from campaigns.csv_reader import CsvError
from campaigns.models import Recipient, Upload
from providers.models import OptOut
from tests.factories import csv_file, make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(generic_provider):
    return make_campaign(generic_provider)


def errors_of(upload: Upload) -> list[tuple[int, str]]:
    return [(e.row, e.error) for e in upload.errors.all()]


def test_valid_rows_become_recipients_in_e164(campaign):
    upload = services.upload_create(
        campaign=campaign, file=csv_file("mobile,first_name\n98765 43210,Asha\n+14155550123,Bo\n")
    )
    assert (upload.status, upload.rows_total, upload.rows_accepted) == ("done", 2, 2)
    assert sorted(Recipient.objects.values_list("phone", flat=True)) == [
        "+14155550123",
        "+919876543210",
    ]
    assert Recipient.objects.get(phone="+919876543210").fields["first_name"] == "Asha"


def test_invalid_duplicate_and_opted_out_rows_are_reported_by_row(campaign):
    OptOut.objects.create(phone="+919876500003")
    data = (
        "phone,name\n9876500001,A\nnot-a-number,B\n9876500001,C\n"
        "9876500003,D\n12345,E\n9876500004,F\n"
    )
    upload = services.upload_create(campaign=campaign, file=csv_file(data))
    assert (upload.rows_total, upload.rows_accepted, upload.rows_rejected) == (6, 2, 4)
    assert errors_of(upload) == [
        (3, "'not-a-number' is not a phone number."),
        (4, "Duplicate of row 2."),
        (5, "Opted out (replied STOP)."),
        (6, "'12345' is not a valid phone number."),
    ]


def test_duplicates_across_uploads_are_rejected(campaign):
    services.upload_create(campaign=campaign, file=csv_file("phone\n9876500001\n", "first.csv"))
    second = services.upload_create(
        campaign=campaign, file=csv_file("phone\n+919876500001\n9876500002\n")
    )
    assert second.rows_accepted == 1
    assert errors_of(second) == [(2, "Already in this campaign (from first.csv).")]


def test_the_default_country_reads_national_numbers(campaign):
    upload = services.upload_create(
        campaign=campaign, file=csv_file("phone\n(415) 555-0123\n"), default_country="US"
    )
    assert upload.rows_accepted == 1
    assert Recipient.objects.get().phone == "+14155550123"


def test_a_file_over_the_limit_is_refused_before_parsing(campaign, settings):
    settings.SMSGATEWAY_MAX_UPLOAD_BYTES = 10
    with pytest.raises(CsvError, match="limit"):
        services.upload_create(campaign=campaign, file=csv_file("phone\n9876543210\n"))
    assert not Upload.objects.exists()


def test_a_file_without_phone_column_is_refused(campaign):
    with pytest.raises(CsvError, match="No phone column"):
        services.upload_create(campaign=campaign, file=csv_file("name\nAsha\n"))


def test_a_large_file_is_imported_in_the_background(
    campaign, settings, django_capture_on_commit_callbacks
):
    settings.SMSGATEWAY_INLINE_IMPORT_BYTES = 5
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        upload = services.upload_create(campaign=campaign, file=csv_file("phone\n9876543210\n"))
    assert upload.status == "pending" and len(callbacks) == 1
    services.upload_import(upload_id=upload.id)
    upload.refresh_from_db()
    assert (upload.status, upload.rows_accepted, upload.progress) == ("done", 1, 100)


def test_launch_names_the_rows_whose_text_fails(generic_provider):
    campaign = make_campaign(
        generic_provider,
        message="Dear {{name}}, your OTP is {{otp}}",
        dlt_template="Dear {#var#}, your OTP is {#var#}",
    )
    services.upload_create(
        campaign=campaign,
        file=csv_file(
            "phone,name,otp\n9876500001,Asha,1\n9876500002,,2\n9876500003," + "x" * 31 + ",3\n"
        ),
    )
    problems = services.launch_problems(campaign)
    assert [(p.row, p.error.split(" ")[0]) for p in problems] == [(3, "No"), (4, "variable")]
    with pytest.raises(services.LaunchRefused) as refused:
        services.campaign_launch(campaign=campaign)
    assert refused.value.reasons[0].startswith("Row 3 (+919876500002): No value for {{name}}")
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_a_campaign_without_recipients_cannot_launch(campaign):
    with pytest.raises(services.LaunchRefused, match="Upload at least one list"):
        services.campaign_launch(campaign=campaign)


def test_a_sinch_campaign_fills_sender_and_entity_from_its_own_fields(sinch_provider):
    campaign = make_campaign(sinch_provider, entity_id="1701", variables={})
    assert services.campaign_errors(campaign) == {
        "variables": ["The provider needs a value for $$AppID."]
    }
    campaign.variables = {"AppID": "acme"}
    assert services.campaign_errors(campaign) == {}


def test_sender_id_rules_apply_to_indian_campaigns(generic_provider):
    campaign = make_campaign(generic_provider, kind="promotional", sender_id="ACMEIN")
    assert "6 digits" in services.campaign_errors(campaign)["sender_id"][0]
    campaign.kind = "transactional"
    assert "sender_id" not in services.campaign_errors(campaign)


def test_a_background_import_that_finds_a_broken_row_keeps_nothing(campaign, settings):
    settings.SMSGATEWAY_INLINE_IMPORT_BYTES = 5
    data = "phone\n" + "".join(f"98765{i:05d}\n" for i in range(3000)) + '"open\n9876500001\n'
    upload = services.upload_create(campaign=campaign, file=csv_file(data))
    services.upload_import(upload_id=upload.id)
    upload.refresh_from_db()
    assert upload.status == "failed"
    assert "Row 3002: a quote opens here" in upload.error
    assert (upload.rows_accepted, upload.recipients.count()) == (0, 0)


def test_a_number_repeated_in_a_later_chunk_is_a_duplicate_of_its_first_row(campaign, monkeypatch):
    monkeypatch.setattr(services, "IMPORT_CHUNK", 2)
    OptOut.objects.create(phone="+919876500004")
    data = "phone,name\n9876500001,A\n9876500002,B\n9876500003,C\n+91 98765 00001,D\n9876500004,E\n"
    upload = services.upload_create(campaign=campaign, file=csv_file(data))
    assert (upload.rows_total, upload.rows_accepted, upload.rows_rejected) == (5, 3, 2)
    assert errors_of(upload) == [(5, "Duplicate of row 2."), (6, "Opted out (replied STOP).")]
    assert Recipient.objects.get(phone="+919876500001").fields == {
        "phone": "9876500001",
        "name": "A",
    }


def test_every_field_is_kept_as_text_for_personalisation(campaign):
    data = 'phone,first_name,note\n9876500001,Zoë,"says ""hi"", \\\\ and {{x}}"\n'
    services.upload_create(campaign=campaign, file=csv_file(data))
    recipient = Recipient.objects.get()
    assert recipient.fields == {
        "phone": "9876500001",
        "first_name": "Zoë",
        "note": 'says "hi", \\\\ and {{x}}',
    }
    assert (recipient.row, recipient.upload.original_name) == (2, "list.csv")
