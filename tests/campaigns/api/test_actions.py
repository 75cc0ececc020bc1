"""Launch, pause, resume and cancel over the API, and a campaign sent end to end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign
from providers.models import Message
from tests.campaigns.api.conftest import LIST_URL, campaign_input, detail_url, set_status
from tests.factories import csv_file, make_provider, numbers_csv, run_worker
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.django_db


def act(api, campaign: Campaign | int, verb: str):
    return api.post(f"{detail_url(campaign)}{verb}/")


@pytest.fixture
def ready(draft) -> Campaign:
    """A draft with three recipients, ready to launch."""
    services.upload_create(campaign=draft, file=csv_file(numbers_csv(3)))
    return draft


# ---------------------------------------------------------------- launch


def test_launch_starts_the_campaign_and_answers_202(api, ready):
    response = act(api, ready, "launch")

    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "running"
    assert response.json()["launched_at"] is not None
    assert response.json()["stats"]["total"] == 3
    ready.refresh_from_db()
    assert ready.status == Campaign.Status.RUNNING


def test_a_campaign_with_a_future_time_is_scheduled(api, ready):
    Campaign.objects.filter(pk=ready.pk).update(scheduled_at=timezone.now() + timedelta(hours=2))

    response = act(api, ready, "launch")

    assert response.status_code == 202
    assert response.json()["status"] == "scheduled"


def test_launch_is_refused_naming_the_row_whose_text_breaks_the_dlt_template(api, draft):
    Campaign.objects.filter(pk=draft.pk).update(
        message="Hi {{first_name}}, 20% off today", dlt_template="Hi {#var#}, 20% off today"
    )
    long_name = "Maharajadhiraja Sir Bhupinder Singh"  # 35 characters, over the 30 allowed
    services.upload_create(
        campaign=draft,
        file=csv_file(f"phone,first_name\n9876500001,Asha\n9876500002,{long_name}\n"),
    )

    response = act(api, draft, "launch")

    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            f"Row 3 (+919876500002): variable 1 {{#var#}} '{long_name}' is 35 characters; "
            "at most 30 are allowed"
        ]
    }
    draft.refresh_from_db()
    assert draft.status == Campaign.Status.DRAFT
    assert not Message.objects.exists()


def test_launch_is_refused_for_a_missing_personal_field(api, draft):
    Campaign.objects.filter(pk=draft.pk).update(message="Hi {{first_name}}, 20% off")
    services.upload_create(campaign=draft, file=csv_file("phone,first_name\n9876500001,\n"))

    response = act(api, draft, "launch")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        "Row 2 (+919876500001): No value for {{first_name}} and no default."
    ]


def test_launch_without_recipients_is_refused(api, draft):
    response = act(api, draft, "launch")

    assert response.status_code == 400
    assert response.json() == {"errors": ["Upload at least one list of recipients first."]}


def test_launch_twice_is_409(api, ready):
    assert act(api, ready, "launch").status_code == 202

    response = act(api, ready, "launch")

    assert response.status_code == 409
    assert response.json()["detail"] == "A running campaign cannot be launched."


# ---------------------------------------------------------------- pause, resume, cancel


@pytest.mark.parametrize(
    ("verb", "before", "after"),
    [
        ("pause", "running", "paused"),
        ("pause", "scheduled", "paused"),
        ("resume", "paused", "running"),
        ("cancel", "draft", "cancelled"),
        ("cancel", "running", "cancelled"),
        ("cancel", "paused", "cancelled"),
    ],
)
def test_an_allowed_change_answers_202_with_the_campaign(api, draft, verb, before, after):
    set_status(draft, before)

    response = act(api, draft, verb)

    assert response.status_code == 202, response.json()
    assert response.json()["id"] == draft.pk
    assert response.json()["status"] == after
    draft.refresh_from_db()
    assert draft.status == after


@pytest.mark.parametrize(
    ("verb", "before", "detail"),
    [
        ("pause", "draft", "A draft campaign cannot be paused."),
        ("pause", "completed", "A completed campaign cannot be paused."),
        ("resume", "running", "A running campaign cannot be resumed."),
        ("resume", "cancelled", "A cancelled campaign cannot be resumed."),
        ("cancel", "completed", "A completed campaign cannot be cancelled."),
        ("cancel", "cancelled", "A cancelled campaign cannot be cancelled."),
    ],
)
def test_a_change_the_status_does_not_allow_is_409(api, draft, verb, before, detail):
    set_status(draft, before)

    response = act(api, draft, verb)

    assert response.status_code == 409
    assert response.json() == {"detail": detail}
    draft.refresh_from_db()
    assert draft.status == before


def test_an_action_on_an_unknown_campaign_is_404(api, db):
    assert act(api, 999999, "pause").status_code == 404


def test_cancel_fails_the_messages_not_yet_sent(api, ready):
    act(api, ready, "launch")
    from campaigns.dispatch import campaign_prepare

    campaign_prepare(campaign_id=ready.pk)

    response = act(api, ready, "cancel")

    assert response.status_code == 202
    assert response.json()["stats"]["failed"] == 3
    assert set(Message.objects.values_list("error_code", flat=True)) == {"cancelled"}


# ---------------------------------------------------------------- end to end


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("loopback")
def test_a_campaign_made_over_the_api_is_sent_to_every_recipient(api):
    with FakeProvider() as fake:
        provider = make_provider(fake.url)
        created = api.post(LIST_URL, campaign_input(provider), format="json")
        assert created.status_code == 201, created.json()
        campaign_id = created.json()["id"]
        uploaded = api.post(
            f"{detail_url(campaign_id)}uploads/",
            {"file": csv_file(numbers_csv(25))},
            format="multipart",
        )
        assert uploaded.status_code == 201, uploaded.json()

        launched = act(api, campaign_id, "launch")
        assert launched.status_code == 202, launched.json()
        run_worker()

    assert len(fake.received) == 25
    assert sorted(r.json()["text"] for r in fake.received)[0] == "Hi Person 0, 20% off today"
    body = api.get(detail_url(campaign_id)).json()
    assert body["status"] == "completed"
    assert body["completed_at"] is not None
    assert body["stats"]["total"] == 25
    assert body["stats"]["submitted"] == 25
    assert body["stats"]["pending"] == 25
    assert act(api, campaign_id, "pause").status_code == 409
