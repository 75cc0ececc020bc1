"""A fast fake SMS provider for the benchmarks, in its own process on 127.0.0.1.

    python bench/fake_provider.py --port 8900 --latency-ms 100

Every request is answered 200 with a small JSON body, after `latency` (an asyncio
sleep, so thousands of requests can wait at once). Each message id found in a request
is counted, so a benchmark can check that every message arrived exactly once:

- a JSON object with an "id": one message (single mode);
- a JSON object with a list of objects under the batch key (default "msgs"): one
  message per object that has an "id" (batch mode);
- a GET or form request with an `id` parameter: one message.

Control endpoints (paths under /_fake/ are never counted):

    GET  /_fake/stats           {"requests", "messages", "unique", "duplicates", "latency_ms"}
    GET  /_fake/ids             {"ids": [...every id received, once each...]}
    GET  /_fake/times           {"times": {id: time.time() when it first arrived}}
    POST /_fake/reset           forget everything received
    POST /_fake/config?latency_ms=100   change the latency
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
from collections import Counter
from typing import Any

from aiohttp import web

ANSWER = b'{"status": "success"}'


class Counts:
    def __init__(self) -> None:
        self.requests = 0
        self.ids: Counter[str] = Counter()
        self.arrived: dict[str, float] = {}

    def stats(self) -> dict[str, int]:
        messages = sum(self.ids.values())
        return {
            "requests": self.requests,
            "messages": messages,
            "unique": len(self.ids),
            "duplicates": messages - len(self.ids),
        }


def message_ids(body: bytes, batch_key: str) -> list[str]:
    """The message ids a send request carries (empty when it carries none)."""
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return []
    if not isinstance(payload, dict):
        return []
    records = payload.get(batch_key)
    if isinstance(records, list):
        return [str(r["id"]) for r in records if isinstance(r, dict) and "id" in r]
    return [str(payload["id"])] if "id" in payload else []


def make_app(*, latency_ms: float, batch_key: str) -> web.Application:
    counts = Counts()
    state = {"latency": latency_ms / 1000}

    async def send(request: web.Request) -> web.Response:
        counts.requests += 1
        if request.method == "GET":
            ids = request.query.getall("id", [])
        elif request.content_type == "application/x-www-form-urlencoded":
            ids = (await request.post()).getall("id", [])  # type: ignore[assignment]
        else:
            ids = message_ids(await request.read(), batch_key)
        # Counted on arrival: a message the gateway sent is sent, answered or not.
        now = time.time()
        for message_id in ids:
            counts.ids[message_id] += 1
            counts.arrived.setdefault(message_id, now)
        if state["latency"]:
            await asyncio.sleep(state["latency"])
        return web.Response(body=ANSWER, content_type="application/json")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({**counts.stats(), "latency_ms": state["latency"] * 1000})

    async def ids(request: web.Request) -> web.Response:
        return web.json_response({"ids": list(counts.ids)})

    async def times(request: web.Request) -> web.Response:
        return web.json_response({"times": counts.arrived})

    async def reset(request: web.Request) -> web.Response:
        counts.requests = 0
        counts.ids.clear()
        counts.arrived.clear()
        return web.json_response({"ok": True})

    async def config(request: web.Request) -> web.Response:
        if "latency_ms" in request.query:
            state["latency"] = float(request.query["latency_ms"]) / 1000
        return web.json_response({"latency_ms": state["latency"] * 1000})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_get("/_fake/stats", stats)
    app.router.add_get("/_fake/ids", ids)
    app.router.add_get("/_fake/times", times)
    app.router.add_post("/_fake/reset", reset)
    app.router.add_post("/_fake/config", config)
    app.router.add_route("*", "/{tail:.*}", send)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port, printed at start")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--batch-key", default="msgs")
    args = parser.parse_args(argv)

    # Bound here rather than by aiohttp so that port 0 can be read back and printed.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    app = make_app(latency_ms=args.latency_ms, batch_key=args.batch_key)
    print(f"fake provider listening on http://127.0.0.1:{port}", flush=True)
    # No access log: at thousands of requests a second it would cost more than the answer.
    web.run_app(app, sock=sock, access_log=None, print=None, backlog=4096)


if __name__ == "__main__":
    main()
