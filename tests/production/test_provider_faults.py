"""Faults from the provider, through the real path, with a fake provider rather than mocks.

message_create -> the task queue -> db_worker -> real HTTP to a FakeProvider on
loopback, which answers with errors, late, not at all, with garbage or with far too much.
Every message must end in the right place (submitted once the fault clears, or failed
with its reason kept), and none may be lost or sent more often than its attempts allow.

The only thing patched is DNS (`providers.http.transport.resolve`), for the name that does not
resolve. Retry settings are small so the whole module runs in seconds.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.utils import format_datetime
from itertools import pairwise

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from providers.http import transport
from providers.http.transport import MAX_RESPONSE_BYTES, ErrorKind
from providers.models import Message, MessageEvent, Provider
from providers.sending.create import message_create
from tests.fake_provider import Answer, FakeProvider, Received

pytestmark = pytest.mark.django_db(transaction=True)

Status = Message.Status
BASE = 0.05
CAP = 0.3
READ_TIMEOUT = 0.5


@pytest.fixture(autouse=True)
def _fast_retries(settings) -> Iterator[None]:
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = True
    settings.SMSGATEWAY_RETRY_BASE_SECONDS = BASE
    settings.SMSGATEWAY_RETRY_MAX_SECONDS = CAP
    settings.SMSGATEWAY_MAX_SEND_ATTEMPTS = 4
    settings.SMSGATEWAY_CONNECT_TIMEOUT = 1.0
    settings.SMSGATEWAY_READ_TIMEOUT = READ_TIMEOUT
    yield
    # Pooled connections point at this test's fake provider, which is gone.
    transport.close_sessions()


# ---------------------------------------------------------------- helpers


def run_worker() -> None:
    call_command(
        "db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0", verbosity=0
    )


def work_until(done: Callable[[], bool], *, timeout: float = 10.0) -> None:
    """Run the worker until `done()`; a send task that crashes fails the test at once."""
    deadline = time.monotonic() + timeout
    while not done():
        crashed = DBTaskResult.objects.failed().first()
        if crashed is not None:
            raise AssertionError(f"a send task crashed:\n{crashed.traceback}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the worker did not finish within {timeout:.0f} s")
        run_worker()


def settled(*messages: Message) -> Callable[[], bool]:
    """True once none of these messages is waiting to be (or being) sent."""
    ids = [message.id for message in messages]
    pending = Message.objects.filter(id__in=ids, status__in=[Status.QUEUED, Status.SENDING])
    return lambda: not pending.exists()


def provider_at(url: str) -> Provider:
    return Provider.objects.create(
        nickname="Flaky",
        endpoint=url + "/send",
        payload={"to": "$$To", "text": "$$Body", "msgid": "$$MessageID"},
    )


def create(provider: Provider, count: int = 1) -> list[Message]:
    return [
        message_create(provider=provider, to=f"+9198765432{i:02d}", body=f"hello {i}")
        for i in range(count)
    ]


def message_ids(fake: FakeProvider) -> Counter[str]:
    """How many requests the fake provider received for each message id."""
    return Counter(request.json()["msgid"] for request in fake.received)


def per_message(*first: Answer) -> Callable[[Received], Answer]:
    """Answer each message's n-th request with first[n], and every later one with success."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def respond(request: Received) -> Answer:
        message_id = request.json()["msgid"]
        with lock:
            index = seen[message_id]
            seen[message_id] += 1
        return first[index] if index < len(first) else Answer()

    return respond


def retry_delays(message: Message) -> list[float]:
    """The backoff chosen before each retry, as the attempt's history records it."""
    return [
        event.data["retry_in_seconds"]
        for event in send_events(message)
        if "retry_in_seconds" in event.data
    ]


def send_events(message: Message) -> list[MessageEvent]:
    return list(message.events.filter(source=MessageEvent.Source.SEND).order_by("created_at", "id"))


