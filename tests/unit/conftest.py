from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from exports.composition import build_service
from exports.models import WorkMessage
from exports.ports import FixedClock
from exports.service import ExportService
from shared.auth import ACCESS_REPORTS, MANAGE_SYSTEM_SETTINGS, Principal
from shared.settings import Settings
from tests.support.fakes import (
    FakeBlobSink,
    FakeIdempotencyStore,
    FakeJobStore,
    FakeLinkSigner,
    FakeRowSource,
    FakeRunStore,
    FakeTagStore,
    FakeWorkQueue,
)
from tests.support.lifecycle_fakes import FakeAuditLog, FakeEventQueues, FakeLimitStore, FakeWebhookSender
from tools.synthetic_cases import synthetic_case_records, synthetic_cases
from tools.synthetic_tickets import synthetic_tickets

ORG_A = "org-a"
ORG_B = "org-b"


@dataclass
class World:
    service: ExportService
    jobs: FakeJobStore
    queue: FakeWorkQueue
    source: FakeRowSource
    sink: FakeBlobSink
    signer: FakeLinkSigner
    clock: FixedClock
    tags: FakeTagStore
    runs: FakeRunStore
    events: FakeEventQueues = field(default_factory=FakeEventQueues)
    audit: FakeAuditLog = field(default_factory=FakeAuditLog)
    limits: FakeLimitStore = field(default_factory=FakeLimitStore)
    webhooks: FakeWebhookSender = field(default_factory=FakeWebhookSender)

    def load_cases(self, organization_id: str, count: int, **kwargs: Any) -> list[dict[str, Any]]:
        entities = list(synthetic_cases(organization_id, count, **kwargs))
        self.source.add("cases", entities)
        self.source.add("caserecords", [record for case in entities for record in synthetic_case_records(case)])
        return entities

    def load_tickets(self, organization_id: str, count: int, **kwargs: Any) -> list[dict[str, Any]]:
        entities = list(synthetic_tickets(organization_id, count, **kwargs))
        self.source.add("tickets", entities)
        return entities

    def drain(self, *, limit: int = 10_000) -> int:
        """Runs queued work messages until none are left; returns how many ran."""
        ran = 0
        while self.queue.messages and ran < limit:
            self.service.run_step(self.queue.pop())
            ran += 1
        return ran

    def step(self) -> WorkMessage:
        message = self.queue.pop()
        self.service.run_step(message)
        return message

    def drain_shuffled_twice(self, seed: int) -> set[tuple[int, int | None]]:
        """Runs every work message in a shuffled order, each delivered twice; returns the steps delivered."""
        order = random.Random(seed)
        delivered: set[tuple[int, int | None]] = set()
        while self.queue.messages:
            order.shuffle(self.queue.messages)
            message = self.queue.messages[0]
            if (message.seq, message.shard) not in delivered:
                delivered.add((message.seq, message.shard))
                self.queue.messages.append(message)  # every message is delivered twice
            self.step()
        return delivered


def make_world(**overrides: Any) -> World:
    settings = Settings(
        storage_connection_string="UseDevelopmentStorage=true",
        **{"rows_per_batch": 1_000, "chunk_rows": 100, "block_size_bytes": 64 * 1024, **overrides},
    )
    clock = FixedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    world = World(
        service=None,  # type: ignore[arg-type]
        jobs=FakeJobStore(),
        queue=FakeWorkQueue(),
        source=FakeRowSource(),
        sink=FakeBlobSink(),
        signer=FakeLinkSigner(),
        clock=clock,
        tags=FakeTagStore(),
        runs=FakeRunStore(),
    )
    world.service = build_service(
        settings,
        jobs=world.jobs,
        idempotency=FakeIdempotencyStore(),
        work=world.queue,
        source=world.source,
        sink=world.sink,
        signer=world.signer,
        tags=world.tags,
        runs=world.runs,
        events=world.events,
        audit=world.audit,
        limits=world.limits,
        webhooks=world.webhooks,
        clock=clock,
        monotonic=lambda: 0.0,
    )
    return world


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
def analyst() -> Principal:
    return Principal(ORG_A, "user-1", "Ana Lyst", frozenset({ACCESS_REPORTS}))


@pytest.fixture
def colleague() -> Principal:
    return Principal(ORG_A, "user-2", "Col League", frozenset({ACCESS_REPORTS}))


@pytest.fixture
def admin() -> Principal:
    return Principal(ORG_A, "admin-1", "Ad Min", frozenset({ACCESS_REPORTS, MANAGE_SYSTEM_SETTINGS}))


@pytest.fixture
def outsider() -> Principal:
    return Principal(ORG_B, "user-1", "Out Sider", frozenset({ACCESS_REPORTS, MANAGE_SYSTEM_SETTINGS}))
