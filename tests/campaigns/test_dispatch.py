"""Campaigns through the real queue and real HTTP to a fake provider on loopback."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns import dispatch, services
from campaigns.models import Campaign
from providers.models import Message
from tests.campaigns.conftest import csv_file, make_campaign, make_provider, numbers_csv, run_worker
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


def test_running_the_chunks_twice_never_sends_twice():
    from django_tasks_db.models import DBTaskResult

    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=100))
        upload_and_launch(campaign, 300)
        run_worker()
        # Every chunk task runs again, as a second worker or a retry would.
        for result in DBTaskResult.objects.filter(task_path__endswith="dispatch_chunk"):
            args = result.args_kwargs["args"]
            dispatch.dispatch_chunk(campaign_id=args[0], message_ids=args[1])
    assert sum(len(r.json()["msgs"]) for r in fake.received) == 300


def test_each_chunk_is_queued_for_sending_as_it_is_created_and_a_crash_loses_none(
    monkeypatch,
):
    """A second worker can send the first chunk while the rest is being created; a prepare
    that dies midway leaves every created message with its task, and its rerun adds the
    rest, each message queued once."""
    from django_tasks_db.models import DBTaskResult

    monkeypatch.setattr(dispatch, "CREATE_CHUNK", 10)
    real_link = dispatch.link_recipients
    calls = []

    def link_then_die_on_the_third_chunk(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        real_link(*args)

    def queued_for_sending() -> list[str]:
        tasks = DBTaskResult.objects.filter(task_path__endswith="dispatch_chunk")
        return [i for task in tasks for i in task.args_kwargs["args"][1]]

    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=5))
        services.upload_create(campaign=campaign, file=csv_file(numbers_csv(35)))
        services.campaign_launch(campaign=campaign)  # prepare is queued, not run yet
        monkeypatch.setattr(dispatch, "link_recipients", link_then_die_on_the_third_chunk)
        with pytest.raises(RuntimeError):
            dispatch.campaign_prepare(campaign_id=campaign.id)

        created = {str(i) for i in Message.objects.values_list("id", flat=True)}
        assert len(created) == 20 and sorted(queued_for_sending()) == sorted(created)

        monkeypatch.setattr(dispatch, "link_recipients", real_link)
        dispatch.campaign_prepare(campaign_id=campaign.id)
        queued = queued_for_sending()
        assert len(queued) == len(set(queued)) == Message.objects.count() == 35
        run_worker()
    assert sum(len(r.json()["msgs"]) for r in fake.received) == 35
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
    night = datetime(2026, 11, 24, 23, 30, tzinfo=IST)
    monkeypatch.setattr(dispatch.timezone, "now", lambda: night)
    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url), kind="promotional", sender_id="123456")
        upload_and_launch(campaign, 5)
        run_worker()
    assert fake.received == []
    from django_tasks_db.models import DBTaskResult

    waiting = DBTaskResult.objects.filter(
        task_path__endswith="dispatch_chunk", status="READY"
    ).latest("enqueued_at")
    assert waiting.run_after == datetime(2026, 11, 25, 9, 0, tzinfo=IST)


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
    assert dispatch.promotional_window_opens(datetime(*local, tzinfo=IST)) == expected


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


def test_the_throttle_spaces_reservations_across_callers():
    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url), throttle_per_second=10)
    first = dispatch.throttle_reserve(campaign_id=campaign.id, count=10, rate=10)
    second = dispatch.throttle_reserve(campaign_id=campaign.id, count=10, rate=10)
    assert (second - first).total_seconds() == pytest.approx(1.0, abs=0.01)


def test_the_five_minute_cap_is_the_tighter_rate():
    campaign = Campaign(throttle_per_second=100, throttle_per_5min=600)
    assert dispatch.throttle_rate(campaign) == 2.0


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
    assert not DBTaskResult.objects.filter(task_path__endswith="send_message").exists()


def test_a_paused_campaign_does_not_retry(settings):
    from django_tasks_db.models import DBTaskResult

    settings.SMSGATEWAY_RETRY_BASE_SECONDS = 60
    settings.SMSGATEWAY_RETRY_MAX_SECONDS = 60
    with FakeProvider(lambda r: Answer(status=503)) as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=10))
        upload_and_launch(campaign, 10)
        run_worker()
        services.campaign_pause(campaign=Campaign.objects.get())
        Message.objects.update(next_attempt_at=timezone.now())  # the retries are due
        dispatch.campaign_check_complete(campaign_id=campaign.id, reschedule=True)
        run_worker()
        assert len(fake.received) == 1
        assert set(Message.objects.values_list("status", flat=True)) == {"queued"}
        assert not DBTaskResult.objects.filter(task_path__endswith="send_message").exists()
        services.campaign_resume(campaign=Campaign.objects.get())
        run_worker()
    assert len(fake.received) == 2
