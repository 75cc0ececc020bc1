"""The DLR callback under load and abuse, served by a real gunicorn on the test database.

Providers retry and duplicate reports, send them before our send request has returned,
and anyone who finds the URL can post to it; none of that may lose a report, apply one
twice, regress a final status, answer with a 500 or leak the callback token.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from providers.callbacks import MAX_BODY_BYTES
from providers.models import DeliveryReport, Message, MessageEvent, OptOut, Provider
from providers.sending.create import message_create
from providers.sending.dispatcher import Dispatcher
from tests.factories import make_provider
from tests.fake_provider import Answer, FakeProvider, Received
from tests.production.conftest import database_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True)]

Status = Message.Status
Outcome = DeliveryReport.Outcome
REPORTS = 20_000
CONCURRENCY = 32
SERVER_ERRORS = ("database is locked", "OperationalError", "Traceback", "WORKER TIMEOUT")


@dataclass
class Gunicorn:
    process: subprocess.Popen[bytes]
    log: Path
    url: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_gunicorn(log: Path, *, log_level: str = "WARNING") -> Gunicorn:
    """gunicorn on a port the OS picks (read back from its log), once it answers."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": log_level,
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "smsgateway.wsgi",
        "--bind",
        "127.0.0.1:0",
        "--workers",
        os.environ.get("XW", "2"),
        "--threads",
        os.environ.get("XT", "16"),
        # Its default path is shared by every gunicorn of this user (two test runs at once).
        "--no-control-socket",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    server = Gunicorn(process, log, "")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"gunicorn exited:\n{server.output()}"
        if not server.url:
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", server.output())
            server.url = found.group(1) if found else ""
        if server.url:
            try:
                # A redirect to the login page: no template, no database, no log line.
                requests.get(server.url + "/", allow_redirects=False, timeout=5)
                return server
            except requests.ConnectionError:
                pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"gunicorn did not answer within 60 s:\n{server.output()}")


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, tmp_path_factory) -> Iterator[Gunicorn]:
    server = start_gunicorn(tmp_path_factory.mktemp("gunicorn") / "gunicorn.log")
    yield server
    server.stop()


@pytest.fixture
def provider(db) -> Provider:
    return Provider.objects.create(
        nickname="Load",
        endpoint="https://sms.example.com/send",
        payload={"to": "$$To", "id": "$$MessageID", "text": "$$Body"},
    )


@dataclass
class Answered:
    status: int  # 0: no HTTP answer at all (the text says why)
    text: str
    seconds: float


def clevertap(message_id: Any, event: str, **fields: Any) -> bytes:
    record = {"ts": 1654512921, "meta": str(message_id), **fields}
    return json.dumps([{"event": event, "data": [record]}]).encode()


def dlr_url(server: Gunicorn, provider: Provider) -> str:
    return f"{server.url}/dlr/{provider.callback_token}/"


def post_concurrently(
    url: str,
    bodies: Sequence[bytes],
    *,
    concurrency: int,
    ready: Callable[[requests.Session], None] | None = None,
) -> list[Answered]:
    """POST every body, `concurrency` at a time, one keep-alive session per thread.

    `ready` runs once per thread before its first post (a warm-up, a barrier).
    """
    local = threading.local()
    sessions: list[requests.Session] = []
    lock = threading.Lock()

    def post(body: bytes) -> Answered:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            with lock:
                sessions.append(session)
            if ready:
                ready(session)
        started = time.perf_counter()
        try:
            response = session.post(
                url, data=body, headers={"Content-Type": "application/json"}, timeout=60
            )
        except requests.RequestException as exc:
            return Answered(0, repr(exc), time.perf_counter() - started)
        return Answered(response.status_code, response.text, time.perf_counter() - started)

    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(post, bodies))
    finally:
        for session in sessions:
            session.close()


def assert_server_clean(server: Gunicorn) -> None:
    output = server.output()
    for error in SERVER_ERRORS:
        assert error not in output, f"gunicorn logged {error!r}:\n{output[-5000:]}"


