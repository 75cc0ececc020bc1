"""A fast fake SMS provider for the benchmarks, in its own process on 127.0.0.1.

    python bench/fake_provider.py --port 8900 --latency-ms 100

Every request is answered 200 with a small JSON body, after `latency` (a timer, so
thousands of requests can wait at once). Each message id found in a request is counted,
so a benchmark can check that every message arrived exactly once:

- a JSON object with an "id": one message (single mode);
- a JSON object with a list of objects under the batch key (default "msgs"): one
  message per object that has an "id" (batch mode);
- a GET or form request with an `id` parameter: one message.

Control endpoints (never counted):

    GET  /_fake/stats           {"requests", "messages", "unique", "duplicates", "latency_ms"}
    GET  /_fake/ids             {"ids": [...every id received, once each...]}
    GET  /_fake/times           {"times": {id: time.time() when it first arrived}}
    POST /_fake/reset           forget everything received
    POST /_fake/config?latency_ms=100   change the latency

It shares the machine with the product being measured, so it is a small HTTP/1.1
server on plain asyncio (uvloop when it is installed) rather than a web framework:
a few microseconds of CPU per request instead of a few hundred. It speaks what the
benchmark's clients use: keep-alive, `Connection: close`, HTTP/1.0, pipelining
(answers in request order), `Content-Length` and chunked bodies up to 64 MB, and
`Expect: 100-continue`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

ANSWER = b'{"status": "success"}'
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
BACKLOG = 4096
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
FORM = b"application/x-www-form-urlencoded"
REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 413: b"Payload Too Large"}


class BadRequest(Exception):
    """A request this server cannot read: answered with `status`, then the connection closes."""

    def __init__(self, status: int = 400) -> None:
        super().__init__(status)
        self.status = status


# ---------------------------------------------------------------- counting


class Counts:
    def __init__(self) -> None:
        self.requests = 0
        # Kept as a running total: /_fake/stats is polled while millions of ids arrive.
        self.messages = 0
        self.ids: Counter[str] = Counter()
        self.arrived: dict[str, float] = {}

    def add(self, ids: list[str]) -> None:
        # Counted on arrival: a message the gateway sent is sent, answered or not.
        now = time.time()
        seen, arrived = self.ids, self.arrived
        for message_id in ids:
            seen[message_id] += 1
            arrived.setdefault(message_id, now)
        self.messages += len(ids)

    def reset(self) -> None:
        self.requests = 0
        self.messages = 0
        self.ids.clear()
        self.arrived.clear()

    def stats(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "messages": self.messages,
            "unique": len(self.ids),
            "duplicates": self.messages - len(self.ids),
        }


def message_ids(body: bytes, batch_key: str) -> list[str]:
    """The message ids a JSON send request carries (empty when it carries none)."""
    try:
        payload: Any = json.loads(body)
    except (ValueError, RecursionError):
        return []
    if not isinstance(payload, dict):
        return []
    records = payload.get(batch_key)
    if isinstance(records, list):
        return [str(r["id"]) for r in records if isinstance(r, dict) and "id" in r]
    return [str(payload["id"])] if "id" in payload else []


def form_ids(encoded: bytes) -> list[str]:
    """The `id` fields of a query string or form body; the other fields are not decoded,
    so a long message text costs nothing."""
    ids: list[str] = []
    for field in encoded.decode("utf-8", "replace").split("&"):
        name, _, value = field.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if name == "id":
            ids.append(unquote_plus(value))
    return ids


def mimetype(content_type: bytes) -> bytes:
    return content_type.partition(b";")[0].strip()


# ---------------------------------------------------------------- HTTP


class Request:
    """One request's head, parsed; its body may still be arriving."""

    __slots__ = ("method", "target", "http10", "keep_alive", "length", "chunked", "ctype", "expect")

    def __init__(self, head: bytes) -> None:
        line_end = head.find(b"\r\n")
        if line_end < 0:
            line_end = len(head)
        parts = head[:line_end].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise BadRequest
        self.method, self.target, version = parts
        self.http10 = version == b"HTTP/1.0"
        # Lowered once, then each header is one search in C rather than a Python loop
        # over the lines: every line is framed by CRLFs, so "\r\nname:" finds its start.
        headers = head[line_end:].lower() + b"\r\n"
        connection = header(headers, b"connection")
        if self.http10:
            self.keep_alive = b"keep-alive" in connection
        else:
            self.keep_alive = b"close" not in connection
        self.chunked = b"chunked" in header(headers, b"transfer-encoding")
        length = header(headers, b"content-length")
        try:
            self.length = int(length) if length and not self.chunked else 0
        except ValueError:
            raise BadRequest from None
        if self.length < 0:
            raise BadRequest
        if self.length > MAX_BODY:
            raise BadRequest(413)
        self.ctype = header(headers, b"content-type")
        self.expect = b"100-continue" in header(headers, b"expect")


