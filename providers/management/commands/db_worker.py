"""`db_worker` with the delivery layer's housekeeping built in.

The same command and options as django-tasks-db's worker; in addition, each worker
process runs a housekeeping thread that, every SMSGATEWAY_HOUSEKEEPING_SECONDS (a
minute by default),

- records the worker's heartbeat (also once at start, and forgets it on a clean stop),
  so /healthz and /metrics can tell whether any worker is alive, and deletes heartbeats
  not renewed for an hour;
- requeues tasks and messages abandoned by a worker that died (tasks left RUNNING,
  messages left in `sending`),

so recovery needs no cron job and no one to remember it. A database that refuses for a
while (SQLite locked for longer than its busy timeout, PostgreSQL restarting) does not
end the worker either: it waits, puts back the task it was running, and carries on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from argparse import ArgumentParser
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.utils import OperationalError
from django.utils import timezone
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django.utils.crypto import get_random_string
from django_tasks import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.models import DBTaskResult

from providers import health, services

logger = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = 60.0
# How long a stopping worker waits for a housekeeping round in progress to finish.
HOUSEKEEPING_STOP_TIMEOUT = 5.0
# How long a worker waits after the database refused it before it tries again.
RESUME_DELAY = 5.0
# How often an idle worker looks for a task (django-tasks-db's default is 1 s); each look
# is one small query.
POLL_SECONDS = 0.2


def housekeeping(
    stop: threading.Event, interval: float = HOUSEKEEPING_INTERVAL, *, worker_id: str = ""
) -> None:
    """Beat at once, then run a housekeeping round every `interval` until `stop` is set."""
    worker_id = worker_id or get_random_string(32)
    started_at = timezone.now()

    def beat() -> None:
        health.worker_heartbeat_record(worker_id=worker_id, started_at=started_at)

    _run([beat])
    while not stop.wait(interval):
        _run(
            [
                beat,
                health.worker_heartbeats_prune,
                health.tasks_requeue_orphaned,
                services.messages_requeue_stuck,
            ]
        )
    _run([lambda: health.worker_heartbeat_delete(worker_id=worker_id)])


def _run(steps: list[Callable[[], object]]) -> None:
    for step in steps:
        try:
            step()
        except Exception:
            # Housekeeping must never stop the worker, and one failing step must not
            # keep the others from running; the next round tries again.
            logger.exception("housekeeping failed")
        finally:
            # A fresh connection each time: this thread sleeps far longer than any
            # connection should be kept idle.
            connection.close()


def tasks_requeue_own(*, worker_id: str) -> int:
    """Put back the tasks this worker left RUNNING when the database failed under it.

    Nothing of this process runs them any more; like any task they may run again
    (messages are claimed with one atomic UPDATE).
    """
    requeued = 0
    running = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING)
    for task in running.only("id", "worker_ids"):
        if task.worker_ids and task.worker_ids[-1] == worker_id:
            requeued += DBTaskResult.objects.filter(
                id=task.id, status=TaskResultStatus.RUNNING
            ).update(status=TaskResultStatus.READY, started_at=None)
    return requeued


class Command(DbWorkerCommand):
    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        # An idle worker looks for tasks every POLL_SECONDS, not every second: a launched
        # campaign, each chunk it queues and a test SMS wait that long for a worker.
        parser.set_defaults(interval=POLL_SECONDS)

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        thread = None
        # Under --reload this process only watches the files and restarts a child
        # process, which runs the tasks and its own housekeeping.
        watcher = options.get("reload") and os.environ.get(DJANGO_AUTORELOAD_ENV) != "true"
        if not options.get("batch") and not watcher:
            interval = settings.SMSGATEWAY_HOUSEKEEPING_SECONDS
            thread = threading.Thread(
                target=housekeeping,
                args=(stop, interval),
                kwargs={"worker_id": options.get("worker_id", "")},
                daemon=True,
                name="smsgateway-housekeeping",
            )
            thread.start()
        try:
            while True:
                try:
                    super().handle(*args, **options)
                    return
                except OperationalError:
                    logger.exception("worker lost the database; resuming in %s s", RESUME_DELAY)
                    connection.close()
                    time.sleep(RESUME_DELAY)
                    _run([lambda: tasks_requeue_own(worker_id=options.get("worker_id", ""))])
        finally:
            stop.set()
            if thread is not None:
                thread.join(HOUSEKEEPING_STOP_TIMEOUT)
