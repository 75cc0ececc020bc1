"""What every scenario is given: the running servers, the API token, the sizes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from .servers import FakeProvider, Stack, WebSettings

# Every scenario, in the order they run (bench/scenarios has what each one does).
SCENARIO_NAMES = (
    "api_single",
    "api_latency",
    "api_list",
    "dispatch_batch",
    "dispatch_single_100ms",
    "dispatch_single_0ms",
    "dlr_single",
    "dlr_batch",
    "csv_import",
    "dlt",
    "dashboard",
)


@dataclass(frozen=True)
class Sizes:
    api_single: int = 20_000
    api_rate: int = 500
    api_seconds: int = 30
    api_list: int = 100_000
    api_list_size: int = 1000
    dispatch_batch: int = 100_000
    batch_size: int = 1000
    dispatch_single: int = 20_000
    dlr_single: int = 20_000
    dlr_batch: int = 100_000
    dlr_batch_size: int = 500
    csv_rows: int = 1_000_000
    dlt_templates: int = 2_000
    dashboard_messages: int = 1_000_000
    page_requests: int = 50
    page_warmup: int = 3


FULL = Sizes()
# Tiny, so CI proves every path works end to end in seconds; no target is judged.
SMOKE = Sizes(
    api_single=200,
    api_rate=50,
    api_seconds=2,
    api_list=2_000,
    api_list_size=500,
    dispatch_batch=200,
    batch_size=50,
    dispatch_single=200,
    dlr_single=200,
    dlr_batch=1_000,
    csv_rows=2_000,
    dlt_templates=40,
    dashboard_messages=20_000,
    page_requests=5,
    page_warmup=1,
)


@dataclass
class Context:
    database: str  # "sqlite" or "postgres"
    stack: Stack
    fake: FakeProvider
    user: Any
    token: str
    sizes: Sizes
    workdir: Path
    env: dict[str, str]
    web_settings: WebSettings
    db_workers: int
    smoke: bool
    # Kannel's figures in this run, by provider latency ("0", "100"), one dict per run
    # (bench/kannel.py); empty when Kannel could not be measured.
    kannel: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    # CPU per message by part in the last timed stretch (Stack.cpu_seconds), for notes.
    cpu_notes: dict[str, float] = field(default_factory=dict)
    _api: requests.Session | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.stack.url

    def kannel_figure(self, latency_ms: int, number: int, figure: str) -> dict[str, float]:
        """Kannel's `figure` in run `number` at this latency, as a baseline ({} if none)."""
        runs = self.kannel.get(str(latency_ms), [])
        if not runs:
            return {}
        return {figure: runs[(number - 1) % len(runs)]["delivered msg/s"]}

    @property
    def api(self) -> requests.Session:
        """A keep-alive session that authenticates with the bench user's API token."""
        if self._api is None:
            self._api = requests.Session()
            self._api.headers["Authorization"] = f"Token {self.token}"
        return self._api