def header(headers: bytes, name: bytes) -> bytes:
    """The value of the first `name` header in a lowered, CRLF-framed header block."""
    start = headers.find(b"\r\n" + name + b":")
    if start < 0:
        return b""
    start += len(name) + 3
    return headers[start : headers.find(b"\r\n", start)].strip()


def chunked_body(buffer: bytearray) -> tuple[bytes, int] | None:
    """A chunked body at the start of `buffer` and its length on the wire, or None while
    it is incomplete. Chunks are located first and copied once, at the end, so that a
    large body arriving in many reads is not copied again at each read."""
    spans: list[tuple[int, int]] = []
    size = pos = 0
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        try:
            chunk = int(bytes(buffer[pos:line_end]).split(b";", 1)[0], 16)
        except ValueError:
            raise BadRequest from None
        pos = line_end + 2
        if chunk == 0:
            break
        if chunk < 0:
            raise BadRequest
        size += chunk
        if size > MAX_BODY:
            raise BadRequest(413)
        if len(buffer) < pos + chunk + 2:
            return None
        spans.append((pos, pos + chunk))
        pos += chunk + 2
    # Trailers, if any, end with an empty line.
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        if line_end == pos:
            return b"".join(buffer[a:b] for a, b in spans), pos + 2
        pos = line_end + 2


def response(status: int, body: bytes, *, http10: bool, close: bool, head: bool = False) -> bytes:
    # An HTTP/1.0 client keeps the connection only when told so.
    connection = b"Connection: close\r\n" if close else b""
    if http10 and not close:
        connection = b"Connection: keep-alive\r\n"
    status_line = b"HTTP/1.%d %d %s\r\n" % (0 if http10 else 1, status, REASONS[status])
    headers = b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return status_line + headers + connection + b"\r\n" + (b"" if head else body)


# The send answer, built once for each way a connection can be kept or closed.
SEND_ANSWERS = {
    (http10, close): response(200, ANSWER, http10=http10, close=close)
    for http10 in (False, True)
    for close in (False, True)
}


class Answer:
    """An answer whose turn on its connection may not have come yet."""

    __slots__ = ("data", "ready", "close")

    def __init__(self, data: bytes, ready: bool, close: bool) -> None:
        self.data = data
        self.ready = ready
        self.close = close


