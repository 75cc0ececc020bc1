"""Bulk sending: many provider requests in flight at once, over libcurl's multi interface.

The dispatcher sends through this; `transport` stays for single calls (the test SMS).
libcurl (pycurl) was measured against aiohttp, pyreqwest and others on this workload:
about 33 µs of CPU per request against aiohttp's 150-185 (bench/README.md). The same
rules as `transport`:

- only http/https (`transport.check_endpoint`), never a proxy from the environment, no
  redirect followed, a bounded answer, connect and read timeouts and a bound on the
  whole exchange; outcomes classified by `transport.classify` into the same kinds;
- a host's DNS answers are all checked before it is connected to
  (`transport.allowed_addresses`, refusing a name with any private answer) and libcurl
  is handed exactly those addresses; every connection libcurl then opens is checked
  again, by address, when its socket is made.

A `Sender` runs libcurl in a thread of its own: `submit` returns a concurrent Future per
request, resolved from that thread, so the caller (the dispatcher's thread) renders and
records while requests are in flight. A process keeps one (`shared_sender`), so its
connections to a provider stay open between claims (each closes after 15 s unused).
"""

from __future__ import annotations

import atexit
import collections
import concurrent.futures
import os
import select
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from errno import ECONNREFUSED
from typing import Any
from urllib.parse import urlsplit

import certifi
import pycurl
from django.conf import settings

from providers.http import transport
from providers.http.transport import MAX_RESPONSE_BYTES, ErrorKind, SendResult
from providers.sending.rendering import RenderedRequest

Future = concurrent.futures.Future[SendResult]
# How long a host's checked DNS answers are used before it is resolved again.
DNS_CACHE_SECONDS = 10.0
# Connections a sender keeps open (libcurl's cache), and how long an unused one stays.
MAX_CONNECTIONS = 4096
IDLE_CONNECTION_SECONDS = 15
# How often requests are checked for a read timeout (libcurl has none under a second).
STALL_CHECK_SECONDS = 0.05
USER_AGENT = "smsgateway/1.0"


@dataclass
class _Transfer:
    """One request on an easy handle, and what has come back so far."""

    future: concurrent.futures.Future[SendResult]
    started: float
    # The read timeout counts from the last byte received (or the start).
    last_byte: float
    body: bytearray = field(default_factory=bytearray)
    too_large: bool = False
    refused: str = ""


