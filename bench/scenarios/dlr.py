"""DLR callbacks through gunicorn: CleverTap-format reports for submitted messages.

dlr_single posts one report per request at concurrency 32 and reports requests/s and
the 99th percentile latency; its baseline is the same bodies posted, with the same
client and gunicorn settings, to a minimal view doing one UPDATE per request
(bench/minimal_site). dlr_batch posts 500 reports per request and reports reports/s.
Every report must then have been applied once: each message delivered, one applied
DeliveryReport per message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from providers.models import DeliveryReport, Message, Provider

from .. import seed
from ..client import Answer, Load, post_all
from ..context import Context
from ..report import Check, Run, Spec
from ..servers import start_gunicorn

CONCURRENCY = 32
# A provider posting batches does so over a few connections, not dozens.
BATCH_CONCURRENCY = 4
SINGLE_SPECS = [
    Spec("req/s", 1_000, baseline_ratio=0.9, baseline_name="minimal UPDATE view", sqlite_half=True),
    Spec("p99 ms", 100, higher_is_better=False, baseline_name="minimal UPDATE view"),
]
BATCH_SPECS = [Spec("reports/s", 30_000, sqlite_half=True)]
# Reports the product queues to apply later must be applied within this time.
APPLY_WAIT_SECONDS = 60.0


def report_body(message_ids: Sequence[str]) -> bytes:
    records = [
        {"ts": 1654512921, "meta": message_id, "description": "Delivered to handset"}
        for message_id in message_ids
    ]
    return json.dumps([{"event": "delivered", "data": records}]).encode()


def _provider(name: str) -> Provider:
    return Provider.objects.create(nickname=name, endpoint="https://sms.example.com/send")


def dlr_single(ctx: Context, number: int) -> Run:
    count = ctx.sizes.dlr_single
    provider = _provider(f"DLR single {number}")
    ids = seed.submitted_messages(provider=provider, count=count)
    url = f"{ctx.url}/dlr/{provider.callback_token}/"
    load = post_all(url, [report_body([i]) for i in ids], concurrency=CONCURRENCY)
    checks = _answered(load, processed=1) + applied_once(provider, count)

    baseline, baseline_checks = _minimal_view(ctx, number, count)
    return Run(
        {"req/s": load.per_second, "p99 ms": load.latency_ms(0.99)},
        baseline={"req/s": baseline.per_second, "p99 ms": baseline.latency_ms(0.99)},
        checks=checks + baseline_checks,
        notes={"p50 ms": load.latency_ms(0.5), "baseline p50 ms": baseline.latency_ms(0.5)},
    )


def _minimal_view(ctx: Context, number: int, count: int) -> tuple[Load, list[Check]]:
    provider = _provider(f"DLR minimal {number}")
    ids = seed.submitted_messages(provider=provider, count=count)
    log = ctx.workdir / "logs" / f"minimal-gunicorn-{number}.log"
    server = start_gunicorn(
        log, ctx.env, ctx.web_settings, settings_module="bench.minimal_site.settings"
    )
    try:
        url = f"{server.url}/bench/minimal-dlr/"
        load = post_all(url, [report_body([i]) for i in ids], concurrency=CONCURRENCY)
    finally:
        server.stop()
    delivered = Message.objects.filter(provider=provider, status=Message.Status.DELIVERED).count()
    bad = load.failures(lambda a: a.status == 200)
    return load, [
        Check("minimal view answered 200", not bad, f"{len(bad)} failed, e.g. {bad[:1]}"),
        Check("minimal view updated every message", delivered == count, f"{delivered}/{count}"),
    ]


def dlr_batch(ctx: Context, number: int) -> Run:
    count, size = ctx.sizes.dlr_batch, ctx.sizes.dlr_batch_size
    provider = _provider(f"DLR batch {number}")
    ids = seed.submitted_messages(provider=provider, count=count)
    bodies = [report_body(ids[start : start + size]) for start in range(0, count, size)]
    url = f"{ctx.url}/dlr/{provider.callback_token}/"
    load = post_all(url, bodies, concurrency=BATCH_CONCURRENCY)
    return Run(
        {"reports/s": count / load.seconds},
        checks=_answered(load, processed=size) + applied_once(provider, count),
        notes={"requests/s": load.per_second, "p99 ms": load.latency_ms(0.99)},
    )


def _answered(load: Load, *, processed: int) -> list[Check]:
    def ok(answer: Answer) -> bool:
        try:
            body = json.loads(answer.text)
        except ValueError:
            return False
        return answer.status == 200 and body.get("processed") == processed

    bad = load.failures(ok)
    return [Check("every callback answered 200 and processed all", not bad, f"{bad[:2]}")]


def applied_once(provider: Provider, count: int) -> list[Check]:
    """Every report applied exactly once: each message delivered, one applied report each.

    Waits a little for reports the product may apply after answering the callback.
    """
    messages = Message.objects.filter(provider=provider, status=Message.Status.DELIVERED)
    deadline = time.monotonic() + APPLY_WAIT_SECONDS
    while (delivered := messages.count()) < count and time.monotonic() < deadline:
        time.sleep(0.5)
    reports = DeliveryReport.objects.filter(provider=provider)
    applied = reports.filter(outcome=DeliveryReport.Outcome.APPLIED)
    per_message = applied.values("message").distinct().count()
    return [
        Check("every message delivered", delivered == count, f"{delivered}/{count}"),
        Check(
            "one applied report per message",
            applied.count() == count and per_message == count,
            f"{applied.count()} applied for {per_message} messages of {count}",
        ),
        Check("no report unaccounted", reports.count() == count, f"{reports.count()} reports"),
    ]
