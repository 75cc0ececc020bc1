"""What the fast paths of a campaign send must still get right.

Messages are created in bulk (COPY on PostgreSQL), outcomes recorded in sets and send
events inserted in bulk: every message still gets its own history, in row order, and a
batch request's body is kept once rather than once per message.
"""

from __future__ import annotations

import json

import pytest

from campaigns import services
from campaigns.models import Campaign, Recipient
from providers.models import Message, MessageEvent
from tests.factories import csv_file, make_campaign, make_provider, numbers_csv, run_worker
from tests.fake_provider import Answer, FakeProvider

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("loopback")]


def upload_and_launch(campaign: Campaign, count: int) -> Campaign:
    services.upload_create(campaign=campaign, file=csv_file(numbers_csv(count)))
    return services.campaign_launch(campaign=campaign)


def test_every_recipient_gets_one_message_with_its_own_text_in_row_order():
    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=7))
        upload_and_launch(campaign, 30)
        run_worker()
    recipients = Recipient.objects.filter(campaign=campaign).select_related("message")
    assert all(r.message.body == f"Hi {r.fields['first_name']}, 20% off today" for r in recipients)
    assert all(r.message.to == r.phone for r in recipients)
    in_creation_order = Message.objects.order_by("created_at", "id").values_list("to", flat=True)
    by_row = recipients.order_by("row").values_list("phone", flat=True)
    assert list(in_creation_order) == list(by_row)
    # Batches are consecutive rows (several requests are in flight, so they may arrive
    # in any order).
    numbers = [phone.lstrip("+") for phone in by_row]
    batches = sorted([record["to"] for record in r.json()["msgs"]] for r in fake.received)
    assert batches == [numbers[i : i + 7] for i in range(0, 30, 7)]


def test_a_batch_request_is_kept_once_and_every_message_has_its_send_event():
    with FakeProvider(lambda r: Answer(body='{"batch": "b-1"}')) as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=10))
        upload_and_launch(campaign, 10)
        run_worker()
    events = list(
        MessageEvent.objects.filter(source=MessageEvent.Source.SEND).order_by("message__created_at")
    )
    assert len(events) == 10
    assert {e.status for e in events} == {"submitted"}
    assert {e.data["response"] for e in events} == {'{"batch": "b-1"}'}
    first, *rest = events
    assert json.loads(first.data["request"]["body"]) == fake.received[0].json()
    assert all("request" not in e.data for e in rest)
    assert {e.data["batch"]["first"] for e in rest} == {str(first.message_id)}


def test_a_transient_batch_failure_retries_the_whole_batch_together(settings):
    answers = iter([Answer(status=503, body="busy")])
    with FakeProvider(lambda r: next(answers, Answer())) as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=5))
        upload_and_launch(campaign, 5)
        run_worker()
        while Message.objects.exclude(status="submitted").exists():
            run_worker()
    assert len(fake.received) == 2
    assert fake.received[0].body == fake.received[1].body
    assert set(Message.objects.values_list("attempts", flat=True)) == {2}
    queued = MessageEvent.objects.filter(status="queued", source=MessageEvent.Source.SEND)
    assert queued.count() == 5
    assert len({e.data["retry_in_seconds"] for e in queued}) == 1


def test_launch_still_names_recipients_missing_a_field_without_default():
    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url), message="Hi {{first_name}}")
        services.upload_create(
            campaign=campaign, file=csv_file("phone,first_name\n9800000001,Asha\n9800000002,\n")
        )
        with pytest.raises(services.LaunchRefused) as refused:
            services.campaign_launch(campaign=campaign)
    assert refused.value.reasons == [
        "Row 3 (+919800000002): No value for {{first_name}} and no default."
    ]