class Sender:
    """Sends requests from a thread of its own; `submit` returns a concurrent Future each.

    Every request submitted is started at once: the caller bounds how many it has in
    flight (the dispatcher does, with SMSGATEWAY_SEND_CONCURRENCY).
    """

    def __init__(self) -> None:
        self._queue: collections.deque[
            tuple[RenderedRequest, concurrent.futures.Future[SendResult]]
        ]
        self._queue = collections.deque()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._signalled = False
        self._running = True
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_MAXCONNECTS, MAX_CONNECTIONS)
        self._idle: list[pycurl.Curl] = []
        self._active: dict[pycurl.Curl, _Transfer] = {}
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._thread = threading.Thread(target=self._run, name="smsgateway-sender", daemon=True)

    def __enter__(self) -> Sender:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._running = False
        self._wake()
        self._thread.join()
        for handle in [*self._idle, *self._active]:
            handle.close()
        self._multi.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def submit(
        self, requests: Sequence[RenderedRequest]
    ) -> list[concurrent.futures.Future[SendResult]]:
        """Start these requests; one future per request."""
        futures: list[concurrent.futures.Future[SendResult]] = []
        for request in requests:
            future: concurrent.futures.Future[SendResult] = concurrent.futures.Future()
            self._queue.append((request, future))
            futures.append(future)
        self._wake()
        return futures

    def _wake(self) -> None:
        # One byte per wake-up, however many submissions came since the last one.
        if not self._signalled:
            self._signalled = True
            try:
                os.write(self._wake_write, b"x")
            except BlockingIOError:
                pass

    # ------------------------------------------------------------ the sender's thread

    def _run(self) -> None:
        multi = self._multi
        stall_check = time.monotonic()
        while self._running:
            self._signalled = False
            try:
                os.read(self._wake_read, 4096)
            except BlockingIOError:
                pass
            self._start_queued()
            while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                pass
            self._finish_done()
            now = time.monotonic()
            if now - stall_check >= STALL_CHECK_SECONDS:
                stall_check = now
                self._abort_stalled(now)
            if self._queue:
                continue
            readable, writable, broken = multi.fdset()
            wait = multi.timeout()
            wait_seconds = 1.0 if wait < 0 else wait / 1000
            if self._active:
                wait_seconds = min(wait_seconds, STALL_CHECK_SECONDS)
            select.select([*readable, self._wake_read], writable, broken, wait_seconds)

    def _start_queued(self) -> None:
        while self._queue:
            request, future = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                self._start(request, future)
            except Exception as exc:  # a fault of ours: the caller records it
                future.set_exception(exc)

    def _start(
        self, request: RenderedRequest, future: concurrent.futures.Future[SendResult]
    ) -> None:
        problem = transport.check_endpoint(request.url)
        if problem:
            future.set_result(SendResult(ok=False, error_kind=ErrorKind.BLOCKED, error=problem))
            return
        started = time.monotonic()
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = self._addresses(host, port)
        except transport.AddressRefused as exc:
            future.set_result(transport.failure(ErrorKind.BLOCKED, str(exc), started))
            return
        except OSError as exc:
            reason = f"Failed to resolve {host!r} ({exc})"
            future.set_result(transport.failure(ErrorKind.DNS, reason, started))
            return
        handle = self._idle.pop() if self._idle else self._new_handle()
        transfer = _Transfer(future, started, started)
        handle.transfer = transfer  # type: ignore[attr-defined]
        handle.setopt(pycurl.URL, request.url)
        # libcurl is given exactly the addresses that were checked, DNS is not asked again.
        pinned = [f"{host}:{port}:{','.join(addresses)}"] if addresses else []
        handle.setopt(pycurl.RESOLVE, pinned)
        headers = [_header(name, value) for name, value in request.headers.items()]
        # No "Expect: 100-continue" round trip before a large body.
        handle.setopt(pycurl.HTTPHEADER, [*headers, b"Expect:"])
        if request.method == "GET":
            handle.setopt(pycurl.HTTPGET, 1)
        else:
            handle.setopt(pycurl.POSTFIELDS, request.body or b"")
        if request.auth:
            username, password = request.auth
            handle.setopt(pycurl.HTTPAUTH, pycurl.HTTPAUTH_BASIC)
            # Latin-1, as requests encodes it for the single-call transport.
            handle.setopt(pycurl.USERNAME, username.encode("latin-1"))
            handle.setopt(pycurl.PASSWORD, password.encode("latin-1"))
        else:
            handle.setopt(pycurl.HTTPAUTH, pycurl.HTTPAUTH_NONE)
            handle.setopt(pycurl.USERNAME, b"")
            handle.setopt(pycurl.PASSWORD, b"")
        connect = settings.SMSGATEWAY_CONNECT_TIMEOUT
        read = settings.SMSGATEWAY_READ_TIMEOUT
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, int(connect * 1000))
        # The whole exchange is bounded, so a provider that trickles its answer cannot
        # hold a connection (or outlive the stuck-message threshold).
        handle.setopt(pycurl.TIMEOUT_MS, int((connect + read) * 1000))
        self._active[handle] = transfer
        self._multi.add_handle(handle)

    def _addresses(self, host: str, port: int) -> list[str]:
        """The host's checked addresses, bracketed for libcurl where IPv6 (empty for an IP
        literal, which check_endpoint has already judged)."""
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            pass
        else:
            return []
        cached = self._dns.get((host, port))
        now = time.monotonic()
        if cached is not None and now - cached[0] < DNS_CACHE_SECONDS:
            return cached[1]
        answers = transport.allowed_addresses(host, port)
        found = [f"[{ip}]" if family == socket.AF_INET6 else ip for family, ip in answers]
        found = list(dict.fromkeys(found))
        self._dns[(host, port)] = (now, found)
        return found

    def _new_handle(self) -> pycurl.Curl:
        handle = pycurl.Curl()
        handle.setopt(pycurl.NOSIGNAL, 1)
        handle.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        handle.setopt(pycurl.FOLLOWLOCATION, 0)
        # Never a proxy, whatever the environment says.
        handle.setopt(pycurl.PROXY, "")
        handle.setopt(pycurl.USERAGENT, USER_AGENT)
        handle.setopt(pycurl.CAINFO, certifi.where())
        handle.setopt(pycurl.MAXAGE_CONN, IDLE_CONNECTION_SECONDS)
        # No cookies from one answer on the next request: libcurl keeps none unless asked.
        handle.setopt(pycurl.WRITEFUNCTION, lambda chunk, handle=handle: _write(handle, chunk))
        handle.setopt(
            pycurl.OPENSOCKETFUNCTION,
            lambda purpose, address, handle=handle: _open_socket(handle, purpose, address),
        )
        return handle

    def _finish_done(self) -> None:
        while True:
            queued, finished, failed = self._multi.info_read()
            for handle in finished:
                self._complete(handle, None, "")
            for handle, errno, message in failed:
                self._complete(handle, errno, message)
            if not queued:
                return

    def _complete(self, handle: pycurl.Curl, errno: int | None, message: str) -> None:
        self._multi.remove_handle(handle)
        transfer = self._active.pop(handle)
        handle.transfer = None  # type: ignore[attr-defined]
        self._idle.append(handle)
        try:
            transfer.future.set_result(_result(handle, transfer, errno, message))
        except Exception as exc:  # a fault of ours: the caller records it, this thread goes on
            transfer.future.set_exception(exc)

    def _abort_stalled(self, now: float) -> None:
        """Fail requests whose answer stopped coming for the read timeout: counted from
        the request going out (while connecting, the connect timeout holds), then from
        each part of the answer."""
        read = settings.SMSGATEWAY_READ_TIMEOUT
        for handle, transfer in list(self._active.items()):
            if not transfer.body:
                sent_after = handle.getinfo(pycurl.PRETRANSFER_TIME)
                if not sent_after:
                    continue
                transfer.last_byte = max(transfer.last_byte, transfer.started + sent_after)
            if now - transfer.last_byte > read:
                self._complete(handle, pycurl.E_OPERATION_TIMEDOUT, "read timed out")


