"""PostgreSQL restarted twice under a running campaign: every message sent, none twice.

A throwaway PostgreSQL server of this test's own (initdb and pg_ctl on a free port, so
the shared one is left alone), two real `db_worker` processes on it, real HTTP to a fake
provider that keeps requests in flight, and `pg_ctl restart -m fast` (every connection
cut) twice while the campaign sends. Whatever each worker was doing when its connection
broke (claiming, recording, running a task, listening), the campaign must complete with
each message at the provider exactly once.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.fake_provider import Answer, FakeProvider

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 3000
SEED = """
from django.core.files.uploadedfile import SimpleUploadedFile
from campaigns import services
from campaigns.models import Campaign
from providers.models import Provider

provider = Provider.objects.create(
    nickname="Restart", endpoint="{url}/send",
    payload={{"to": "$$To", "id": "$$MessageID", "text": "$$Body"}},
)
campaign = Campaign.objects.create(
    provider=provider, name="Restart", message="Hi", sender_id="ACMEIN"
)
rows = "".join(f"98{{n:08d}}\\n" for n in range({count}))
services.upload_create(
    campaign=campaign, file=SimpleUploadedFile("list.csv", ("phone\\n" + rows).encode())
)
services.campaign_launch(campaign=campaign)
"""


@dataclass
class Server:
    """A PostgreSQL server in a directory of its own."""

    bin: Path
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/gateway"

    def pg_ctl(self, *args: str) -> None:
        # The server's output goes to its log: a server started holding our pipe would
        # keep it open for ever.
        log = str(self.data.parent / "log")
        command = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", log, "-w", *args]
        subprocess.run(
            _as_postgres(command),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    def query(self, sql: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.url.replace("postgres://", "postgresql://")) as conn:
            return conn.execute(sql).fetchall()


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL will not run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server() -> Iterator[Server]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb")]
    assert found[-1], "this test needs PostgreSQL's initdb (Debian: postgresql)"
    # Not under tmp_path: the server's user must reach it, and pytest's folders are root's.
    home = Path(tempfile.mkdtemp(prefix="smsgateway-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(home, user.pw_uid, user.pw_gid)
    server = Server(Path(found[-1]).parent, home / "data", _free_port())
    subprocess.run(
        _as_postgres(
            [str(server.bin / "initdb"), "-D", str(server.data), "-U", "postgres", "-A", "trust"]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = f"-p {server.port} -c listen_addresses=127.0.0.1 -k {home}"
    server.pg_ctl("-o", options, "start")
    try:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{server.port}/postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE gateway")
        yield server
    finally:
        server.pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)


def test_a_campaign_survives_two_database_restarts_sending_each_message_once(server, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": server.url,
        "SECRET_KEY": "restart-test-secret-key-0123456789",
        "SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS": "true",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "SMSGATEWAY_INLINE_IMPORT_BYTES": str(10 * 1024 * 1024),
        # Few in flight and a slow provider: the campaign is still sending at the restarts.
        "SMSGATEWAY_SEND_CONCURRENCY": "8",
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    workers: list[subprocess.Popen[bytes]] = []
    with FakeProvider(lambda request: Answer(delay=0.05)) as fake:
        seed = SEED.format(url=fake.url, count=MESSAGES)
        subprocess.run([*manage, "shell", "-c", seed], cwd=ROOT, env=env, check=True, timeout=300)
        try:
            for n in range(2):
                log = (tmp_path / f"worker-{n}.log").open("wb")
                workers.append(
                    subprocess.Popen(
                        [*manage, "db_worker", "--no-reload", "--no-startup-delay"],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            for after in (300, 1500):  # messages at the provider before each restart
                _wait(lambda n=after: len(fake.received) >= n, 120, f"{after} messages sent")
                server.pg_ctl("-m", "fast", "restart")
            _wait(
                lambda: server.query("SELECT status FROM campaigns_campaign") == [("completed",)],
                180,
                "the campaign to complete",
            )
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    worker.kill()
    ids = {str(row[0]) for row in server.query("SELECT id FROM providers_message")}
    received = Counter(request.json()["id"] for request in fake.received)
    assert len(ids) == MESSAGES
    assert set(received) == ids
    assert set(received.values()) == {1}, "some messages went to the provider twice"
    assert server.query("SELECT DISTINCT status FROM providers_message") == [("submitted",)]


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except psycopg.OperationalError:
            pass  # the server is restarting
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
