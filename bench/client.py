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


@dataclass
class Load:
    answers: list[Answer]
    seconds: float

    @property
    def per_second(self) -> float:
        return len(self.answers) / self.seconds

    def latency_ms(self, quantile: float) -> float:
        latencies = sorted(a.seconds for a in self.answers)
        return latencies[min(len(latencies) - 1, int(len(latencies) * quantile))] * 1000

    def failures(self, ok: Callable[[Answer], bool]) -> list[Answer]:
        return [a for a in self.answers if not ok(a)]


def post_all(url: str | Sequence[str], bodies: Sequence[bytes], *, concurrency: int) -> Load:
    """POST every body (to `url`, or to url[i] for body i), `concurrency` at a time,
    over keep-alive connections; each answer's time is measured from send to last byte."""
    return asyncio.run(_post_all(url, bodies, concurrency))


async def _post_all(url: str | Sequence[str], bodies: Sequence[bytes], concurrency: int) -> Load:
    answers: list[Answer | None] = [None] * len(bodies)
    urls = [url] * len(bodies) if isinstance(url, str) else url
    next_index = iter(range(len(bodies)))
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one_sender() -> None:
            for i in next_index:
                started = time.perf_counter()
                try:
                    async with session.post(urls[i], data=bodies[i], headers=headers) as response:
                        text = await response.text()
                        answers[i] = Answer(response.status, text, time.perf_counter() - started)
                except (TimeoutError, aiohttp.ClientError) as exc:
                    answers[i] = Answer(0, repr(exc), time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one_sender() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Load([a for a in answers if a is not None], elapsed)
