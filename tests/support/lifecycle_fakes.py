"""In-memory adapters for the lifecycle ports (issue 8): events, audit, limits, webhooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from exports.events import ExportEvent
from exports.models import AuditEntry, NotificationMessage
from exports.ports import LimitRecord
from shared.errors import ConcurrencyConflict


@dataclass
class FakeEventQueues:
    published: dict[str, list[ExportEvent]] = field(default_factory=dict)
    notifications: list[tuple[NotificationMessage, timedelta | None]] = field(default_factory=list)
    fail_publishing: int = 0

    def publish(self, event: ExportEvent, *, queue: str | None = None) -> None:
        if self.fail_publishing:
            self.fail_publishing -= 1
            raise ConnectionError("simulated crash while publishing")
        self.published.setdefault(queue or "export-events", []).append(event)

    def send_notification(self, message: NotificationMessage, *, delay: timedelta | None = None) -> None:
        self.notifications.append((message, delay))

    def events(self, queue: str = "export-events") -> list[ExportEvent]:
        return self.published.get(queue, [])


@dataclass
class FakeAuditLog:
    rows: dict[tuple[str, str], AuditEntry] = field(default_factory=dict)
    _counter: int = 0

    def append(self, organization_id: str, entry: AuditEntry, *, key: str | None = None) -> None:
        self._counter += 1
        row_key = f"{entry.job_id}_{entry.at.isoformat()}_{entry.action}_{key or self._counter}"
        self.rows.setdefault((organization_id, row_key), entry)

    def list_for_job(self, organization_id: str, job_id: str) -> list[AuditEntry]:
        entries = [e for (org, _), e in self.rows.items() if org == organization_id and e.job_id == job_id]
        return sorted(entries, key=lambda entry: entry.at)


@dataclass
class FakeLimitStore:
    records: dict[tuple[str, str], LimitRecord] = field(default_factory=dict)
    writes: int = 0

    def read(self, organization_id: str, key: str) -> LimitRecord:
        stored = self.records.get((organization_id, key))
        if stored is None:
            return LimitRecord(job_ids=[])
        return LimitRecord(job_ids=list(stored.job_ids), count=stored.count, etag=stored.etag)

    def write(self, organization_id: str, key: str, record: LimitRecord) -> None:
        stored = self.records.get((organization_id, key))
        if (stored.etag if stored else None) != record.etag:
            raise ConcurrencyConflict("limit etag")
        self.writes += 1
        self.records[(organization_id, key)] = LimitRecord(list(record.job_ids), record.count, f"W/{self.writes}")


@dataclass
class FakeWebhookSender:
    """Answers with the given status codes in turn (then 200); an exception instance is raised instead."""

    answers: list[int | OSError] = field(default_factory=list)
    requests: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def post(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
        self.requests.append((url, body, headers))
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, OSError):
            raise answer
        return answer
