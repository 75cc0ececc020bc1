from __future__ import annotations

import socket

import pytest

from providers.http import transport
from providers.http.transport import ErrorKind
from providers.sending.rendering import RenderedRequest
from tests.fake_provider import Answer, FakeProvider


def post(url: str) -> RenderedRequest:
    return RenderedRequest(
        method="POST", url=url, body=b"{}", headers={"Content-Type": "application/json"}
    )


@pytest.fixture
def private_allowed(settings):
    settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = True


@pytest.fixture
def fast_timeouts(settings):
    settings.SMSGATEWAY_CONNECT_TIMEOUT = 0.5
    settings.SMSGATEWAY_READ_TIMEOUT = 0.3


def send(url: str) -> transport.SendResult:
    return transport.send(post(url), session=transport.new_session())


def resolving_to(*addresses: str):
    def fake(host, port):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return fake


# --- which endpoints are refused


@pytest.mark.parametrize(
    "url",
    [
        "http://sms.example.com/send",
        "ftp://sms.example.com/",
        "https://localhost/send",
        "https://127.0.0.1/send",
        "https://10.1.2.3/send",
        "https://169.254.169.254/latest",
        "https://[::1]/send",
    ],
)
def test_it_refuses_insecure_or_private_endpoints(url):
    assert transport.check_endpoint(url)


def test_it_accepts_a_public_https_endpoint():
    assert transport.check_endpoint("https://ap.awsigateway.com/v1/messages.json") is None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.7",
        "192.168.1.20",
        "172.16.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "::ffff:10.0.0.1",
    ],
)
def test_a_name_that_resolves_to_a_private_address_is_blocked_at_connect_time(monkeypatch, address):
    monkeypatch.setattr(transport, "resolve", resolving_to(address))
    result = send("https://provider.example.com/send")
    assert not result.ok
    assert result.error_kind == ErrorKind.BLOCKED
    assert address.split("::ffff:")[-1] in result.error or address in result.error


def test_one_private_address_among_the_answers_is_enough_to_block(monkeypatch):
    monkeypatch.setattr(transport, "resolve", resolving_to("93.184.216.34", "10.0.0.1"))
    assert send("https://provider.example.com/send").error_kind == ErrorKind.BLOCKED


def test_every_new_connection_resolves_again(monkeypatch, private_allowed, settings):
    # A DNS answer that changes between requests is checked again (no cached approval).
    with FakeProvider() as fake:
        port = fake.server.server_address[1]
        monkeypatch.setattr(transport, "resolve", resolving_to("127.0.0.1"))
        session = transport.new_session()
        url = f"http://provider.example.com:{port}/send"
        assert transport.send(post(url), session=session).ok
        settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS = False
        # Still the same pooled session; a fresh connection must be vetted again.
        session.close()
        request = post(url.replace("http://", "https://"))
        assert transport.send(request, session=session).error_kind == ErrorKind.BLOCKED
        assert len(fake.received) == 1


def test_loopback_is_allowed_when_the_setting_is_on(private_allowed):
    with FakeProvider() as fake:
        result = send(fake.url + "/send")
    assert result.ok and result.http_status == 200
    assert fake.received[0].body == b"{}"


# --- how outcomes are classified


@pytest.mark.parametrize(
    ("status", "kind", "transient"),
    [
        (401, ErrorKind.AUTH, False),
        (403, ErrorKind.AUTH, False),
        (400, ErrorKind.REJECTED, False),
        (422, ErrorKind.REJECTED, False),
        (500, ErrorKind.SERVER_ERROR, True),
        (503, ErrorKind.SERVER_ERROR, True),
        (429, ErrorKind.RATE_LIMITED, True),
    ],
)
def test_http_failures_are_classified(private_allowed, status, kind, transient):
    with FakeProvider(lambda r: Answer(status=status, body='{"error": "nope"}')) as fake:
        result = send(fake.url)
    assert not result.ok
    assert result.error_kind == kind
    assert result.transient is transient
    assert result.http_status == status
    assert '{"error": "nope"}' in result.response


def test_retry_after_is_read_from_a_429(private_allowed):
    with FakeProvider(lambda r: Answer(status=429, headers={"Retry-After": "7"})) as fake:
        assert send(fake.url).retry_after == 7.0


def test_redirects_are_not_followed(private_allowed):
    answer = Answer(status=302, headers={"Location": "http://169.254.169.254/"})
    with FakeProvider(lambda r: answer) as fake:
        result = send(fake.url)
    assert result.error_kind == ErrorKind.REDIRECT
    assert len(fake.received) == 1


def test_a_slow_provider_times_out(private_allowed, fast_timeouts):
    with FakeProvider(lambda r: Answer(delay=1.0)) as fake:
        result = send(fake.url)
    assert result.error_kind == ErrorKind.TIMEOUT and result.transient


def test_a_closed_port_is_endpoint_refused(private_allowed):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = send(f"http://127.0.0.1:{port}/send")
    assert result.error_kind == ErrorKind.REFUSED and result.transient


def test_a_name_that_does_not_resolve_is_a_dns_error(monkeypatch, private_allowed):
    def fail(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(transport, "resolve", fail)
    result = send("https://no-such-host.example.com/send")
    assert result.error_kind == ErrorKind.DNS
    assert "no-such-host.example.com" in result.error


def test_a_huge_response_is_kept_bounded(private_allowed):
    with FakeProvider(lambda r: Answer(body="x" * 500_000)) as fake:
        result = send(fake.url)
    assert result.ok
    assert len(result.response) <= transport.MAX_RESPONSE_BYTES + 20
    assert result.response.endswith("[truncated]")
