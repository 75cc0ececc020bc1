"""Campaign dispatch: from the launch API call until every message is submitted.

A draft campaign with N recipients is seeded (not timed); the clock starts when the
launch request is sent and stops at the latest `submitted_at` among its messages, so
message creation, queueing, the db_worker and the HTTP calls are all inside it.
The fake provider must then have received every message id exactly once.

Baseline: Kannel, measured in the same run (bench/kannel.py): its sendsms-to-provider
rate in single mode at the same provider latency; batch mode is held to four times
Kannel's rate at 0 ms (Kannel cannot batch). A plain aiohttp client posting the same
number of equivalent requests to the same fake provider, as many in flight as the
product allows, is measured too (in the notes): the floor of this Python process.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Max, QuerySet

from providers.models import Message, Provider

from .. import seed
from ..client import post_all
from ..context import Context
from ..report import Check, Run, Spec

Status = Message.Status
# A campaign that makes no progress for this long is stuck: the run fails.
STALL_SECONDS = 120.0
# The clock stops at the last submitted_at, not at a poll: polling seldom keeps its
# counting query from competing with the run it measures.
POLL_SECONDS = 1.0

BATCH_SPECS = [Spec("msg/s", None, baseline_ratio=4.0, baseline_name="Kannel", sqlite_half=True)]
SINGLE_100MS_SPECS = [
    Spec("msg/s", None, baseline_ratio=1.0, baseline_name="Kannel", sqlite_half=True)
]
SINGLE_0MS_SPECS = SINGLE_100MS_SPECS


def dispatch_batch(ctx: Context, number: int) -> Run:
    ctx.fake.set_latency(0)
    provider = seed.provider_create(
        nickname=f"Batch {number}", endpoint=ctx.fake.url, batch_size=ctx.sizes.batch_size
    )
    rate, checks = _campaign_rate(ctx, provider, ctx.sizes.dispatch_batch, run=number)
    return Run(
        {"msg/s": rate},
        baseline=ctx.kannel_figure(0, number, "msg/s"),
        checks=checks,
        notes={"records per request": provider.batch_size, "cpu us per message": ctx.cpu_notes},
    )


def dispatch_single_100ms(ctx: Context, number: int) -> Run:
    return _single(ctx, number, latency_ms=100)


def dispatch_single_0ms(ctx: Context, number: int) -> Run:
    return _single(ctx, number, latency_ms=0)


def _single(ctx: Context, number: int, *, latency_ms: int) -> Run:
    ctx.fake.set_latency(latency_ms)
    provider = seed.provider_create(
        nickname=f"Single {latency_ms} ms {number}", endpoint=ctx.fake.url
    )
    count = ctx.sizes.dispatch_single
    rate, checks = _campaign_rate(ctx, provider, count, run=number)
    concurrency = settings.SMSGATEWAY_SEND_CONCURRENCY * ctx.db_workers
    baseline, baseline_checks = plain_client_rate(ctx, count=count, concurrency=concurrency)
    return Run(
        {"msg/s": rate},
        baseline=ctx.kannel_figure(latency_ms, number, "msg/s"),
        checks=checks + baseline_checks,
        notes={
            "concurrency": concurrency,
            "latency_ms": latency_ms,
            "plain client msg/s": baseline,
            "cpu us per message": ctx.cpu_notes,
        },
    )


def _campaign_rate(
    ctx: Context, provider: Provider, count: int, *, run: int
) -> tuple[float, list[Check]]:
    campaign = seed.campaign_with_recipients(
        provider=provider, user=ctx.user, count=count, name=f"Dispatch {run}"
    )
    ctx.fake.reset()
    before = ctx.stack.cpu_seconds(ctx.fake)
    started = time.time()
    answer = ctx.api.post(f"{ctx.url}/api/v1/campaigns/{campaign.id}/launch/", timeout=600)
    if answer.status_code != 202:
        raise RuntimeError(f"launch answered {answer.status_code}: {answer.text[:2000]}")
    messages = Message.objects.filter(campaign_ref=str(campaign.id))
    _wait_until_submitted(ctx, messages, count)
    last: datetime | None = messages.aggregate(last=Max("submitted_at"))["last"]
    finished = last.timestamp() if last else time.time()
    after = ctx.stack.cpu_seconds(ctx.fake)
    ctx.cpu_notes = {part: round((after[part] - before[part]) / count * 1e6) for part in after}
    return count / (finished - started), exactly_once(ctx, messages, count)


def _wait_until_submitted(ctx: Context, messages: QuerySet[Message], count: int) -> None:
    progress, last_change = -1, time.monotonic()
    while True:
        ctx.stack.check_alive()
        by_status = Counter(dict(messages.values_list("status").annotate(n=Count("id")).order_by()))
        if by_status[Status.FAILED]:
            raise RuntimeError(f"messages failed while sending: {dict(by_status)}")
        done = by_status[Status.SUBMITTED] + by_status[Status.DELIVERED]
        if done >= count:
            return
        if done != progress:
            progress, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > STALL_SECONDS:
            raise RuntimeError(f"no progress for {STALL_SECONDS:.0f} s: {dict(by_status)}")
        time.sleep(POLL_SECONDS)


def exactly_once(ctx: Context, messages: QuerySet[Message], count: int) -> list[Check]:
    """Every message of the campaign reached the provider, once; nothing else did."""
    stats = ctx.fake.stats()
    received = ctx.fake.ids()
    expected = {str(i) for i in messages.values_list("id", flat=True)}
    missing = expected - received
    unknown = received - expected
    return [
        Check("one message per recipient", len(expected) == count, f"{len(expected)} of {count}"),
        Check(
            "provider received every message",
            not missing,
            f"{len(missing)} missing, e.g. {sorted(missing)[:3]}",
        ),
        Check(
            "provider received no message twice",
            stats["duplicates"] == 0,
            f"{stats['duplicates']} duplicates",
        ),
        Check("provider received nothing else", not unknown, f"{len(unknown)} unknown ids"),
    ]


def plain_client_rate(ctx: Context, *, count: int, concurrency: int) -> tuple[float, list[Check]]:
    """The same requests from a plain asyncio client: the floor the product is held to."""
    ctx.fake.reset()
    bodies = [
        json.dumps({"to": seed.phone(n)[1:], "id": f"baseline-{n}", "text": "Hi"}).encode()
        for n in range(count)
    ]
    load = post_all(ctx.fake.url + "/send", bodies, concurrency=concurrency)
    stats = ctx.fake.stats()
    bad = load.failures(lambda a: a.status == 200)
    checks = [
        Check("baseline answered 200", not bad, f"{len(bad)} failed, e.g. {bad[:1]}"),
        Check(
            "baseline received once each",
            stats["unique"] == count and stats["duplicates"] == 0,
            json.dumps(stats),
        ),
    ]
    return load.per_second, checks
