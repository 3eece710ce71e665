"""A loopback HTTP proxy in front of one Azurite port that injects storage faults.

One request per client connection (both sides are told `Connection: close`), so every fault is
exactly one request: the SDK clients see what they would see from a flaky network or a busy
service, and their retry policies have to cope.

Faults, chosen per request by a `FaultPlan`:
- `drop`        close the connection before the request reaches storage (nothing happened)
- `drop_after`  forward the request, then close without answering (it happened; the caller cannot know)
- `delay`       hold the request for a while, then forward it
- `status`      answer 500, 503 or 429 without forwarding (a busy or failing service)
- `duplicate`   forward it twice (the copy after the answer, optionally made visible later): for
                `POST .../messages`, that is a queue message delivered twice, or out of order
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

HEAD_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    def with_query(self, extra: str) -> Request:
        joiner = "&" if self.query else "?"
        return Request(self.method, self.target + joiner + extra, self.headers, self.body)

    def encode(self) -> bytes:
        lines = [f"{self.method} {self.target} HTTP/1.1"]
        for name, value in self.headers:
            if name.lower() not in ("connection", "keep-alive", "content-length", "transfer-encoding"):
                lines.append(f"{name}: {value}")
        lines += [f"Content-Length: {len(self.body)}", "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1") + self.body


@dataclass(frozen=True)
class Fault:
    kind: str  # drop | drop_after | delay | status | duplicate
    status: int = 503
    seconds: float = 0.0
    copy_visible_after: int | None = None  # duplicate: the copy's visibility timeout, in seconds


@dataclass
class FaultPlan:
    """Picks a fault for a `rate` fraction of the requests `applies` accepts, from `kinds` with weights."""

    rate: float
    kinds: dict[str, float] = field(default_factory=lambda: {"drop": 1, "drop_after": 1, "delay": 1, "status": 1})
    statuses: tuple[int, ...] = (500, 503)
    applies: Callable[[Request], bool] = lambda _request: True
    seed: int = 0
    _random: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def __call__(self, request: Request) -> Fault | None:
        if not self.applies(request) or self._random.random() >= self.rate:
            return None
        kind = self._random.choices(list(self.kinds), weights=list(self.kinds.values()))[0]
        if kind == "status":
            return Fault("status", status=self._random.choice(self.statuses))
        if kind == "delay":
            return Fault("delay", seconds=self._random.uniform(0.2, 1.5))
        return Fault(kind)


class FaultyProxy:
    """`FaultyProxy(upstream_port, plan).start()`; `.port` to connect to; `.injected` counts faults by kind."""

    def __init__(self, upstream_port: int, plan: Callable[[Request], Fault | None]) -> None:
        self.upstream_port = upstream_port
        self.plan = plan
        self.port = 0
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="faulty-proxy", daemon=True)

    def start(self) -> FaultyProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(timeout=10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        # Connections accepted while closing: cancel them too, so no task is left pending.
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        if pending:
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    @property
    def faults(self) -> int:
        with self._lock:
            return sum(self.injected.values())

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def _count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is None:
                return
            with self._lock:
                self.requests += 1
            fault = self.plan(request)
            if fault is not None:
                self._count(fault.kind if fault.kind != "status" else f"status {fault.status}")
            if fault is not None and fault.kind == "drop":
                return
            if fault is not None and fault.kind == "status":
                writer.write(_error_response(fault.status))
                await writer.drain()
                return
            if fault is not None and fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            response = await self._forward(request)
            if fault is not None and fault.kind == "drop_after":
                return
            writer.write(response)
            await writer.drain()
            if fault is not None and fault.kind == "duplicate":
                copy = request
                if fault.copy_visible_after is not None:
                    copy = request.with_query(f"visibilitytimeout={fault.copy_visible_after}")
                await self._forward(copy)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            # No await here: a task cancelled at shutdown must not yield again while it is being closed.
            with contextlib.suppress(Exception):
                writer.close()

    async def _forward(self, request: Request) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            writer.write(request.encode())
            await writer.drain()
            raw = await reader.read()  # Connection: close, so the answer ends at EOF
        finally:
            writer.close()
        head, sep, body = raw.partition(b"\r\n\r\n")
        if not sep:
            raise ConnectionError("storage closed the connection without an answer")
        lines = [line for line in head.split(b"\r\n") if not line.lower().startswith((b"connection:", b"keep-alive:"))]
        return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    if len(head) > HEAD_LIMIT:
        raise ValueError("request head too large")
    first, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _version = first.split(" ", 2)
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    lowered = {name.lower(): value for name, value in headers}
    if lowered.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(lowered.get("content-length", "0") or 0))
    return Request(method, target, headers, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readline()


def _error_response(status: int) -> bytes:
    reason = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "Error")
    code = {429: "TooManyRequests", 500: "InternalError", 503: "ServerBusy"}.get(status, "InternalError")
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
        f"<Message>injected by the fault proxy</Message></Error>"
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nx-ms-error-code: {code}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body
