"""The webhook sender against hostile receivers on loopback: it connects only where the policy looked, gives up at
one deadline, reads almost nothing, decompresses nothing, keeps no cookies and reports an outcome, never an
exception. Plain sockets here: no Azurite, no local host."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from exports.events import CallbackTarget, check_callback_url
from exports.models import CreateExportRequest
from shared.auth import ACCESS_REPORTS, Principal
from shared.webhooks import HttpWebhookSender
from tests.unit.conftest import ORG_A, make_world

# A receiver that drips stops after this many bytes; the sender must have hung up long before.
DRIP_BYTES = 100
DRIP_EVERY_SECONDS = 0.2


@dataclass
class Seen:
    request_line: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A loopback server that reads one request per connection and answers with `respond`."""

    respond: Callable[[socket.socket], None]
    tls: ssl.SSLContext | None = None
    seen: list[Seen] = field(default_factory=list)
    hung_up: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            try:
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                self.seen.append(_read_request(conn))
                self.respond(conn)
            except OSError:
                pass
            finally:
                conn.close()
                self._done.set()

    def send_or_notice_hang_up(self, conn: socket.socket, chunks: Iterator[bytes], pause: float = 0) -> None:
        try:
            for chunk in chunks:
                conn.sendall(chunk)
                time.sleep(pause)
        except OSError:
            self.hung_up.append(True)
            return
        self.hung_up.append(False)

    def wait_until_answered(self) -> None:
        assert self._done.wait(60), "the receiver never finished answering"

    def close(self) -> None:
        self._listener.close()


def _read_request(conn: socket.socket) -> Seen:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(h.split(": ", 1) for h in header_lines if ": " in h)
    length = int(headers.get("Content-Length", "0"))
    while len(body) < length:
        body += conn.recv(65536)
    return Seen(line, headers, body)


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def serve(
    receivers: list[Receiver], respond: Callable[[Receiver, socket.socket], object], **kwargs: object
) -> Receiver:
    holder: list[Receiver] = []
    receiver = Receiver(lambda conn: respond(holder[0], conn), **kwargs)  # type: ignore[arg-type]
    holder.append(receiver)
    receivers.append(receiver)
    return receiver


def target(
    port: int, *, host: str = "127.0.0.1", scheme: str = "http", addresses: tuple[str, ...] = ("127.0.0.1",)
) -> CallbackTarget:
    url = f"{scheme}://{host}:{port}/hooks/exports"
    return CallbackTarget(
        url=url, scheme=scheme, host=host, port=port, path="/hooks/exports", addresses=addresses  # type: ignore[arg-type]
    )


def post(sender: HttpWebhookSender, where: CallbackTarget, timeout: float = 10) -> tuple[str, int | None]:
    result = sender.post(where, b'{"id":"evt_1"}', {"Content-Type": "application/json"}, timeout=timeout)
    return result.outcome, result.status_code


# ---- how much of an answer is read ----------------------------------------------------------------


