"""Editing and deleting a campaign: drafts only, with one rule and one message on every
path (the dashboard's form, the API)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns import services
from campaigns.models import Campaign
from tests.factories import make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(generic_provider):
    campaign = make_campaign(generic_provider)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    campaign.refresh_from_db()
    return campaign


def test_a_draft_is_edited_field_by_field_and_deleted(generic_provider):
    campaign = make_campaign(generic_provider)
    services.campaign_update(campaign=campaign, fields={"name": "Renamed"})
    assert Campaign.objects.get(pk=campaign.pk).name == "Renamed"
    services.campaign_delete(campaign=campaign)
    assert not Campaign.objects.exists()


def test_a_launched_campaign_is_neither_edited_nor_deleted(running):
    stale = Campaign.objects.get(pk=running.pk)
    stale.status = Campaign.Status.DRAFT  # as a page read before the launch saw it
    with pytest.raises(services.TransitionNotAllowed, match="this one is running"):
        services.campaign_update(campaign=stale, fields={"name": "Renamed"})
    with pytest.raises(services.TransitionNotAllowed, match="this one is running"):
        services.campaign_delete(campaign=stale)
    assert Campaign.objects.get(pk=running.pk).name == "Diwali offer"


def test_the_api_and_the_dashboard_refuse_with_the_same_words(running, user):
    words = "Only a draft campaign can be edited; this one is running."
    api = APIClient()
    api.force_authenticate(user)
    answer = api.patch(f"/api/v1/campaigns/{running.pk}/", {"name": "X"}, format="json")
    assert answer.status_code == 409 and answer.json()["detail"] == words
    client = Client()
    client.force_login(user)
    page = client.get(reverse("campaign_edit", args=[running.pk]), follow=True)
    assert words in page.content.decode()
    deleted = api.delete(f"/api/v1/campaigns/{running.pk}/")
    assert deleted.status_code == 409
    assert deleted.json()["detail"] == "Only a draft campaign can be deleted; this one is running."