def test_20000_reports_at_concurrency_32_are_each_applied_exactly_once(gunicorn, provider):
    now = timezone.now()
    messages = Message.objects.bulk_create(
        Message(
            provider=provider,
            to=f"+9198{i:08d}",
            body="Hi",
            status=Status.SUBMITTED,
            submitted_at=now,
            attempts=1,
        )
        for i in range(REPORTS)
    )
    delivered = {m.id for m in messages[::2]}
    failed = {m.id for m in messages[1::2]}
    bodies = [
        clevertap(m.id, "delivered", description="Delivered to handset")
        if m.id in delivered
        else clevertap(m.id, "failed", code="901", description="DND Failure")
        for m in messages
    ]

    started = time.perf_counter()
    answers = post_concurrently(dlr_url(gunicorn, provider), bodies, concurrency=CONCURRENCY)
    elapsed = time.perf_counter() - started

    latencies = sorted(answer.seconds for answer in answers)
    print(
        f"\n{connection.vendor}: {REPORTS} DLR callbacks at concurrency {CONCURRENCY} in "
        f"{elapsed:.1f} s: {REPORTS / elapsed:.0f} requests/s, "
        f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms"
    )
    statuses = Counter(answer.status for answer in answers)
    odd = [answer for answer in answers if answer.status != 200][:5]
    assert not [status for status in statuses if status == 0 or status >= 500], (statuses, odd)
    assert not [answer for answer in answers if "database is locked" in answer.text]
    assert statuses == {200: REPORTS}, (statuses, odd)
    success = {"status": "success", "processed": 1, "unprocessed": []}
    assert all(json.loads(answer.text) == success for answer in answers)
    assert_server_clean(gunicorn)

    assert set(Message.objects.filter(status=Status.DELIVERED).values_list("id", flat=True)) == (
        delivered
    )
    assert (
        set(
            Message.objects.filter(status=Status.FAILED, error_code="901").values_list(
                "id", flat=True
            )
        )
        == failed
    )
    assert DeliveryReport.objects.count() == REPORTS
    assert DeliveryReport.objects.filter(outcome=Outcome.APPLIED).count() == REPORTS
    assert DeliveryReport.objects.values("message").distinct().count() == REPORTS
    dlr_events = MessageEvent.objects.filter(source=MessageEvent.Source.DLR)
    assert dlr_events.count() == REPORTS
    assert dlr_events.exclude(status="").count() == REPORTS


def test_callbacks_of_500_reports_naming_the_same_messages_apply_each_once(gunicorn, provider):
    # Every message is named by two callbacks at once, a delivery in one and a failure in
    # the other, and the two sets list the messages in opposite orders: locks taken in
    # report order would deadlock on PostgreSQL; a status changed twice would show here.
    messages = Message.objects.bulk_create(
        Message(provider=provider, to=f"+9197{i:08d}", status=Status.SUBMITTED)
        for i in range(10_000)
    )
    ids = [str(m.id) for m in messages]
    chunks = [ids[start : start + 500] for start in range(0, len(ids), 500)]

    def callback(event: str, chunk: list[str]) -> bytes:
        data = [{"ts": 1654512921, "meta": meta, "code": "901"} for meta in chunk]
        return json.dumps([{"event": event, "data": data}]).encode()

    bodies = [
        body
        for chunk in chunks
        for body in (callback("delivered", chunk), callback("failed", chunk[::-1]))
    ]
    answers = post_concurrently(dlr_url(gunicorn, provider), bodies, concurrency=CONCURRENCY)

    assert [answer.status for answer in answers] == [200] * len(bodies), answers[:3]
    assert all(json.loads(answer.text)["processed"] == 500 for answer in answers)
    assert_server_clean(gunicorn)
    assert not Message.objects.filter(status=Status.SUBMITTED).exists()
    applied = DeliveryReport.objects.filter(outcome=Outcome.APPLIED)
    assert applied.count() == applied.values("message").distinct().count() == len(ids)
    assert DeliveryReport.objects.count() == 2 * len(ids)
    # The report that lost found a final status: ignored, never applied on top.
    assert DeliveryReport.objects.filter(outcome=Outcome.IGNORED).count() == len(ids)
    changes = MessageEvent.objects.filter(source=MessageEvent.Source.DLR).exclude(status="")
    assert changes.count() == len(ids)
    delivered = set(Message.objects.filter(status=Status.DELIVERED).values_list("id", flat=True))
    assert delivered == set(applied.filter(event="delivered").values_list("message", flat=True))


@pytest.mark.parametrize(
    "events",
    [["delivered"] * 20, ["delivered", "failed"] * 10],
    ids=["20 identical reports", "10 delivered and 10 failed"],
)
def test_reports_for_one_message_at_the_same_instant_change_its_status_once(
    gunicorn, provider, events
):
    message = Message.objects.create(provider=provider, to="+919876543210", status="submitted")
    bodies = [
        clevertap(message.id, event, code="901" if event == "failed" else "") for event in events
    ]
    barrier = threading.Barrier(len(bodies))

    def warm_up_then_wait(session: requests.Session) -> None:
        # An open connection per thread, so the posts leave together when the barrier lifts.
        session.get(gunicorn.url + "/", allow_redirects=False, timeout=30)
        barrier.wait(timeout=60)

    answers = post_concurrently(
        dlr_url(gunicorn, provider), bodies, concurrency=len(bodies), ready=warm_up_then_wait
    )

    assert [answer.status for answer in answers] == [200] * len(bodies), answers
    assert_server_clean(gunicorn)
    final = Message.objects.get(id=message.id).status
    assert final in events
    outcomes = Counter(DeliveryReport.objects.values_list("event", "outcome"))
    assert outcomes[(final, Outcome.APPLIED)] == 1
    assert sum(outcomes.values()) == len(bodies)
    # Every other report agrees with the final status (duplicate) or is too late (ignored).
    assert outcomes[(final, Outcome.DUPLICATE)] == events.count(final) - 1
    other = "failed" if final == "delivered" else "delivered"
    assert outcomes[(other, Outcome.IGNORED)] == events.count(other)
    changes = MessageEvent.objects.filter(source=MessageEvent.Source.DLR).exclude(status="")
    assert list(changes.values_list("status", flat=True)) == [final]
    assert MessageEvent.objects.filter(source=MessageEvent.Source.DLR).count() == len(bodies)