def test_a_huge_answer_is_not_read_beyond_a_few_kib_and_nothing_is_asked_compressed(receivers: list[Receiver]) -> None:
    size = 64 * 1024 * 1024

    def flood(receiver: Receiver, conn: socket.socket) -> None:
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {size}\r\n\r\n".encode())
        receiver.send_or_notice_hang_up(conn, (b"\x1f" * 65536 for _ in range(size // 65536)))

    receiver = serve(receivers, flood)
    assert post(HttpWebhookSender(), target(receiver.port)) == ("delivered", 200)
    receiver.wait_until_answered()

    assert receiver.seen[0].headers["Accept-Encoding"] == "identity"
    assert receiver.hung_up == [True], "the sender read the whole 64 MiB answer"


def test_a_receiver_dripping_its_answer_is_cut_off_at_one_deadline_for_the_attempt(receivers: list[Receiver]) -> None:
    # Each byte comes well within the deadline, so a per-read timeout would wait for all of them.
    def drip(receiver: Receiver, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        receiver.send_or_notice_hang_up(conn, (b"z" for _ in range(DRIP_BYTES)), pause=DRIP_EVERY_SECONDS)

    receiver = serve(receivers, drip)
    assert post(HttpWebhookSender(), target(receiver.port), timeout=1) == ("timeout", None)
    receiver.wait_until_answered()
    assert receiver.hung_up == [True], "the sender waited for every dripped byte"


def test_a_receiver_that_never_answers_is_a_timeout(receivers: list[Receiver]) -> None:
    release = threading.Event()
    receiver = serve(receivers, lambda receiver, conn: release.wait(30))
    try:
        assert post(HttpWebhookSender(), target(receiver.port), timeout=0.5) == ("timeout", None)
    finally:
        release.set()


# ---- where it connects ----------------------------------------------------------------------------


def test_the_sender_connects_to_the_checked_address_and_never_resolves_the_name_again(
    receivers: list[Receiver],
) -> None:
    receiver = serve(receivers, lambda receiver, conn: conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n"))
    # `.invalid` never resolves (RFC 6761): the only way to reach the receiver is the address that was checked.
    where = target(receiver.port, host="receiver.invalid")
    assert post(HttpWebhookSender(), where) == ("delivered", 204)
    assert receiver.seen[0].headers["Host"] == f"receiver.invalid:{receiver.port}"
    assert receiver.seen[0].request_line == "POST /hooks/exports HTTP/1.1"


def test_a_re_pointed_name_cannot_move_a_delivery_after_the_check(receivers: list[Receiver]) -> None:
    """Through the service: the check sees 127.0.0.1 (a local environment allows loopback), and the delivery
    goes there, whatever the name resolves to by the time the worker connects."""
    receiver = serve(receivers, lambda receiver, conn: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    world = make_world(environment="local", webhook_master_key="k")
    world.webhooks = HttpWebhookSender()  # type: ignore[assignment]
    world.service.webhooks = world.webhooks
    world.service.resolve = lambda host, port: ["127.0.0.1"]
    analyst = Principal(ORG_A, "user-1", "Ana Lyst", frozenset({ACCESS_REPORTS}))
    world.load_cases(ORG_A, 3)
    url = f"http://receiver.rebinding.invalid:{receiver.port}/hook"
    job, _ = world.service.create(analyst, CreateExportRequest.model_validate({"format": "CSV", "callbackUrl": url}))
    world.drain()
    message, _ = world.events.notifications.pop(0)

    world.service.deliver_notification(message)

    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and [(d.outcome, d.status_code) for d in stored.deliveries] == [("delivered", 200)]
    assert receiver.seen[0].headers["Host"] == f"receiver.rebinding.invalid:{receiver.port}"


def test_the_next_checked_address_is_tried_when_one_refuses_the_connection(receivers: list[Receiver]) -> None:
    receiver = serve(receivers, lambda receiver, conn: conn.sendall(b"HTTP/1.1 202 Accepted\r\n\r\n"))
    # The receiver listens on 127.0.0.1 only: 127.0.0.2 refuses the connection at the same port.
    where = target(receiver.port, addresses=("127.0.0.2", "127.0.0.1"))
    assert post(HttpWebhookSender(), where) == ("delivered", 202)


def test_nothing_listening_and_an_answer_that_is_not_http_are_unreachable(receivers: list[Receiver]) -> None:
    spare = socket.create_server(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()
    assert post(HttpWebhookSender(), target(port)) == ("unreachable", None)
    garbage = serve(receivers, lambda receiver, conn: conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"))
    assert post(HttpWebhookSender(), target(garbage.port)) == ("unreachable", None)


def test_a_redirect_is_not_followed_and_counts_as_refused(receivers: list[Receiver]) -> None:
    receiver = serve(
        receivers,
        lambda receiver, conn: conn.sendall(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://169.254.169.254/"
                                            b"latest/meta-data/\r\nContent-Length: 0\r\n\r\n"),
    )
    assert post(HttpWebhookSender(), target(receiver.port)) == ("refused", 307)
    assert len(receiver.seen) == 1


# ---- what it carries between deliveries ----------------------------------------------------------


def test_a_cookie_one_receiver_sets_is_never_sent_on_a_later_delivery(receivers: list[Receiver]) -> None:
    receiver = serve(
        receivers,
        lambda receiver, conn: conn.sendall(
            b"HTTP/1.1 200 OK\r\nSet-Cookie: session=org-a-secret; Path=/\r\nContent-Length: 0\r\n\r\n"
        ),
    )
    sender = HttpWebhookSender()  # one per worker process, shared by every organization's deliveries
    assert post(sender, target(receiver.port)) == ("delivered", 200)
    assert post(sender, target(receiver.port)) == ("delivered", 200)
    assert [seen.headers.get("Cookie") for seen in receiver.seen] == [None, None]


# ---- TLS: the checked address, the URL's name ----------------------------------------------------


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A private CA and a server certificate for receiver.example.test: (server context, client context)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test webhook CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "receiver.example.test")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("receiver.example.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client


def test_https_connects_to_the_checked_address_and_verifies_the_certificate_against_the_urls_name(
    receivers: list[Receiver], tls_pair: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server, client = tls_pair
    receiver = serve(receivers, lambda receiver, conn: conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n"), tls=server)
    sender = HttpWebhookSender(tls=client)
    assert post(sender, target(receiver.port, host="receiver.example.test", scheme="https")) == ("delivered", 200)
    assert receiver.seen[0].headers["Host"] == f"receiver.example.test:{receiver.port}"
    # The same address under another name: the certificate does not match, so nothing is sent.
    assert post(sender, target(receiver.port, host="impostor.example.test", scheme="https")) == ("unreachable", None)
    assert len(receiver.seen) == 1


def test_the_policy_check_and_the_sender_agree_on_where_a_url_goes(receivers: list[Receiver]) -> None:
    receiver = serve(receivers, lambda receiver, conn: conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n"))
    checked = check_callback_url(f"http://127.0.0.1:{receiver.port}/a/b?c=d", local=True)
    assert post(HttpWebhookSender(), checked) == ("delivered", 200)
    assert receiver.seen[0].request_line == "POST /a/b?c=d HTTP/1.1"
