"""`db_worker`: django-tasks-db's worker, with the dispatcher and housekeeping built in.

The same command and options as django-tasks-db's worker. The main thread runs tasks
(imports, campaign preparation) as django-tasks-db does. In addition, each worker process

- runs the dispatcher (`providers.sending.dispatcher`) in a thread of its own: it sends every
  due message, woken at once when messages are queued (`providers.sending.wakeups`);
- runs a housekeeping thread that, every SMSGATEWAY_HOUSEKEEPING_SECONDS (a minute by
  default), records the worker's heartbeat (also once at start, and forgets it on a
  clean stop), so /healthz and /metrics can tell whether any worker is alive and other
  workers know its claims are live; deletes heartbeats not renewed for an hour; and
  requeues tasks and messages abandoned by a worker that died,

so recovery needs no cron job and no one to remember it. A database that refuses for a
while (SQLite locked for longer than its busy timeout, PostgreSQL restarting) does not
end the worker either: it waits, puts back the task it was running, and carries on; the
dispatcher keeps the outcomes of the requests it finished until it can record them.

With --batch, it runs the tasks that are due and sends the messages that are due, until
there are neither, then exits.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from argparse import ArgumentParser
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.utils import OperationalError
from django.utils import timezone
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django.utils.crypto import get_random_string
from django_tasks import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.models import DBTaskResult

from providers.ops import health
from providers.sending.dispatcher import Dispatcher
from providers.sending.retry import messages_requeue_stuck
from providers.sending.wakeups import Listener

logger = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = 60.0
# How long a stopping worker waits for a housekeeping round in progress to finish.
HOUSEKEEPING_STOP_TIMEOUT = 5.0
# How long a stopping worker waits for the requests in flight (they are bounded by the
# provider timeouts) and for their outcomes to be recorded.
DISPATCHER_STOP_TIMEOUT = 60.0
# How long a worker waits after the database refused it before it tries again.
RESUME_DELAY = 5.0
# How often an idle worker looks for a task (django-tasks-db's default is 1 s); each look
# is one small query. Messages do not wait for this: the dispatcher sends them.
POLL_SECONDS = 0.2


class Housekeeping:
    """The housekeeping thread's work: beat, prune, and take back what dead workers left.

    A worker judges others dead by their heartbeats, so it does so only after it has
    reached the database without a failure for a whole stale period itself: after an
    outage every live worker's beat is old until its next round, and their claims must
    not be taken back meanwhile.
    """

    def __init__(self, *, worker_id: str, token: uuid.UUID, alive: Callable[[], bool]) -> None:
        self.worker_id = worker_id
        self.token = token
        self.alive = alive
        self.started_at = timezone.now()
        self.connected_since = time.monotonic()

    def run(self, stop: threading.Event, interval: float) -> None:
        """Beat at once, then run a round every `interval` until `stop` is set."""
        self.run_steps([self.beat])
        while not stop.wait(interval):
            steps = [self.beat, health.worker_heartbeats_prune]
            if time.monotonic() - self.connected_since >= settings.SMSGATEWAY_WORKER_STALE_SECONDS:
                steps += [health.tasks_requeue_orphaned, messages_requeue_stuck]
            self.run_steps(steps)
        self.run_steps([lambda: health.worker_heartbeat_delete(worker_id=self.worker_id)])

    def beat(self) -> None:
        if not self.alive():
            # The dispatcher stopped: stop vouching for this worker's claims, so that
            # the other workers take them back.
            logger.error("the dispatcher of worker %s is not running", self.worker_id)
            return
        health.worker_heartbeat_record(
            worker_id=self.worker_id, started_at=self.started_at, token=self.token
        )

    def run_steps(self, steps: Sequence[Callable[[], object]]) -> None:
        for step in steps:
            try:
                step()
            except DatabaseError:
                logger.exception("housekeeping failed")
                self.connected_since = time.monotonic()
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

    Nothing of this process runs them any more; like any task they may run again.
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
        # campaign and an upload wait that long for a worker.
        parser.set_defaults(interval=POLL_SECONDS)

    def handle(self, *args: Any, **options: Any) -> None:
        # Under --reload this process only watches the files and restarts a child
        # process, which runs the tasks, the dispatcher and its own housekeeping.
        watcher = options.get("reload") and os.environ.get(DJANGO_AUTORELOAD_ENV) != "true"
        if watcher:
            super().handle(*args, **options)
        elif options.get("batch"):
            self._handle_batch(*args, **options)
        else:
            self._handle_forever(*args, **options)

    def _handle_batch(self, *args: Any, **options: Any) -> None:
        dispatcher = Dispatcher()
        while True:
            self._run_tasks(*args, **options)
            # What was sent may have queued tasks (a campaign completing): run those too.
            if not dispatcher.drain():
                return

    def _run_tasks(self, *args: Any, **options: Any) -> None:
        """django-tasks-db's loop, resumed after the database refused it."""
        while True:
            try:
                super().handle(*args, **options)
                return
            except OperationalError:
                logger.exception("worker lost the database; resuming in %s s", RESUME_DELAY)
                connection.close()
                time.sleep(RESUME_DELAY)
                try:
                    tasks_requeue_own(worker_id=options["worker_id"])
                except DatabaseError:
                    logger.exception("could not put back the tasks of this worker")
                finally:
                    connection.close()

    def _handle_forever(self, *args: Any, **options: Any) -> None:
        worker_id = options.get("worker_id") or get_random_string(32)
        options["worker_id"] = worker_id
        token = uuid.uuid4()
        stop = threading.Event()
        dispatcher = Dispatcher(token=token)
        sending = threading.Thread(
            target=dispatcher.run, args=(stop,), daemon=True, name="smsgateway-dispatcher"
        )
        housekeeping = Housekeeping(worker_id=worker_id, token=token, alive=sending.is_alive)
        tidying = threading.Thread(
            target=housekeeping.run,
            args=(stop, settings.SMSGATEWAY_HOUSEKEEPING_SECONDS),
            daemon=True,
            name="smsgateway-housekeeping",
        )
        listener = Listener(dispatcher.heard)
        sending.start()
        tidying.start()
        listener.start()
        try:
            self._run_tasks(*args, **options)
        finally:
            stop.set()
            listener.stop()
            sending.join(DISPATCHER_STOP_TIMEOUT)
            tidying.join(HOUSEKEEPING_STOP_TIMEOUT)
