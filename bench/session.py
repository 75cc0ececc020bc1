"""The benchmarks on one database, in a process of their own (started by bench/run.py).

    python -m bench.session --config CONFIG.json

Django is set up on that database (DATABASE_URL in the environment), so the scenarios
can seed and check with the ORM; the fake provider, gunicorn and the db_workers run as
subprocesses. Results are written to the config's "out" path after every scenario, so a
crash still leaves what was measured before it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import traceback
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True)
    config = json.loads(parser.parse_args().config.read_text())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsgateway.settings")
    django.setup()
    run_all(config)


def run_all(config: dict[str, Any]) -> None:
    from django.db import connection

    from . import seed
    from .context import FULL, SMOKE, Context
    from .report import ScenarioResult, summarise
    from .scenarios import SCENARIOS
    from .servers import Stack, WebSettings, start_fake_provider

    workdir = Path(config["workdir"])
    database = config["database"]
    out = Path(config["out"])
    web = WebSettings(workers=config["web_workers"], threads=config["web_threads"])
    results: list[ScenarioResult] = []
    user, token = seed.bench_user()
    fake = start_fake_provider(workdir / "logs" / "fake-provider.log")
    stack = Stack(dict(os.environ), workdir / "logs", web, config["db_workers"])
    sizes = SMOKE if config["smoke"] else FULL
    if config.get("api_rate"):
        sizes = replace(sizes, api_rate=config["api_rate"])
    try:
        stack.start()
        ctx = Context(
            database=database,
            stack=stack,
            fake=fake,
            user=user,
            token=token,
            sizes=sizes,
            workdir=workdir,
            env=dict(os.environ),
            web_settings=web,
            db_workers=config["db_workers"],
            smoke=config["smoke"],
            kannel=config.get("kannel", {}),
        )
        for name in config["scenarios"]:
            run, specs = SCENARIOS[name]
            runs, error = [], ""
            for number in range(1, config["runs"] + 1):
                started = time.perf_counter()
                try:
                    runs.append(run(ctx, number))
                    # A server that died during the run makes its figures meaningless.
                    stack.check_alive()
                except Exception:
                    error = traceback.format_exc(limit=6)
                    print(f"[{database}] {name} run {number} FAILED:\n{error}", flush=True)
                    stack.restart()  # the next scenario starts from servers in a known state
                    break
                finally:
                    connection.close()  # no connection idles across a long run
                figures = ", ".join(f"{k} {v:,.1f}" for k, v in runs[-1].figures.items())
                baseline = ", ".join(f"{k} {v:,.1f}" for k, v in runs[-1].baseline.items())
                took = time.perf_counter() - started
                print(
                    f"[{database}] {name} run {number}: {figures}"
                    + (f" (baseline {baseline})" if baseline else "")
                    + f"  [{took:.0f} s]",
                    flush=True,
                )
                if runs[-1].notes:
                    print(f"    notes: {json.dumps(runs[-1].notes)}", flush=True)
                failed = [c for c in runs[-1].checks if not c.ok]
                for check in failed:
                    print(f"    CHECK FAILED {check.name}: {check.detail}", flush=True)
            result = summarise(name, database, specs, runs, judge=not config["smoke"])
            result.error = error.strip().splitlines()[-1] if error else ""
            results.append(result)
            _write(out, results)
    finally:
        stack.stop()
        fake.stop()
    _write(out, results)


def _write(out: Path, results: list[Any]) -> None:
    out.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