def assert_failed_after_every_attempt(message: Message, *, code: str, reason: str) -> None:
    """Failed once its attempts ran out, with the reason on the message and in its history."""
    message.refresh_from_db()
    attempts = send_events(message)
    assert message.status == Status.FAILED
    assert message.attempts == len(attempts) == 4
    assert message.error_code == code
    assert reason in message.error_description
    assert [event.status for event in attempts] == [Status.QUEUED] * 3 + [Status.FAILED]
    assert {event.code for event in attempts} == {code}
    assert reason in attempts[-1].description
    assert attempts[-1].description.endswith("(retries exhausted)")


# ---------------------------------------------------------------- server errors


def test_a_server_error_is_retried_with_capped_exponential_backoff_then_fails(settings):
    settings.SMSGATEWAY_MAX_SEND_ATTEMPTS = 6  # the ceilings: 0.05, 0.1, 0.2, then 0.3 (capped)
    with FakeProvider(lambda request: Answer(status=503, body="busy")) as fake:
        messages = create(provider_at(fake.url), 6)
        work_until(settled(*messages))

    assert message_ids(fake) == {str(message.id): 6 for message in messages}
    schedules: list[list[float]] = []
    for message in messages:
        message.refresh_from_db()
        assert (message.status, message.error_code) == (Status.FAILED, ErrorKind.SERVER_ERROR)
        assert message.error_description == "HTTP 503: busy"
        last = send_events(message)[-1]
        assert last.description == "Provider error: HTTP 503: busy (retries exhausted)"
        times = [r.at for r in fake.received if r.json()["msgid"] == str(message.id)]
        gaps = [later - earlier for earlier, later in pairwise(times)]
        delays = retry_delays(message)
        for retry, (delay, gap) in enumerate(zip(delays, gaps, strict=True), start=1):
            assert 0 <= delay <= min(CAP, BASE * 2 ** (retry - 1)), f"retry {retry}"
            assert gap >= delay, f"retry {retry} was sent {delay - gap:.3f} s early"
        schedules.append(delays)

    # Full jitter draws each delay from [0, ceiling], so one message's delays need not
    # grow; the ceiling does, and so do the delays on average.
    first = statistics.mean(delays[0] for delays in schedules)
    capped = statistics.mean(delay for delays in schedules for delay in delays[3:])
    assert capped > first


@pytest.mark.parametrize(
    "status, code, title",
    [(400, ErrorKind.REJECTED, "Payload rejected"), (401, ErrorKind.AUTH, "Authentication")],
)
def test_a_client_error_fails_at_once_with_the_providers_answer_kept(status, code, title):
    answer = Answer(status=status, body='{"error": "invalid sender id"}')
    with FakeProvider(lambda request: answer) as fake:
        [message] = create(provider_at(fake.url))
        work_until(settled(message))

    assert len(fake.received) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error_code) == (Status.FAILED, 1, code)
    assert message.error_description == f'HTTP {status}: {{"error": "invalid sender id"}}'
    [event] = send_events(message)
    assert (event.status, event.code, event.http_status) == (Status.FAILED, code, status)
    assert event.description.startswith(title)
    assert "retries" not in event.description


# ---------------------------------------------------------------- rate limits


def test_a_rate_limited_message_waits_for_retry_after_then_is_submitted(settings):
    settings.SMSGATEWAY_RETRY_MAX_SECONDS = 5  # above the Retry-After, so it is not capped
    limited = Answer(status=429, body='{"error": "slow down"}', headers={"Retry-After": "1"})
    with FakeProvider(per_message(limited)) as fake:
        [message] = create(provider_at(fake.url))
        before = timezone.now()
        run_worker()
        message.refresh_from_db()
        assert (message.status, message.error_code) == (Status.QUEUED, ErrorKind.RATE_LIMITED)
        assert message.next_attempt_at is not None
        assert message.next_attempt_at >= before + timedelta(seconds=1)
        work_until(settled(message))

    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.SUBMITTED, 2)
    first, second = fake.received
    assert second.at - first.at >= 1.0 - 0.01  # the clocks' resolution
    assert send_events(message)[0].description.startswith("Rate limited by the provider")