def _header(name: str, value: str | bytes) -> bytes:
    raw = value if isinstance(value, bytes) else value.encode("latin-1")
    return name.encode("latin-1") + b": " + raw


def _write(handle: pycurl.Curl, chunk: bytes) -> int | None:
    """Keep up to MAX_RESPONSE_BYTES + 1 bytes of the answer, then stop reading it."""
    transfer: _Transfer = handle.transfer  # type: ignore[attr-defined]
    transfer.last_byte = time.monotonic()
    room = MAX_RESPONSE_BYTES + 1 - len(transfer.body)
    transfer.body += chunk[:room]
    if len(chunk) > room:
        transfer.too_large = True
        return 0  # libcurl aborts the transfer (a write error)
    return None


def _open_socket(handle: pycurl.Curl, purpose: int, address: Any) -> Any:
    """Every connection libcurl opens: refused unless its address is allowed."""
    ip = address.addr[0]
    if purpose != pycurl.SOCKTYPE_IPCXN or not transport.address_allowed(ip):
        transfer = handle.transfer  # type: ignore[attr-defined]
        if transfer is not None:
            transfer.refused = f"{ip} is a private or reserved address"
        return pycurl.SOCKET_BAD
    return socket.socket(address.family, address.socktype, address.protocol)


def _result(
    handle: pycurl.Curl, transfer: _Transfer, errno: int | None, message: str
) -> SendResult:
    if errno is None or (errno == pycurl.E_WRITE_ERROR and transfer.too_large):
        raw = bytes(transfer.body)
        retry_after = handle.getinfo(pycurl.RETRY_AFTER)
        return transport.classify(
            status=handle.getinfo(pycurl.RESPONSE_CODE),
            raw=raw,
            encoding=_charset(handle.getinfo(pycurl.CONTENT_TYPE)),
            retry_after=str(retry_after) if retry_after else None,
            location=handle.getinfo(pycurl.REDIRECT_URL) or "",
            duration_ms=_elapsed_ms(transfer.started),
        )
    read = settings.SMSGATEWAY_READ_TIMEOUT
    connect = settings.SMSGATEWAY_CONNECT_TIMEOUT
    if errno == pycurl.E_OPERATION_TIMEDOUT:
        reason = f"timed out (connect timeout {connect:g} s, read timeout {read:g} s)"
        return transport.failure(ErrorKind.TIMEOUT, reason, transfer.started)
    if transfer.refused:
        return transport.failure(ErrorKind.BLOCKED, transfer.refused, transfer.started)
    if errno == pycurl.E_COULDNT_CONNECT and handle.getinfo(pycurl.OS_ERRNO) == ECONNREFUSED:
        return transport.failure(
            ErrorKind.REFUSED, f"Connection refused ({message})", transfer.started
        )
    return transport.failure(
        ErrorKind.CONNECTION, message or f"curl error {errno}", transfer.started
    )


def _charset(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return None


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


_shared: tuple[int, Sender] | None = None
_shared_lock = threading.Lock()


def shared_sender() -> Sender:
    """This process's sender, started on first use and kept until the process exits.

    A sender per claim would open a new connection for each request in flight; this one
    keeps them. A forked child starts its own: threads do not survive a fork.
    """
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            sender = Sender()
            sender.__enter__()
            atexit.register(sender.__exit__, None, None, None)
            _shared = (os.getpid(), sender)
        return _shared[1]
