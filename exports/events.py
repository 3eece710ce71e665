"""Completion events: the event model, its HMAC signature, and the callback URL policy. No I/O of its own."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson

from exports.models import CamelModel, ExportJob, JobStatus
from shared.errors import ValidationFailed

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

    def body(self) -> bytes:
        """The exact bytes that are signed and sent: compact JSON with sorted keys, stable across retries."""
        return orjson.dumps(self.model_dump(mode="json", by_alias=True), option=orjson.OPT_SORT_KEYS)


def event_id(job_id: str, status: JobStatus) -> str:
    # One id per (job, final status): a re-publication after a crash or a duplicate message has the same id.
    return "evt_" + hashlib.sha256(f"{job_id}\n{status.value}".encode()).hexdigest()[:40]


def event_for(job: ExportJob) -> ExportEvent:
    if not job.status.is_final or job.completed_at is None:
        raise ValueError(f"export {job.job_id} is {job.status.value}: only a final job has an event")
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
    )


# ---- signatures -----------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>": the timestamp is signed too, so it cannot be replaced."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def signed_headers(secret: str, event: ExportEvent, *, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        "User-Agent": "flat-file-exports-webhook/1",
        EVENT_ID_HEADER: event.id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, event.body()),
    }


def verify(
    secret: str,
    headers: dict[str, str] | Any,
    body: bytes,
    *,
    now: float | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent (replays are refused)."""
    header = headers.get(SIGNATURE_HEADER) or ""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body)
    return hmac.compare_digest(expected, header)


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


def check_callback_url(url: str, *, local: bool, resolve: Resolver = system_resolver) -> None:
    """Refuses a callback URL the service must not call (server-side request forgery).

    In Azure: https only, and every address the host name resolves to must be a global unicast address
    (no loopback, link-local — which includes the instance metadata endpoint —, private, shared,
    reserved or multicast ranges). Locally: http and loopback are allowed, for a receiver on 127.0.0.1.
    The same check runs again before each delivery, since a name can be re-pointed after the request.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if local:
        if parts.scheme not in ("http", "https") or not host:
            raise ValidationFailed("callbackUrl must be an absolute http(s) URL.")
        return
    if parts.scheme != "https":
        raise ValidationFailed("callbackUrl must be an https URL.")
    port = parts.port or 443
    addresses = resolve(host, port)
    if not addresses:
        raise ValidationFailed(f"callbackUrl: the host {host} does not resolve.")
    for address in addresses:
        if not _public(address):
            raise ValidationFailed(
                "callbackUrl must point to a public address; loopback, link-local and private addresses are refused."
            )


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
