"""Waking the dispatchers when messages are queued, so none waits for a poll.

PostgreSQL: the transaction that queues messages sends `NOTIFY smsgateway_dispatch` with
the provider's id (delivered when it commits, once per provider however many messages
it queued), and each worker's `Listener` holds a session that LISTENs. SQLite, where
every process is on one machine: the listener asks the database file whether anyone
committed since it last looked (`PRAGMA data_version`, which reads no table), every
`SQLITE_POLL_SECONDS`.

Either way the listener only says "look now" (naming the provider when it can); the
dispatcher then finds the due messages in the database, so a notification that is lost
(PgBouncer in transaction mode, a dropped connection) costs a poll interval, never a message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connection, connections

logger = logging.getLogger(__name__)

CHANNEL = "smsgateway_dispatch"
SQLITE_POLL_SECONDS = 0.02
# How long the listener waits for a notification before it checks whether it should stop.
LISTEN_TIMEOUT = 1.0
# How long it waits after losing its connection before it listens again.
RECONNECT_DELAY = 1.0


def wake(*, provider_id: int) -> None:
    """Tell every dispatcher this provider has new due messages, when the current
    transaction commits (at once outside one)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, str(provider_id)])


class Listener:
    """Calls `heard(provider_id)` from a thread of its own when messages may be due;
    `provider_id` is None when it cannot say which provider (after a reconnect, on SQLite)."""

    def __init__(self, heard: Callable[[int | None], None]) -> None:
        self.heard = heard
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smsgateway-listener", daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(LISTEN_TIMEOUT + 1)

    def _run(self) -> None:
        # A connection of its own: the thread's Django connection would be closed and
        # reopened by the request machinery's rules, dropping the LISTEN.
        database = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            while not self._stop.is_set():
                try:
                    if database.vendor == "postgresql":
                        self._listen(database)
                    else:
                        self._poll(database)
                except Exception:
                    logger.warning("dispatcher wake-ups lost their connection; retrying")
                    database.close()
                    self._stop.wait(RECONNECT_DELAY)
        finally:
            database.close()

    def _listen(self, database: object) -> None:
        database.ensure_connection()  # type: ignore[attr-defined]
        raw = database.connection  # type: ignore[attr-defined]
        raw.autocommit = True
        raw.execute(f"LISTEN {CHANNEL}")
        # What was queued while nobody listened is found by looking once.
        self.heard(None)
        while not self._stop.is_set():
            for notify in raw.notifies(timeout=LISTEN_TIMEOUT):
                self.heard(int(notify.payload) if notify.payload.isdigit() else None)

    def _poll(self, database: object) -> None:
        database.ensure_connection()  # type: ignore[attr-defined]
        raw = database.connection  # type: ignore[attr-defined]
        seen = None
        while not self._stop.wait(SQLITE_POLL_SECONDS):
            (version,) = raw.execute("PRAGMA data_version").fetchone()
            if version != seen:
                seen = version
                self.heard(None)
