"""The dispatcher in one process: priority between lanes, and what it does when the
database goes away. Real HTTP to a fake provider on loopback."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection

from campaigns import dispatch
from campaigns import services as campaign_services
from campaigns.models import Campaign
from providers.models import Lane, Message, Provider
from providers.sending import claims, dispatcher
from providers.sending.create import message_create
from providers.sending.dispatcher import Dispatcher
from tests.factories import csv_file, dispatcher_running, make_campaign, numbers_csv, wait_for
from tests.fake_provider import Answer, FakeProvider

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _loopback(settings):
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = True
    settings.SMSGATEWAY_RETRY_BASE_SECONDS = 0.01
    settings.SMSGATEWAY_RETRY_MAX_SECONDS = 0.05


def single_provider(url: str) -> Provider:
    return Provider.objects.create(
        nickname="Single", endpoint=url + "/send", payload={"to": "$$To", "id": "$$MessageID"}
    )


def queue_api_messages(provider: Provider, count: int) -> list[Message]:
    return [
        message_create(provider=provider, to=f"+9198765{n:05d}", body="OTP") for n in range(count)
    ]


def prepared_campaign(provider: Provider, recipients: int) -> Campaign:
    """A campaign of `recipients` numbers, launched, with its messages created."""
    campaign = make_campaign(provider)
    campaign_services.upload_create(campaign=campaign, file=csv_file(numbers_csv(recipients)))
    campaign_services.campaign_launch(campaign=campaign)
    dispatch.campaign_prepare(campaign_id=campaign.id)
    campaign.refresh_from_db()
    return campaign


def test_api_messages_go_first_and_a_campaign_still_gets_a_quarter(settings):
    """The rule: a provider's transactional lane (the API's messages) is claimed first,
    into three quarters of the requests it may have in flight when a campaign of the
    provider also has due messages; the campaign gets the rest."""
    settings.SMSGATEWAY_SEND_CONCURRENCY = 4
    with FakeProvider() as fake:
        provider = single_provider(fake.url)
        prepared_campaign(provider, 40)
        # Queued after the campaign's 40, in front of them at the provider.
        otps = {str(message.id) for message in queue_api_messages(provider, 9)}
        Dispatcher().drain()
    order = [request.json()["id"] for request in fake.received]
    assert len(order) == 49 and set(order) >= otps
    # Rounds of four requests: three OTPs and one campaign message, until the OTPs are out.
    rounds = [order[start : start + 4] for start in range(0, 12, 4)]
    assert [sum(i in otps for i in requests) for requests in rounds] == [3, 3, 3]


def test_a_flood_of_api_messages_never_stops_a_campaign(settings):
    settings.SMSGATEWAY_SEND_CONCURRENCY = 4
    with FakeProvider() as fake:
        provider = single_provider(fake.url)
        otps = {str(message.id) for message in queue_api_messages(provider, 60)}
        prepared_campaign(provider, 5)
        Dispatcher().drain()
    order = [request.json()["id"] for request in fake.received]
    first_twenty = [i for i in order[:20] if i not in otps]
    assert len(first_twenty) == 5  # one a round, though 60 OTPs were waiting before them


def test_outcomes_are_kept_while_the_database_refuses_and_recorded_once_it_answers(
    monkeypatch, settings
):
    monkeypatch.setattr(dispatcher, "DATABASE_RETRY_SECONDS", 0.05)
    real_record = dispatcher.messages_record
    refusals = []

    def refuse_three_times(**kwargs):
        if len(refusals) < 3:
            refusals.append(1)
            raise OperationalError("server closed the connection unexpectedly")
        return real_record(**kwargs)

    monkeypatch.setattr(dispatcher, "messages_record", refuse_three_times)
    with FakeProvider(lambda request: Answer(delay=0.05)) as fake:
        provider = single_provider(fake.url)
        messages = queue_api_messages(provider, 30)
        sending = Dispatcher()
        with dispatcher_running(sending):
            sending.heard(None)
            wait_for(
                lambda: Message.objects.filter(status="submitted").count() == 30,
                "every message to be recorded",
            )
    assert len(refusals) == 3
    sent = [request.json()["id"] for request in fake.received]
    # Each sent once: nothing was claimed again while the outcomes waited.
    assert sorted(sent) == sorted(str(message.id) for message in messages)


def test_a_claim_whose_answer_was_lost_puts_its_messages_back(monkeypatch):
    """The claim committed but the connection broke before its answer came: its messages
    are in `sending` with nothing to send them, until the dispatcher puts them back."""
    real_claim = claims.lane_claim
    broken = []

    def claim_then_lose_the_answer(**kwargs):
        claimed = real_claim(**kwargs)
        if not broken and claimed.messages:
            broken.append(len(claimed.messages))
            raise OperationalError("server closed the connection unexpectedly")
        return claimed

    monkeypatch.setattr(dispatcher.claims, "lane_claim", claim_then_lose_the_answer)
    monkeypatch.setattr(dispatcher, "DATABASE_RETRY_SECONDS", 0.05)
    with FakeProvider() as fake:
        provider = single_provider(fake.url)
        messages = queue_api_messages(provider, 10)
        sending = Dispatcher()
        with dispatcher_running(sending):
            sending.heard(None)
            wait_for(
                lambda: Message.objects.filter(status="submitted").count() == 10,
                "every message to be sent",
            )
    assert broken == [10]
    sent = [request.json()["id"] for request in fake.received]
    assert sorted(sent) == sorted(str(message.id) for message in messages)


def test_a_provider_that_cannot_be_loaded_holds_only_its_own_messages(settings):
    with FakeProvider() as fake:
        broken = single_provider(fake.url)
        # A secret stored with a key this process does not have.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE providers_provider SET password = %s WHERE id = %s",
                ["gAAAAABnot-a-real-token", broken.id],
            )
        fine = Provider.objects.create(
            nickname="Fine", endpoint=fake.url + "/send", payload={"id": "$$MessageID"}
        )
        held = queue_api_messages(broken, 2)
        sent = queue_api_messages(fine, 3)
        Dispatcher().drain()
    assert sorted(r.json()["id"] for r in fake.received) == sorted(str(m.id) for m in sent)
    assert {m.status for m in Message.objects.filter(id__in=[m.id for m in held])} == {"queued"}


def test_a_lane_sealed_after_its_last_message_was_sent_is_found_drained(settings):
    """A lane is asked whether it is drained only once sealed; one sealed after its last
    message went out (nothing left to claim or record) is asked at the next refresh."""
    settings.SMSGATEWAY_DISPATCH_POLL_SECONDS = 60.0
    with FakeProvider() as fake:
        provider = single_provider(fake.url)
        campaign = prepared_campaign(provider, 5)
        lane = Lane.objects.filter(id=campaign.lane_id)
        lane.update(sealed=False)  # as if the last chunk were still being created
        sending = Dispatcher()
        with dispatcher_running(sending):
            submitted = Message.objects.filter(lane_id=campaign.lane_id, status="submitted")
            wait_for(lambda: submitted.count() == 5, "the campaign's messages sent")
            assert lane.get().drained_at is None  # not sealed: never drained
            lane.update(sealed=True)  # sealed without a check of its own
            wait_for(lambda: lane.get().drained_at is not None, "the lane found drained")
    assert len(fake.received) == 5