class DelayLine:
    """The answers waiting for one latency, in due order, behind one timer.

    A timer per request would cost a heap entry (compared in Python) per request;
    with one latency the due times only grow, so a FIFO and one timer do it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, latency: float) -> None:
        self.loop = loop
        self.latency = latency
        self.queue: deque[tuple[float, Connection, Answer]] = deque()
        self.timer: asyncio.TimerHandle | None = None

    def add(self, connection: Connection, answer: Answer) -> None:
        due = self.loop.time() + self.latency
        self.queue.append((due, connection, answer))
        if self.timer is None:
            self.timer = self.loop.call_at(due, self.release)

    def release(self) -> None:
        queue = self.queue
        # The loop may fire a timer a clock tick early: the head it was set for goes anyway.
        until = max(self.loop.time(), queue[0][0])
        while queue and queue[0][0] <= until:
            _, connection, answer = queue.popleft()
            answer.ready = True
            connection.flush()
        self.timer = self.loop.call_at(queue[0][0], self.release) if queue else None


class Provider:
    """What every connection shares: the counts, the latency and the answers waiting."""

    def __init__(self, loop: asyncio.AbstractEventLoop, latency_ms: float, batch_key: str) -> None:
        self.loop = loop
        self.batch_key = batch_key
        self.counts = Counts()
        self.latency = latency_ms / 1000
        self.lines: dict[float, DelayLine] = {}
        self.control: dict[tuple[bytes, bytes], Callable[[bytes], Any]] = {
            (b"GET", b"/_fake/stats"): self.stats,
            (b"GET", b"/_fake/ids"): lambda query: {"ids": list(self.counts.ids)},
            (b"GET", b"/_fake/times"): lambda query: {"times": self.counts.arrived},
            (b"POST", b"/_fake/reset"): self.reset,
            (b"POST", b"/_fake/config"): self.config,
        }

    def delay_line(self) -> DelayLine:
        line = self.lines.get(self.latency)
        if line is None:
            line = self.lines[self.latency] = DelayLine(self.loop, self.latency)
        return line

    def send(self, request: Request, query: bytes, body: bytes) -> None:
        self.counts.requests += 1
        if request.method == b"GET":
            ids = form_ids(query)
        elif mimetype(request.ctype) == FORM:
            ids = form_ids(body)
        else:
            ids = message_ids(body, self.batch_key)
        if ids:
            self.counts.add(ids)

    def stats(self, query: bytes) -> dict[str, Any]:
        return {**self.counts.stats(), "latency_ms": self.latency * 1000}

    def reset(self, query: bytes) -> dict[str, Any]:
        self.counts.reset()
        return {"ok": True}

    def config(self, query: bytes) -> dict[str, Any]:
        values = dict(parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True))
        if "latency_ms" in values:
            try:
                latency = float(values["latency_ms"]) / 1000
            except ValueError:
                raise BadRequest from None
            if not latency >= 0:  # also refuses NaN
                raise BadRequest
            self.latency = latency
        return {"latency_ms": self.latency * 1000}


class Connection(asyncio.Protocol):
    """One client connection: reads its requests and answers them in their order."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.request: Request | None = None  # whose body is still arriving
        self.waiting: deque[Answer] = deque()  # answers not written yet, in request order
        self.closing = False  # a last answer is decided: read nothing more
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        # The delay lines still hold this connection's answers; `closing` makes them no-ops.
        self.closing = True
        self.waiting.clear()
        self.transport = None

    def eof_received(self) -> bool:
        # A client that shuts down its side after sending still gets its answers.
        self.eof = True
        if not self.waiting:
            return False
        self.closing = True
        return True

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.buffer += data
        try:
            while not self.closing and self.read_one():
                pass
        except BadRequest as error:
            self.answer(response(error.status, b"{}", http10=False, close=True), close=True)

    def read_one(self) -> bool:
        """Handles the request at the start of the buffer; False while it is incomplete."""
        buffer = self.buffer
        request = self.request
        if request is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise BadRequest
                return False
            request = Request(bytes(buffer[:end]))
            del buffer[: end + 4]
            self.request = request
            # Asked for once per request, before its body is sent.
            if request.expect and (request.chunked or len(buffer) < request.length):
                self.answer(CONTINUE)
        if request.chunked:
            found = chunked_body(buffer)
            if found is None:
                return False
            body, consumed = found
        else:
            if len(buffer) < request.length:
                return False
            body, consumed = bytes(buffer[: request.length]), request.length
        del buffer[:consumed]
        self.request = None
        self.handle(request, body)
        return True

    def handle(self, request: Request, body: bytes) -> None:
        provider = self.provider
        path, _, query = request.target.partition(b"?")
        method = b"GET" if request.method == b"HEAD" else request.method
        close = not request.keep_alive
        control = provider.control.get((method, path))
        if control is not None:
            content = json.dumps(control(query)).encode()
            head = request.method == b"HEAD"
            answer = response(200, content, http10=request.http10, close=close, head=head)
            self.answer(answer, close)
            return
        provider.send(request, query, body)
        data = SEND_ANSWERS[request.http10, close]
        if request.method == b"HEAD":
            data = data[: -len(ANSWER)]
        if provider.latency > 0:
            answer = Answer(data, False, close)
            self.waiting.append(answer)
            provider.delay_line().add(self, answer)
            self.closing = self.closing or close
        else:
            self.answer(data, close)

    def answer(self, data: bytes, close: bool = False) -> None:
        """Writes an answer now, or queues it behind those still waiting for their latency."""
        if self.waiting:
            self.waiting.append(Answer(data, True, close))
            self.closing = self.closing or close
            return
        assert self.transport is not None
        self.transport.write(data)
        if close:
            self.closing = True
            self.transport.close()

    def flush(self) -> None:
        """Writes the answers whose turn has come (called when one of them is released)."""
        waiting, transport = self.waiting, self.transport
        if transport is None:
            return
        chunks: list[bytes] = []
        close = False
        while waiting and waiting[0].ready:
            answer = waiting.popleft()
            chunks.append(answer.data)
            if answer.close:
                close = True
                break
        if chunks:
            transport.write(b"".join(chunks) if len(chunks) > 1 else chunks[0])
        if close or (self.eof and not waiting):
            waiting.clear()
            transport.close()


# ---------------------------------------------------------------- running


def raise_open_files_limit() -> None:
    # Each waiting request holds a connection: allow as many as the hard limit does.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


async def serve(port: int, latency_ms: float, batch_key: str) -> None:
    loop = asyncio.get_running_loop()
    provider = Provider(loop, latency_ms, batch_key)
    server = await loop.create_server(
        lambda: Connection(provider), "127.0.0.1", port, backlog=BACKLOG, reuse_address=True
    )
    port = server.sockets[0].getsockname()[1]
    print(f"fake provider listening on http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (less CPU per request), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port, printed at start")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--batch-key", default="msgs")
    args = parser.parse_args(argv)
    raise_open_files_limit()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        try:
            runner.run(serve(args.port, args.latency_ms, args.batch_key))
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
