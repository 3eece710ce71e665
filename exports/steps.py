"""The worker's decision, without I/O: given a job as stored and one work message, what happens next.

The worker (exports/service.py) reads the job, asks `next_step`, and carries the answer out; every
rule about stale, duplicated, early or re-driving messages lives here and is tested directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from exports.models import ExportJob, JobStage, JobStatus, WorkMessage


class Action(StrEnum):
    MISSING = "missing"  # the message names no job: a bad message
    ENDED = "ended"  # the job is final: tidy up after a cancel, finish an owed publication
    AHEAD = "ahead"  # a message for a step the job has not reached: dropped, with a warning
    STALE = "stale"  # a copy of a step already done, while the job still moves: dropped
    REDRIVE = "redrive"  # a copy of a step already done, and the job stopped moving: go on from its checkpoint
    NO_SUCH_SHARD = "no_such_shard"  # a shard beyond the job's shards: a bad message
    STALE_SHARD = "stale_shard"  # a shard message the shard is past (or the job went on from shards)
    REDRIVE_SHARD = "redrive_shard"  # a stale shard message, and the job stopped moving: re-send the shard
    SHARD_BATCH = "shard_batch"  # one batch of one shard
    START = "start"  # a queued job: take a running slot, then start counting
    COUNT = "count"
    SEND_SHARDS = "send_shards"  # a job-level message for a sharded export (a re-drive): every unfinished shard
    EXPORT_BATCH = "export_batch"
    FINALIZE = "finalize"
    NOTHING = "nothing"


@dataclass(frozen=True)
class Step:
    action: Action
    # ENDED: whether the cancelled job's files are discarded and whether its event is still owed.
    discard_files: bool = False
    publish: bool = False


def next_step(job: ExportJob | None, message: WorkMessage, *, now: datetime, redrive_after_seconds: float) -> Step:
    if job is None:
        return Step(Action.MISSING)
    if job.status.is_final:
        return Step(Action.ENDED, discard_files=job.status is JobStatus.CANCELLED, publish=job.event_pending)
    idle = (now - job.updated_at).total_seconds() >= redrive_after_seconds
    if message.shard is not None:
        return _shard_step(job, message.shard, message.seq, idle=idle)
    if message.seq > job.checkpoint.seq:
        return Step(Action.AHEAD)
    if message.seq < job.checkpoint.seq:
        return Step(Action.REDRIVE if idle else Action.STALE)
    if job.status is JobStatus.QUEUED:
        return Step(Action.START)
    return Step(stage_action(job))


def stage_action(job: ExportJob) -> Action:
    """What a running job's current step does, by its stage."""
    if job.stage is JobStage.COUNTING:
        return Action.COUNT
    if job.stage is JobStage.EXPORTING and job.checkpoint.shards:
        return Action.SEND_SHARDS
    if job.stage is JobStage.EXPORTING:
        return Action.EXPORT_BATCH
    if job.stage is JobStage.FINALIZING:
        return Action.FINALIZE
    return Action.NOTHING


def _shard_step(job: ExportJob, index: int, seq: int, *, idle: bool) -> Step:
    shards = job.checkpoint.shards
    if index >= len(shards):
        if index < job.checkpoint.shards_dropped:
            return Step(Action.STALE_SHARD)  # the export went on as one chain
        # Shards are only ever added, once, when counting ends: no real message names one beyond them.
        return Step(Action.NO_SUCH_SHARD)
    if job.stage is not JobStage.EXPORTING:
        return Step(Action.STALE_SHARD)  # the job went on to finalizing: a stale copy
    shard = shards[index]
    if shard.done or seq > shard.seq:
        return Step(Action.STALE_SHARD)
    if seq < shard.seq:
        # As for whole jobs: if the job stopped moving, the shard's next message was lost (a worker died
        # between saving and sending), so this copy re-drives the shard.
        return Step(Action.REDRIVE_SHARD if idle else Action.STALE_SHARD)
    return Step(Action.SHARD_BATCH)
