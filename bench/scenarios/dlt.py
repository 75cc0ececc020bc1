"""India DLT: the registry's paths as a marketer and an integrator take them.

- An export of 2,000 templates (Jio's column names, each on one of 20 headers) posted to
  /api/v1/dlt/imports/; figure: seconds until the API answered with every row imported.
- 2,000 texts posted to /api/v1/dlt/check/, 32 at a time, without a template id (the
  header's templates are each tried); figure: p99 of the answers.
- OTPs naming one of 10 registered templates (an integrator's OTP, login and order
  texts), offered at the api_latency rate (open loop), each scrubbed before it is
  queued; figures: from each call until its message reached the provider, p50 and p99,
  to set beside api_latency's.

The import must report every row accepted, each check must pass, and the provider must
have received every OTP exactly once.
"""

from __future__ import annotations

import json
import time

from .. import seed
from ..client import post_all, post_at_rate
from ..context import Context
from ..report import Check, Run, Spec
from .api import CONCURRENCY, _accepted, _each_once, _headers, _quantile, _queued_ids

SPECS = [
    Spec("import s", None, higher_is_better=False),
    Spec("check p99 ms", 100, higher_is_better=False, sqlite_half=True),
    Spec("OTP p50 ms", 50, higher_is_better=False, sqlite_half=True),
    Spec("OTP p99 ms", 250, higher_is_better=False, sqlite_half=True),
]
HEADERS = 20
OTP_TEMPLATES = 10
OTP_TEXT = "Your OTP is {#numeric#} for order {#alphanumeric#}. Do not share it. - Acme "


def _export(entity_id: str, count: int, run: int) -> bytes:
    rows = ["Template Id,Template Name,Template Content,Template Type,Header,Entity ID"]
    for n in range(count):
        rows.append(
            f"12071{run:02d}{n:012d},OTP {n},{OTP_TEXT}{n},Transactional,{_header(n)},{entity_id}"
        )
    return ("\n".join(rows) + "\n").encode()


def _header(n: int) -> str:
    return f"ACLA{chr(65 + n % HEADERS)}X"


def dlt(ctx: Context, number: int) -> Run:
    count = ctx.sizes.dlt_templates
    entity_id = f"12011600000000{number:05d}"
    export = _export(entity_id, count, number)
    api = ctx.url + "/api/v1/dlt/"

    started = time.perf_counter()
    answer = ctx.api.post(
        api + "imports/",
        data={"kind": "templates"},
        files={"file": ("templates.csv", export, "text/csv")},
        timeout=1800,
    )
    imported = time.perf_counter() - started
    result = answer.json() if answer.status_code == 201 else {}
    checks = [
        Check(
            "every template row imported",
            result.get("rows_accepted") == count,
            f"{answer.status_code}: {answer.text[:300]}",
        )
    ]

    texts = [
        json.dumps(
            {
                "text": f"Your OTP is {n:06d} for order A{n}. Do not share it. - Acme {n}",
                "sender_id": _header(n),
            }
        ).encode()
        for n in range(count)
    ]
    load = post_all(api + "check/", texts, concurrency=CONCURRENCY, headers=_headers(ctx))
    failed = load.failures(lambda a: a.status == 200 and json.loads(a.text)["ok"])
    checks.append(Check("every text passed the check", not failed, f"{len(failed)}: {failed[:1]}"))

    ctx.fake.set_latency(0)
    ctx.fake.reset()
    rate, seconds = ctx.sizes.api_rate, ctx.sizes.api_seconds
    otps = rate * seconds
    provider = seed.provider_create(nickname=f"DLT {number}", endpoint=ctx.fake.url)
    bodies = [
        json.dumps(
            {
                "provider": provider.pk,
                "to": seed.phone(n),
                "body": f"Your OTP is {n:06d} for order A{n}. Do not share it. - Acme "
                f"{n % OTP_TEMPLATES}",
                "template_id": f"12071{number:02d}{n % OTP_TEMPLATES:012d}",
                "variables": {"SenderID": _header(n % OTP_TEMPLATES)},
            }
        ).encode()
        for n in range(otps)
    ]
    sent = post_at_rate(
        ctx.url + "/api/v1/messages/", bodies, per_second=rate, headers=_headers(ctx)
    )
    ids = _queued_ids(sent)
    ctx.fake.wait_for(len(ids))
    arrived = ctx.fake.arrival_times()
    latencies = sorted(
        (arrived[message_id] - answer.at) * 1000
        for answer, message_id in zip(sent.answers, ids, strict=True)
    )
    return Run(
        {
            "import s": imported,
            "check p99 ms": load.latency_ms(0.99),
            "OTP p50 ms": _quantile(latencies, 0.5),
            "OTP p99 ms": _quantile(latencies, 0.99),
        },
        checks=checks + _accepted(sent, otps) + _each_once(ctx, ids),
        notes={
            "templates": count,
            "import ms per row": imported * 1000 / count,
            "check p50 ms": load.latency_ms(0.5),
            "check req/s": load.per_second,
            "offered OTP/s": rate,
        },
    )
