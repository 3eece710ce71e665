"""Completion events: the event model, its HMAC signature, and the callback URL policy. No I/O of its own."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import orjson
from pydantic import Field

from exports.models import CamelModel, CellWarning, ExportJob, JobStatus
from shared.errors import QuotaExceeded, RequestError, ValidationFailed

EVENT_TYPES: dict[JobStatus, Literal["export.completed", "export.failed", "export.cancelled"]] = {
    JobStatus.COMPLETED: "export.completed",
    JobStatus.FAILED: "export.failed",
    JobStatus.CANCELLED: "export.cancelled",
}
SIGNATURE_HEADER = "X-Export-Signature"
TIMESTAMP_HEADER = "X-Export-Timestamp"
EVENT_ID_HEADER = "X-Export-Event-Id"
# A receiver should refuse a signed request whose timestamp is further than this from its clock.
DEFAULT_TOLERANCE_SECONDS = 300
# The signature scheme: v2 signs the destination too (v1 signed only "<timestamp>.<body>").
SIGNATURE_VERSION = "v2"
MAX_SIGNATURE_HEADER = 1000

Resolver = Callable[[str, int], Sequence[str]]


class ExportEvent(CamelModel):
    """What consumers receive: the same document on the events queue, a reply queue and a webhook."""

    id: str
    type: Literal["export.completed", "export.failed", "export.cancelled"]
    job_id: str
    organization_id: str
    status: JobStatus
    row_count: int | None
    file_size_bytes: int | None
    error_message: str | None
    occurred_at: datetime
    # Cells exported as their text because the source value had the wrong type, and the first few of them.
    warnings: int = 0
    warning_samples: list[CellWarning] = Field(default_factory=list)

    def body(self) -> bytes:
        """The exact bytes that are signed and sent: compact JSON with sorted keys, stable across retries."""
        return orjson.dumps(self.model_dump(mode="json", by_alias=True), option=orjson.OPT_SORT_KEYS)


def event_id(job_id: str, status: JobStatus) -> str:
    # One id per (job, final status): a re-publication after a crash or a duplicate message has the same id.
    return "evt_" + hashlib.sha256(f"{job_id}\n{status.value}".encode()).hexdigest()[:40]


def event_for(job: ExportJob) -> ExportEvent:
    if not job.status.is_final or job.completed_at is None:
        raise ValueError(f"export {job.job_id} is {job.status.value}: only a final job has an event")
    warnings, samples = job.checkpoint.warning_summary()
    return ExportEvent(
        id=event_id(job.job_id, job.status),
        type=EVENT_TYPES[job.status],
        job_id=job.job_id,
        organization_id=job.organization_id,
        status=job.status,
        row_count=job.total_rows if job.status is JobStatus.COMPLETED else job.processed_rows,
        file_size_bytes=job.file_size_bytes,
        error_message=job.error_message,
        occurred_at=job.completed_at,
        warnings=warnings,
        warning_samples=samples,
    )


class RejectionError(CamelModel):
    """One reason a queued request is invalid: where (a dotted path into the message) and what."""

    field: str
    message: str


class RequestRejectedEvent(CamelModel):
    """The answer to a queued request that was refused: on the events queue and the message's reply queue."""

    id: str
    type: Literal["export.rejected"] = "export.rejected"
    request_id: str
    organization_id: str
    requested_by_id: str
    # As over HTTP: 403 the requester may not, 422 the message is invalid, 429 over the daily quota.
    status: Literal[403, 422, 429]
    title: str
    reason: str
    errors: list[RejectionError] | None = None
    # Over the quota only: when the organization's daily quota resets, and the seconds until then.
    retry_at: datetime | None = None
    retry_after_seconds: int | None = None
    occurred_at: datetime

    def body(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", by_alias=True), option=orjson.OPT_SORT_KEYS)


def rejection_id(organization_id: str, requested_by_id: str, request_id: str, status: int, cause: str) -> str:
    # One id per (request, refusal): every copy of a re-delivered message answers with the same id, while a
    # corrected message or a new quota day under the same requestId is a new answer.
    identity = "\n".join(("rejected", organization_id, requested_by_id, request_id, str(status), cause))
    return "evt_" + hashlib.sha256(identity.encode()).hexdigest()[:40]


def rejection_for(
    organization_id: str, requested_by_id: str, request_id: str, refusal: RequestError, *, at: datetime
) -> RequestRejectedEvent:
    if refusal.status not in (403, 422, 429):
        raise ValueError(f"a queued request is not refused with {refusal.status}")
    retry_at = refusal.resets_at if isinstance(refusal, QuotaExceeded) else None
    # The quota's text counts today's requests; the day it resets is what names the refusal.
    cause = retry_at.isoformat() if retry_at is not None else refusal.detail
    return RequestRejectedEvent(
        id=rejection_id(organization_id, requested_by_id, request_id, refusal.status, cause),
        request_id=request_id,
        organization_id=organization_id,
        requested_by_id=requested_by_id,
        status=cast(Literal[403, 422, 429], refusal.status),
        title=refusal.title,
        reason=refusal.detail,
        errors=[RejectionError.model_validate(item) for item in refusal.errors] if refusal.errors else None,
        retry_at=retry_at,
        retry_after_seconds=refusal.retry_after_seconds if isinstance(refusal, QuotaExceeded) else None,
        occurred_at=at,
    )


# ---- signatures -----------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, destination: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>\n<destination>\n<body>".

    The timestamp is signed, so it cannot be replaced; the destination (the callbackUrl exactly as the
    request gave it) is signed, so a receiver cannot replay an event it got to another receiver of the
    same organization within the tolerance. A URL holds no line break (the request refuses whitespace),
    so the three parts cannot be shifted into one another.
    """
    signed = f"{timestamp}\n{destination}\n".encode() + body
    mac = hmac.new(secret.encode(), signed, hashlib.sha256)
    return f"t={timestamp},{SIGNATURE_VERSION}={mac.hexdigest()}"


def signed_headers(
    secret: str, event: ExportEvent, *, destination: str, now: float | None = None
) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        "User-Agent": "flat-file-exports-webhook/1",
        EVENT_ID_HEADER: event.id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, destination, event.body()),
    }


def verify(
    secret: str,
    headers: Mapping[str, str] | Any,
    body: bytes,
    *,
    destination: str,
    now: float | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: the signature matches its own URL, and the timestamp is recent (no replays).

    `destination` is the receiver's own callback URL, exactly as it was given in the request. Anything
    unreadable (no header, a header that is not text, a timestamp that is not a plain number, a digest
    that is not hex) is simply False: this never raises.
    """
    try:
        header = _header(headers, SIGNATURE_HEADER)
        if not isinstance(header, str) or len(header) > MAX_SIGNATURE_HEADER:
            return False
        parts: dict[str, str] = {}
        for part in header.split(","):
            name, sep, value = part.strip().partition("=")
            if sep:
                parts.setdefault(name.strip(), value.strip())
        stamp, given = parts.get("t", ""), parts.get(SIGNATURE_VERSION, "")
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12 and given.isascii()):
            return False
        timestamp = int(stamp)
        if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
            return False
        expected = signature(secret, timestamp, destination, body).rpartition("=")[2]
        return hmac.compare_digest(expected.encode(), given.encode())
    except Exception:  # a receiver's check answers yes or no, whatever a sender put in the headers
        return False


