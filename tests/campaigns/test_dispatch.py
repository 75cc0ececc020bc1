"""Campaigns through the real queue and real HTTP to a fake provider on loopback."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections import Counter
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from campaigns import dispatch, services
from campaigns.models import Campaign
from providers.models import Lane, Message
from providers.sending import claims
from providers.sending.dispatcher import Dispatcher
from tests.factories import csv_file, make_campaign, make_provider, numbers_csv, run_worker
from tests.fake_provider import Answer, FakeProvider

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("loopback")]
IST = ZoneInfo("Asia/Kolkata")


def upload_and_launch(campaign: Campaign, count: int) -> Campaign:
    services.upload_create(campaign=campaign, file=csv_file(numbers_csv(count)))
    return services.campaign_launch(campaign=campaign)


def test_2500_recipients_in_batches_of_1000_make_exactly_3_requests():
    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=1000))
        upload_and_launch(campaign, 2500)
        run_worker()
        run_worker()
    assert len(fake.received) == 3
    sizes = sorted(len(r.json()["msgs"]) for r in fake.received)
    assert sizes == [500, 1000, 1000]
    sent = Counter(record["to"] for r in fake.received for record in r.json()["msgs"])
    assert len(sent) == 2500 and set(sent.values()) == {1}
    assert all(r.json()["sender"] == "ACMEIN" for r in fake.received)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert set(Message.objects.values_list("status", flat=True)) == {"submitted"}


def test_single_mode_sends_one_personalised_request_per_recipient():
    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url))
        upload_and_launch(campaign, 40)
        run_worker()
    texts = sorted(r.json()["text"] for r in fake.received)
    assert len(texts) == 40
    assert texts[0] == "Hi Person 0, 20% off today"
    ids = {r.json()["id"] for r in fake.received}
    assert ids == {str(i) for i in Message.objects.values_list("id", flat=True)}


def test_a_failed_batch_request_applies_to_every_message_in_it():
    with FakeProvider(lambda r: Answer(status=400, body='{"error": "bad sender"}')) as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=10))
        upload_and_launch(campaign, 25)
        run_worker()
    assert len(fake.received) == 3
    assert Counter(Message.objects.values_list("status", flat=True)) == {"failed": 25}
    assert set(Message.objects.values_list("error_code", flat=True)) == {"payload_rejected"}


def test_two_dispatchers_at_once_never_send_a_message_twice():
    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=10))
        services.upload_create(campaign=campaign, file=csv_file(numbers_csv(300)))
        services.campaign_launch(campaign=campaign)
        dispatch.campaign_prepare(campaign_id=campaign.id)
        errors = []

        def drain() -> None:
            try:
                Dispatcher().drain()
            except Exception as exc:  # reported below, not lost in the thread
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=drain) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    sent = Counter(record["id"] for r in fake.received for record in r.json()["msgs"])
    assert len(sent) == 300 and set(sent.values()) == {1}


def test_each_chunk_is_sendable_as_it_is_created_and_a_crash_loses_none(monkeypatch):
    """The dispatcher can send the first chunk while the rest is being created; a prepare
    that dies midway leaves its messages queued, and its rerun adds the rest, each once."""
    monkeypatch.setattr(dispatch, "CREATE_CHUNK", 10)
    real_link = dispatch.link_recipients
    calls = []

    def link_then_die_on_the_third_chunk(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        real_link(*args)

    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=5))
        services.upload_create(campaign=campaign, file=csv_file(numbers_csv(35)))
        services.campaign_launch(campaign=campaign)  # prepare is queued, not run yet
        monkeypatch.setattr(dispatch, "link_recipients", link_then_die_on_the_third_chunk)
        with pytest.raises(RuntimeError):
            dispatch.campaign_prepare(campaign_id=campaign.id)
        assert Message.objects.filter(status="queued").count() == 20

        Dispatcher().drain()
        assert sum(len(r.json()["msgs"]) for r in fake.received) == 20
        assert Campaign.objects.get().status == Campaign.Status.RUNNING

        monkeypatch.setattr(dispatch, "link_recipients", real_link)
        run_worker()  # the prepare task, still queued, creates the rest
    sent = Counter(record["id"] for r in fake.received for record in r.json()["msgs"])
    assert len(sent) == Message.objects.count() == 35 and set(sent.values()) == {1}
    assert Campaign.objects.get().status == Campaign.Status.COMPLETED


def test_a_campaign_cancelled_while_its_messages_are_created_gets_no_more(monkeypatch):
    monkeypatch.setattr(dispatch, "CREATE_CHUNK", 10)
    real_link = dispatch.link_recipients

    def link_then_cancel(*args):
        real_link(*args)
        services.campaign_cancel(campaign=Campaign.objects.get())

    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=5))
        services.upload_create(campaign=campaign, file=csv_file(numbers_csv(35)))
        services.campaign_launch(campaign=campaign)
        monkeypatch.setattr(dispatch, "link_recipients", link_then_cancel)
        dispatch.campaign_prepare(campaign_id=campaign.id)
        monkeypatch.setattr(dispatch, "link_recipients", real_link)
        run_worker()

    assert fake.received == []
    assert Counter(Message.objects.values_list("status", "error_code")) == {
        ("failed", "cancelled"): 10
    }
    assert Campaign.objects.get().status == Campaign.Status.CANCELLED


def test_a_paused_campaign_sends_nothing_until_resumed():
    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=10))
        services.upload_create(campaign=campaign, file=csv_file(numbers_csv(30)))
        services.campaign_launch(campaign=campaign)
        services.campaign_pause(campaign=campaign)
        run_worker()
        assert fake.received == []
        assert Message.objects.filter(status="queued").count() == 30
        services.campaign_resume(campaign=campaign)
        run_worker()
    assert sum(len(r.json()["msgs"]) for r in fake.received) == 30
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def stop_after_first_request(action):
    """A responder that pauses or cancels the campaign while its first request is in flight."""
    from django.db import connection

    def responder(request):
        if not getattr(responder, "done", False):
            responder.done = True
            action(Campaign.objects.get())
            connection.close()
        return Answer()

    return responder


def test_cancel_mid_run_fails_unsent_messages_and_keeps_sent_ones(settings):
    settings.SMSGATEWAY_SEND_CONCURRENCY = 1
    responder = stop_after_first_request(lambda c: services.campaign_cancel(campaign=c))
    with FakeProvider(responder) as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=10))
        upload_and_launch(campaign, 30)
        run_worker()
    assert len(fake.received) == 1
    assert Counter(Message.objects.values_list("status", flat=True)) == {
        "submitted": 10,
        "failed": 20,
    }
    assert set(Message.objects.filter(status="failed").values_list("error_code", flat=True)) == {
        "cancelled"
    }
    assert Campaign.objects.get().status == Campaign.Status.CANCELLED


def test_pause_mid_run_holds_the_rest_until_resume(settings):
    settings.SMSGATEWAY_SEND_CONCURRENCY = 1
    responder = stop_after_first_request(lambda c: services.campaign_pause(campaign=c))
    with FakeProvider(responder) as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=10))
        upload_and_launch(campaign, 30)
        run_worker()
        assert Counter(Message.objects.values_list("status", flat=True)) == {
            "submitted": 10,
            "queued": 20,
        }
        services.campaign_resume(campaign=Campaign.objects.get())
        run_worker()
    assert sum(len(r.json()["msgs"]) for r in fake.received) == 30
    assert Campaign.objects.get().status == Campaign.Status.COMPLETED


def test_promotional_messages_to_india_wait_for_the_window(monkeypatch):
    # A night after the messages are queued (they are due from then).
    tomorrow = timezone.now().astimezone(IST).date() + timedelta(days=1)
    night = datetime.combine(tomorrow, time(23, 30), tzinfo=IST)
    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url), kind="promotional", sender_id="123456")
        services.upload_create(
            campaign=campaign,
            file=csv_file("phone,first_name\n+919812345670,A\n+14155552671,B\n"),
        )
        services.campaign_launch(campaign=campaign)
        ticks = itertools.count()
        # The night's clock moves on, a millisecond each time it is read.
        monkeypatch.setattr(timezone, "now", lambda: night + timedelta(milliseconds=next(ticks)))
        run_worker()
    # The number outside India goes at once; the Indian one at 09:00 IST the next day.
    assert [r.json()["to"] for r in fake.received] == ["14155552671"]
    waiting = Message.objects.get(status="queued")
    assert waiting.to == "+919812345670"
    assert waiting.next_attempt_at == datetime.combine(
        tomorrow + timedelta(days=1), time(9, 0), tzinfo=IST
    )


@pytest.mark.parametrize(
    ("local", "opens"),
    [
        ((2026, 11, 24, 8, 59), (2026, 11, 24, 9, 0)),
        ((2026, 11, 24, 9, 0), None),
        ((2026, 11, 24, 20, 59), None),
        ((2026, 11, 24, 21, 0), (2026, 11, 25, 9, 0)),
    ],
)
def test_promotional_window_edges(local, opens):
    expected = datetime(*opens, tzinfo=IST) if opens else None
    assert claims.promotional_window_opens(datetime(*local, tzinfo=IST)) == expected


def test_a_throttled_campaign_never_exceeds_its_rate_at_the_provider():
    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url), throttle_per_second=20)
        upload_and_launch(campaign, 50)
        run_worker()
    times = sorted(request.at for request in fake.received)
    assert len(times) == 50
    # In any one-second window, at most 20 requests (plus one at the window's edge).
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 21
    assert times[-1] - times[0] >= 2.0


def test_throttled_claims_take_turns_with_the_lanes_slots():
    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url), throttle_per_second=200)
        upload_and_launch(campaign, 30)
        dispatch.campaign_prepare(campaign_id=campaign.id)
    lane = Lane.objects.get()
    now = timezone.now()
    first = claims.lane_claim(lane=lane, limit=100, token=uuid.uuid4(), now=now)
    second = claims.lane_claim(lane=lane, limit=100, token=uuid.uuid4(), now=now)
    # A twentieth of a second's worth at a time...
    assert len(first.messages) == 10
    # ...and a second claimant (another worker) gets nothing until the next slice.
    assert second.messages == []
    assert (second.not_before - now).total_seconds() == pytest.approx(0.05, abs=0.001)


def test_the_five_minute_cap_is_the_tighter_rate():
    assert claims.throttle_rate(per_second=100, per_5min=600) == 2.0


def test_campaign_retries_go_through_the_campaign_not_one_task_per_message(settings):
    from django_tasks_db.models import DBTaskResult

    settings.SMSGATEWAY_SEND_CONCURRENCY = 1
    answers = iter([Answer(status=503, body="busy")])

    def responder(request):
        return next(answers, Answer())

    with FakeProvider(responder) as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=10))
        upload_and_launch(campaign, 20)
        for _ in range(30):
            run_worker()
            if Campaign.objects.get().status == Campaign.Status.COMPLETED:
                break
            Message.objects.filter(status="queued").update(next_attempt_at=timezone.now())
    assert Campaign.objects.get().status == Campaign.Status.COMPLETED
    assert Counter(Message.objects.values_list("status", flat=True)) == {"submitted": 20}
    # The 10 messages of the refused batch were sent twice, the others once.
    sent = Counter(record["to"] for r in fake.received for record in r.json()["msgs"])
    assert sorted(Counter(sent.values()).items()) == [(1, 10), (2, 10)]
    # No task of their own: the dispatcher sent the retries when they were due.
    tasks = DBTaskResult.objects.values_list("task_path", flat=True)
    assert set(tasks) == {"campaigns.tasks.prepare_campaign", "campaigns.tasks.campaign_drained"}


def test_a_paused_campaign_does_not_retry(settings):

    settings.SMSGATEWAY_RETRY_BASE_SECONDS = 60
    settings.SMSGATEWAY_RETRY_MAX_SECONDS = 60
    with FakeProvider(lambda r: Answer(status=503)) as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=10))
        upload_and_launch(campaign, 10)
        run_worker()
        services.campaign_pause(campaign=Campaign.objects.get())
        Message.objects.update(next_attempt_at=timezone.now())  # the retries are due
        run_worker()
        assert len(fake.received) == 1
        assert set(Message.objects.values_list("status", flat=True)) == {"queued"}
        services.campaign_resume(campaign=Campaign.objects.get())
        run_worker()
    assert len(fake.received) == 2
