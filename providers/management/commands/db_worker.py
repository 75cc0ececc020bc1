"""`db_worker` with the delivery layer's housekeeping built in.

The same command and options as django-tasks-db's worker; in addition, each worker
process requeues messages abandoned in `sending` by a worker that died, every minute,
so recovery needs no cron job and no one to remember it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import close_old_connections, connection
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from providers import services

logger = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = 60.0


def housekeeping(stop: threading.Event, interval: float = HOUSEKEEPING_INTERVAL) -> None:
    while not stop.wait(interval):
        try:
            close_old_connections()
            services.messages_requeue_stuck()
        except Exception:
            # Housekeeping must never stop the worker; the next round tries again.
            logger.exception("housekeeping failed")
        finally:
            connection.close()


class Command(DbWorkerCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        if not options.get("batch"):
            threading.Thread(
                target=housekeeping, args=(stop,), daemon=True, name="smsgateway-housekeeping"
            ).start()
        try:
            super().handle(*args, **options)
        finally:
            stop.set()
