"""The webhook sender: one bounded POST to an address the callback policy checked.

A receiver is someone else's server, so every way it could hold or flood a worker is bounded:
- it connects only to the addresses `check_callback_url` saw (never resolving the name again, which closes
  DNS rebinding), with the name in the Host header, the TLS server name and the certificate check;
- one deadline per attempt covers connect, TLS handshake, sending, the status line and headers, and every
  read after them: a receiver that answers one byte at a time is cut off at the deadline, not kept alive
  by each byte;
- `Accept-Encoding: identity` and nothing decompresses: a small gzip body can never expand in memory;
- at most MAX_BODY_BYTES of the body are read, then the connection is closed;
- no cookie jar, no proxies from the environment, no redirects (`http.client` has none of them).

It is plain `http.client` and `ssl` from the standard library: `requests` and `urllib3` resolve the name
themselves and have per-read, not total, timeouts.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import socket
import ssl
import time

import certifi

from exports.events import CallbackTarget
from exports.ports import DeliveryResult

# Enough to see the start of an answer; the status line and headers are what decide the outcome.
MAX_BODY_BYTES = 4 * 1024


class HttpWebhookSender:
    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        # certifi's roots, as `requests` used: the same set on every host the app runs on.
        self._tls = tls or ssl.create_default_context(cafile=certifi.where())

    def post(
        self, target: CallbackTarget, body: bytes, headers: dict[str, str], *, timeout: float
    ) -> DeliveryResult:
        deadline = time.monotonic() + timeout
        try:
            sock = self._connect(target, deadline)
        except TimeoutError:
            return DeliveryResult("timeout")
        if sock is None:
            return DeliveryResult("unreachable")
        try:
            status = _exchange(sock, target, body, headers)
        except TimeoutError:
            return DeliveryResult("timeout")
        except (OSError, http.client.HTTPException, ValueError):
            return DeliveryResult("unreachable")
        finally:
            sock.release()
        return DeliveryResult("delivered" if 200 <= status < 300 else "refused", status)

    def _connect(self, target: CallbackTarget, deadline: float) -> _DeadlineSocket | None:
        """A connection to the first checked address that takes one, or None; TimeoutError past the deadline."""
        for address in target.addresses:
            try:
                raw = socket.create_connection((address, target.port), timeout=_left(deadline))
            except TimeoutError:
                raise
            except OSError:
                continue  # refused or unroutable: the next checked address, if any
            try:
                if target.scheme == "https":
                    raw.settimeout(_left(deadline))
                    # The certificate is checked against the name in the URL, not the address connected to.
                    raw = self._tls.wrap_socket(raw, server_hostname=target.host)
            except TimeoutError:
                raw.close()
                raise
            except OSError:
                raw.close()
                continue
            return _DeadlineSocket(raw, deadline)
        return None


def _exchange(sock: _DeadlineSocket, target: CallbackTarget, body: bytes, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection(target.host, target.port)
    # The connection is already open (to the checked address): http.client only writes and reads on it.
    connection.sock = sock
    request_headers = {
        **headers,
        "Host": target.host_header,
        "Accept-Encoding": "identity",
        "Connection": "close",
        "Content-Length": str(len(body)),
    }
    connection.request("POST", target.path, body=body, headers=request_headers)
    response = connection.getresponse()
    status = response.status
    # The answer is already known; what follows may be slow, endless or compressed, and is not needed.
    with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
        response.read(MAX_BODY_BYTES)
    return status


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the delivery attempt's deadline passed")
    return left


class _DeadlineSocket:
    """A connected socket whose every send and receive waits at most until one deadline.

    A socket timeout applies to each call, so a receiver sending one byte at a time would reset it with
    every byte; setting it to what is left of the deadline before each call makes the deadline total.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(_left(self._deadline))
        self._sock.sendall(data)

    def recv_into(self, buffer: memoryview | bytearray, nbytes: int = 0) -> int:
        self._sock.settimeout(_left(self._deadline))
        return self._sock.recv_into(buffer, nbytes)

    def makefile(self, mode: str = "rb", *args: object, **kwargs: object) -> io.BufferedReader:
        return io.BufferedReader(_Reader(self))

    def close(self) -> None:
        """What http.client calls once the headers say `Connection: close`; the body is read after that."""

    def release(self) -> None:
        self._sock.close()


class _Reader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        return self._sock.recv_into(buffer)
