"""Two real worker processes sending for one OAuth 2.0 provider share one token: the
token endpoint is asked once, not once per process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from providers.models import Message
from providers.sending.create import message_create
from tests.fake_oauth import FakeOAuth, oauth_provider, sent_token
from tests.production.conftest import database_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True)]


def start_batch_worker(log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS": "true",
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "manage.py", "db_worker", "--batch", "--no-reload"]
    command += ["--interval", "0", "--no-startup-delay", "-v", "0"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def test_two_worker_processes_fetch_one_token_between_them(tmp_path):
    # A slow token endpoint: the second process asks while the first one's fetch is on.
    with FakeOAuth(token_delay=3.0) as fake:
        provider = oauth_provider(fake.url)
        messages = [
            message_create(provider=provider, to=f"+9198765{n:05d}", body="OTP") for n in range(200)
        ]
        workers = [start_batch_worker(tmp_path / f"worker-{n}.log") for n in range(2)]
        for worker in workers:
            assert worker.wait(timeout=120) == 0, (tmp_path / "worker-0.log").read_text()

    assert len(fake.token_requests) == 1
    assert {sent_token(request) for request in fake.sends} == {fake.issued[0]}
    statuses = Message.objects.filter(id__in=[m.id for m in messages]).values_list(
        "status", flat=True
    )
    assert set(statuses) == {"submitted"}
