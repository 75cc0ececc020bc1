"""The campaign pages of the dashboard (Engage > Campaigns), through Django's test marketer."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns import selectors, services
from campaigns.models import Campaign, Recipient, Upload
from providers.models import Message, Provider
from tests.cache_clock import let_seconds_pass
from tests.factories import csv_file, field_text, make_campaign, numbers_csv

pytestmark = pytest.mark.django_db
Status = Campaign.Status
JSON = {"HTTP_ACCEPT": "application/json"}


# ---------------------------------------------------------------- helpers


@pytest.fixture
def draft(generic_provider) -> Campaign:
    return make_campaign(generic_provider)


@pytest.fixture
def ready(draft) -> Campaign:
    """A draft with three recipients, ready to launch."""
    services.upload_create(campaign=draft, file=csv_file(numbers_csv(3)))
    return draft


def url(name: str, campaign: Campaign, *args: Any) -> str:
    return reverse(name, args=[campaign.pk, *args])


def set_status(campaign: Campaign, status: str) -> Campaign:
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    campaign.refresh_from_db()
    return campaign


def form_data(via: Provider, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Diwali offer",
        "provider": via.pk,
        "kind": "transactional",
        "sender_id": "ACMEIN",
        "message": "Hi {{first_name|there}}, 20% off today",
        "template_id": "",
        "entity_id": "",
        "dlt_template": "",
        "default_country": "IN",
        "schedule": "now",
        "scheduled_at": "",
        "throttle_per_second": "",
        "throttle_per_5min": "",
    }
    data.update(changes)
    return data


def upload(marketer: Client, campaign: Campaign, content: bytes, name: str = "list.csv", **extra):
    file = SimpleUploadedFile(name, content, content_type="text/csv")
    return marketer.post(
        url("campaign_upload", campaign), {"file": file, "default_country": "IN"}, **extra
    )


def read_csv(response: Any) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def message(campaign: Campaign, status: str, *, code: str = "", minutes_ago: int = 0) -> Message:
    now = timezone.now()
    finished = status in ("delivered", "failed")
    return Message.objects.create(
        provider=campaign.provider,
        to="+919876543210",
        body="hi",
        status=status,
        error_code=code,
        campaign_ref=str(campaign.pk),
        submitted_at=now if status != "queued" else None,
        completed_at=now - timedelta(minutes=minutes_ago) if finished else None,
    )


# ---------------------------------------------------------------- access


@pytest.mark.parametrize(
    "name, args",
    [
        ("campaign_list", []),
        ("campaign_create", []),
        ("campaign_detail", [1]),
        ("campaign_edit", [1]),
        ("campaign_progress", [1]),
        ("campaign_export", [1]),
        ("campaign_upload_status", [1, 1]),
        ("campaign_upload_errors", [1, 1]),
    ],
)
def test_every_page_sends_anonymous_visitors_to_the_login_page(db, name, args):
    page = reverse(name, args=args)
    response = Client().get(page)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={page}"


@pytest.mark.parametrize(
    "name", ["campaign_launch", "campaign_pause", "campaign_resume", "campaign_cancel"]
)
def test_actions_need_a_login_and_change_nothing(draft, name):
    response = Client().post(url(name, draft))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT


def test_uploads_and_previews_need_a_login(draft):
    assert upload(Client(), draft, b"phone\n9876543210\n").status_code == 302
    assert (
        Client().post(url("campaign_preview", draft), "{}", "application/json").status_code == 302
    )
    assert not Upload.objects.exists()


def test_the_sidebar_links_to_the_campaigns(marketer):
    page = marketer.get(reverse("provider_list")).content.decode()
    assert f'href="{reverse("campaign_list")}">Campaigns</a>' in page
    page = marketer.get(reverse("campaign_list")).content.decode()
    assert (
        f'class="nav__link is-active" aria-current="page" href="{reverse("campaign_list")}"' in page
    )


# ---------------------------------------------------------------- list


def test_without_a_provider_the_empty_list_asks_for_one_first(marketer):
    page = marketer.get(reverse("campaign_list")).content.decode()
    assert "No campaign yet" in page
    assert "Set up an SMS provider" in page
    page = marketer.get(reverse("campaign_create")).content.decode()
    assert "there is none yet" in page


def test_the_empty_list_offers_a_new_campaign(marketer, generic_provider):
    page = marketer.get(reverse("campaign_list")).content.decode()
    assert "No campaign yet" in page
    assert f'href="{reverse("campaign_create")}"' in page


def test_the_list_shows_each_campaign_with_its_counts(marketer, ready):
    services.campaign_launch(campaign=ready)
    message(ready, "delivered")
    message(ready, "delivered")
    message(ready, "delivered")
    message(ready, "failed", code="901")
    response = marketer.get(reverse("campaign_list"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Diwali offer" in page and "Generic" in page
    assert "Transactional / service" in page
    assert 'class="badge badge--running"' in page
    row = page.split(f'data-campaign-row="{ready.pk}"')[1].split("</tr>")[0]
    cells = [cell.split(">", 1)[1] for cell in row.split("<td")[1:]]
    assert cells[4].startswith("3<")  # recipients
    assert '>3</span> / <span class="text-danger">1<' in cells[5]
    assert cells[6].startswith("75.0%")


def test_the_list_costs_the_same_queries_for_one_or_many_campaigns(marketer, generic_provider):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert marketer.get(reverse("campaign_list")).status_code == 200
        return len(captured)

    make_campaign(generic_provider)
    one = queries_for_list()
    for n in range(5):
        campaign = make_campaign(generic_provider, name=f"Campaign {n}")
        services.upload_create(campaign=campaign, file=csv_file(numbers_csv(2, start=10 * n)))
    assert queries_for_list() == one


# ---------------------------------------------------------------- create


def test_the_new_campaign_form_asks_for_the_providers_custom_values(
    marketer, generic_provider, sinch_provider
):
    response = marketer.get(reverse("campaign_create"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="var_AppID"' in page
    # $$SenderID and $$EntityID come from the sender id and entity id fields.
    assert 'name="var_SenderID"' not in page and 'name="var_EntityID"' not in page
    assert 'name="sender_id"' in page and 'name="entity_id"' in page
    assert json.loads(
        page.split('id="provider-placeholders" type="application/json">')[1].split("</script>")[0]
    ) == {str(generic_provider.pk): [], str(sinch_provider.pk): ["AppID"]}
    assert 'option value="IN" selected' in page


def test_a_valid_campaign_is_saved_and_opens_its_page(marketer, user, sinch_provider):
    response = marketer.post(
        reverse("campaign_create"),
        form_data(
            sinch_provider,
            message="Hi {{name}},\r\nyour order shipped.",
            entity_id="1701158123540939524",
            template_id="1107161234567890123",
            var_AppID="acme-app",
            throttle_per_second="10",
        ),
    )
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == campaign.get_absolute_url()
    assert campaign.provider == sinch_provider
    assert campaign.status == Status.DRAFT
    assert campaign.message == "Hi {{name}},\nyour order shipped."
    assert campaign.variables == {"AppID": "acme-app"}
    assert services.campaign_variables(campaign)["SenderID"] == "ACMEIN"
    assert campaign.throttle_per_second == 10 and campaign.throttle_per_5min is None
    assert campaign.scheduled_at is None
    assert campaign.created_by == user


def test_a_promotional_campaign_with_a_letters_sender_id_is_not_saved(marketer, generic_provider):
    response = marketer.post(
        reverse("campaign_create"), form_data(generic_provider, kind="promotional")
    )
    assert response.status_code == 400
    assert "Nothing was saved." in response.content.decode()
    assert "A promotional sender id is 6 digits." in field_text(response, "sender_id")
    assert not Campaign.objects.exists()


def test_missing_provider_values_are_shown_beside_their_fields(marketer, sinch_provider):
    response = marketer.post(
        reverse("campaign_create"), form_data(sinch_provider, sender_id="", var_AppID="")
    )
    assert response.status_code == 400
    assert "Enter a value for $$AppID." in field_text(response, "var_AppID")
    assert "Sinch India sends $$SenderID: enter the sender id." in field_text(response, "sender_id")
    assert "$$EntityID: enter the principal entity id." in field_text(response, "entity_id")
    assert not Campaign.objects.exists()


def test_every_invalid_field_says_why_and_the_input_is_kept(marketer, generic_provider):
    response = marketer.post(
        reverse("campaign_create"),
        form_data(
            generic_provider,
            name="",
            message="",
            throttle_per_second="0",
            dlt_template="Your OTP is 1234",
        ),
    )
    assert response.status_code == 400
    assert "Give the campaign a name." in field_text(response, "name")
    assert "Write the message." in field_text(response, "message")
    assert "Must be at least 1" in field_text(response, "throttle_per_second")
    assert 'value="ACMEIN"' in response.content.decode()
    assert not Campaign.objects.exists()


def test_without_a_provider_nothing_is_saved(marketer, generic_provider):
    response = marketer.post(reverse("campaign_create"), form_data(generic_provider, provider=""))
    assert response.status_code == 400
    assert "Choose the provider that sends the campaign." in field_text(response, "provider")
    assert not Campaign.objects.exists()


def test_a_scheduled_campaign_needs_a_future_time(marketer, generic_provider):
    response = marketer.post(
        reverse("campaign_create"), form_data(generic_provider, schedule="later")
    )
    assert "Pick the date and time to send." in field_text(response, "scheduled_at")
    past = timezone.localtime() - timedelta(hours=1)
    response = marketer.post(
        reverse("campaign_create"),
        form_data(generic_provider, schedule="later", scheduled_at=f"{past:%Y-%m-%dT%H:%M}"),
    )
    assert "Pick a time in the future." in field_text(response, "scheduled_at")
    assert not Campaign.objects.exists()

    later = timezone.localtime() + timedelta(days=1)
    response = marketer.post(
        reverse("campaign_create"),
        form_data(generic_provider, schedule="later", scheduled_at=f"{later:%Y-%m-%dT%H:%M}"),
    )
    assert response.status_code == 302
    saved = timezone.localtime(Campaign.objects.get().scheduled_at)
    assert saved.replace(second=0, microsecond=0) == later.replace(second=0, microsecond=0)


# ---------------------------------------------------------------- edit


def test_the_edit_form_shows_the_stored_values(marketer, sinch_provider):
    campaign = make_campaign(sinch_provider, entity_id="1701", variables={"AppID": "acme"})
    page = marketer.get(url("campaign_edit", campaign)).content.decode()
    assert 'value="Diwali offer"' in page
    assert 'value="acme"' in page and 'value="1701"' in page
    assert f'<option value="{sinch_provider.pk}" selected>' in page


def test_an_edit_is_saved(marketer, draft):
    response = marketer.post(
        url("campaign_edit", draft), form_data(draft.provider, name="Holi offer")
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.name == "Holi offer"


def test_a_rejected_edit_changes_nothing(marketer, draft):
    response = marketer.post(
        url("campaign_edit", draft), form_data(draft.provider, name="Holi", kind="promotional")
    )
    assert response.status_code == 400
    draft.refresh_from_db()
    assert (draft.name, draft.kind) == ("Diwali offer", "transactional")


def test_the_edit_form_previews_once_recipients_exist(marketer, draft):
    page = marketer.get(url("campaign_edit", draft)).content.decode()
    assert "data-preview-url" not in page
    services.upload_create(campaign=draft, file=csv_file(numbers_csv(1)))
    page = marketer.get(url("campaign_edit", draft)).content.decode()
    assert f'data-preview-url="{url("campaign_preview", draft)}"' in page


@pytest.mark.parametrize("status", [Status.RUNNING, Status.COMPLETED, Status.CANCELLED])
def test_only_a_draft_can_be_edited(marketer, draft, status):
    set_status(draft, status)
    response = marketer.get(url("campaign_edit", draft), follow=True)
    assert response.redirect_chain == [(draft.get_absolute_url(), 302)]
    assert "Only a draft campaign can be edited" in response.content.decode()

    response = marketer.post(url("campaign_edit", draft), form_data(draft.provider, name="New"))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.name == "Diwali offer"


# ---------------------------------------------------------------- the campaign page


def test_a_draft_page_offers_uploads_a_preview_and_launch(marketer, ready):
    response = marketer.get(ready.get_absolute_url())
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="badge badge--draft"' in page
    assert f'action="{url("campaign_upload", ready)}"' in page
    assert f'action="{url("campaign_launch", ready)}"' in page
    assert "Hi Person 0, 20% off today" in page  # the preview, personalised
    assert "list.csv imported" in page
    assert "data-progress-url" not in page
    assert url("campaign_pause", ready) not in page


def test_a_running_campaign_offers_pause_cancel_progress_and_export(marketer, ready):
    services.campaign_launch(campaign=ready)
    page = marketer.get(ready.get_absolute_url()).content.decode()
    assert 'class="badge badge--running"' in page
    assert url("campaign_pause", ready) in page and url("campaign_cancel", ready) in page
    assert url("campaign_resume", ready) not in page
    assert f'data-progress-url="{url("campaign_progress", ready)}"' in page
    assert f'href="{url("campaign_export", ready)}"' in page
    assert 'id="campaign-progress"' in page
    assert url("campaign_upload", ready) not in page
    assert url("campaign_edit", ready) not in page


def test_a_paused_campaign_offers_resume(marketer, ready):
    services.campaign_launch(campaign=ready)
    services.campaign_pause(campaign=ready)
    page = marketer.get(ready.get_absolute_url()).content.decode()
    assert url("campaign_resume", ready) in page and url("campaign_pause", ready) not in page
    assert "data-confirm=" in page  # cancelling asks first


def test_an_unknown_campaign_is_404(marketer):
    assert marketer.get(reverse("campaign_detail", args=[999])).status_code == 404


# ---------------------------------------------------------------- uploads


def test_a_good_csv_is_imported_and_counted(marketer, draft):
    content = b"phone,first_name\n9876500001,Asha\nnot-a-number,B\n9876500001,C\n"
    response = upload(marketer, draft, content, **JSON)
    assert response.status_code == 201
    data = response.json()
    assert (data["status"], data["rows_total"], data["rows_accepted"], data["rows_rejected"]) == (
        "done",
        3,
        1,
        2,
    )
    assert data["errors"] == [
        {"row": 3, "phone": "not-a-number", "error": "'not-a-number' is not a phone number."},
        {"row": 4, "phone": "9876500001", "error": "Duplicate of row 2."},
    ]
    assert data["errors_csv"] == url("campaign_upload_errors", draft, data["id"])
    assert Recipient.objects.get().phone == "+919876500001"


def test_without_the_script_an_upload_redirects_to_the_page_showing_its_result(marketer, draft):
    content = b"phone\n9876500001\n12345\n"
    response = upload(marketer, draft, content, follow=True)
    assert response.redirect_chain == [(draft.get_absolute_url() + "#recipients", 302)]
    page = response.content.decode()
    assert "list.csv: 1 of 2 rows imported." in page
    assert 'data-rows="rejected">1<' in page
    assert "&#x27;12345&#x27; is not a valid phone number." in page
    upload_id = Upload.objects.get().pk
    assert url("campaign_upload_errors", draft, upload_id) in page
    assert "Download rejected rows (CSV)" in page


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "This is not a CSV text file."),
        (b"name,city\nAsha,Pune\n", "No phone column"),
        ("phone\n9876500001\n".encode("utf-16"), "The file is UTF-16"),
        (b"", "The file is empty"),
    ],
)
def test_a_file_that_cannot_be_read_says_why(marketer, draft, content, reason):
    response = upload(marketer, draft, content, **JSON)
    assert response.status_code == 400
    assert reason in response.json()["errors"]["file"][0]

    response = upload(marketer, draft, content)
    assert response.status_code == 400
    assert reason in field_text(response, "file")
    assert not Upload.objects.exists() and not Recipient.objects.exists()


def test_a_named_phone_column_that_does_not_exist_is_refused(marketer, draft):
    file = SimpleUploadedFile("list.csv", b"mobile\n9876500001\n")
    response = marketer.post(
        url("campaign_upload", draft),
        {"file": file, "phone_column": "cell", "default_country": "IN"},
        **JSON,
    )
    assert response.status_code == 400
    assert "There is no column 'cell'" in response.json()["errors"]["file"][0]


def test_recipients_cannot_be_added_after_launch(marketer, ready):
    services.campaign_launch(campaign=ready)
    response = upload(marketer, ready, b"phone\n9876511111\n", **JSON)
    assert response.status_code == 409
    assert "Only a draft campaign" in response.json()["errors"]["__all__"][0]

    response = upload(marketer, ready, b"phone\n9876511111\n", follow=True)
    assert response.redirect_chain == [(ready.get_absolute_url(), 302)]
    assert "Only a draft campaign can be given recipients" in response.content.decode()
    assert Upload.objects.count() == 1


def test_a_large_file_is_imported_in_the_background_and_its_progress_polled(
    marketer, draft, settings
):
    settings.SMSGATEWAY_INLINE_IMPORT_BYTES = 5
    response = upload(marketer, draft, numbers_csv(4).encode(), **JSON)
    assert response.status_code == 202
    data = response.json()
    assert (data["status"], data["finished"], data["progress"]) == ("pending", False, 0)

    page = marketer.get(draft.get_absolute_url()).content.decode()
    assert f'data-status-url="{data["status_url"]}"' in page
    assert "Importing list.csv" in page

    services.upload_import(upload_id=data["id"])
    status = marketer.get(data["status_url"]).json()
    assert (status["status"], status["finished"], status["progress"]) == ("done", True, 100)
    assert (status["rows_total"], status["rows_accepted"]) == (4, 4)
    assert status["bytes_read"] == status["size"] > 0


def test_the_rejected_rows_download_as_csv(marketer, draft):
    upload(marketer, draft, b"phone\n9876500001\n=cmd()\n9876500001\n")
    done = Upload.objects.get()
    response = marketer.get(url("campaign_upload_errors", draft, done.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    assert read_csv(response) == [
        {"row": "3", "phone": "'=cmd()", "error": "'=cmd()' is not a phone number."},
        {"row": "4", "phone": "9876500001", "error": "Duplicate of row 2."},
    ]


def test_another_campaigns_upload_is_404(marketer, draft, generic_provider):
    upload(marketer, draft, b"phone\n9876500001\n")
    other = make_campaign(generic_provider, name="Other")
    done = Upload.objects.get()
    assert marketer.get(url("campaign_upload_errors", other, done.pk)).status_code == 404
    assert marketer.get(url("campaign_upload_status", other, done.pk)).status_code == 404


# ---------------------------------------------------------------- preview


def test_the_preview_personalises_the_first_rows_and_names_their_problems(marketer, draft):
    services.upload_create(
        campaign=draft,
        file=csv_file(
            "phone,name,code\n9876500001,Asha,A1\n9876500002,,B2\n9876500003,Bo,"
            + "x" * 31
            + "\n"
            + "".join(f"98765100{i:02d},P{i},C{i}\n" for i in range(5))
        ),
    )
    response = marketer.post(
        url("campaign_preview", draft),
        json.dumps(
            {
                "message": "Hi {{name}}, code {{code}} 😀",
                "dlt_template": "Hi {#var#}, code {#var#} 😀",
            }
        ),
        "application/json",
    )
    assert response.status_code == 200
    rows = response.json()["rows"]
    assert [row["row"] for row in rows] == [2, 3, 4, 5, 6]
    assert rows[0] == {
        "row": 2,
        "phone": "+919876500001",
        "text": "Hi Asha, code A1 😀",
        "error": "",
        "encoding": "UCS-2",
        "characters": 19,
        "parts": 1,
        "variables": [
            {"tag": "var", "value": "Asha", "ok": True, "error": ""},
            {"tag": "var", "value": "A1", "ok": True, "error": ""},
        ],
    }
    assert rows[1]["error"] == "No value for {{name}} and no default."
    assert rows[2]["error"].startswith("variable 2 {#var#} '")
    assert rows[2]["error"].endswith("' is 31 characters; at most 30 are allowed")


def test_the_preview_wants_a_json_object(marketer, draft):
    response = marketer.post(url("campaign_preview", draft), "[1]", "application/json")
    assert response.status_code == 400
    assert marketer.get(url("campaign_preview", draft)).status_code == 405


# ---------------------------------------------------------------- lifecycle


def test_launch_starts_the_campaign(marketer, ready):
    response = marketer.post(url("campaign_launch", ready), follow=True)
    assert response.redirect_chain == [(ready.get_absolute_url(), 302)]
    assert "Campaign launched" in response.content.decode()
    ready.refresh_from_db()
    assert ready.status == Status.RUNNING


def test_a_campaign_with_a_future_time_is_scheduled_at_launch(marketer, ready):
    Campaign.objects.filter(pk=ready.pk).update(scheduled_at=timezone.now() + timedelta(hours=2))
    response = marketer.post(url("campaign_launch", ready), follow=True)
    assert "Campaign scheduled: sending starts" in response.content.decode()
    ready.refresh_from_db()
    assert ready.status == Status.SCHEDULED


def test_a_refused_launch_lists_the_rows_that_fail(marketer, draft):
    Campaign.objects.filter(pk=draft.pk).update(message="Dear {{name}}, hello")
    services.upload_create(
        campaign=draft, file=csv_file("phone,name\n9876500001,Asha\n9876500002,\n")
    )
    response = marketer.post(url("campaign_launch", draft))
    assert response.status_code == 400
    page = response.content.decode()
    assert "The campaign was not launched." in page
    assert "<li>Row 3 (+919876500002): No value for {{name}} and no default.</li>" in page
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT


def test_a_launch_without_recipients_says_so(marketer, draft):
    response = marketer.post(url("campaign_launch", draft))
    assert response.status_code == 400
    assert "Upload at least one list of recipients first." in response.content.decode()


def test_launching_twice_says_it_is_not_allowed(marketer, ready):
    services.campaign_launch(campaign=ready)
    response = marketer.post(url("campaign_launch", ready), follow=True)
    assert "A running campaign cannot be launched." in response.content.decode()


def test_pause_resume_and_cancel(marketer, ready):
    services.campaign_launch(campaign=ready)

    response = marketer.post(url("campaign_pause", ready), follow=True)
    assert "Campaign paused" in response.content.decode()
    assert Campaign.objects.get().status == Status.PAUSED

    marketer.post(url("campaign_resume", ready))
    assert Campaign.objects.get().status == Status.RUNNING

    marketer.post(url("campaign_cancel", ready))
    assert Campaign.objects.get().status == Status.CANCELLED


def test_an_action_the_status_does_not_allow_is_explained(marketer, draft):
    response = marketer.post(url("campaign_resume", draft), follow=True)
    assert response.redirect_chain == [(draft.get_absolute_url(), 302)]
    assert "A draft campaign cannot be resumed." in response.content.decode()
    assert Campaign.objects.get().status == Status.DRAFT


def test_actions_must_be_posted(marketer, ready):
    assert marketer.get(url("campaign_launch", ready)).status_code == 405
    assert Campaign.objects.get().status == Status.DRAFT


# ---------------------------------------------------------------- progress and export


def test_the_progress_counts_every_outcome(marketer, ready):
    services.campaign_launch(campaign=ready)
    for status in ("delivered", "delivered", "failed", "submitted", "queued"):
        message(ready, status, code="901" if status == "failed" else "")
    message(ready, "failed", code="cancelled", minutes_ago=3)
    Recipient.objects.create(
        campaign=ready, upload=Upload.objects.get(), row=9, phone="+919876599999"
    )
    Recipient.objects.create(
        campaign=ready, upload=Upload.objects.get(), row=10, phone="+919876599998"
    )

    data = marketer.get(url("campaign_progress", ready)).json()

    assert (data["status"], data["terminal"], data["live"]) == ("running", False, True)
    stats = data["stats"]
    assert stats["total"] == 5
    assert {k: stats[k] for k in ("created", "sent", "submitted", "delivered", "failed")} == {
        "created": 6,
        "sent": 5,
        "submitted": 1,
        "delivered": 2,
        "failed": 2,
    }
    assert stats["pending"] == 1 and stats["delivery_rate"] == 50.0
    assert [(s["key"], s["count"], s["x"], s["width"]) for s in data["segments"]] == [
        ("delivered", 2, 0.0, 33.33),
        ("failed", 2, 33.33, 33.33),
        ("submitted", 1, 66.66, 16.67),
        ("waiting", 1, 83.33, 16.67),
    ]
    assert data["failures"] == [
        {"code": "901", "meaning": "DND failure", "count": 1},
        {
            "code": "cancelled",
            "meaning": "Campaign cancelled before this message was sent",
            "count": 1,
        },
    ]
    assert sum(row["delivered"] for row in data["timeline"]) == 2
    assert len(data["timeline"]) == 2
    assert data["send_rate"] == pytest.approx(5 / 60)


def test_a_finished_campaign_is_followed_only_while_reports_are_due(marketer, ready, monkeypatch):
    set_status(ready, Status.COMPLETED)
    message(ready, "submitted")
    assert marketer.get(url("campaign_progress", ready)).json()["live"] is True
    Message.objects.update(status="delivered")
    # The counts are kept a few seconds between polls.
    let_seconds_pass(monkeypatch, selectors.COUNTS_SECONDS + 1)
    data = marketer.get(url("campaign_progress", ready)).json()
    assert (data["terminal"], data["live"]) == (True, False)


def test_the_results_download_as_csv(marketer, ready):
    services.campaign_launch(campaign=ready)
    response = marketer.get(url("campaign_export", ready))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="campaign-{ready.pk}-results.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    assert [row["phone"] for row in rows] == ["+919800000000", "+919800000001", "+919800000002"]
    assert rows[0]["status"] == "not sent" and rows[0]["field:first_name"] == "Person 0"
