from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from providers.management.commands.db_worker import Housekeeping
from providers.models import Message
from providers.ops import health
from providers.sending.create import message_create
from providers.sending.retry import messages_requeue_stuck

pytestmark = pytest.mark.django_db


def stuck_message(
    provider, *, minutes_ago: float, campaign_ref: str = "", claim: uuid.UUID | None = None
) -> Message:
    message = message_create(
        provider=provider, to="+919876543210", body="hi", campaign_ref=campaign_ref
    )
    Message.objects.filter(id=message.id).update(
        status="sending",
        claim=claim or uuid.uuid4(),
        updated_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    return message


def test_an_abandoned_message_goes_back_to_the_queue_due_at_once(generic_provider):
    message = stuck_message(generic_provider, minutes_ago=10)
    assert messages_requeue_stuck() == 1
    message.refresh_from_db()
    assert message.status == "queued"
    assert message.next_attempt_at <= timezone.now()
    assert "worker sending it stopped" in message.events.last().description


def test_a_message_still_in_flight_is_left_alone(generic_provider):
    message = stuck_message(generic_provider, minutes_ago=0.1)
    assert messages_requeue_stuck() == 0
    message.refresh_from_db()
    assert message.status == "sending"


def test_a_live_workers_message_is_left_alone_however_long_it_waits(generic_provider):
    """A worker whose database was away keeps its outcomes until it can record them: its
    messages must not be sent again meanwhile."""
    token = uuid.uuid4()
    health.worker_heartbeat_record(worker_id="w-1", started_at=timezone.now(), token=token)
    message = stuck_message(generic_provider, minutes_ago=60, claim=token)
    assert messages_requeue_stuck() == 0
    message.refresh_from_db()
    assert message.status == "sending"


def test_a_dead_workers_message_is_taken_back(generic_provider, settings):
    token = uuid.uuid4()
    health.worker_heartbeat_record(worker_id="w-1", started_at=timezone.now(), token=token)
    message = stuck_message(generic_provider, minutes_ago=60, claim=token)
    from providers.models import WorkerHeartbeat

    stale = timezone.now() - timedelta(seconds=settings.SMSGATEWAY_WORKER_STALE_SECONDS + 1)
    WorkerHeartbeat.objects.update(seen_at=stale)
    assert messages_requeue_stuck() == 1
    message.refresh_from_db()
    assert message.status == "queued"


def test_the_command_reports_what_it_requeued(generic_provider, capsys):
    stuck_message(generic_provider, minutes_ago=10)
    call_command("requeue_stuck")
    assert "Requeued 1 message(s)." in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_every_worker_runs_the_recovery_on_its_own(generic_provider, settings):
    # A worker judges others only once it has itself reached the database for a whole
    # stale period; here that period is short.
    settings.SMSGATEWAY_WORKER_STALE_SECONDS = 0.1
    message = stuck_message(generic_provider, minutes_ago=10)
    stop = threading.Event()
    housekeeping = Housekeeping(worker_id="hk", token=uuid.uuid4(), alive=lambda: True)
    thread = threading.Thread(target=housekeeping.run, args=(stop, 0.05))
    thread.start()
    try:
        for _ in range(100):
            message.refresh_from_db()
            if message.status == "queued":
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join()
    assert message.status == "queued"


@pytest.mark.django_db(transaction=True)
def test_a_worker_back_from_an_outage_does_not_judge_others_at_once(generic_provider):
    """After the database was away, every live worker's beat is old until its next round:
    a worker that just reconnected must not take their messages."""
    message = stuck_message(generic_provider, minutes_ago=10)
    stop = threading.Event()
    housekeeping = Housekeeping(worker_id="hk", token=uuid.uuid4(), alive=lambda: True)
    thread = threading.Thread(target=housekeeping.run, args=(stop, 0.05))
    thread.start()
    try:
        stop.wait(0.5)  # ten rounds, well within the 180 s stale period
    finally:
        stop.set()
        thread.join()
    message.refresh_from_db()
    assert message.status == "sending"
