from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from providers import services
from providers.management.commands.db_worker import housekeeping
from providers.models import Message

pytestmark = pytest.mark.django_db


def stuck_message(provider, *, minutes_ago: float, campaign_ref: str = "") -> Message:
    message = services.message_create(
        provider=provider, to="+919876543210", body="hi", campaign_ref=campaign_ref, enqueue=False
    )
    Message.objects.filter(id=message.id).update(
        status="sending", updated_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return message


def test_an_abandoned_message_goes_back_to_the_queue_with_a_task(
    generic_provider, django_capture_on_commit_callbacks
):
    message = stuck_message(generic_provider, minutes_ago=10)
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.messages_requeue_stuck() == 1
    message.refresh_from_db()
    assert message.status == "queued"
    assert "worker sending it stopped" in message.events.last().description
    assert len(callbacks) == 1  # its send task


def test_a_message_still_in_flight_is_left_alone(generic_provider):
    message = stuck_message(generic_provider, minutes_ago=0.1)
    assert services.messages_requeue_stuck() == 0
    message.refresh_from_db()
    assert message.status == "sending"


def test_a_campaign_message_is_left_to_its_campaign(
    generic_provider, django_capture_on_commit_callbacks
):
    message = stuck_message(generic_provider, minutes_ago=10, campaign_ref="7")
    with django_capture_on_commit_callbacks() as callbacks:
        services.messages_requeue_stuck()
    message.refresh_from_db()
    assert message.status == "queued" and message.next_attempt_at is not None
    assert callbacks == []


def test_the_command_reports_what_it_requeued(generic_provider, capsys):
    stuck_message(generic_provider, minutes_ago=10)
    call_command("requeue_stuck")
    assert "Requeued 1 message(s)." in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_every_worker_runs_the_recovery_on_its_own(generic_provider):
    message = stuck_message(generic_provider, minutes_ago=10)
    stop = threading.Event()
    thread = threading.Thread(target=housekeeping, args=(stop, 0.05))
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