def test_a_retry_after_longer_than_the_backoff_cap_is_still_honoured():
    limited = Answer(status=429, headers={"Retry-After": "2"})
    with FakeProvider(per_message(limited)) as fake:
        [message] = create(provider_at(fake.url))
        before = timezone.now()
        run_worker()
    message.refresh_from_db()
    assert message.status == Status.QUEUED
    assert message.next_attempt_at is not None
    assert message.next_attempt_at >= before + timedelta(seconds=2)


def test_a_retry_after_date_without_a_time_zone_still_retries():
    # A naive datetime formats with "-0000", RFC 5322's "time zone unknown".
    when = format_datetime(timezone.now().replace(tzinfo=None) + timedelta(seconds=1))
    limited = Answer(status=429, headers={"Retry-After": when})
    with FakeProvider(per_message(limited)) as fake:
        [message] = create(provider_at(fake.url))
        work_until(settled(message), timeout=5)
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.SUBMITTED, 2)


# ---------------------------------------------------------------- no answer in time


def test_a_provider_that_never_answers_in_time_fails_as_timed_out():
    with FakeProvider(lambda request: Answer(delay=READ_TIMEOUT + 0.4)) as fake:
        [message] = create(provider_at(fake.url))
        work_until(settled(message))

    assert message_ids(fake) == {str(message.id): 4}
    assert_failed_after_every_attempt(message, code=ErrorKind.TIMEOUT, reason="timed out")


def test_an_answer_trickled_slower_than_the_read_timeout_times_out():
    # Each byte comes well within the read timeout; the whole answer takes over 4 s.
    trickle = Answer(body='{"status": "success"}', drip=0.2)
    with FakeProvider(lambda request: trickle) as fake:
        [message] = create(provider_at(fake.url))
        run_worker()
    message.refresh_from_db()
    assert message.error_code == ErrorKind.TIMEOUT
    # Given up at connect + read timeout (1.5 s) into the exchange, not after 4 s.
    attempt = send_events(message)[0]
    assert attempt.duration_ms < 3000, f"the attempt took {attempt.duration_ms} ms"


# ---------------------------------------------------------------- broken connections


def test_connection_resets_are_retried_until_the_provider_answers():
    reset = Answer(reset=True)
    with FakeProvider(per_message(reset, reset)) as fake:
        messages = create(provider_at(fake.url), 3)
        work_until(settled(*messages))

    assert message_ids(fake) == {str(message.id): 3 for message in messages}
    for message in messages:
        message.refresh_from_db()
        assert (message.status, message.attempts) == (Status.SUBMITTED, 3)
        attempts = send_events(message)
        assert [event.code for event in attempts] == [ErrorKind.CONNECTION] * 2 + [""]
        assert "reset" in attempts[0].description.lower()


def test_a_provider_down_for_a_while_gets_each_message_once_it_is_up(settings):
    settings.SMSGATEWAY_MAX_SEND_ATTEMPTS = 8  # enough to outlast the outage
    with FakeProvider(listening=False) as fake:
        messages = create(provider_at(fake.url), 3)
        ids = [message.id for message in messages]
        refused_twice = Message.objects.filter(id__in=ids, attempts__gte=2)
        work_until(lambda: refused_twice.count() == len(ids))
        assert fake.received == []
        fake.listen()
        work_until(settled(*messages))

    assert message_ids(fake) == {str(message.id): 1 for message in messages}
    for message in messages:
        message.refresh_from_db()
        assert message.status == Status.SUBMITTED
        codes = [event.code for event in send_events(message)]
        assert codes == [ErrorKind.REFUSED] * (message.attempts - 1) + [""]
        assert "refused" in send_events(message)[0].description.lower()