def test_a_report_that_arrives_before_the_send_response_applies(gunicorn, settings):
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = True
    answered_dlr: list[int] = []

    def report_then_answer(request: Received) -> Answer:
        # The provider delivers (and reports) before it answers our send request.
        try:
            message = Message.objects.select_related("provider").get(id=request.json()["id"])
        finally:
            connections.close_all()  # this thread's own connection
        assert message.status == Status.SENDING
        response = requests.post(
            dlr_url(gunicorn, message.provider),
            data=clevertap(message.id, "delivered"),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        answered_dlr.append(response.status_code)
        return Answer()

    with FakeProvider(report_then_answer) as fake:
        message = message_create(provider=make_provider(fake.url), to="+919876543210", body="Hi")
        Dispatcher().drain()

    assert len(fake.received) == 1
    assert answered_dlr == [200]
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert message.completed_at is not None
    assert list(DeliveryReport.objects.values_list("outcome", flat=True)) == [Outcome.APPLIED]
    dlr = MessageEvent.objects.get(message=message, source=MessageEvent.Source.DLR)
    assert dlr.status == Status.DELIVERED
    assert_server_clean(gunicorn)


@pytest.mark.parametrize(
    ("first", "then"),
    [("delivered", "failed"), ("failed", "delivered")],
    ids=["delivered then failed", "failed then delivered"],
)
def test_a_late_report_never_regresses_a_final_status(gunicorn, provider, first, then):
    message = Message.objects.create(provider=provider, to="+919876543210", status="submitted")
    url = dlr_url(gunicorn, provider)

    with requests.Session() as session:
        answers = [
            session.post(url, data=clevertap(message.id, event, code="901"), timeout=30)
            for event in (first, then, first)
        ]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert Message.objects.get(id=message.id).status == first
    assert list(DeliveryReport.objects.order_by("id").values_list("event", "outcome")) == [
        (first, Outcome.APPLIED),
        (then, Outcome.IGNORED),
        (first, Outcome.DUPLICATE),
    ]
    changes = MessageEvent.objects.filter(source=MessageEvent.Source.DLR).exclude(status="")
    assert list(changes.values_list("status", flat=True)) == [first]
    assert_server_clean(gunicorn)


def snapshot() -> tuple[Any, ...]:
    """Every row a callback could add or change."""
    return (
        DeliveryReport.objects.count(),
        MessageEvent.objects.count(),
        OptOut.objects.count(),
        list(Message.objects.order_by("id").values_list("id", "status", "updated_at")),
    )


def test_bad_tokens_and_big_bodies_are_refused_and_the_token_never_logged(provider, tmp_path):
    # Everything the app logs, so that the scan means something. gunicorn keeps its default
    # level: at --log-level debug it logs every request path, as its access log does.
    server = start_gunicorn(tmp_path / "gunicorn.log", log_level="DEBUG")
    try:
        message = Message.objects.create(provider=provider, to="+919876543210", status="submitted")
        token = provider.callback_token
        report = clevertap(message.id, "delivered")
        before = snapshot()
        with requests.Session() as session:
            wrong = {
                path: session.post(server.url + path, data=report, timeout=30).status_code
                for path in [
                    "/dlr/not-the-token/",
                    f"/dlr/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}/",
                    f"/dlr/{token}x/",
                    f"/dlr/{token.swapcase()}/",
                    f"/dlr/{token}%00/",
                    f"/dlr/{'a' * 65}/",
                    "/dlr//",
                    "/dlr/",
                ]
            }
            assert set(wrong.values()) == {404}, wrong
            assert snapshot() == before

            url = f"{server.url}/dlr/{token}/"
            over = session.post(url, data=b"[" + b" " * MAX_BODY_BYTES + b"]", timeout=60)
            assert over.status_code == 413
            assert snapshot() == before

            # The limit itself is accepted: a report padded to exactly 1 MB applies.
            padding = MAX_BODY_BYTES - len(clevertap(message.id, "delivered", description=""))
            at_limit = clevertap(message.id, "delivered", description="x" * padding)
            assert len(at_limit) == MAX_BODY_BYTES
            answer = session.post(url, data=at_limit, timeout=60)
            assert answer.status_code == 200
            assert answer.json()["processed"] == 1
    finally:
        server.stop()

    assert Message.objects.get(id=message.id).status == Status.DELIVERED
    output = server.output()
    assert "refused (413)" in output  # the app's own lines are in this output
    assert "unknown token" in output
    assert token not in output
    for error in SERVER_ERRORS:
        assert error not in output
