"""HTTP triggers and the admin API over http.server, answering like the Functions host."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import azure.functions as func

from devhost.app_loader import FunctionInfo, HttpOptions
from devhost.invocation import FunctionFailed, FunctionTimedOut, InFlight, Invocation
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
    def responding(self) -> InFlight: ...

    def run(self, invocation: Invocation) -> Any: ...

    def admin_invoke(self, name: str, input_text: str) -> AdminOutcome: ...

    @property
    def admin_token(self) -> str: ...

    def drain(self) -> None: ...

    def resume(self) -> None: ...

    def drain_status(self) -> dict[str, Any]: ...


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


class RequestThrottle:
    """host.json's HTTP throttles: at most `maxConcurrentRequests` functions run at once, the others wait;
    a request that would make more than `maxOutstandingRequests` running or waiting is refused."""

    def __init__(self, options: HttpOptions) -> None:
        concurrent = options.max_concurrent_requests
        self._slots = threading.BoundedSemaphore(concurrent) if concurrent is not None else None
        self._limit = options.max_outstanding_requests
        self._outstanding = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        """False: over the outstanding limit (429). True: the caller runs, and must `leave` after."""
        with self._lock:
            if self._limit is not None and self._outstanding >= self._limit:
                return False
            self._outstanding += 1
        if self._slots is not None:
            self._slots.acquire()
        return True

    def leave(self) -> None:
        if self._slots is not None:
            self._slots.release()
        with self._lock:
            self._outstanding -= 1


class DevHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        router: Router[FunctionInfo],
        route_prefix: str,
        host: HostApi,
        http_options: HttpOptions | None = None,
        listen_fd: int | None = None,
    ) -> None:
        self.router = router
        self.route_prefix = route_prefix.strip("/")
        self.host = host
        self.throttle = RequestThrottle(http_options or HttpOptions())
        super().__init__(address, _Handler, bind_and_activate=listen_fd is None)
        if listen_fd is not None:
            # The socket of the process this one replaced (a worker restart): connections that arrived
            # meanwhile wait in its backlog and are answered now.
            self.socket.close()
            self.socket = socket.socket(fileno=listen_fd)
            os.set_inheritable(listen_fd, False)
            self.server_address = self.socket.getsockname()

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
        with self.server.host.responding:
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
        throttle = self.server.throttle
        if not throttle.enter():
            self._problem(429, "The host has as many requests as host.json's maxOutstandingRequests allows")
            return
        try:
            self._invoke(invocation)
        finally:
            throttle.leave()

    def _invoke(self, invocation: Invocation) -> None:
        function = invocation.function
        failed = f"The function failed; see the host log for invocation {invocation.invocation_id}"
        try:
            result = self.server.host.run(invocation)
        except FunctionTimedOut:
            detail = f"The function ran past host.json's functionTimeout (invocation {invocation.invocation_id})"
            self._problem(500, detail)
            return
        except FunctionFailed as error:
            if type(error) is not FunctionFailed:
                # It never got to an end: the worker restarted, or the host is stopping.
                self._problem(503, "The function could not run; please retry", close=True)
                return
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
        if not _loopback_host(self.headers.get("Host") or ""):
            # A page the developer visits can point a name of its own at 127.0.0.1 (DNS rebinding): its
            # requests then carry that name, never a loopback one.
            self._problem(403, "The admin API answers only requests addressed to a loopback host")
            return
        if method not in ("GET", "HEAD") and not hmac.compare_digest(
            (self.headers.get("x-functions-key") or "").encode(), self.server.host.admin_token.encode()
        ):
            self._problem(401, "The admin API needs x-functions-key: the token the host printed at start")
            return
        if lowered == ["host", "status"]:
            if method not in ("GET", "HEAD"):
                self._problem(405, f"No function allows {method} {self.path}")
                return
            self._send(200, [("Content-Type", "application/json")], b'{"state":"Running"}')
            return
        if lowered[0] == "host" and lowered[1:] in (["drain"], ["drain", "status"], ["resume"]):
            self._drain_api(method, lowered[1:])
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


    def _drain_api(self, method: str, action: list[str]) -> None:
        """The host's drain mode: listeners stop taking work, invocations in hand run to their end."""
        host = self.server.host
        wanted = "GET" if action == ["drain", "status"] else "POST"
        if method != wanted and not (wanted == "GET" and method == "HEAD"):
            self._problem(405, f"No function allows {method} {self.path}")
            return
        if action == ["drain"]:
            host.drain()
            self._send(202, [], b"")
        elif action == ["resume"]:
            host.resume()
            self._send(200, [("Content-Type", "application/json")], b'{"state":"Running"}')
        else:
            self._send(200, [("Content-Type", "application/json")], json.dumps(host.drain_status()).encode())


def _loopback_host(host_header: str) -> bool:
    """Whether a Host header names this machine: localhost or a loopback address, with any port."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
