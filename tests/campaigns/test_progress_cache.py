"""The campaign progress reads figures that may be kept between polls: the chart's past
minutes and the figures of a finished campaign. Neither may hide a change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign
from providers.models import Message
from tests.campaigns.conftest import csv_file, make_campaign, numbers_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def running(generic_provider) -> Campaign:
    campaign = make_campaign(generic_provider)
    services.upload_create(campaign=campaign, file=csv_file(numbers_csv(3)))
    services.campaign_launch(campaign=campaign)
    return campaign


def completed(campaign: Campaign, *, minutes_ago: int) -> Message:
    now = timezone.now()
    return Message.objects.create(
        provider=campaign.provider,
        to="+919876543210",
        status=Message.Status.DELIVERED,
        campaign_ref=str(campaign.pk),
        submitted_at=now,
        completed_at=now - timedelta(minutes=minutes_ago),
    )


def progress(client: Client, campaign: Campaign) -> dict:
    return client.get(reverse("campaign_progress", args=[campaign.pk])).json()


def test_each_poll_adds_the_reports_that_arrived_since(client, running):
    completed(running, minutes_ago=30)
    completed(running, minutes_ago=5)
    first = progress(client, running)["timeline"]
    assert [row["delivered"] for row in first] == [1, 1]

    completed(running, minutes_ago=0)
    completed(running, minutes_ago=0)
    second = progress(client, running)["timeline"]

    assert [row["delivered"] for row in second] == [1, 1, 2]
    assert second[:2] == first


def test_a_finished_campaign_shows_its_final_figures(client, running):
    completed(running, minutes_ago=1)
    Campaign.objects.filter(pk=running.pk).update(status=Campaign.Status.COMPLETED)
    running.refresh_from_db()
    Message.objects.filter(campaign_ref=str(running.pk)).exclude(
        status=Message.Status.DELIVERED
    ).update(status=Message.Status.FAILED, error_code="901")

    data = progress(client, running)

    assert data["terminal"] and not data["live"]
    assert data["stats"]["delivered"] == 1
    assert progress(client, running) == data
