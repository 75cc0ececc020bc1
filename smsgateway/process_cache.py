"""What a web process looked up, reused for a moment instead of asking again.

A busy provider calls the DLR callback hundreds of times a second, and an integrator the
API as often: each call would ask the database for the same provider and the same API
token. Each process keeps what it found for SMSGATEWAY_LOOKUP_CACHE_SECONDS (2 s by
default, 0 to ask every time). A change saved in the same process applies at once (the
caches are cleared on save and delete); one saved in another process, within that time.
Nothing not found is kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from django.conf import settings

V = TypeVar("V")
# Entries at most: keys of deleted or rotated things are dropped by starting afresh.
LIMIT = 1000


class ProcessCache(Generic[V]):
    def __init__(self) -> None:
        self._found: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], V | None]) -> V | None:
        now = time.monotonic()
        cached = self._found.get(key)
        if cached is not None and now < cached[0]:
            return cached[1]
        value = load()
        lifetime = settings.SMSGATEWAY_LOOKUP_CACHE_SECONDS
        if value is not None and lifetime > 0:
            with self._lock:
                if len(self._found) >= LIMIT:
                    self._found.clear()
                self._found[key] = (now + lifetime, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._found.clear()
