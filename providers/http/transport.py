"""Outbound HTTP to providers for single calls (the test SMS, one message at a time).

Bulk sending goes through `bulk_transport`, which keeps these same rules and shares
`check_endpoint`, `allowed_addresses` and `classify` with this module.

- Only http/https; https unless SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS is on.
- The resolved address is checked at connect time (after DNS, on every connection,
  so a redirect or a DNS answer that changes cannot reach a private address), and the
  connection goes to exactly the address that was checked.
- Redirects are not followed: a provider API that redirects is misconfigured.
- Pooled sessions per provider, connect and read timeouts, a bounded response body.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as urllib3_exceptions
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError
from urllib3.util import connection as urllib3_connection

from providers.sending.rendering import RenderedRequest

MAX_RESPONSE_BYTES = 64 * 1024


class BlockedAddressError(NewConnectionError):
    """The endpoint resolves to an address we refuse to connect to."""


def address_allowed(ip: str) -> bool:
    if settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS:
        return True
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    # is_global is False for private, loopback, link-local (cloud metadata), CGNAT,
    # multicast, reserved and unspecified ranges.
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    """getaddrinfo, in one place so tests can patch what DNS answers."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


class AddressRefused(OSError):
    """A host name resolves to an address we refuse to connect to."""


def allowed_addresses(host: str, port: int) -> list[tuple[int, str]]:
    """The (family, address) pairs DNS answers for a host, all of them allowed; raises
    AddressRefused when any is private or reserved (a name that points inside, even in
    part, is not a provider's), socket.gaierror when the name does not resolve. Both
    transports connect only to addresses this returned."""
    infos = resolve(host, port)
    blocked = [info[4][0] for info in infos if not address_allowed(info[4][0])]
    if blocked:
        raise AddressRefused(f"{host} resolves to {blocked[0]}, a private or reserved address")
    return [(info[0], info[4][0]) for info in infos]


class _GuardedConnectionMixin:
    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        try:
            addresses = [ip for _, ip in allowed_addresses(self._dns_host, self.port)]
        except socket.gaierror as exc:
            from urllib3.exceptions import NameResolutionError

            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        except AddressRefused as exc:
            raise BlockedAddressError(self, str(exc)) from exc  # type: ignore[arg-type]
        last_error: OSError | None = None
        for ip in addresses:
            try:
                return urllib3_connection.create_connection(
                    (ip, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                from urllib3.exceptions import ConnectTimeoutError

                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
            except OSError as exc:
                last_error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}")  # type: ignore[arg-type]


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": GuardedHTTPConnectionPool,
            "https": GuardedHTTPSConnectionPool,
        }


def new_session(pool_size: int = 10) -> requests.Session:
    session = requests.Session()
    # Never pick up proxies or .netrc credentials from the environment.
    session.trust_env = False
    adapter = GuardedAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "smsgateway/1.0"
    return session


# One pooled session per provider per process (not shared state: each process
# simply keeps its own connections warm).
_sessions: dict[int, requests.Session] = {}


def close_sessions() -> None:
    """Close every pooled connection of this process (tests, and after a fork)."""
    while _sessions:
        _sessions.popitem()[1].close()


def session_for(provider_id: int) -> requests.Session:
    session = _sessions.get(provider_id)
    if session is None:
        # Single calls only (bulk sending has its own transport): a small pool will do.
        session = _sessions[provider_id] = new_session()
    return session


class ErrorKind:
    AUTH = "auth_rejected"
    REJECTED = "payload_rejected"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "provider_error"
    TIMEOUT = "timeout"
    DNS = "dns_error"
    CONNECTION = "connection_error"
    REFUSED = "endpoint_refused"
    BLOCKED = "address_blocked"
    REDIRECT = "redirected"
    INVALID = "invalid_request"
    # Read by the provider's response rules (providers.http.response_rules).
    PROVIDER_REJECTED = "provider_rejected"
    UNREADABLE = "answer_unreadable"
    # An OAuth 2.0 provider's access token could not be had (providers.http.oauth).
    TOKEN = "token_unavailable"


