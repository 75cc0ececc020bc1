"""The processes a benchmark runs against: fake provider, gunicorn and db_worker.

Each is a real subprocess with its own log file, started the way production starts it
(gunicorn as in dev.py, `manage.py db_worker`), so the benchmark measures the product
through its real interfaces whatever its internals become.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
START_TIMEOUT = 60.0


class ServerError(RuntimeError):
    """A server did not start, or died: the harness itself failed."""


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise ServerError(f"{self.name} exited ({self.process.returncode}):\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        return self.output()[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _spawn(name: str, command: list[str], log: Path, env: dict[str, str]) -> Server:
    log.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    return Server(name, process, log)


def _wait_for_url(server: Server, pattern: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        server.check_alive()
        found = re.search(pattern, server.output())
        if found:
            server.url = found.group(1)
            return
        time.sleep(0.05)
    server.stop()
    raise ServerError(f"{server.name} did not start within {START_TIMEOUT:.0f} s:\n{server.tail()}")


# ---------------------------------------------------------------- fake provider


@dataclass
class FakeProvider:
    server: Server
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        return self.server.url

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        self.server.check_alive()
        response = self.session.request(method, self.url + path, timeout=60, **kwargs)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._call("POST", "/_fake/reset")

    def set_latency(self, milliseconds: float) -> None:
        self._call("POST", "/_fake/config", params={"latency_ms": milliseconds})

    def stats(self) -> dict[str, int]:
        return self._call("GET", "/_fake/stats")  # type: ignore[no-any-return]

    def ids(self) -> set[str]:
        return set(self._call("GET", "/_fake/ids")["ids"])

    def arrival_times(self) -> dict[str, float]:
        """When each message id first arrived (time.time() in the fake's process)."""
        return self._call("GET", "/_fake/times")["times"]  # type: ignore[no-any-return]

    def wait_for(self, count: int, *, stall_seconds: float = 120.0) -> None:
        """Until `count` distinct messages arrived; raises if none arrives for a while."""
        seen, changed = -1, time.monotonic()
        while (unique := self.stats()["unique"]) < count:
            if unique != seen:
                seen, changed = unique, time.monotonic()
            elif time.monotonic() - changed > stall_seconds:
                raise RuntimeError(f"only {unique} of {count} messages reached the provider")
            time.sleep(0.2)

    def stop(self) -> None:
        self.session.close()
        self.server.stop()


def start_fake_provider(log: Path, *, latency_ms: float = 0) -> FakeProvider:
    command = [
        PYTHON,
        str(ROOT / "bench" / "fake_provider.py"),
        "--port",
        "0",
        "--latency-ms",
        str(latency_ms),
    ]
    server = _spawn("fake provider", command, log, dict(os.environ))
    _wait_for_url(server, r"listening on (http://127\.0\.0\.1:\d+)")
    return FakeProvider(server)


# ---------------------------------------------------------------- gunicorn and db_worker


@dataclass
class WebSettings:
    """The gunicorn settings every web server of one benchmark run shares."""

    workers: int = 2
    threads: int = 4


def start_gunicorn(
    log: Path, env: dict[str, str], web: WebSettings, *, settings_module: str = ""
) -> Server:
    """gunicorn on a free port (read back from its log), once it answers."""
    if settings_module:
        env = {**env, "DJANGO_SETTINGS_MODULE": settings_module}
    command = [
        PYTHON,
        "-m",
        "gunicorn",
        "smsgateway.wsgi",
        "--bind",
        "127.0.0.1:0",
        "--workers",
        str(web.workers),
        "--threads",
        str(web.threads),
        # Its default path is shared by every gunicorn of this user.
        "--no-control-socket",
    ]
    server = _spawn("gunicorn", command, log, env)
    _wait_for_url(server, r"Listening at: (http://127\.0\.0\.1:\d+)")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            # Every worker imports the app lazily: warm them all before any timing.
            for _ in range(web.workers * 4):
                requests.get(server.url + "/healthz", timeout=START_TIMEOUT)
            return server
        except requests.RequestException:
            # Not listening yet, or a worker still importing on a busy machine.
            time.sleep(0.1)
    server.stop()
    raise ServerError(f"gunicorn did not answer within {START_TIMEOUT:.0f} s:\n{server.tail()}")


def start_db_worker(log: Path, env: dict[str, str], *, number: int) -> Server:
    command = [
        PYTHON,
        "manage.py",
        "db_worker",
        "--no-reload",
        "--no-startup-delay",
        "--worker-id",
        f"bench-{number}-{os.getpid()}",
    ]
    server = _spawn(f"db_worker {number}", command, log, env)
    time.sleep(0.2)
    server.check_alive()
    return server


def child_pids(pid: int) -> list[int]:
    """Direct children of a process (gunicorn's workers under its master)."""
    children: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the ppid follows the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return children


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, its threads included."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def database_pids() -> list[int]:
    """The database server's processes (PostgreSQL forks one per connection)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def peak_rss_mb(pid: int) -> float:
    """The highest resident memory a process has had (VmHWM), in MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else 0.0


@dataclass
class Stack:
    """gunicorn plus the db_workers, on one benchmark database."""

    env: dict[str, str]
    logs: Path
    web_settings: WebSettings
    db_workers: int
    web: Server | None = None
    workers: list[Server] = field(default_factory=list)
    generation: int = 0

    @property
    def url(self) -> str:
        assert self.web is not None
        return self.web.url

    def start(self) -> None:
        self.generation += 1
        logs = self.logs / f"stack-{self.generation}"
        self.workers = [
            start_db_worker(logs / f"db_worker-{n}.log", self.env, number=n)
            for n in range(self.db_workers)
        ]
        self.web = start_gunicorn(logs / "gunicorn.log", self.env, self.web_settings)

    def stop(self) -> None:
        for server in [self.web, *self.workers]:
            if server is not None:
                server.stop()
        self.web = None
        self.workers = []

    def restart(self) -> None:
        self.stop()
        self.start()

    def check_alive(self) -> None:
        for server in [self.web, *self.workers]:
            if server is not None:
                server.check_alive()

    def cpu_seconds(self, fake: FakeProvider) -> dict[str, float]:
        """CPU used so far by each part: web, workers, provider, database, this process
        (the load client). Database processes that ended meanwhile are not counted."""
        web = [self.web.process.pid, *child_pids(self.web.process.pid)] if self.web else []
        return {
            "web": sum(cpu_seconds(pid) for pid in web),
            "workers": sum(cpu_seconds(w.process.pid) for w in self.workers),
            "provider": cpu_seconds(fake.server.process.pid),
            "database": sum(cpu_seconds(pid) for pid in database_pids()),
            "client": cpu_seconds(os.getpid()),
        }

    def peak_rss_mb(self) -> float:
        """The largest peak memory of any gunicorn worker or db_worker since they started."""
        pids = [w.process.pid for w in self.workers]
        if self.web is not None:
            pids += child_pids(self.web.process.pid)
        return max((peak_rss_mb(pid) for pid in pids), default=0.0)
