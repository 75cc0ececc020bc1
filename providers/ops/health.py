"""Is it working? Worker heartbeats and the `/healthz` endpoint.

Every `db_worker` records a heartbeat (`WorkerHeartbeat`) from its housekeeping thread;
a worker counts as alive while its heartbeat is younger than
`SMSGATEWAY_WORKER_STALE_SECONDS`. `/healthz` is for load balancers and uptime checks:
no login, no secrets, no worker hostnames, and never a 500.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from providers.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

# A heartbeat not renewed for this long belongs to a worker that is gone for good.
HEARTBEAT_RETENTION = timedelta(hours=1)


# ---------------------------------------------------------------- heartbeats


def worker_heartbeat_record(
    *, worker_id: str, started_at: datetime, token: uuid.UUID | None = None
) -> None:
    """Record that this process, the worker `worker_id` claiming with `token`, is alive
    now (one upsert)."""
    WorkerHeartbeat.objects.bulk_create(
        [
            WorkerHeartbeat(
                worker_id=worker_id,
                hostname=socket.gethostname()[:255],
                pid=os.getpid(),
                started_at=started_at,
                seen_at=timezone.now(),
                token=token,
            )
        ],
        update_conflicts=True,
        unique_fields=["worker_id"],
        update_fields=["hostname", "pid", "started_at", "seen_at", "token"],
    )


def worker_heartbeat_delete(*, worker_id: str) -> None:
    """Forget a worker that stopped cleanly, so it is not counted until its beat ages."""
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def worker_heartbeats_prune() -> int:
    """Delete heartbeats not renewed for an hour; returns how many."""
    cutoff = timezone.now() - HEARTBEAT_RETENTION
    deleted, _ = WorkerHeartbeat.objects.filter(seen_at__lt=cutoff).delete()
    return deleted


def stale_after() -> timedelta:
    """How long a worker may go unseen before it no longer counts as alive."""
    return timedelta(seconds=settings.SMSGATEWAY_WORKER_STALE_SECONDS)


def workers_alive() -> int:
    """How many workers were seen within the stale period (one indexed count)."""
    return WorkerHeartbeat.objects.filter(seen_at__gte=timezone.now() - stale_after()).count()


def tasks_requeue_orphaned() -> int:
    """Put tasks left RUNNING by a worker that died back in the queue; returns how many.

    A worker killed in the middle of a task leaves it RUNNING for ever. Every task here
    may run again (messages are claimed with one atomic UPDATE), so a live worker simply
    runs it again. A task's worker is judged by its heartbeat: stale means dead. A worker
    without any heartbeat (a `--batch` run, which does not beat) is given an hour.
    """
    now = timezone.now()
    stale = now - stale_after()
    beats = dict(WorkerHeartbeat.objects.values_list("worker_id", "seen_at"))
    requeued = 0
    running = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING, started_at__lt=stale)
    for task in running.only("id", "worker_ids", "started_at"):
        worker = task.worker_ids[-1] if task.worker_ids else ""
        seen_at = beats.get(worker)
        if seen_at is not None and seen_at >= stale:
            continue  # its worker is alive: still running
        if seen_at is None and task.started_at and task.started_at > now - HEARTBEAT_RETENTION:
            continue
        requeued += DBTaskResult.objects.filter(
            id=task.id, status=TaskResultStatus.RUNNING, started_at=task.started_at
        ).update(status=TaskResultStatus.READY, started_at=None)
    if requeued:
        logger.warning("requeued %s tasks of workers that stopped", requeued)
    return requeued


def queue_depth() -> int:
    """Tasks waiting for a worker: READY and due (django-tasks-db's own definition)."""
    return DBTaskResult.objects.ready().count()


# ---------------------------------------------------------------- /healthz


def database_ping() -> None:
    """Raise if the database does not answer a trivial query."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 `ok` when the database answers and a worker is alive, else 503.

    `down` (503): the database failed; `degraded` (503): the database is fine but no
    worker has been seen within the stale period, so nothing is being sent.
    """
    try:
        database_ping()
        workers = workers_alive()
        depth = queue_depth()
    except Exception:
        # Whatever went wrong, the answer is "down", never a 500 page.
        logger.exception("health check: the database query failed")
        return JsonResponse(
            {"status": "down", "database": "error", "workers": None, "queue_depth": None},
            status=503,
        )
    status = "ok" if workers else "degraded"
    return JsonResponse(
        {"status": status, "database": "ok", "workers": workers, "queue_depth": depth},
        status=200 if workers else 503,
    )
