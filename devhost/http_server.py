"""HTTP triggers and the admin API over http.server, answering like the Functions host."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import azure.functions as func

from devhost.app_loader import FunctionInfo
from devhost.invocation import FunctionFailed, InFlight, Invocation
from devhost.routing import Router

log = logging.getLogger("devhost.http")

MAX_BODY_BYTES = 100 * 1024 * 1024
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive"}
_TEXTUAL = ("text/", "application/json", "application/xml", "application/javascript")

AdminOutcome = Literal["started", "missing", "not-allowed"]


class HostApi(Protocol):
    """What the server needs from the host; keeps this module free of queue/timer concerns."""

    @property
    def stopping(self) -> bool: ...

    @property
    def in_flight(self) -> InFlight: ...

    def run(self, invocation: Invocation) -> Any: ...

    def admin_invoke(self, name: str, input_text: str) -> AdminOutcome: ...


def build_router(functions: list[FunctionInfo]) -> Router[FunctionInfo]:
    router: Router[FunctionInfo] = Router()
    for function in functions:
        route = function.trigger.get("route") or function.name
        methods = [str(m) for m in function.trigger.get("methods") or []]
        router.add(str(route), methods, function)
    return router


def problem(status: int, detail: str) -> bytes:
    title = HTTPStatus(status).phrase
    return json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()


class DevHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], router: Router[FunctionInfo], route_prefix: str, host: HostApi
    ) -> None:
        self.router = router
        self.route_prefix = route_prefix.strip("/")
        self.host = host
        super().__init__(address, _Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[0], self.server_address[1]
        name = host.decode() if isinstance(host, bytes) else host
        prefix = f"/{self.route_prefix}" if self.route_prefix else ""
        return f"http://{name}:{port}{prefix}"


class _BodyTooLargeError(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: DevHttpServer

    def do_GET(self) -> None:
        # Counted until the response is written, so shutdown does not cut it off mid-send.
        with self.server.host.in_flight:
            self._dispatch()

    # http.server looks handlers up by these names.
    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_TRACE = do_GET  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def log_error(self, format: str, *args: Any) -> None:
        log.warning(format, *args)

    # --- plumbing --------------------------------------------------------------------------------------

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, *, close: bool = False) -> None:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _problem(self, status: int, detail: str, *, close: bool = False) -> None:
        self._send(
            status, [("Content-Type", "application/problem+json")], problem(status, detail), close=close
        )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b""
        length = int(length_header)  # ValueError -> 400 in the caller
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY_BYTES:
            raise _BodyTooLargeError
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BodyTooLargeError
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    # --- dispatch --------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        method = self.command.upper()
        split = urlsplit(self.path)
        path = split.path or "/"
        if self.server.host.stopping:
            self._problem(503, "The host is shutting down", close=True)
            return
        try:
            body = self._read_body()
        except _BodyTooLargeError:
            # The body stays unread, so the connection cannot be reused.
            self._problem(413, f"Request bodies are limited to {MAX_BODY_BYTES} bytes", close=True)
            return
        except ValueError:
            self._problem(400, "Malformed Content-Length or chunked body", close=True)
            return

        segments = [s for s in path.split("/") if s]
        if len(segments) >= 2 and segments[0].lower() == "admin":
            self._admin(method, segments[1:], body)
            return

        prefix = self.server.route_prefix
        relative: str | None = path
        if prefix:
            head, _, rest = path.lstrip("/").partition("/")
            relative = rest if unquote(head).lower() == prefix.lower() else None
        found = self.server.router.resolve(method, relative) if relative is not None else None
        if found is None or found.route is None:
            status = 405 if found is not None and found.path_matched else 404
            verb = "allows" if status == 405 else "handles"
            detail = f"No function {verb} {method} {path}"
            self._problem(status, detail)
            return

        function = found.route.target
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            # Repeated request headers are folded into one, as HTTP allows.
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        # As App Service's front end does: the connecting address goes last in X-Forwarded-For.
        peer = f"{self.client_address[0]}:{self.client_address[1]}"
        forwarded = next((k for k in headers if k.lower() == "x-forwarded-for"), "X-Forwarded-For")
        headers[forwarded] = f"{headers[forwarded]}, {peer}" if forwarded in headers else peer
        host_header = self.headers.get("Host") or self.server.base_url.split("/")[2]
        url = f"http://{host_header}{path}" + (f"?{split.query}" if split.query else "")
        request = func.HttpRequest(
            method, url, headers=headers, params=query, route_params=found.params, body=body
        )
        invocation = Invocation(
            function, request, "This function was programmatically called via the host APIs."
        )
        failed = f"The function failed; see the host log for invocation {invocation.invocation_id}"
        try:
            result = self.server.host.run(invocation)
        except FunctionFailed:
            # The invoker logged the traceback; the client gets nothing that could carry secrets.
            self._problem(500, failed)
            return
        try:
            status, out_headers, out_body = _to_response(result, invocation)
        except Exception:
            log.exception("function %s returned an unusable HTTP response", function.name)
            self._problem(500, failed)
            return
        self._send(status, out_headers, out_body)

    def _admin(self, method: str, segments: list[str], body: bytes) -> None:
        lowered = [s.lower() for s in segments]
        if lowered == ["host", "status"]:
            if method not in ("GET", "HEAD"):
                self._problem(405, f"No function allows {method} {self.path}")
                return
            self._send(200, [("Content-Type", "application/json")], b'{"state":"Running"}')
            return
        if len(segments) == 2 and lowered[0] == "functions":
            if method != "POST":
                self._problem(405, f"No function allows {method} {self.path}")
                return
            try:
                doc = json.loads(body or b"{}")
                input_text = doc.get("input", "") if isinstance(doc, dict) else None
            except ValueError:
                input_text = None
            if not isinstance(input_text, str):
                self._problem(400, 'The body must be a JSON object like {"input": "..."}')
                return
            name = unquote(segments[1])
            outcome = self.server.host.admin_invoke(name, input_text)
            if outcome == "started":
                self._send(202, [], b"")
            elif outcome == "not-allowed":
                self._problem(400, f"Function {name} is HTTP-triggered; call its route instead")
            else:
                self._problem(404, f"No function named {name}")
            return
        self._problem(404, f"No function handles {method} {self.path}")


def _to_response(result: Any, invocation: Invocation) -> tuple[int, list[tuple[str, str]], bytes]:
    if result is None:
        # An HTTP output binding other than $return, e.g. `func.Out[func.HttpResponse]`.
        result = next(
            (o.get() for o in invocation.outputs.values() if isinstance(o.get(), func.HttpResponse)), None
        )
    if result is None:
        return 204, [], b""
    if isinstance(result, (str, bytes)):
        result = func.HttpResponse(result)
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"an HTTP function returned {type(result).__name__}, not HttpResponse")
    headers = [(str(k), str(v)) for k, v in result.headers.items()]
    if not any(k.lower() == "content-type" for k, _ in headers):
        mimetype = result.mimetype
        textual = mimetype.startswith(_TEXTUAL) or mimetype.endswith(("+json", "+xml"))
        headers.append(("Content-Type", f"{mimetype}; charset={result.charset}" if textual else mimetype))
    return int(result.status_code), headers, result.get_body()
