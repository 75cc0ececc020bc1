"""An asyncio HTTP load client: POST many bodies, a fixed number in flight at once.

Used both to drive the product (DLR callbacks) and as the plain-client baseline for
dispatch, so that both sides of a ratio pay for the same client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp


@dataclass
class Answer:
    status: int  # 0: no HTTP answer (text says why)
    text: str
    seconds: float
    # When the request was due to go (time.time()): for open-loop loads, when it was sent.
    at: float = 0.0


@dataclass
class Load:
    answers: list[Answer]
    seconds: float
    # When the first request went (time.time()).
    started_at: float = 0.0

    @property
    def per_second(self) -> float:
        return len(self.answers) / self.seconds

    def latency_ms(self, quantile: float) -> float:
        latencies = sorted(a.seconds for a in self.answers)
        return latencies[min(len(latencies) - 1, int(len(latencies) * quantile))] * 1000

    def failures(self, ok: Callable[[Answer], bool]) -> list[Answer]:
        return [a for a in self.answers if not ok(a)]


def post_all(
    url: str | Sequence[str],
    bodies: Sequence[bytes],
    *,
    concurrency: int,
    headers: dict[str, str] | None = None,
) -> Load:
    """POST every body (to `url`, or to url[i] for body i), `concurrency` at a time,
    over keep-alive connections; each answer's time is measured from send to last byte."""
    return asyncio.run(_post_all(url, bodies, concurrency, headers or {}))


async def _post_all(
    url: str | Sequence[str], bodies: Sequence[bytes], concurrency: int, extra: dict[str, str]
) -> Load:
    answers: list[Answer | None] = [None] * len(bodies)
    urls = [url] * len(bodies) if isinstance(url, str) else url
    next_index = iter(range(len(bodies)))
    headers = {"Content-Type": "application/json", **extra}
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one_sender() -> None:
            for i in next_index:
                started = time.perf_counter()
                at = time.time()
                try:
                    async with session.post(urls[i], data=bodies[i], headers=headers) as response:
                        text = await response.text()
                        took = time.perf_counter() - started
                        answers[i] = Answer(response.status, text, took, at)
                except (TimeoutError, aiohttp.ClientError) as exc:
                    answers[i] = Answer(0, repr(exc), time.perf_counter() - started)

        started, started_at = time.perf_counter(), time.time()
        await asyncio.gather(*(one_sender() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Load([a for a in answers if a is not None], elapsed, started_at)


def post_at_rate(
    url: str,
    bodies: Sequence[bytes],
    *,
    per_second: float,
    headers: dict[str, str] | None = None,
    connections: int = 64,
) -> Load:
    """POST body i at start + i / per_second, whatever came back before (an open-loop
    load: a slow server does not slow the offered rate down). Each answer's `at` is when
    its request was due, so that latencies include any wait in the client."""
    return asyncio.run(_post_at_rate(url, bodies, per_second, headers or {}, connections))


async def _post_at_rate(
    url: str, bodies: Sequence[bytes], per_second: float, extra: dict[str, str], connections: int
) -> Load:
    headers = {"Content-Type": "application/json", **extra}
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    timeout = aiohttp.ClientTimeout(total=120)
    answers: list[Answer | None] = [None] * len(bodies)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(i: int, due: float) -> None:
            try:
                async with session.post(url, data=bodies[i], headers=headers) as response:
                    text = await response.text()
                    answers[i] = Answer(response.status, text, time.time() - due, due)
            except (TimeoutError, aiohttp.ClientError) as exc:
                answers[i] = Answer(0, repr(exc), time.time() - due, due)

        started = time.time()
        tasks = []
        for i in range(len(bodies)):
            due = started + i / per_second
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        elapsed = time.time() - started
    return Load([a for a in answers if a is not None], elapsed, started)
