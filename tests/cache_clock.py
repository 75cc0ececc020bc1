"""Let time pass for Django's cache without waiting: figures kept a few seconds expire."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.cache.backends import locmem


def let_seconds_pass(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the clock of the (local-memory) cache forward by `seconds`."""
    now = locmem.time.time
    monkeypatch.setattr(locmem, "time", SimpleNamespace(time=lambda: now() + seconds))
