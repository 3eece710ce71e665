"""Queue messages: work steps, requests from other systems, webhook notifications."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    Field,
)

from exports.models.base import CamelModel
from exports.models.job import MAX_SHARDS
from exports.models.request import CreateExportRequest


class WorkMessage(CamelModel):
    """One step of one job on the work queue. `seq` makes re-deliveries and stale copies harmless."""

    v: Literal[1] = 1
    org_id: str = Field(min_length=1, max_length=128)
    job_id: str = Field(min_length=1, max_length=100)
    seq: int = Field(ge=0, strict=True)  # a step number: not "1", 1.0 or true
    # Set on the messages of one shard of a sharded export; `seq` is then that shard's step number.
    shard: int | None = Field(default=None, ge=0, le=MAX_SHARDS - 1, strict=True)


# What identifies a queued request: a message that has these can be answered, one that lacks them cannot.
QueueOrganizationId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^/\\#?']+$")]
QueueRequestId = Annotated[str, Field(min_length=1, max_length=100)]
QueueUserId = Annotated[str, Field(min_length=1, max_length=128)]
# Queue names: 3-63 lower-case letters, digits and single inner hyphens.
QueueName = Annotated[str, Field(min_length=3, max_length=63, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]


class Requester(CamelModel):
    user_id: QueueUserId
    name: str = Field(default="", max_length=200)
    roles: list[str] = Field(default_factory=list, max_length=50)


class ExportRequestMessage(CamelModel):
    """An export requested by another system through the request queue."""

    v: Literal[1] = 1
    org_id: QueueOrganizationId
    request_id: QueueRequestId
    requested_by: Requester
    request: CreateExportRequest
    # Another system's own queue for the completion event (in this storage account).
    reply_queue: QueueName | None = None


class NotificationMessage(CamelModel):
    """One webhook delivery attempt to make, on the notifications queue."""

    v: Literal[1] = 1
    org_id: str = Field(min_length=1, max_length=128)
    job_id: str = Field(min_length=1, max_length=100)
    event_id: str = Field(min_length=1, max_length=100)
    attempt: int = Field(ge=1, le=100, strict=True)
    first_attempt_at: AwareDatetime
