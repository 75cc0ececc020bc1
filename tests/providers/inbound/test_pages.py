"""What a marketer sees of replies: the Inbox (search, provider, pages), a campaign's
replies on its page, and a STOP failing what the campaign had not sent yet."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from campaigns import services
from campaigns.dispatch import campaign_prepare
from campaigns.models import Campaign
from providers.inbound.services import reply_receive
from providers.models import Message, OptOut, Reply
from tests.factories import csv_file, make_campaign, numbers_csv, run_worker
from tests.providers.inbound.conftest import post_json, replied

INBOX = reverse("inbox")


def shown_texts(response) -> list[str]:
    table = response.content.decode().split("data-replies", 1)
    if len(table) == 1:
        return []
    return re.findall(r'<td class="pre-wrap">([^<]*)</td>', table[1])


@pytest.fixture
def replies(generic_provider, sinch_provider):
    reply_receive(provider=generic_provider, phone="+919876543210", text="Is the sale on?")
    reply_receive(provider=generic_provider, phone="+919876543211", text="STOP")
    reply_receive(provider=sinch_provider, phone="+919876543212", text="What sale?")


def test_the_inbox_lists_replies_newest_first_and_is_in_the_menu(marketer, replies):
    response = marketer.get(INBOX)

    assert response.status_code == 200
    assert shown_texts(response) == ["What sale?", "STOP", "Is the sale on?"]
    page = response.content.decode()
    assert "Opted out" in page
    dashboard = marketer.get(reverse("provider_list")).content.decode()
    assert f'href="{INBOX}"' in dashboard


@pytest.mark.parametrize(
    "query, texts",
    [
        ({"q": "98765 43211"}, ["STOP"]),
        ({"q": "9876543212"}, ["What sale?"]),
        ({"q": "43210"}, ["Is the sale on?"]),
        ({"q": "sale"}, ["What sale?", "Is the sale on?"]),
        ({"q": "SALE ON"}, ["Is the sale on?"]),
        ({"q": "nothing like it"}, []),
    ],
)
def test_the_inbox_is_searched_by_number_or_text(marketer, replies, query, texts):
    assert shown_texts(marketer.get(INBOX, query)) == texts


def test_the_inbox_is_narrowed_to_a_provider(marketer, replies, sinch_provider):
    response = marketer.get(INBOX, {"provider": sinch_provider.pk, "q": "sale"})

    assert shown_texts(response) == ["What sale?"]
    assert "No replies match" not in response.content.decode()
    assert "No replies match" in marketer.get(INBOX, {"q": "zzz"}).content.decode()


def test_the_inbox_pages_like_the_message_log(marketer, generic_provider):
    for n in range(55):
        reply_receive(provider=generic_provider, phone=f"+9198765432{n:02d}", text=f"reply {n}")

    first = marketer.get(INBOX)
    second = marketer.get(INBOX, {"page": 2})

    assert len(shown_texts(first)) == 50 and shown_texts(first)[0] == "reply 54"
    assert shown_texts(second) == [f"reply {n}" for n in range(4, -1, -1)]
    assert "1–50 of 55" in first.content.decode()


def test_the_inbox_needs_a_login(client):
    assert client.get(INBOX).status_code == 302


@pytest.fixture
def running(generic_provider) -> Campaign:
    """A launched campaign of three recipients, +919800000000 to 02, nothing sent yet."""
    campaign = make_campaign(generic_provider)
    services.upload_create(campaign=campaign, file=csv_file(numbers_csv(3)))
    services.campaign_launch(campaign=campaign)
    campaign_prepare(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


def test_a_campaigns_page_shows_the_replies_to_it(client, marketer, running, generic_provider):
    Message.objects.filter(to="+919800000000").update(status="delivered")
    post_json(client, generic_provider, replied("919800000000", "Is it for shoes too?"))
    reply_receive(provider=generic_provider, phone="+919876543299", text="Who is this?")

    response = marketer.get(running.get_absolute_url())

    assert shown_texts(response) == ["Is it for shoes too?"]
    assert Reply.objects.get(text="Is it for shoes too?").campaign_ref == str(running.pk)
    assert f"{INBOX}?campaign={running.pk}" in response.content.decode()
    assert shown_texts(marketer.get(INBOX, {"campaign": running.pk})) == ["Is it for shoes too?"]


def test_a_stop_fails_the_campaigns_unsent_message_to_that_number(
    client, marketer, running, generic_provider
):
    Message.objects.filter(to="+919800000000").update(status="submitted")

    post_json(client, generic_provider, replied("919800000000", "STOP"))
    post_json(client, generic_provider, replied("919800000001", "STOP"))

    statuses = dict(Message.objects.values_list("to", "status"))
    assert statuses == {
        "+919800000000": "submitted",
        "+919800000001": "failed",
        "+919800000002": "queued",
    }
    failed = Message.objects.get(to="+919800000001")
    assert failed.error_code == "opted_out"
    page = marketer.get(reverse("message_detail", args=[failed.id])).content.decode()
    assert "The number opted out before this message was sent" in page
    assert OptOut.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_campaign_whose_last_unsent_number_stops_is_completed(client, running, generic_provider):
    Message.objects.exclude(to="+919800000002").update(status="delivered")

    post_json(client, generic_provider, replied("919800000002", "stop"))
    run_worker()  # the campaign learns its lane is drained

    running.refresh_from_db()
    assert running.status == Campaign.Status.COMPLETED


def test_a_number_that_stopped_after_the_upload_gets_no_message_at_launch(client, generic_provider):
    campaign = make_campaign(generic_provider)
    services.upload_create(campaign=campaign, file=csv_file(numbers_csv(3)))
    post_json(client, generic_provider, replied("919800000001", "STOP"))

    services.campaign_launch(campaign=campaign)
    campaign_prepare(campaign_id=campaign.pk)

    statuses = dict(Message.objects.values_list("to", "error_code"))
    assert statuses == {"+919800000000": "", "+919800000001": "opted_out", "+919800000002": ""}
