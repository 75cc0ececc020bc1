"""The campaign pages read figures that may be kept between polls: the chart's past
minutes, the counts for a few seconds, and the figures of a finished campaign. None may
hide a change for longer than that."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns import selectors, services
from campaigns.models import Campaign
from providers.models import Message
from tests.cache_clock import let_seconds_pass
from tests.factories import csv_file, make_campaign, numbers_csv

pytestmark = pytest.mark.django_db


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


def progress(marketer: Client, campaign: Campaign) -> dict:
    return marketer.get(reverse("campaign_progress", args=[campaign.pk])).json()


def test_each_poll_adds_the_reports_that_arrived_since(marketer, running):
    completed(running, minutes_ago=30)
    completed(running, minutes_ago=5)
    first = progress(marketer, running)["timeline"]
    assert [row["delivered"] for row in first] == [1, 1]

    completed(running, minutes_ago=0)
    completed(running, minutes_ago=0)
    second = progress(marketer, running)["timeline"]

    assert [row["delivered"] for row in second] == [1, 1, 2]
    assert second[:2] == first


def test_a_finished_campaign_shows_its_final_figures(marketer, running):
    completed(running, minutes_ago=1)
    Campaign.objects.filter(pk=running.pk).update(status=Campaign.Status.COMPLETED)
    running.refresh_from_db()
    Message.objects.filter(campaign_ref=str(running.pk)).exclude(
        status=Message.Status.DELIVERED
    ).update(status=Message.Status.FAILED, error_code="901")

    data = progress(marketer, running)

    assert data["terminal"] and not data["live"]
    assert data["stats"]["delivered"] == 1
    assert progress(marketer, running) == data


def test_a_running_campaigns_counts_catch_up_within_a_few_seconds(marketer, running, monkeypatch):
    assert progress(marketer, running)["stats"]["delivered"] == 0

    completed(running, minutes_ago=0)
    kept = progress(marketer, running)
    # The chart moves on every poll; the counts are those of a few seconds ago.
    assert sum(row["delivered"] for row in kept["timeline"]) == 1
    assert kept["stats"]["delivered"] == 0

    let_seconds_pass(monkeypatch, selectors.COUNTS_SECONDS + 1)
    assert progress(marketer, running)["stats"]["delivered"] == 1


def test_the_page_says_its_counts_are_updated_every_few_seconds(marketer, running):
    page = marketer.get(running.get_absolute_url()).content.decode()
    assert "Counts are updated every few seconds." in page


def test_a_pause_shows_at_once(marketer, running):
    assert progress(marketer, running)["status"] == "running"
    services.campaign_pause(campaign=running)
    assert progress(marketer, running)["status"] == "paused"


def list_row(marketer: Client, campaign: Campaign) -> list[str]:
    page = marketer.get(reverse("campaign_list")).content.decode()
    row = page.split(f'data-campaign-row="{campaign.pk}"')[1].split("</tr>")[0]
    return [cell.split(">", 1)[1].split("</td>")[0] for cell in row.split("<td")[1:]]


def test_the_lists_counts_catch_up_within_a_few_seconds(marketer, running, monkeypatch):
    before = list_row(marketer, running)
    assert before[4] == "3"  # recipients
    assert '"text-success">0<' in before[5]

    completed(running, minutes_ago=0)
    assert list_row(marketer, running) == before

    let_seconds_pass(monkeypatch, selectors.COUNTS_SECONDS + 1)
    assert '"text-success">1<' in list_row(marketer, running)[5]


def test_a_new_campaign_is_listed_with_its_own_counts(marketer, running, generic_provider):
    list_row(marketer, running)
    draft = make_campaign(generic_provider, name="Second")
    services.upload_create(campaign=draft, file=csv_file(numbers_csv(2, start=50)))

    assert list_row(marketer, draft)[4] == "2"
    assert list_row(marketer, running)[4] == "3"


def bars(timeline: list[dict]) -> list[tuple[int, int]]:
    """The chart's bars, as campaign-detail.js adds them up (buckets())."""
    first = datetime.fromisoformat(timeline[0]["minute"])
    last = datetime.fromisoformat(timeline[-1]["minute"])
    minutes = round((last - first).total_seconds() / 60) + 1
    size = max(1, -(-minutes // 60))
    result = [[0, 0] for _ in range(-(-minutes // size))]
    for row in timeline:
        index = round((datetime.fromisoformat(row["minute"]) - first).total_seconds() / 60) // size
        result[index][0] += row["delivered"]
        result[index][1] += row["failed"]
    return [tuple(bar) for bar in result]


def test_a_long_timeline_is_sent_as_the_bars_the_chart_draws():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    # A week of minutes with reports, some minutes without.
    timeline = [
        {"minute": (start + timedelta(minutes=m)).isoformat(), "delivered": m % 7, "failed": m % 3}
        for m in range(0, 7 * 24 * 60, 5)
        if m % 11
    ]

    sent = selectors.chart_rows(timeline)

    assert len(sent) <= 60
    assert bars(sent) == bars(timeline)
    assert (sent[0]["minute"], sent[-1]["minute"]) == (
        timeline[0]["minute"],
        timeline[-1]["minute"],
    )


def test_an_hours_timeline_is_sent_minute_by_minute():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    timeline = [
        {"minute": (start + timedelta(minutes=m)).isoformat(), "delivered": 1, "failed": 0}
        for m in range(60)
    ]
    assert selectors.chart_rows(timeline) == timeline