def _header(headers: Mapping[str, str] | Any, name: str) -> object:
    value = headers.get(name)
    if value is None and hasattr(headers, "items"):
        value = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == name.lower()), None)
    return value


def organization_secret(org_id: str, explicit: dict[str, str], master_key: str | None) -> str | None:
    if org_id in explicit:
        return explicit[org_id]
    if master_key:
        return hmac.new(master_key.encode(), org_id.encode(), hashlib.sha256).hexdigest()
    return None


# ---- where a callback may go ----------------------------------------------------------------------


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class CallbackTarget:
    """A callback URL that passed the policy, with the addresses that were checked.

    The sender connects to these addresses and to nothing else: it never resolves the name again, so a
    name re-pointed between the check and the connection (DNS rebinding) cannot take it elsewhere. The
    name still goes in the Host header, the TLS server name and the certificate check.
    """

    url: str
    scheme: Literal["http", "https"]
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


# A host name is dot-separated labels of letters, digits and hyphens (RFC 1123; internationalised names in
# their xn-- form). Anything else (a backslash, a percent sign, an underscore, a space) is a character a URL
# parser may read differently from the client that connects, so it is refused rather than interpreted.
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    return 0 < len(name) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in name.split("."))


def check_callback_url(url: str, *, local: bool, resolve: Resolver = system_resolver) -> CallbackTarget:
    """Refuses a callback URL the service must not call (server-side request forgery); returns where to connect.

    In Azure: https only, and every address the host name resolves to must be a global unicast address
    (no loopback, link-local — which includes the instance metadata endpoint —, private, shared,
    reserved or multicast ranges). Locally: http and loopback are allowed, for a receiver on 127.0.0.1.
    Everywhere: the host must be a plain host name or IP address. The same check runs again before each
    delivery, since a name can be re-pointed after the request; the delivery then connects to the
    addresses this check saw.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationFailed("callbackUrl must be an absolute http(s) URL.") from None
    host = parts.hostname or ""
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise ValidationFailed("callbackUrl must be an absolute http(s) URL.")
    if not _valid_host(host) or "\\" in parts.netloc or parts.username is not None:
        raise ValidationFailed(
            "callbackUrl: the host must be a host name (letters, digits, hyphens and dots) or an IP address."
        )
    if not local and scheme != "https":
        raise ValidationFailed("callbackUrl must be an https URL.")
    port = port or (443 if scheme == "https" else 80)
    addresses = _addresses(host, port, resolve)
    if not addresses:
        raise ValidationFailed(f"callbackUrl: the host {host} does not resolve.")
    if not local:
        for address in addresses:
            if not _public(address):
                raise ValidationFailed(
                    "callbackUrl must point to a public address; loopback, link-local and private addresses "
                    "are refused."
                )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CallbackTarget(
        url=url,
        scheme="https" if scheme == "https" else "http",
        host=host,
        port=port,
        path=path,
        addresses=tuple(addresses),
    )


def _addresses(host: str, port: int, resolve: Resolver) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]  # an address literal is its own (and only) address
    except ValueError:
        return list(resolve(host, port))


def _public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def backoff_seconds(attempt: int, base: float) -> float:
    """The wait before attempt `attempt + 1`: base, then twice, four times as long..., capped at one hour."""
    return float(min(base * 2 ** max(0, attempt - 1), 3600.0))
