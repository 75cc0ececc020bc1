"""A fake SMS provider serving real HTTP on 127.0.0.1, for integration tests.

It records every request it receives; `responder` decides each answer. It can also
misbehave the way real networks do: answer late (`Answer.delay`), trickle the answer
(`Answer.drip`), reset the connection without answering (`Answer.reset`), or refuse
connections until it is up (`FakeProvider(listening=False)`, then `listen()`).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)
    # The client's (address, port): requests on one connection share it.
    client: tuple[str, int] = ("", 0)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: str = '{"status": "success"}'
    # A Content-Type here replaces the default application/json.
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Close the connection abruptly (a TCP reset) after reading the request, answering nothing.
    reset: bool = False
    # Send the body one byte at a time, this many seconds apart (a provider that trickles).
    drip: float = 0.0


class _Server(ThreadingHTTPServer):
    # A dispatcher opens hundreds of connections at once; the default backlog of 5 would
    # drop most of them.
    request_queue_size = 1024


class FakeProvider:
    def __init__(
        self,
        responder: Callable[[Received], Answer] | None = None,
        *,
        listening: bool = True,
        keep_alive: bool = False,
    ) -> None:
        self.received: list[Received] = []
        self.responder = responder or (lambda request: Answer())
        self.listening = listening
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0 closes the connection after each answer; 1.1 keeps it open.
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    self.command,
                    self.path,
                    dict(self.headers),
                    self.rfile.read(length),
                    client=self.client_address[:2],
                )
                with provider._lock:
                    provider.received.append(request)
                answer = provider.responder(request)
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.reset:
                    self._reset()
                    return
                payload = answer.body.encode()
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    if "content-type" not in {name.lower() for name in answer.headers}:
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if answer.drip:
                        for index in range(len(payload)):
                            self.wfile.write(payload[index : index + 1])
                            time.sleep(answer.drip)
                    else:
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def _reset(self) -> None:
                # A zero linger time makes close() send RST instead of FIN; the socket
                # really closes once the handler lets go of its files, just after this.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                self.close_connection = True

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        # Bound at once so the port is known (and stays ours), but only listening from
        # listen(): until then a connection to it is refused, as by a provider that is down.
        self.server = _Server(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.daemon_threads = True
        self.server.server_bind()
        self.thread = threading.Thread(
            # A short poll interval: shutting down waits for at most one poll.
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def listen(self) -> None:
        """Start accepting connections (a provider that was down comes up)."""
        self.server.server_activate()
        self.thread.start()
        self.listening = True

    def __enter__(self) -> FakeProvider:
        if self.listening:
            self.listen()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
