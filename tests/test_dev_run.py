"""`python3 dev.py run` stops the servers it started however it is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# dev.supervise over two long-running children, as `dev.py run` starts gunicorn and the
# db_worker; it prints their pids once they run.
SUPERVISOR = """
import subprocess, sys
sys.path.insert(0, {root!r})
import dev
children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
            for _ in range(2)]
print(" ".join(str(child.pid) for child in children), flush=True)
sys.exit(dev.supervise(children))
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that has exited but not yet been reaped by its parent is a zombie.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[1].startswith("Z"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_the_servers_stop_with_the_supervisor(signum):
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR.format(root=str(ROOT))],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert supervisor.stdout is not None
    pids = [int(pid) for pid in supervisor.stdout.readline().split()]
    assert len(pids) == 2 and all(alive(pid) for pid in pids)

    supervisor.send_signal(signum)
    supervisor.wait(timeout=30)

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids), "a server outlived dev.py"
