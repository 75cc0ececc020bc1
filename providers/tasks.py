"""Background tasks: how this project declares them.

Every task here may run again (each takes ids and looks the rows up, and what it writes
is idempotent), so a task whose database goes away while it runs is not failed: it waits
for the database and runs again from the start.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import DatabaseError, connection
from django_tasks import task

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
# How long a task waits for its database between tries.
DATABASE_RETRY_SECONDS = 5.0


def database_task(function: F) -> Any:
    """`@task()` for a function that is run again, whole, while its database is away."""

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        while True:
            try:
                return function(*args, **kwargs)
            except DatabaseError:
                if database_answers():
                    raise  # the task's own fault: failed like any other
                logger.warning(
                    "task %s lost the database; running it again in %s s",
                    function.__qualname__,
                    DATABASE_RETRY_SECONDS,
                )
                time.sleep(DATABASE_RETRY_SECONDS)

    return task()(run)


def database_answers() -> bool:
    """Whether the database answers a trivial query now (on a fresh connection)."""
    connection.close()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        connection.close()
        return False
    return True
