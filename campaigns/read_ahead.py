"""Run an iterator in a thread a few items ahead of its consumer.

An import reads and checks the next chunk of a file (Python work) while the database
stores the previous one (waiting on a socket or on SQLite, which release the GIL), so
the two overlap instead of taking turns. The thread must not use the database.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar, cast

T = TypeVar("T")

_POLL_SECONDS = 0.1


def read_ahead(items: Iterator[T], *, depth: int = 2) -> Generator[T, None, None]:
    """The items of `items` in order; an exception it raises is raised here, in its place."""
    buffer: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def put(kind: str, value: object) -> bool:
        while not stopped.is_set():
            try:
                buffer.put((kind, value), timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put("item", item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put("error", exc)
        else:
            put("done", None)

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = buffer.get()
            if kind == "done":
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            yield cast(T, value)
    finally:
        # The consumer stopped (finished, failed or closed): let the thread end before
        # whatever it reads from is closed.
        stopped.set()
        thread.join()
