"""Bulk sending: many provider requests in flight at once, over aiohttp.

The same rules as `transport` (which stays for single calls such as the test SMS):
- only http/https (`transport.check_endpoint`), never a proxy from the environment;
- every address DNS answers is checked at connect time by our resolver, and aiohttp
  connects to exactly the addresses the resolver returned (an IP literal in the URL
  was already checked by `check_endpoint`);
- redirects are not followed; connect, read and whole-answer timeouts; a bounded body;
- the outcome is classified into the same `SendResult` kinds.

A `Sender` runs its own event loop in a background thread, so the caller (a db_worker
task, which is synchronous) keeps doing database work while requests are in flight.
A process keeps one (`shared_sender`), so its connections to a provider stay open from
one task to the next.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import concurrent.futures
import functools
import os
import socket
import threading
import time
from collections.abc import Sequence
from types import TracebackType

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from django.conf import settings

from . import transport
from .rendering import RenderedRequest
from .transport import MAX_RESPONSE_BYTES, ErrorKind, SendResult


class BlockedAddress(OSError):
    """The endpoint resolves to an address we refuse to connect to."""


class GuardedResolver(AbstractResolver):
    """Resolves through `transport.resolve` and refuses private or reserved answers."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        infos = await loop.run_in_executor(None, transport.resolve, host, port)
        blocked = [info[4][0] for info in infos if not transport.address_allowed(info[4][0])]
        if blocked:
            raise BlockedAddress(f"{host} resolves to {blocked[0]}, a private or reserved address")
        return [
            ResolveResult(
                hostname=host,
                host=info[4][0],
                port=port,
                family=info[0],
                proto=info[2],
                flags=socket.AI_NUMERICHOST,
            )
            for info in infos
        ]

    async def close(self) -> None:
        return None


class Sender:
    """Sends requests from a background event loop; `submit` returns a concurrent Future.

    With `concurrency`, at most that many connections are open and further requests wait
    for one; without, the caller bounds what it starts (GroupSender does).
    """

    def __init__(self, *, concurrency: int | None = None) -> None:
        self.concurrency = concurrency
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="smsgateway-sender", daemon=True
        )
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[SendResult]] = set()

    def __enter__(self) -> Sender:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _open(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(), limit=self.concurrency or 0, ttl_dns_cache=10
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            headers={"User-Agent": "smsgateway/1.0"},
            # Cookies from one answer must not ride along on the next request.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def _close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def submit(
        self, requests: Sequence[RenderedRequest]
    ) -> list[concurrent.futures.Future[SendResult]]:
        """Start these requests; one future per request."""
        futures: list[concurrent.futures.Future[SendResult]] = [
            concurrent.futures.Future() for _ in requests
        ]
        # One hand-over to the loop thread for the lot: a call per request costs more
        # than the request itself once hundreds are in flight.
        self._loop.call_soon_threadsafe(self._start, list(zip(requests, futures, strict=True)))
        return futures

    def _start(
        self, work: list[tuple[RenderedRequest, concurrent.futures.Future[SendResult]]]
    ) -> None:
        for request, future in work:
            task = self._loop.create_task(send(request, session=self._require_session()))
            # The loop keeps only weak references to tasks.
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._finish, future))

    def _finish(
        self, future: concurrent.futures.Future[SendResult], task: asyncio.Task[SendResult]
    ) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            future.cancel()
        elif task.exception() is not None:
            future.set_exception(task.exception())
        else:
            future.set_result(task.result())

    def _require_session(self) -> aiohttp.ClientSession:
        assert self._session is not None
        return self._session


_shared: tuple[int, Sender] | None = None
_shared_lock = threading.Lock()


def shared_sender() -> Sender:
    """This process's sender, started on first use and kept until the process exits.

    A sender per task opened a new connection for each request in flight at every task
    (512 per chunk of 5,000 single messages); this one keeps them (aiohttp closes a
    connection after 15 s unused). A forked child starts its own: threads do not survive
    a fork.
    """
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            sender = Sender()
            sender.__enter__()
            atexit.register(sender.__exit__, None, None, None)
            _shared = (os.getpid(), sender)
        return _shared[1]


async def send(request: RenderedRequest, *, session: aiohttp.ClientSession) -> SendResult:
    """Send one rendered request and classify the outcome. Never raises for HTTP faults."""
    problem = transport.check_endpoint(request.url)
    if problem:
        return SendResult(ok=False, error_kind=ErrorKind.BLOCKED, error=problem)
    connect = settings.SMSGATEWAY_CONNECT_TIMEOUT
    read = settings.SMSGATEWAY_READ_TIMEOUT
    # `total` bounds the whole exchange, so a provider that trickles its answer cannot
    # hold a connection (or outlive the stuck-message threshold). With a bounded sender it
    # includes the wait for a free connection.
    timeout = aiohttp.ClientTimeout(total=connect + read, sock_connect=connect, sock_read=read)
    headers = {
        name: value.decode("latin-1") if isinstance(value, bytes) else value
        for name, value in request.headers.items()
    }
    started = time.monotonic()
    try:
        if request.auth:
            headers["Authorization"] = _basic_auth(*request.auth)
        async with session.request(
            request.method,
            request.url,
            headers=headers,
            data=request.body,
            timeout=timeout,
            allow_redirects=False,
        ) as response:
            raw = await _read_body(response)
            status = response.status
            encoding = response.charset
            retry_after = response.headers.get("Retry-After")
            location = response.headers.get("Location", "")
    except TimeoutError:
        return _failure(
            ErrorKind.TIMEOUT,
            f"timed out (connect timeout {connect:g} s, read timeout {read:g} s)",
            started,
        )
    except aiohttp.ClientConnectorDNSError as exc:
        cause = exc.os_error
        if isinstance(cause, BlockedAddress):
            return _failure(ErrorKind.BLOCKED, str(cause), started)
        return _failure(ErrorKind.DNS, f"Failed to resolve {exc.host!r} ({cause})", started)
    except aiohttp.ClientConnectorError as exc:
        refused = isinstance(exc.os_error, ConnectionRefusedError)
        kind = ErrorKind.REFUSED if refused else ErrorKind.CONNECTION
        return _failure(kind, str(exc.os_error), started)
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return _failure(ErrorKind.CONNECTION, str(exc) or type(exc).__name__, started)
    return transport.classify(
        status=status,
        raw=raw,
        encoding=encoding,
        retry_after=retry_after,
        location=location,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _basic_auth(username: str, password: str) -> str:
    # Latin-1, as requests encodes it for the single-call transport.
    token = base64.b64encode(f"{username}:{password}".encode("latin-1")).decode("ascii")
    return "Basic " + token


async def _read_body(response: aiohttp.ClientResponse) -> bytes:
    """Up to MAX_RESPONSE_BYTES + 1 bytes of the body."""
    body = bytearray()
    while len(body) <= MAX_RESPONSE_BYTES:
        chunk = await response.content.read(MAX_RESPONSE_BYTES + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)


def _failure(kind: str, reason: str, started: float) -> SendResult:
    return SendResult(
        ok=False,
        error_kind=kind,
        error=reason[:500],
        duration_ms=int((time.monotonic() - started) * 1000),
    )
