"""The REST API as an integrator calls it, until the provider has every message.

- api_single: 20,000 POSTs of one message each, 32 at a time, with an API token, to a
  provider answering at once. Figures: requests/s accepted and their p99, against the
  same bodies posted to a minimal view doing one INSERT (bench/minimal_site); and
  messages/s delivered, from the first call until the provider has the last message,
  against the accept rate.
- api_latency: 500 messages/s offered for 30 s (open loop: each request goes at its
  time, whatever came back before); figures: how long from each call until its
  message reached the provider, p50 and p99.
- api_list: 100,000 messages in POSTs of 1,000, 4 at a time, to a provider taking one
  message per request; figure: messages/s from the first call until the provider has
  the last, against Kannel's sendsms-to-provider rate measured in the same run.

The provider must then have received every message the API queued exactly once.
"""

from __future__ import annotations

import json
import statistics

from .. import seed
from ..client import Load, post_all, post_at_rate
from ..context import Context
from ..report import Check, Run, Spec
from ..servers import start_gunicorn

CONCURRENCY = 32
LIST_CONCURRENCY = 4
INSERT_VIEW = "minimal INSERT view"
SINGLE_SPECS = [
    Spec("req/s", 1_000, baseline_ratio=0.9, baseline_name=INSERT_VIEW, sqlite_half=True),
    Spec("p99 ms", 100, higher_is_better=False, baseline_name=INSERT_VIEW, sqlite_half=True),
    Spec("delivered msg/s", None, baseline_ratio=0.9, baseline_name="accepted req/s"),
]
LATENCY_SPECS = [
    Spec("p50 ms", 50, higher_is_better=False, sqlite_half=True),
    Spec("p99 ms", 250, higher_is_better=False, sqlite_half=True),
]
LIST_SPECS = [Spec("msg/s", None, baseline_ratio=1.0, baseline_name="Kannel", sqlite_half=True)]


def _bodies(provider_id: int, first: int, count: int) -> list[bytes]:
    return [
        json.dumps(
            {"provider": provider_id, "to": seed.phone(first + n), "body": f"Your OTP is {n:06d}"}
        ).encode()
        for n in range(count)
    ]


def _headers(ctx: Context) -> dict[str, str]:
    return {"Authorization": f"Token {ctx.token}"}


def api_single(ctx: Context, number: int) -> Run:
    ctx.fake.set_latency(0)
    ctx.fake.reset()
    count = ctx.sizes.api_single
    provider = seed.provider_create(nickname=f"API single {number}", endpoint=ctx.fake.url)
    url = f"{ctx.url}/api/v1/messages/"
    before = ctx.stack.cpu_seconds(ctx.fake)
    load = post_all(
        url, _bodies(provider.pk, 0, count), concurrency=CONCURRENCY, headers=_headers(ctx)
    )
    ids = _queued_ids(load)
    ctx.fake.wait_for(len(ids))
    cpu = _cpu_per_message(ctx, before, count)
    delivered = count / (max(ctx.fake.arrival_times().values()) - load.started_at)
    checks = _accepted(load, count) + _each_once(ctx, ids)

    baseline, baseline_checks = _minimal_insert(ctx, provider.pk, count)
    return Run(
        {
            "req/s": load.per_second,
            "p99 ms": load.latency_ms(0.99),
            "delivered msg/s": delivered,
        },
        baseline={
            "req/s": baseline.per_second,
            "p99 ms": baseline.latency_ms(0.99),
            "delivered msg/s": load.per_second,
        },
        checks=checks + baseline_checks,
        notes={
            "p50 ms": load.latency_ms(0.5),
            "baseline p50 ms": baseline.latency_ms(0.5),
            "cpu us per message": cpu,
        },
    )


def _cpu_per_message(ctx: Context, before: dict[str, float], count: int) -> dict[str, float]:
    """Microseconds of CPU each part spent per message since `before`."""
    after = ctx.stack.cpu_seconds(ctx.fake)
    return {part: round((after[part] - before[part]) / count * 1e6) for part in after}


def _minimal_insert(ctx: Context, provider_id: int, count: int) -> tuple[Load, list[Check]]:
    log = ctx.workdir / "logs" / "minimal-insert-gunicorn.log"
    server = start_gunicorn(
        log, ctx.env, ctx.web_settings, settings_module="bench.minimal_site.settings"
    )
    try:
        url = f"{server.url}/bench/minimal-insert/"
        bodies = _bodies(provider_id, 10_000_000, count)
        load = post_all(url, bodies, concurrency=CONCURRENCY)
    finally:
        server.stop()
    bad = load.failures(lambda a: a.status == 202)
    return load, [Check("minimal view answered 202", not bad, f"{len(bad)} failed, e.g. {bad[:1]}")]