ERROR_TITLES = {
    ErrorKind.AUTH: "Authentication rejected",
    ErrorKind.REJECTED: "Payload rejected",
    ErrorKind.RATE_LIMITED: "Rate limited by the provider",
    ErrorKind.SERVER_ERROR: "Provider error",
    ErrorKind.TIMEOUT: "Timed out",
    ErrorKind.DNS: "DNS error: the endpoint's host name does not resolve",
    ErrorKind.CONNECTION: "Connection error",
    ErrorKind.REFUSED: "Endpoint refused the connection",
    ErrorKind.BLOCKED: "Endpoint address not allowed",
    ErrorKind.REDIRECT: "Endpoint redirected",
    ErrorKind.INVALID: "Request could not be built",
    ErrorKind.PROVIDER_REJECTED: "Provider rejected",
    ErrorKind.UNREADABLE: "Answer not understood",
    ErrorKind.TOKEN: "No OAuth access token",
}

TRANSIENT_KINDS = {
    ErrorKind.RATE_LIMITED,
    ErrorKind.SERVER_ERROR,
    ErrorKind.TIMEOUT,
    ErrorKind.DNS,
    ErrorKind.CONNECTION,
    ErrorKind.REFUSED,
}


@dataclass
class SendResult:
    ok: bool
    http_status: int | None = None
    response: str = ""
    error_kind: str = ""
    error: str = ""
    retry_after: float | None = None
    duration_ms: int = 0
    # What the provider's response rules read: its id for the message, its error code,
    # and whether that code is worth another try (None: as the kind of failure says).
    provider_message_id: str = ""
    code: str = ""
    retryable: bool | None = None

    @property
    def transient(self) -> bool:
        if self.ok:
            return False
        if self.retryable is not None:
            return self.retryable
        return self.error_kind in TRANSIENT_KINDS

    @property
    def error_title(self) -> str:
        return ERROR_TITLES.get(self.error_kind, "")


def check_endpoint(url: str) -> str | None:
    """Why an endpoint URL is not acceptable, or None when it is."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "The endpoint must be an http:// or https:// URL."
    if parts.scheme == "http" and not settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS:
        return "The endpoint must use https://."
    if not parts.hostname:
        return "The endpoint needs a host name."
    if not settings.SMSGATEWAY_ALLOW_PRIVATE_ENDPOINTS:
        try:
            literal = ipaddress.ip_address(parts.hostname)
        except ValueError:
            if parts.hostname.lower() in ("localhost", "localhost.localdomain"):
                return "The endpoint may not point at this machine."
        else:
            if not address_allowed(str(literal)):
                return "The endpoint may not be a private, loopback or reserved address."
    return None


def send(request: RenderedRequest, *, session: requests.Session) -> SendResult:
    """Send one rendered request and classify the outcome. Never raises for HTTP faults."""
    problem = check_endpoint(request.url)
    if problem:
        return SendResult(ok=False, error_kind=ErrorKind.BLOCKED, error=problem)
    started = time.monotonic()
    try:
        response = session.request(
            request.method,
            request.url,
            headers=request.headers,
            data=request.body,
            auth=request.auth,
            timeout=(settings.SMSGATEWAY_CONNECT_TIMEOUT, settings.SMSGATEWAY_READ_TIMEOUT),
            allow_redirects=False,
            stream=True,
        )
        try:
            raw = _read_body(response, deadline=started + _total_timeout())
        finally:
            response.close()
    except (requests.exceptions.Timeout, urllib3_exceptions.ReadTimeoutError, _TooSlow) as exc:
        return failure(ErrorKind.TIMEOUT, _reason(exc), started)
    except requests.exceptions.ConnectionError as exc:
        return failure(_connection_kind(exc), _reason(exc), started)
    except (requests.exceptions.RequestException, urllib3_exceptions.HTTPError) as exc:
        return failure(ErrorKind.CONNECTION, _reason(exc), started)
    return classify(
        status=response.status_code,
        raw=raw,
        encoding=response.encoding,
        retry_after=response.headers.get("Retry-After"),
        location=response.headers.get("Location", ""),
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def classify(
    *,
    status: int,
    raw: bytes,
    encoding: str | None,
    retry_after: str | None,
    location: str,
    duration_ms: int,
) -> SendResult:
    """The outcome of an HTTP answer (shared by this transport and the bulk one)."""
    text = _decode(raw[:MAX_RESPONSE_BYTES], encoding)
    if len(raw) > MAX_RESPONSE_BYTES:
        text += " [truncated]"
    result = SendResult(
        ok=200 <= status < 300, http_status=status, response=text, duration_ms=duration_ms
    )
    if result.ok:
        return result
    if status in (401, 403):
        result.error_kind = ErrorKind.AUTH
    elif status == 429:
        result.error_kind = ErrorKind.RATE_LIMITED
        result.retry_after = _retry_after(retry_after)
    elif status >= 500 or status == 408:
        result.error_kind = ErrorKind.SERVER_ERROR
    elif 300 <= status < 400:
        result.error_kind = ErrorKind.REDIRECT
        result.error = f"HTTP {status} to {location}: point the endpoint at the final URL."
        return result
    else:
        result.error_kind = ErrorKind.REJECTED
    result.error = f"HTTP {status}: {text[:500]}".strip()
    return result


class _TooSlow(Exception):
    """The provider's answer took longer than the whole exchange may."""


