"""Kannel, the C gateway, measured in the same run: the peer some targets are set against.

The peer's own script (`kannel_bench.sh`, beside this repository in shared/peers, or
where SMSGATEWAY_KANNEL_BENCH points) starts Kannel's bearerbox and smsbox and a fast
fake provider of its own, sends N messages through smsbox's sendsms API and prints how
fast smsbox accepted them and how fast they reached the provider. It needs Debian's
`kannel` package (`apt-get install kannel`); without it the Kannel figures are missing
from the table and the targets set against them are not judged.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(
    os.environ.get("SMSGATEWAY_KANNEL_BENCH", ROOT.parent / "shared" / "peers" / "kannel_bench.sh")
)
LINE = re.compile(
    r"kannel: (\d+) messages, accept ([\d.]+) msg/s, delivered-to-provider ([\d.]+) msg/s,"
    r" duplicates (\d+)"
)


def unavailable() -> str:
    """Why Kannel cannot be measured here ("" when it can)."""
    if not SCRIPT.exists():
        return f"no {SCRIPT} (set SMSGATEWAY_KANNEL_BENCH)"
    if not shutil.which("bearerbox"):
        return "Kannel is not installed (apt-get install kannel)"
    return ""


def measure(messages: int, latency_ms: int) -> dict[str, float]:
    """One run of Kannel single mode: {"accept msg/s", "delivered msg/s", "duplicates"}."""
    result = subprocess.run(
        ["bash", str(SCRIPT), str(messages), str(latency_ms)],
        env={**os.environ, "MODES": "single"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    found = LINE.search(result.stdout)
    if result.returncode != 0 or not found:
        raise RuntimeError(
            f"kannel_bench.sh failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return {
        "accept msg/s": float(found.group(2)),
        "delivered msg/s": float(found.group(3)),
        "duplicates": float(found.group(4)),
    }
