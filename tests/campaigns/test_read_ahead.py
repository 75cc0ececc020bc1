from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from campaigns.read_ahead import read_ahead


def numbers_then_failure(count: int) -> Iterator[int]:
    yield from range(count)
    raise ValueError("row 7 is broken")


def read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_items_arrive_in_order_and_a_failure_arrives_in_its_place():
    received = []
    with pytest.raises(ValueError, match="row 7 is broken"):
        for item in read_ahead(numbers_then_failure(50)):
            received.append(item)
    assert received == list(range(50))


def test_a_consumer_that_stops_early_leaves_no_thread_reading():
    endless = iter(int, 1)  # never ends
    items = read_ahead(endless)
    assert next(items) == 0
    items.close()
    assert read_ahead_threads() == []