def _total_timeout() -> float:
    # The read timeout bounds each read; this bounds the whole answer, so a provider
    # that trickles bytes cannot hold a worker (or outlive the stuck-message threshold).
    return settings.SMSGATEWAY_CONNECT_TIMEOUT + settings.SMSGATEWAY_READ_TIMEOUT


def _read_body(response: requests.Response, *, deadline: float) -> bytes:
    """Up to MAX_RESPONSE_BYTES + 1 bytes of the body, before the deadline."""
    body = bytearray()
    while len(body) <= MAX_RESPONSE_BYTES:
        if time.monotonic() > deadline:
            raise _TooSlow(f"the answer took longer than {_total_timeout():.0f} s")
        chunk = response.raw.read1(64 * 1024, decode_content=True)
        if not chunk:
            break
        body += chunk
    return bytes(body)


def _decode(raw: bytes, encoding: str | None) -> str:
    try:
        text = raw.decode(encoding or "utf-8", "replace")
    except LookupError:  # a charset no one knows: read it as UTF-8
        text = raw.decode("utf-8", "replace")
    # NUL cannot be stored in PostgreSQL text or jsonb.
    return text.replace("\x00", "\ufffd")


def failure(kind: str, reason: str, started: float) -> SendResult:
    """A request that got no answer to classify (shared by this transport and the bulk one)."""
    return SendResult(
        ok=False,
        error_kind=kind,
        error=reason[:500],
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _root_cause(exc: BaseException) -> BaseException:
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return reason if isinstance(reason, BaseException) else exc


def _connection_kind(exc: requests.exceptions.ConnectionError) -> str:
    from urllib3.exceptions import NameResolutionError

    cause = _root_cause(exc)
    if isinstance(cause, BlockedAddressError):
        return ErrorKind.BLOCKED
    if isinstance(cause, NameResolutionError):
        return ErrorKind.DNS
    if "Connection refused" in str(cause) or isinstance(cause, ConnectionRefusedError):
        return ErrorKind.REFUSED
    return ErrorKind.CONNECTION


def _reason(exc: BaseException) -> str:
    cause = _root_cause(exc)
    text = str(cause)
    # urllib3 prefixes its messages with the connection object's repr.
    if ">: " in text:
        text = text.split(">: ", 1)[1]
    return text[:500]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" in an HTTP date means UTC
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - timezone.now()).total_seconds())
