"""`/metrics`: Prometheus text, numbers from the database, staff or bearer token only."""

from __future__ import annotations

import math
import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.tasks import start_campaign as some_task
from providers.models import DeliveryReport, Message, MessageEvent, Provider, WorkerHeartbeat
from providers.ops import metrics

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789abcdef"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Status = Message.Status
Outcome = DeliveryReport.Outcome


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}; fails on a line that is not one."""
    assert text.endswith("\n")
    samples = {}
    typed = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("# HELP "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        assert name in typed, f"{name} has no TYPE line before it"
        pairs = LABEL.findall(labels or "")
        assert ",".join(f'{k}="{v}"' for k, v in pairs) == (labels or ""), line
        samples[(name, tuple(sorted(pairs)))] = float(value)
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def message(provider: Provider, status: str, *, submitted_seconds_ago: float | None) -> Message:
    now = timezone.now()
    submitted = (
        None if submitted_seconds_ago is None else now - timedelta(seconds=submitted_seconds_ago)
    )
    return Message.objects.create(
        provider=provider, to="+919876543210", body="hi", status=status, submitted_at=submitted
    )


def report(
    provider: Provider,
    target: Message | None,
    *,
    event: str,
    outcome: str,
    seconds_ago: float,
) -> DeliveryReport:
    created = DeliveryReport.objects.create(
        provider=provider,
        message=target,
        message_ref=str(target.id if target else uuid.uuid4()),
        event=event,
        outcome=outcome,
    )
    DeliveryReport.objects.filter(id=created.id).update(
        received_at=timezone.now() - timedelta(seconds=seconds_ago)
    )
    return created


def send_event(target: Message, *, status: str, seconds_ago: float) -> None:
    event = MessageEvent.objects.create(
        message=target, source=MessageEvent.Source.SEND, status=status
    )
    MessageEvent.objects.filter(id=event.id).update(
        created_at=timezone.now() - timedelta(seconds=seconds_ago)
    )


@pytest.fixture
def known_traffic(generic_provider):
    """A known set of messages, send attempts, reports, tasks and workers.

    Lags of the reports that settled a message in the last 10 minutes: 10, 20, 30, 100 s.
    """
    p = generic_provider
    for _ in range(2):
        message(p, Status.QUEUED, submitted_seconds_ago=None)
    message(p, Status.SENDING, submitted_seconds_ago=None)
    submitted = [message(p, Status.SUBMITTED, submitted_seconds_ago=s) for s in (5, 6, 1500)]
    d1 = message(p, Status.DELIVERED, submitted_seconds_ago=15)
    d2 = message(p, Status.DELIVERED, submitted_seconds_ago=25)
    d3 = message(p, Status.DELIVERED, submitted_seconds_ago=330)
    # Delivered by a DLR that came before the send's answer: sent, without submitted_at.
    d4 = message(p, Status.DELIVERED, submitted_seconds_ago=None)
    f1 = message(p, Status.FAILED, submitted_seconds_ago=400)
    message(p, Status.FAILED, submitted_seconds_ago=None)  # refused by the provider

    applied, delivered = Outcome.APPLIED, Status.DELIVERED
    report(p, d1, event=delivered, outcome=applied, seconds_ago=5)  # lag 10
    report(p, d2, event=delivered, outcome=applied, seconds_ago=5)  # lag 20
    report(p, d3, event=delivered, outcome=applied, seconds_ago=300)  # lag 30
    report(p, f1, event=Status.FAILED, outcome=applied, seconds_ago=300)  # lag 100
    report(p, d4, event=delivered, outcome=applied, seconds_ago=5)  # no lag: not submitted
    report(p, d1, event=delivered, outcome=Outcome.DUPLICATE, seconds_ago=5)
    report(p, submitted[0], event="replied", outcome=Outcome.RECORDED, seconds_ago=5)
    report(p, None, event=delivered, outcome=Outcome.UNKNOWN_MESSAGE, seconds_ago=5)
    # Settled 20 minutes ago (a 300 s lag): outside the lag window.
    report(p, submitted[2], event=delivered, outcome=applied, seconds_ago=1200)

    for target in (submitted[0], submitted[1], d1):
        send_event(target, status=Status.SUBMITTED, seconds_ago=10)
    send_event(d2, status=Status.QUEUED, seconds_ago=10)  # a retry: not sent
    send_event(d3, status=Status.SUBMITTED, seconds_ago=330)  # before the rate window

    some_task.enqueue(1)
    some_task.enqueue(1)
    some_task.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1)

    now = timezone.now()
    WorkerHeartbeat.objects.create(
        worker_id="alive", hostname="h", pid=1, started_at=now, seen_at=now
    )
    WorkerHeartbeat.objects.create(
        worker_id="gone", hostname="h", pid=2, started_at=now, seen_at=now - timedelta(hours=1)
    )


# ---------------------------------------------------------------- numbers


def test_the_numbers_match_a_known_set_of_messages(staff_client, known_traffic):
    response = staff_client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse(response.content.decode())

    by_status = {s: value(samples, "smsgateway_messages", status=s) for s in Status.values}
    assert by_status == {"queued": 2, "sending": 1, "submitted": 3, "delivered": 4, "failed": 2}
    assert value(samples, "smsgateway_messages_sent_total") == 8
    outcomes = {o: value(samples, "smsgateway_dlr_reports_total", outcome=o) for o in Outcome}
    assert outcomes == {
        "applied": 6,
        "duplicate": 1,
        "ignored": 0,
        "recorded": 1,
        "unknown_message": 1,
        "awaiting": 0,
    }
    assert value(samples, "smsgateway_send_rate_per_second") == pytest.approx(3 / 60)
    assert value(samples, "smsgateway_dlr_rate_per_second") == pytest.approx(6 / 60)
    assert value(samples, "smsgateway_queue_depth") == 2
    assert value(samples, "smsgateway_dlr_lag_seconds", quantile="0.5") == pytest.approx(20, 0.05)
    assert value(samples, "smsgateway_dlr_lag_seconds", quantile="0.95") == pytest.approx(100, 0.05)
    assert value(samples, "smsgateway_workers_alive") == 1


def test_an_empty_gateway_reports_zeros_and_no_lag(staff_client):
    samples = parse(staff_client.get("/metrics").content.decode())
    assert value(samples, "smsgateway_messages", status="queued") == 0
    assert value(samples, "smsgateway_messages_sent_total") == 0
    assert value(samples, "smsgateway_workers_alive") == 0
    assert math.isnan(value(samples, "smsgateway_dlr_lag_seconds", quantile="0.5"))


def test_messages_are_counted_in_one_query(generic_provider, django_assert_num_queries):
    message(generic_provider, Status.QUEUED, submitted_seconds_ago=None)
    message(generic_provider, Status.DELIVERED, submitted_seconds_ago=3)
    with django_assert_num_queries(1):
        by_status, sent = metrics.message_counts()
    assert by_status == {"queued": 1, "delivered": 1} and sent == 1


def test_the_rendering_escapes_label_values_and_writes_nan():
    family = metrics.Family(
        "x", "gauge", "Help with a \\ and\na newline.", [({"v": 'a"b\\c\nd'}, math.nan)]
    )
    assert metrics.metrics_render([family]) == (
        '# HELP x Help with a \\\\ and\\na newline.\n# TYPE x gauge\nx{v="a\\"b\\\\c\\nd"} NaN\n'
    )


def test_the_quantile_is_the_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert metrics.quantile(values, 0.5) == 50
    assert metrics.quantile(values, 0.95) == 95
    assert metrics.quantile([7.0], 0.95) == 7


# ---------------------------------------------------------------- access


def test_anonymous_is_refused(client):
    assert client.get("/metrics").status_code == 403


def test_a_user_who_is_not_staff_is_refused(client, user):
    client.force_login(user)
    assert client.get("/metrics").status_code == 403


def test_staff_may_read(staff_client):
    assert staff_client.get("/metrics").status_code == 200


def test_the_bearer_token_may_read(client, settings):
    settings.SMSGATEWAY_METRICS_TOKEN = TOKEN
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"bearer {TOKEN}").status_code == 200


@pytest.mark.parametrize(
    "header",
    [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ", f"Basic {TOKEN}", "Bearer tökén"],
)
def test_a_wrong_token_is_refused(client, settings, header):
    settings.SMSGATEWAY_METRICS_TOKEN = TOKEN
    assert client.get("/metrics", HTTP_AUTHORIZATION=header).status_code == 403


def test_without_a_configured_token_no_token_is_accepted(client, settings):
    settings.SMSGATEWAY_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer  ").status_code == 403
