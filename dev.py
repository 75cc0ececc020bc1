#!/usr/bin/env python3
"""Set up and run smsgateway on one machine with nothing but Python 3.11+.

    python3 dev.py run    # install, migrate, create the admin, serve on http://127.0.0.1:8000
    python3 dev.py test   # install (with test tools and Chromium), lint, run the whole suite
    python3 dev.py bench  # run every benchmark scenario on SQLite and PostgreSQL (bench/README.md)

Everything is installed into ./.venv from the pinned lock files in requirements/.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
CHROMIUM = Path(os.environ.get("SMSGATEWAY_CHROMIUM", "/usr/bin/chromium"))


def sh(*args: str | Path, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=True)


def install(lock: str) -> None:
    """Create the virtualenv and install the lock file, unless it is already installed."""
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    lock_path = ROOT / "requirements" / lock
    stamp = VENV / f".installed-{lock}"
    digest = hashlib.sha256(lock_path.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"Installing requirements/{lock} ...", flush=True)
    sh(PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", lock_path)
    stamp.write_text(digest)


def ensure_env_file() -> None:
    """A stable SECRET_KEY for this checkout: provider secrets are encrypted with it."""
    env_file = ROOT / ".env"
    if not env_file.exists():
        env_file.write_text(f"SECRET_KEY={secrets.token_urlsafe(50)}\n")
        print("Wrote .env with a new SECRET_KEY (keep it: stored secrets depend on it).")


def manage(*args: str, env: dict[str, str]) -> None:
    sh(PYTHON, "manage.py", *args, env=env)


def run() -> None:
    install("lock.txt")
    ensure_env_file()
    env = dict(os.environ)
    # The demo: a local sandbox provider, reachable over loopback.
    env.setdefault("SMSGATEWAY_SANDBOX_ENABLED", "true")
    env.setdefault("SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS", "true")
    env.setdefault("SMSGATEWAY_BASE_URL", "http://127.0.0.1:8000")
    manage("migrate", "--noinput", "-v", "0", env=env)
    manage("collectstatic", "--noinput", "-v", "0", env=env)
    manage("demo_setup", env=env)
    # Threads matter: the test SMS request calls the sandbox on this same server.
    # No access log: DLR callback paths carry each provider's secret token.
    web = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "smsgateway.wsgi",
            "--bind",
            "127.0.0.1:8000",
            "--workers",
            "2",
            "--threads",
            "4",
        ],
        cwd=ROOT,
        env=env,
    )
    worker = subprocess.Popen(
        [str(PYTHON), "manage.py", "db_worker", "--no-reload"], cwd=ROOT, env=env
    )
    print("\nsmsgateway is running at http://127.0.0.1:8000  (Ctrl-C stops it)\n", flush=True)
    sys.exit(supervise([web, worker]))


class Stop(Exception):
    """A signal asked this process to stop."""


def _stop(signum: int, frame: object) -> None:
    raise Stop(signum)


def supervise(children: list[subprocess.Popen]) -> int:
    """Wait while every child runs; then, or on Ctrl-C, SIGTERM or SIGHUP (a process
    manager, a closed terminal), stop them all. Returns the worst exit code."""
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except (KeyboardInterrupt, Stop):
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return max(child.returncode or 0 for child in children)


def ensure_chromium() -> None:
    """Browser tests drive Debian's Chromium; install it when it is missing."""
    if CHROMIUM.exists():
        return
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        print("Installing Chromium for the browser tests ...", flush=True)
        quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        sh("apt-get", "update", "-qq", env=quiet)
        sh("apt-get", "install", "-y", "-qq", "chromium", env=quiet)
        return
    sys.exit(
        f"The browser tests need Chromium at {CHROMIUM}. Install it (Debian: "
        "'sudo apt-get install chromium') or point SMSGATEWAY_CHROMIUM at it."
    )


def test(pytest_args: list[str]) -> None:
    install("test-lock.txt")
    ensure_chromium()
    sh(BIN / "ruff", "check", ".")
    sh(BIN / "mypy", "dlt", "providers", "campaigns", "smsgateway")
    result = subprocess.run([str(BIN / "pytest"), *pytest_args], cwd=ROOT)
    sys.exit(result.returncode)


def bench(bench_args: list[str]) -> None:
    install("test-lock.txt")
    result = subprocess.run([str(PYTHON), "bench/run.py", *bench_args], cwd=ROOT)
    sys.exit(result.returncode)


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "run":
        run()
    elif command == "test":
        test(sys.argv[2:])
    elif command == "bench":
        bench(sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
