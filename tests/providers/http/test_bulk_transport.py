"""The bulk transport (libcurl) against a real HTTP server on loopback.

It must keep every rule of the single-call transport: outcomes classified the same way,
no redirect followed, timeouts, a bounded answer, and no private address reached
unless allowed, whatever DNS answers.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from providers.http import transport
from providers.http.bulk_transport import Sender
from providers.http.transport import MAX_RESPONSE_BYTES, ErrorKind, SendResult
from providers.models import Message, Provider
from providers.sending import lanes
from providers.sending.dispatcher import Dispatcher
from providers.sending.rendering import RenderedRequest
from tests.fake_provider import Answer, FakeProvider


@pytest.fixture(autouse=True)
def _loopback(settings) -> Iterator[None]:
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = True
    settings.SMSGATEWAY_CONNECT_TIMEOUT = 1.0
    settings.SMSGATEWAY_READ_TIMEOUT = 0.5
    yield


def post(url: str, body: bytes = b'{"to": "+919876543210"}', **fields) -> RenderedRequest:
    return RenderedRequest(
        method="POST",
        url=url,
        headers={"Content-Type": "application/json"},
        body=body,
        **fields,
    )


def send(*requests: RenderedRequest, concurrency: int = 8) -> list[SendResult]:
    """Send the requests, at most `concurrency` in flight, as the dispatcher bounds them."""
    results: list[SendResult] = []
    with Sender() as sender:
        for start in range(0, len(requests), concurrency):
            group = sender.submit(list(requests[start : start + concurrency]))
            results += [future.result() for future in group]
    return results


def test_a_success_is_accepted_with_the_providers_answer():
    with FakeProvider(lambda r: Answer(body='{"id": "p-1"}')) as fake:
        [result] = send(post(fake.url + "/send"))
    assert result.ok and result.http_status == 200
    assert result.response == '{"id": "p-1"}'
    assert fake.received[0].json() == {"to": "+919876543210"}
    assert fake.received[0].headers["User-Agent"] == "smsgateway/1.0"


@pytest.mark.parametrize(
    ("status", "kind", "transient"),
    [
        (400, ErrorKind.REJECTED, False),
        (401, ErrorKind.AUTH, False),
        (403, ErrorKind.AUTH, False),
        (500, ErrorKind.SERVER_ERROR, True),
        (503, ErrorKind.SERVER_ERROR, True),
    ],
)
def test_errors_are_classified_like_the_single_call_transport(status, kind, transient):
    with FakeProvider(lambda r: Answer(status=status, body='{"error": "no"}')) as fake:
        [result] = send(post(fake.url + "/send"))
    assert (result.ok, result.error_kind, result.transient) == (False, kind, transient)
    assert result.error == f'HTTP {status}: {{"error": "no"}}'


def test_a_429_keeps_the_retry_after():
    answer = Answer(status=429, headers={"Retry-After": "7"})
    with FakeProvider(lambda r: answer) as fake:
        [result] = send(post(fake.url + "/send"))
    assert result.error_kind == ErrorKind.RATE_LIMITED and result.retry_after == 7.0


def test_a_redirect_is_not_followed():
    answer = Answer(status=302, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    with FakeProvider(lambda r: answer) as fake:
        [result] = send(post(fake.url + "/send"))
    assert result.error_kind == ErrorKind.REDIRECT
    assert "point the endpoint at the final URL" in result.error
    assert len(fake.received) == 1


def test_a_provider_that_answers_too_late_times_out():
    with FakeProvider(lambda r: Answer(delay=1.5)) as fake:
        [result] = send(post(fake.url + "/send"))
    assert result.error_kind == ErrorKind.TIMEOUT and result.transient


def test_an_answer_trickled_past_the_whole_deadline_times_out():
    # Each byte comes well within the read timeout, the whole answer does not.
    answer = Answer(body="x" * 40, drip=0.1)
    with FakeProvider(lambda r: answer) as fake:
        [result] = send(post(fake.url + "/send"))
    assert result.error_kind == ErrorKind.TIMEOUT


def test_a_connection_reset_is_a_transient_connection_error():
    with FakeProvider(lambda r: Answer(reset=True)) as fake:
        [result] = send(post(fake.url + "/send"))
    assert result.error_kind == ErrorKind.CONNECTION and result.transient


def test_a_refused_connection_is_reported_as_such():
    with FakeProvider(listening=False) as fake:
        [result] = send(post(fake.url + "/send"))
    assert result.error_kind == ErrorKind.REFUSED and result.transient


def test_a_name_that_does_not_resolve_is_a_dns_error(monkeypatch):
    def no_such_host(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(transport, "resolve", no_such_host)
    [result] = send(post("http://sms.invalid/send"))
    assert result.error_kind == ErrorKind.DNS and result.transient


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::ffff:10.0.0.1"])
def test_a_name_resolving_to_a_private_address_is_never_connected_to(
    settings, monkeypatch, address
):
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = False
    with FakeProvider() as fake:
        port = int(fake.url.rsplit(":", 1)[1])
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        monkeypatch.setattr(
            transport,
            "resolve",
            lambda host, _: [(family, socket.SOCK_STREAM, 6, "", (address, port))],
        )
        [result] = send(post(f"https://sms.example.com:{port}/send"))
    assert result.error_kind == ErrorKind.BLOCKED and not result.transient
    assert address in result.error
    assert fake.received == []


def test_a_plain_http_endpoint_is_refused_unless_private_endpoints_are_allowed(settings):
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = False
    with FakeProvider() as fake:
        [result] = send(post(fake.url + "/send"))
    assert result.error_kind == ErrorKind.BLOCKED
    assert fake.received == []


def test_a_huge_answer_is_read_only_up_to_the_bound():
    with FakeProvider(lambda r: Answer(body="y" * (MAX_RESPONSE_BYTES * 3))) as fake:
        [result] = send(post(fake.url + "/send"))
    assert result.ok
    assert result.response == "y" * MAX_RESPONSE_BYTES + " [truncated]"


def test_basic_auth_is_sent_and_proxies_from_the_environment_are_ignored(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    with FakeProvider() as fake:
        [result] = send(post(fake.url + "/send", auth=("acme", "s3cret")))
    assert result.ok
    assert fake.received[0].headers["Authorization"] == "Basic YWNtZTpzM2NyZXQ="


def test_many_requests_all_arrive_once_and_results_match_their_requests():
    def answer(request):
        return Answer(body=request.body.decode(), delay=0.05)

    with FakeProvider(answer) as fake:
        requests = [post(fake.url + "/send", body=f'{{"n": {n}}}'.encode()) for n in range(40)]
        # The test server's listen backlog is 5: stay below it.
        results = send(*requests, concurrency=4)
    assert sorted(r.json()["n"] for r in fake.received) == list(range(40))
    assert [result.response for result in results] == [f'{{"n": {n}}}' for n in range(40)]


def api_lane(provider: Provider) -> int:
    return lanes.transactional_lane_id(provider_id=provider.pk)


@pytest.mark.django_db
def test_one_claim_after_another_reuses_the_connection_to_the_provider():
    with FakeProvider(keep_alive=True) as fake:
        provider = Provider.objects.create(
            nickname="Bulk", endpoint=fake.url + "/send", payload={"id": "$$MessageID"}
        )
        for n in range(2):  # one message, then another, in one worker
            Message.objects.create(
                provider=provider, lane_id=api_lane(provider), to=f"+91987654321{n}"
            )
            Dispatcher().drain()
    assert [request.json()["id"] for request in fake.received] == [
        str(m.id) for m in Message.objects.order_by("created_at")
    ]
    assert fake.received[0].client == fake.received[1].client
    assert set(Message.objects.values_list("status", flat=True)) == {Message.Status.SUBMITTED}


@pytest.mark.django_db
def test_a_fault_the_transport_did_not_foresee_is_recorded_as_a_connection_fault(
    monkeypatch, caplog, settings
):
    settings.SMSGATEWAY_RETRY_BASE_SECONDS = 60
    real_classify = transport.classify

    def classify_or_fail(**answer):
        if b"broken" in answer["raw"]:
            raise RuntimeError("the transport broke")
        return real_classify(**answer)

    monkeypatch.setattr(transport, "classify", classify_or_fail)
    # The provider echoes each request, so the fault strikes one message's answer.
    with FakeProvider(lambda request: Answer(body=request.body.decode())) as fake:
        provider = Provider.objects.create(
            nickname="Bulk", endpoint=fake.url + "/send", payload={"text": "$$Body"}
        )
        sent, broken = (
            Message.objects.create(
                provider=provider, lane_id=api_lane(provider), to="+919876543210", body=body
            )
            for body in ("fine", "broken")
        )
        Dispatcher().drain()

    sent.refresh_from_db()
    broken.refresh_from_db()
    assert sent.status == Message.Status.SUBMITTED
    # Whether it went out is unknown, as after a timeout: back in the queue, to retry.
    assert broken.status == Message.Status.QUEUED
    assert broken.error_code == ErrorKind.CONNECTION
    assert broken.error_description == "the transport broke"
    assert "sending to Bulk failed unexpectedly" in caplog.text
