"""Worker heartbeats and `/healthz`: is the database answering, is any worker alive?"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from unittest.mock import patch

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.utils import timezone

from campaigns.tasks import start_campaign as some_task
from providers.management.commands.db_worker import Housekeeping
from providers.models import WorkerHeartbeat
from providers.ops import health

pytestmark = pytest.mark.django_db


def heartbeat(worker_id: str = "worker-1", *, seconds_ago: float = 0) -> WorkerHeartbeat:
    seen = timezone.now() - timedelta(seconds=seconds_ago)
    return WorkerHeartbeat.objects.create(
        worker_id=worker_id,
        hostname="worker-host.internal",
        pid=4242,
        started_at=seen - timedelta(hours=2),
        seen_at=seen,
    )


# ---------------------------------------------------------------- /healthz


def test_it_is_ok_with_a_fresh_heartbeat(client):
    heartbeat(seconds_ago=30)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "workers": 1, "queue_depth": 0}
    assert "no-cache" in response["Cache-Control"]


def test_it_never_names_the_workers_hosts(client):
    heartbeat()
    assert b"worker-host" not in client.get("/healthz").content


def test_it_is_degraded_without_any_heartbeat(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "degraded",
        "database": "ok",
        "workers": 0,
        "queue_depth": 0,
    }


def test_a_stale_heartbeat_is_no_live_worker(client):
    heartbeat(seconds_ago=181)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"


def test_the_stale_period_is_a_setting(client, settings):
    settings.SMSGATEWAY_WORKER_STALE_SECONDS = 600
    heartbeat(seconds_ago=300)
    assert client.get("/healthz").status_code == 200


def test_it_counts_only_the_workers_still_alive(client):
    heartbeat("alive-1")
    heartbeat("alive-2", seconds_ago=60)
    heartbeat("gone", seconds_ago=900)
    assert client.get("/healthz").json()["workers"] == 2


def test_the_queue_depth_counts_tasks_that_are_due(client):
    heartbeat()
    some_task.enqueue(1)
    some_task.enqueue(1)
    some_task.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1)
    assert client.get("/healthz").json()["queue_depth"] == 2


def test_it_is_down_when_the_database_query_fails(client):
    heartbeat()
    with patch(
        "django.db.backends.utils.CursorWrapper.execute",
        side_effect=OperationalError("server closed the connection unexpectedly"),
    ):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "down",
        "database": "error",
        "workers": None,
        "queue_depth": None,
    }


def test_an_unexpected_error_is_a_503_not_a_500(client):
    heartbeat()
    with patch.object(health, "queue_depth", side_effect=RuntimeError("bug")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "down"


def test_it_answers_only_get_and_head(client):
    heartbeat()
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


# ---------------------------------------------------------------- heartbeats


def test_a_heartbeat_is_one_row_per_worker_renewed_in_place():
    started = timezone.now() - timedelta(minutes=5)
    health.worker_heartbeat_record(worker_id="w-1", started_at=started)
    first = WorkerHeartbeat.objects.get(worker_id="w-1")
    health.worker_heartbeat_record(worker_id="w-1", started_at=started)
    again = WorkerHeartbeat.objects.get(worker_id="w-1")
    assert WorkerHeartbeat.objects.count() == 1
    assert again.seen_at >= first.seen_at
    assert again.started_at == started
    assert again.pid > 0 and again.hostname


def test_heartbeats_older_than_an_hour_are_pruned():
    heartbeat("long-gone", seconds_ago=3700)
    heartbeat("recently-stopped", seconds_ago=1800)
    assert health.worker_heartbeats_prune() == 1
    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == ["recently-stopped"]


@pytest.mark.django_db(transaction=True)
def test_the_housekeeping_beats_at_once_every_round_and_forgets_on_stop():
    heartbeat("long-gone", seconds_ago=3700)
    heartbeat("recently-stopped", seconds_ago=1800)
    stop = threading.Event()
    housekeeping = Housekeeping(worker_id="hk", token=uuid.uuid4(), alive=lambda: True)
    thread = threading.Thread(target=housekeeping.run, args=(stop, 0.05))
    thread.start()
    try:
        first_seen = None
        renewed = False
        for _ in range(100):
            beat = WorkerHeartbeat.objects.filter(worker_id="hk").first()
            if beat and first_seen is None:
                first_seen = beat.seen_at
            pruned = not WorkerHeartbeat.objects.filter(worker_id="long-gone").exists()
            renewed = bool(beat and first_seen and beat.seen_at > first_seen)
            if renewed and pruned:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join()
    assert renewed
    assert set(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == {"recently-stopped"}


@pytest.mark.django_db(transaction=True)
def test_the_worker_beats_under_its_own_worker_id():
    some_task.enqueue(1)
    recorded: list[str] = []
    record = health.worker_heartbeat_record

    def spy(*, worker_id: str, **kwargs: object) -> None:
        recorded.append(worker_id)
        record(worker_id=worker_id, **kwargs)  # type: ignore[arg-type]

    with patch.object(health, "worker_heartbeat_record", spy):
        call_command(
            "db_worker",
            "--max-tasks=1",
            "--worker-id=worker-under-test",
            "--no-startup-delay",
            "--no-reload",
            "--interval=0",
        )
    assert recorded and set(recorded) == {"worker-under-test"}
    # A clean stop forgets the worker at once rather than when its beat goes stale.
    assert not WorkerHeartbeat.objects.exists()


def _running_task(worker_id: str, started_minutes_ago: float):
    from django_tasks_db.models import DBTaskResult

    result = some_task.enqueue(1)
    DBTaskResult.objects.filter(id=result.id).update(
        status="RUNNING",
        worker_ids=[worker_id],
        started_at=timezone.now() - timedelta(minutes=started_minutes_ago),
    )
    return DBTaskResult.objects.get(id=result.id)


@pytest.mark.django_db
def test_a_task_of_a_dead_worker_is_run_again(settings):
    settings.SMSGATEWAY_WORKER_STALE_SECONDS = 60
    WorkerHeartbeat.objects.create(
        worker_id="dead",
        hostname="h",
        pid=1,
        started_at=timezone.now(),
        seen_at=timezone.now() - timedelta(minutes=5),
    )
    WorkerHeartbeat.objects.create(
        worker_id="alive", hostname="h", pid=2, started_at=timezone.now(), seen_at=timezone.now()
    )
    orphan = _running_task("dead", 10)
    busy = _running_task("alive", 10)
    batch = _running_task("never-beats", 10)
    assert health.tasks_requeue_orphaned() == 1
    for task, status in ((orphan, "READY"), (busy, "RUNNING"), (batch, "RUNNING")):
        task.refresh_from_db()
        assert task.status == status


@pytest.mark.django_db(transaction=True)  # the worker closes its connection
def test_a_worker_refused_by_the_database_waits_puts_its_task_back_and_carries_on(monkeypatch):
    from django_tasks_db.management.commands import db_worker as upstream

    from providers.management.commands import db_worker

    own = _running_task("worker-under-test", 0)
    other = _running_task("another-worker", 0)
    runs: list[str] = []
    sleeps: list[float] = []

    def run(self):
        runs.append(self.worker_id)
        if len(runs) == 1:  # SQLite locked for longer than the busy timeout, say
            raise OperationalError("database is locked")

    monkeypatch.setattr(upstream.Worker, "run", run)
    monkeypatch.setattr(db_worker.time, "sleep", sleeps.append)

    call_command("db_worker", "--batch", "--worker-id=worker-under-test", "--no-reload")

    assert runs == ["worker-under-test", "worker-under-test"]  # it did not die
    assert sleeps == [db_worker.RESUME_DELAY]
    own.refresh_from_db()
    other.refresh_from_db()
    assert (own.status, other.status) == ("READY", "RUNNING")
