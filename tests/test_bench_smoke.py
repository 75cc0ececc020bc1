"""The benchmark harness in smoke mode: every scenario runs end to end on this run's database.

Smoke sizes are tiny and no speed target is judged; what must hold is that the harness
works through the real processes (API, db_worker, gunicorn, the fake provider) and that
every message arrived exactly once and every report was applied once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from bench.context import SCENARIO_NAMES
from bench.servers import start_fake_provider

ROOT = Path(__file__).resolve().parent.parent


def bench_database_args() -> list[str]:
    """SQLite unless this test run is on PostgreSQL; then a database of the bench's own,
    named after this run's so that two runs never share it (and never the test database)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        return ["--databases", "sqlite"]
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'smsgateway'}_bench_smoke"
    return ["--databases", "postgres", "--postgres-url", urlunsplit(parts._replace(path=name))]


def test_the_smoke_run_measures_every_scenario_and_loses_nothing(tmp_path):
    out = tmp_path / "smoke.json"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    finished = subprocess.run(
        [sys.executable, "bench/run.py", "--smoke", "--json", str(out), *bench_database_args()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert finished.returncode == 0, finished.stdout[-5000:] + finished.stderr[-5000:]
    data = json.loads(out.read_text())
    assert data["smoke"] is True
    assert data["checks_passed"] is True
    results = {r["scenario"]: r for r in data["results"]}
    assert list(results) == list(SCENARIO_NAMES)
    for name, result in results.items():
        assert result["ok"] and not result["error"], (name, result)
        assert result["rows"] and all(row["value"] > 0 for row in result["rows"]), (name, result)
        assert result["checks"] and all(check["ok"] for check in result["checks"]), (name, result)
    assert "dispatch_batch" in finished.stdout  # the table was printed


def test_the_fake_provider_counts_a_message_sent_twice(tmp_path):
    fake = start_fake_provider(tmp_path / "fake.log")
    try:
        with requests.Session() as session:
            session.post(fake.url + "/send", json={"to": "919800000001", "id": "a"}, timeout=10)
            session.post(fake.url + "/send", json={"to": "919800000001", "id": "a"}, timeout=10)
            batch = {"msgs": [{"id": "b"}, {"id": "c"}]}
            session.post(fake.url + "/batch", json=batch, timeout=10)
        stats = fake.stats()
        assert fake.ids() == {"a", "b", "c"}
        fake.reset()
        after_reset = fake.stats()
    finally:
        fake.stop()

    assert (stats["requests"], stats["messages"], stats["unique"]) == (3, 4, 3)
    assert stats["duplicates"] == 1
    assert after_reset["messages"] == 0
