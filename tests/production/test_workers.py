"""Several real `db_worker` processes on one database, sending to a fake provider.

These run the product as it runs in production: separate worker processes (started with
`manage.py db_worker`), the test database shared with them (a file on SQLite, the test
database on PostgreSQL), real HTTP to a fake provider on loopback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from campaigns import dispatch, services
from campaigns.models import Campaign
from providers.models import Message, WorkerHeartbeat
from providers.sending.create import message_create
from tests.factories import csv_file, make_campaign, make_provider, numbers_csv
from tests.fake_provider import Answer, FakeProvider
from tests.production.conftest import database_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def start_worker(tmp_path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    workers: list[subprocess.Popen[bytes]] = []

    def start(**extra_env: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "SECRET_KEY": settings.SECRET_KEY,
            "SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS": "true",
            "SMSGATEWAY_RETRY_BASE_SECONDS": "0.05",
            "SMSGATEWAY_RETRY_MAX_SECONDS": "0.2",
            "LOG_LEVEL": "WARNING",
            **extra_env,
        }
        log = open(tmp_path / f"worker-{len(workers)}.log", "wb")
        worker = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "db_worker",
                "--no-reload",
                "--interval",
                "0.05",
                "--no-startup-delay",
                "-v",
                "0",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def completed(campaign: Campaign) -> Callable[[], bool]:
    return lambda: Campaign.objects.get(id=campaign.id).status == Campaign.Status.COMPLETED


def launch(campaign: Campaign, recipients: int) -> None:
    services.upload_create(campaign=campaign, file=csv_file(numbers_csv(recipients)))
    services.campaign_launch(campaign=campaign)


def test_three_workers_send_20000_messages_each_exactly_once(start_worker, settings):
    settings.SMSGATEWAY_INLINE_IMPORT_BYTES = 10 * 1024 * 1024
    with FakeProvider() as fake:
        campaign = make_campaign(make_provider(fake.url, batch_size=50))
        launch(campaign, 20_000)
        dispatch.campaign_prepare(campaign_id=campaign.id)
        # Three dispatchers find the same due messages at once: the claims must hold.
        for _ in range(3):
            start_worker()
        wait_for(completed(campaign), 240, "the campaign to complete")
    received = Counter(record["id"] for r in fake.received for record in r.json()["msgs"])
    ids = {str(i) for i in Message.objects.values_list("id", flat=True)}
    assert len(ids) == 20_000
    assert set(received) == ids
    assert set(received.values()) == {1}
    assert set(Message.objects.values_list("status", flat=True)) == {"submitted"}


def test_a_killed_worker_loses_nothing_and_duplicates_only_what_was_in_flight(start_worker):
    # Slow answers, several requests in flight: the kill lands mid-campaign.
    with FakeProvider(lambda request: Answer(delay=0.2)) as fake:
        campaign = make_campaign(make_provider(fake.url))
        launch(campaign, 300)
        recovery = {
            "SMSGATEWAY_STUCK_AFTER_SECONDS": "2",
            "SMSGATEWAY_HOUSEKEEPING_SECONDS": "0.5",
            "SMSGATEWAY_WORKER_STALE_SECONDS": "2",
            "SMSGATEWAY_SEND_CONCURRENCY": "8",
        }
        doomed = start_worker(**recovery)
        wait_for(lambda: len(fake.received) >= 60, 60, "the first sends")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        in_flight = Message.objects.filter(status="sending").count()
        for _ in range(2):
            start_worker(**recovery)
        wait_for(completed(campaign), 180, "the campaign to complete after the kill")
    received = Counter(r.json()["id"] for r in fake.received)
    ids = {str(i) for i in Message.objects.values_list("id", flat=True)}
    assert set(received) == ids  # every message reached the provider
    duplicates = sum(count - 1 for count in received.values())
    assert duplicates <= in_flight
    assert set(Message.objects.values_list("status", flat=True)) == {"submitted"}


def test_one_worker_sends_a_burst_of_api_messages_concurrently_and_wakes_for_each(
    start_worker,
):
    """A queued message wakes the worker: with its poll set to a minute, messages queued
    while it idles still go out at once, and a burst goes out many at a time."""
    in_flight = []
    busiest = [0]
    lock = threading.Lock()

    def slow(request):
        with lock:
            in_flight.append(1)
            busiest[0] = max(busiest[0], len(in_flight))
        time.sleep(0.3)
        with lock:
            in_flight.pop()
        return Answer()

    with FakeProvider(slow) as fake:
        provider = make_provider(fake.url)
        start_worker(SMSGATEWAY_DISPATCH_POLL_SECONDS="60")
        wait_for(lambda: WorkerHeartbeat.objects.exists(), 60, "the worker to start")
        time.sleep(1)  # idle now, until its next poll a minute away
        first = message_create(provider=provider, to="+919876543210", body="1")
        wait_for(lambda: len(fake.received) == 1, 30, "the first message, well before the poll")
        burst = [
            message_create(provider=provider, to=f"+9198765{n:05d}", body="b") for n in range(200)
        ]
        wait_for(lambda: len(fake.received) == 201, 60, "the burst")
    received = Counter(r.json()["id"] for r in fake.received)
    assert set(received) == {str(m.id) for m in [first, *burst]}
    assert set(received.values()) == {1}
    # A task per message sent one at a time; the dispatcher keeps many in flight.
    assert busiest[0] >= 20
