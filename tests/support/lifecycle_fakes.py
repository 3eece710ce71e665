"""In-memory adapters for the lifecycle ports: events, audit, limits, webhooks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from exports.events import CallbackTarget, ExportEvent, RequestRejectedEvent
from exports.models import AuditEntry, NotificationMessage, TagAuditEntry
from exports.ports import DeliveryOutcome, DeliveryResult, LimitRecord
from shared.errors import ConcurrencyConflict, MalformedRequest


@dataclass
class FakeEventQueues:
    published: dict[str, list[ExportEvent]] = field(default_factory=dict)
    rejected: dict[str, list[RequestRejectedEvent]] = field(default_factory=dict)
    notifications: list[tuple[NotificationMessage, timedelta | None]] = field(default_factory=list)
    fail_publishing: int = 0
    # Reply queues the requesting system has not created; every other name exists.
    missing_queues: set[str] = field(default_factory=set)

    def publish(self, event: ExportEvent | RequestRejectedEvent, *, queue: str | None = None) -> None:
        if self.fail_publishing:
            self.fail_publishing -= 1
            raise ConnectionError("simulated crash while publishing")
        if queue in self.missing_queues:
            return  # as the storage adapter does: a missing reply queue is never created
        if isinstance(event, RequestRejectedEvent):
            self.rejected.setdefault(queue or "export-events", []).append(event)
        else:
            self.published.setdefault(queue or "export-events", []).append(event)

    def send_notification(self, message: NotificationMessage, *, delay: timedelta | None = None) -> None:
        self.notifications.append((message, delay))

    def queue_exists(self, name: str) -> bool:
        return name not in self.missing_queues

    def events(self, queue: str = "export-events") -> list[ExportEvent]:
        return self.published.get(queue, [])

    def rejections(self, queue: str = "export-events") -> list[RequestRejectedEvent]:
        return self.rejected.get(queue, [])


@dataclass
class FakeAuditLog:
    rows: dict[tuple[str, str], AuditEntry] = field(default_factory=dict)
    tag_rows: list[tuple[str, str, TagAuditEntry]] = field(default_factory=list)
    _counter: int = 0

    def append(self, organization_id: str, entry: AuditEntry, *, key: str | None = None) -> None:
        self._counter += 1
        row_key = f"{entry.job_id}_{entry.at.isoformat()}_{entry.action}_{key or self._counter}"
        self.rows.setdefault((organization_id, row_key), entry)

    def list_for_job(self, organization_id: str, job_id: str) -> list[AuditEntry]:
        entries = [e for (org, _), e in self.rows.items() if org == organization_id and e.job_id == job_id]
        return sorted(entries, key=lambda entry: entry.at)

    def append_tag_event(self, organization_id: str, entry: TagAuditEntry) -> None:
        # The table's order: newest first, rows of one instant in any (here: insertion) order.
        self._counter += 1
        inverted = 10**17 - 1 - int(entry.at.timestamp() * 1_000_000)
        self.tag_rows.append((organization_id, f"{inverted:017d}_{self._counter:032x}", entry))

    def list_tag_events(
        self, organization_id: str, *, continuation_token: str | None, limit: int
    ) -> tuple[list[TagAuditEntry], str | None]:
        if continuation_token is not None and not re.fullmatch(r"\d{17}_[0-9a-f]{32}", continuation_token):
            raise MalformedRequest("continuationToken is not one this API returned.")
        rows = sorted((key, entry) for org, key, entry in self.tag_rows if org == organization_id)
        rows = [(key, entry) for key, entry in rows if continuation_token is None or key > continuation_token]
        page = rows[:limit]
        return [entry for _, entry in page], page[-1][0] if len(rows) > limit else None


@dataclass
class FakeLimitStore:
    records: dict[tuple[str, str], LimitRecord] = field(default_factory=dict)
    writes: int = 0

    def read(self, organization_id: str, key: str) -> LimitRecord:
        stored = self.records.get((organization_id, key))
        if stored is None:
            return LimitRecord(job_ids=[])
        return LimitRecord(job_ids=list(stored.job_ids), etag=stored.etag)

    def write(self, organization_id: str, key: str, record: LimitRecord) -> None:
        stored = self.records.get((organization_id, key))
        if (stored.etag if stored else None) != record.etag:
            raise ConcurrencyConflict("limit etag")
        self.writes += 1
        self.records[(organization_id, key)] = LimitRecord(list(record.job_ids), f"W/{self.writes}")


@dataclass
class FakeWebhookSender:
    """Answers with the given status codes in turn (then 200), or with an outcome ("timeout", "unreachable")."""

    answers: list[int | DeliveryOutcome] = field(default_factory=list)
    requests: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    targets: list[CallbackTarget] = field(default_factory=list)

    def post(
        self, target: CallbackTarget, body: bytes, headers: dict[str, str], *, timeout: float
    ) -> DeliveryResult:
        self.requests.append((target.url, body, headers))
        self.targets.append(target)
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, str):
            return DeliveryResult(answer)
        return DeliveryResult("delivered" if 200 <= answer < 300 else "refused", answer)
