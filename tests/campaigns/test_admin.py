"""The operators' admin for campaigns, uploads and recipients: read-only, actions, few queries."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from campaigns import services
from campaigns.dispatch import campaign_prepare
from campaigns.models import Campaign, Recipient, Upload
from providers.models import Message
from tests.campaigns.api.conftest import read_csv, set_status
from tests.factories import csv_file, make_campaign, numbers_csv

pytestmark = pytest.mark.django_db

# The secrets the conftest providers are created with.
SECRETS = ("acme-user", "sinch-pass-Xy9", "header-secret-value")


def admin_url(model: type, view: str, *args: Any) -> str:
    return reverse(f"admin:campaigns_{model._meta.model_name}_{view}", args=args)


def run_action(client: Any, action: str, *campaigns: Campaign) -> list[str]:
    response = client.post(
        admin_url(Campaign, "changelist"),
        {"action": action, "_selected_action": [c.pk for c in campaigns]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def campaign(sinch_provider) -> Campaign:
    """A launched campaign with messages, and an upload with rejected rows."""
    campaign = make_campaign(
        sinch_provider, entity_id="1701158123540939524", variables={"AppID": "acme"}
    )
    services.upload_create(
        campaign=campaign, file=csv_file(numbers_csv(3) + "=cmd(),X\n12345,Y\n", "march.csv")
    )
    services.campaign_launch(campaign=campaign)
    campaign_prepare(campaign_id=campaign.pk)
    Message.objects.filter(to="+919800000000").update(status="delivered")
    Message.objects.filter(to="+919800000001").update(status="failed")
    campaign.refresh_from_db()
    return campaign


# ---------------------------------------------------------------- pages


@pytest.mark.parametrize("model", [Campaign, Upload, Recipient])
def test_every_changelist_loads_without_secrets(admin_client, campaign, model):
    response = admin_client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    for secret in SECRETS:
        assert secret not in response.content.decode()


@pytest.mark.parametrize("model", [Campaign, Upload, Recipient])
def test_every_change_page_loads_read_only(admin_client, campaign, model):
    record = model.objects.first()

    response = admin_client.get(admin_url(model, "change", record.pk))

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="_save"' not in content
    assert 'name="status"' not in content
    for secret in SECRETS:
        assert secret not in content


def test_the_campaign_list_shows_recipients_and_outcomes(admin_client, campaign):
    response = admin_client.get(admin_url(Campaign, "changelist"))

    row = response.context["cl"].result_list[0]
    assert (row.recipients_count, row.delivered_count, row.failed_count) == (3, 1, 1)
    assert "Sinch India" in response.content.decode()


def test_the_campaign_page_shows_its_statistics(admin_client, campaign):
    response = admin_client.get(admin_url(Campaign, "change", campaign.pk))

    assert "3 recipients: 1 queued, 0 sending, 0 submitted, 1 delivered, 1 failed" in (
        response.content.decode()
    )


@pytest.mark.parametrize("model", [Campaign, Upload, Recipient])
def test_nothing_is_added_edited_or_deleted_by_hand(admin_client, campaign, model):
    record = model.objects.first()

    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert (
        admin_client.post(admin_url(model, "delete", record.pk), {"post": "yes"}).status_code == 403
    )
    response = admin_client.post(admin_url(model, "change", record.pk), {"status": "draft"})
    assert response.status_code == 403
    assert model.objects.filter(pk=record.pk).exists()


def test_the_status_cannot_be_changed_from_the_campaign_page(admin_client, campaign):
    admin_client.post(admin_url(Campaign, "change", campaign.pk), {"status": "completed"})

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING


@pytest.mark.parametrize(
    ("model", "most"),
    # Session, user, counts, the page (with its counts as subqueries), and the choices
    # of the provider or campaign filter.
    [(Campaign, 6), (Upload, 5), (Recipient, 5)],
)
def test_a_changelist_makes_the_same_few_queries_however_many_rows(
    admin_client, generic_provider, django_assert_max_num_queries, model, most
):
    for number in range(15):
        campaign = make_campaign(generic_provider, name=f"Campaign {number}")
        services.upload_create(campaign=campaign, file=csv_file(numbers_csv(2, start=2 * number)))

    with django_assert_max_num_queries(most):
        response = admin_client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == (30 if model is Recipient else 15)


# ---------------------------------------------------------------- actions


def test_pause_reports_successes_and_refusals(admin_client, campaign, generic_provider):
    draft = make_campaign(generic_provider, name="Still a draft")

    messages = run_action(admin_client, "pause", campaign, draft)

    campaign.refresh_from_db()
    draft.refresh_from_db()
    assert (campaign.status, draft.status) == ("paused", "draft")
    assert messages == [
        "Paused 1 campaign(s).",
        "1 campaign(s) left as they were: Still a draft: A draft campaign cannot be paused.",
    ]


def test_resume_restarts_a_paused_campaign(admin_client, campaign):
    set_status(campaign, "paused")

    messages = run_action(admin_client, "resume", campaign)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert messages == ["Resumed 1 campaign(s)."]


def test_cancel_fails_the_unsent_messages(admin_client, campaign):
    messages = run_action(admin_client, "cancel", campaign)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    assert Message.objects.filter(error_code="cancelled").count() == 1
    assert messages == ["Cancelled 1 campaign(s)."]


def test_only_refusals_are_reported_when_nothing_changed(admin_client, campaign):
    set_status(campaign, "completed")

    messages = run_action(admin_client, "resume", campaign)

    assert messages == [
        "1 campaign(s) left as they were: Diwali offer: A completed campaign cannot be resumed."
    ]


def test_many_refusals_are_summarised(admin_client, generic_provider):
    drafts = [make_campaign(generic_provider, name=f"Draft {n}") for n in range(12)]

    messages = run_action(admin_client, "pause", *drafts)

    assert len(messages) == 1
    assert messages[0].startswith("12 campaign(s) left as they were: Draft 0: ")
    assert messages[0].endswith("; and 2 more")


def test_the_actions_need_the_change_permission(client, campaign, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client.force_login(viewer)

    page = client.get(admin_url(Campaign, "changelist"))
    client.post(
        admin_url(Campaign, "changelist"), {"action": "pause", "_selected_action": [campaign.pk]}
    )

    assert page.status_code == 200
    assert page.context["action_form"] is None
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING


# ---------------------------------------------------------------- uploads and recipients


def test_the_upload_page_lists_rejected_rows_and_links_the_csv(admin_client, campaign):
    upload = Upload.objects.get()

    response = admin_client.get(admin_url(Upload, "change", upload.pk))

    content = response.content.decode()
    assert "&#x27;12345&#x27; is not a valid phone number." in content
    assert "=cmd()" in content
    assert reverse("admin:campaigns_upload_errors_csv", args=[upload.pk]) in content


def test_the_upload_page_shows_at_most_100_rejected_rows(admin_client, campaign):
    services.upload_create(
        campaign=make_campaign(campaign.provider, name="Big"),
        file=csv_file("phone\n" + "12345\n" * 120),
    )
    upload = Upload.objects.get(rows_rejected=120)

    response = admin_client.get(admin_url(Upload, "change", upload.pk))

    content = response.content.decode()
    assert "The first 100 of 120." in content
    assert content.count("is not a valid phone number.") == 100


def test_the_admin_errors_csv_has_every_rejected_row(admin_client, campaign):
    upload = Upload.objects.get()

    response = admin_client.get(reverse("admin:campaigns_upload_errors_csv", args=[upload.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert [(r["row"], r["phone"]) for r in read_csv(response)] == [
        ("5", "'=cmd()"),
        ("6", "12345"),
    ]


def test_the_admin_errors_csv_needs_a_staff_login(client, campaign):
    upload = Upload.objects.get()

    response = client.get(reverse("admin:campaigns_upload_errors_csv", args=[upload.pk]))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_recipients_are_found_by_phone_as_typed(admin_client, campaign):
    response = admin_client.get(admin_url(Recipient, "changelist"), {"q": "+91 98000 00002"})

    assert [r.phone for r in response.context["cl"].result_list] == ["+919800000002"]


def test_recipients_are_filtered_by_campaign(admin_client, campaign, generic_provider):
    other = make_campaign(generic_provider, name="Other")
    services.upload_create(campaign=other, file=csv_file("phone\n9876500001\n"))

    response = admin_client.get(
        admin_url(Recipient, "changelist"), {"campaign__id__exact": other.pk}
    )

    assert [r.phone for r in response.context["cl"].result_list] == ["+919876500001"]