def test_a_host_name_that_does_not_resolve_fails_as_a_dns_error(monkeypatch):
    def no_such_host(host: str, port: int) -> list[tuple[object, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(transport, "resolve", no_such_host)
    with FakeProvider() as fake:
        provider = provider_at(fake.url.replace("127.0.0.1", "sms.provider.invalid"))
        [message] = create(provider)
        work_until(settled(message))

    assert fake.received == []
    assert_failed_after_every_attempt(message, code=ErrorKind.DNS, reason="sms.provider.invalid")


# ---------------------------------------------------------------- strange answers


def test_garbage_with_a_success_status_counts_as_submitted():
    garbage = "<html><body>OK\x01\x7f</body></html>{not json"
    with FakeProvider(lambda request: Answer(body=garbage)) as fake:
        [message] = create(provider_at(fake.url))
        work_until(settled(message))

    assert len(fake.received) == 1
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Status.SUBMITTED, "")
    [event] = send_events(message)
    assert event.data["response"] == garbage


def test_an_answer_in_an_unknown_charset_counts_as_submitted():
    odd = Answer(body="accepted", headers={"Content-Type": "text/plain; charset=x-no-such"})
    with FakeProvider(lambda request: odd) as fake:
        [message] = create(provider_at(fake.url))
        work_until(settled(message), timeout=5)
    message.refresh_from_db()
    assert message.status == Status.SUBMITTED


def test_an_answer_with_a_nul_character_counts_as_submitted():
    with FakeProvider(lambda r: Answer(body='{"status": "ok", "id": "a\x00b"}')) as fake:
        [message] = create(provider_at(fake.url))
        work_until(settled(message), timeout=5)
    message.refresh_from_db()
    assert (message.status, len(fake.received)) == (Status.SUBMITTED, 1)


def test_a_huge_answer_is_read_only_up_to_the_bound():
    with FakeProvider(lambda request: Answer(body="x" * 5_000_000)) as fake:
        [message] = create(provider_at(fake.url))
        work_until(settled(message))

    message.refresh_from_db()
    assert message.status == Status.SUBMITTED
    [event] = send_events(message)
    kept = event.data["response"]
    assert kept.endswith(" [truncated]")
    assert len(kept) <= MAX_RESPONSE_BYTES + len(" [truncated]")


# ---------------------------------------------------------------- all of it at once


def test_no_message_is_lost_or_sent_more_often_than_its_attempts_allow():
    """Each message meets 0 to 4 faults of mixed kinds in a row; 4 is every attempt it has."""
    faults = [
        (Answer(status=503, body="busy"), ErrorKind.SERVER_ERROR),
        (Answer(status=429, headers={"Retry-After": "0"}), ErrorKind.RATE_LIMITED),
        (Answer(reset=True), ErrorKind.CONNECTION),
        (Answer(status=500, body="oops"), ErrorKind.SERVER_ERROR),
    ]
    plans = {f"hello {i}": [faults[(i + k) % 4] for k in range(i % 5)] for i in range(20)}
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def respond(request: Received) -> Answer:
        text = request.json()["text"]
        with lock:
            attempt = seen[text]
            seen[text] += 1
        plan = plans[text]
        return plan[attempt][0] if attempt < len(plan) else Answer()

    with FakeProvider(respond) as fake:
        messages = create(provider_at(fake.url), 20)
        work_until(settled(*messages), timeout=20)

    received = message_ids(fake)
    assert set(received) == {str(message.id) for message in messages}
    for message in messages:
        message.refresh_from_db()
        plan = plans[message.body]
        assert received[str(message.id)] == message.attempts == min(len(plan) + 1, 4)
        codes = [event.code for event in send_events(message)]
        if len(plan) < 4:
            assert message.status == Status.SUBMITTED
            assert codes == [code for _, code in plan] + [""]
        else:
            assert message.status == Status.FAILED
            assert codes == [code for _, code in plan]
            assert message.error_code == plan[-1][1]


def test_a_message_submitted_after_a_retry_shows_no_error():
    with FakeProvider(per_message(Answer(status=503, body="busy"))) as fake:
        [message] = create(provider_at(fake.url))
        work_until(settled(message))
    message.refresh_from_db()
    assert message.status == Status.SUBMITTED
    assert (message.error_code, message.error_description) == ("", "")
