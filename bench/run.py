"""Run every benchmark scenario on SQLite and PostgreSQL; print a table, write JSON.

    .venv/bin/python bench/run.py                      # full sizes, 3 runs each, both databases
    .venv/bin/python bench/run.py --smoke              # tiny sizes, one run: proves the paths work
    .venv/bin/python bench/run.py --databases sqlite --only dlr_single,dlr_batch --runs 5

Each database is created afresh (a temporary SQLite file; the PostgreSQL database named
in --postgres-url is dropped and recreated) and migrated; the scenarios then run in a
process of their own (bench/session.py) against gunicorn, db_workers and the fake
provider. The exit status is non-zero only when the harness failed or a message was
lost, sent twice or a report not applied once; a missed speed target is only reported.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: make `bench` importable

from bench import kannel, report  # noqa: E402
from bench.context import SCENARIO_NAMES  # noqa: E402

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/smsgateway_bench"
# Provider secrets in the bench databases are encrypted with this; nothing real is stored.
SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789abcdef"
# Messages per Kannel run, as the peer's own measurements use.
KANNEL_MESSAGES = 20_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run, no targets")
    parser.add_argument("--runs", type=int, help="runs per scenario (median); default 3, smoke 1")
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument("--only", default="", help="comma-separated scenarios (default: all)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        help="the database to DROP and recreate (default: %(default)s)",
    )
    parser.add_argument(
        "--db-workers", type=int, help="db_worker processes (default: 1 on SQLite, 2 on PostgreSQL)"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn --workers")
    parser.add_argument("--web-threads", type=int, default=4, help="gunicorn --threads")
    parser.add_argument(
        "--api-rate", type=int, help="messages/s api_latency offers (default 500, smoke 50)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.smoke else 3)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    args.only = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIO_NAMES)
    unknown = [d for d in args.databases if d not in ("sqlite", "postgres")]
    unknown += [s for s in args.only if s not in SCENARIO_NAMES]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)} (scenarios: {', '.join(SCENARIO_NAMES)})")
    return args


def recreate_postgres(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or name in ("postgres", "template0", "template1"):
        raise SystemExit(f"refusing to drop the database {name!r}: name one for the benchmarks")
    server = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_postgres(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    server = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def server_env(database_url: str, workdir: Path) -> dict[str, str]:
    """The environment of every process on one bench database: production-like settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "smsgateway.settings",
            "DATABASE_URL": database_url,
            "SECRET_KEY": SECRET_KEY,
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # The fake provider listens on 127.0.0.1.
            "SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS": "true",
            "MEDIA_ROOT": str(workdir / "media"),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def collect_static(env: dict[str, str]) -> None:
    """DEBUG is off, as in production: pages need the collected static files' manifest.

    Under a lock: two benchmark runs at once would otherwise write the same files.
    """
    static_root = ROOT / "staticfiles"
    static_root.mkdir(exist_ok=True)
    with (static_root / ".bench.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )


def run_database(
    database: str, args: argparse.Namespace, workdir: Path, kannel_figures: dict[str, Any]
) -> list[Any]:
    """Create, migrate and benchmark one database; its results (empty if it failed)."""
    workdir.mkdir(parents=True)
    if database == "sqlite":
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    else:
        url = args.postgres_url
        recreate_postgres(url)
    env = server_env(url, workdir)
    python = sys.executable
    started = time.perf_counter()
    subprocess.run(
        [python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    print(f"[{database}] migrated in {time.perf_counter() - started:.0f} s", flush=True)
    config = {
        "database": database,
        "smoke": args.smoke,
        "runs": args.runs,
        "scenarios": args.only,
        "workdir": str(workdir),
        "out": str(workdir / "results.json"),
        "db_workers": args.db_workers or (1 if database == "sqlite" else 2),
        "web_workers": args.web_workers,
        "web_threads": args.web_threads,
        "kannel": kannel_figures,
        "api_rate": args.api_rate,
    }
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    session = subprocess.run(
        [python, "-m", "bench.session", "--config", str(config_path)], cwd=ROOT, env=env
    )
    out = workdir / "results.json"
    results = [report.from_json(r) for r in json.loads(out.read_text())] if out.exists() else []
    done = {r.scenario for r in results}
    if session.returncode != 0:
        for name in args.only:
            if name not in done:
                results.append(
                    report.ScenarioResult(
                        name, database, [], [], error=f"session exited {session.returncode}"
                    )
                )
    if database == "postgres" and not args.keep:
        drop_postgres(url)
    return results


# Scenarios whose targets are set against Kannel, and the provider latencies they use.
KANNEL_LATENCIES = {
    "api_list": 0,
    "dispatch_batch": 0,
    "dispatch_single_0ms": 0,
    "dispatch_single_100ms": 100,
}


def measure_kannel(args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    """Kannel single mode at the latencies the chosen scenarios need, once per run, on
    the idle machine before the product's runs (none in smoke mode: nothing is judged)."""
    latencies = sorted({KANNEL_LATENCIES[s] for s in args.only if s in KANNEL_LATENCIES})
    if args.smoke or not latencies:
        return {}
    why = kannel.unavailable()
    if why:
        print(f"Kannel not measured: {why}", flush=True)
        return {}
    figures: dict[str, list[dict[str, float]]] = {}
    for latency in latencies:
        for number in range(1, args.runs + 1):
            found = kannel.measure(KANNEL_MESSAGES, latency)
            figures.setdefault(str(latency), []).append(found)
            print(f"[kannel] {latency} ms run {number}: {found}", flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="smsgateway-bench-"))
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    collect_static(server_env("sqlite:///unused", workdir))
    results: list[report.ScenarioResult] = []
    kannel_figures = measure_kannel(args)
    try:
        for database in args.databases:
            results += run_database(database, args, workdir / database, kannel_figures)
    finally:
        if args.keep:
            print(f"Logs and data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(report.table(results))
    meta = {
        "started": started,
        "smoke": args.smoke,
        "runs": args.runs,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
        },
        "command": " ".join(sys.argv),
        "kannel": kannel_figures,
    }
    report.write_json(args.json, results, meta)
    print(f"\nJSON: {args.json}")
    problems = report.failed_checks(results)
    if args.smoke:
        print("Smoke mode: sizes are tiny and targets are not judged.")
    if problems:
        print("\nFAILED:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