def api_latency(ctx: Context, number: int) -> Run:
    ctx.fake.set_latency(0)
    ctx.fake.reset()
    rate, seconds = ctx.sizes.api_rate, ctx.sizes.api_seconds
    count = rate * seconds
    provider = seed.provider_create(nickname=f"API latency {number}", endpoint=ctx.fake.url)
    load = post_at_rate(
        f"{ctx.url}/api/v1/messages/",
        _bodies(provider.pk, 0, count),
        per_second=rate,
        headers=_headers(ctx),
    )
    ids = _queued_ids(load)
    ctx.fake.wait_for(len(ids))
    arrived = ctx.fake.arrival_times()
    pairs = list(zip(load.answers, ids, strict=True))
    latencies = sorted((arrived[message_id] - answer.at) * 1000 for answer, message_id in pairs)
    # The dispatcher's part alone: from the API's answer until the provider had it.
    after_answer = sorted(
        (arrived[message_id] - answer.at - answer.seconds) * 1000 for answer, message_id in pairs
    )
    return Run(
        {"p50 ms": _quantile(latencies, 0.5), "p99 ms": _quantile(latencies, 0.99)},
        checks=_accepted(load, count) + _each_once(ctx, ids),
        notes={
            "offered msg/s": rate,
            "api p50 ms": load.latency_ms(0.5),
            "api p99 ms": load.latency_ms(0.99),
            "after answer p50 ms": _quantile(after_answer, 0.5),
            "after answer p99 ms": _quantile(after_answer, 0.99),
            "mean ms": statistics.fmean(latencies),
        },
    )


def api_list(ctx: Context, number: int) -> Run:
    ctx.fake.set_latency(0)
    ctx.fake.reset()
    count, size = ctx.sizes.api_list, ctx.sizes.api_list_size
    provider = seed.provider_create(nickname=f"API list {number}", endpoint=ctx.fake.url)
    bodies = [
        b"[" + b", ".join(_bodies(provider.pk, start, min(size, count - start))) + b"]"
        for start in range(0, count, size)
    ]
    before = ctx.stack.cpu_seconds(ctx.fake)
    load = post_all(
        f"{ctx.url}/api/v1/messages/",
        bodies,
        concurrency=LIST_CONCURRENCY,
        headers=_headers(ctx),
    )
    bad = load.failures(lambda a: a.status == 202)
    ids = [
        message["id"]
        for answer in load.answers
        if answer.status == 202
        for message in json.loads(answer.text)
    ]
    ctx.fake.wait_for(len(ids))
    cpu = _cpu_per_message(ctx, before, count)
    rate = count / (max(ctx.fake.arrival_times().values()) - load.started_at)
    return Run(
        {"msg/s": rate},
        baseline=ctx.kannel_figure(0, number, "msg/s"),
        checks=[
            Check("every list answered 202", not bad, f"{len(bad)} failed, e.g. {bad[:1]}"),
            Check("one message per item", len(ids) == count, f"{len(ids)} of {count}"),
            *_each_once(ctx, ids),
        ],
        notes={
            "accepted msg/s": count / load.seconds,
            "p99 ms per list": load.latency_ms(0.99),
            "cpu us per message": cpu,
        },
    )


def _queued_ids(load: Load) -> list[str]:
    """The message id of each accepted answer, in the order of the requests."""
    return [json.loads(answer.text)["id"] for answer in load.answers if answer.status == 202]


def _accepted(load: Load, count: int) -> list[Check]:
    bad = load.failures(lambda a: a.status == 202)
    return [Check("every message answered 202", not bad, f"{len(bad)} of {count}: {bad[:1]}")]


def _each_once(ctx: Context, ids: list[str]) -> list[Check]:
    stats = ctx.fake.stats()
    received = ctx.fake.ids()
    missing = set(ids) - received
    return [
        Check("provider received every message", not missing, f"{len(missing)} missing"),
        Check(
            "provider received no message twice",
            stats["duplicates"] == 0,
            f"{stats['duplicates']} duplicates",
        ),
        Check(
            "provider received nothing else",
            received <= set(ids),
            f"{len(received - set(ids))} unknown ids",
        ),
    ]


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))]
