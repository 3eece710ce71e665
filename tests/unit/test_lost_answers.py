"""Storage answers that get lost, and work messages that only look right (found by tests/faults)."""

from __future__ import annotations

import pytest

from exports.messages import parse_message
from exports.models import CreateExportRequest, ExportJob, JobStatus, WorkMessage
from shared.auth import Principal
from shared.errors import BadMessage, ConcurrencyConflict
from tests.unit.conftest import ORG_A, World


class AnswerLost:
    """Wraps a job store: every `n`-th replace is stored, then fails as the client's retry would (412)."""

    def __init__(self, world: World, n: int) -> None:
        self.inner = world.jobs
        self.n = n
        self.calls = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def replace(self, job: ExportJob) -> ExportJob:
        stored = self.inner.replace(job)
        self.calls += 1
        if self.calls % self.n == 0:
            raise ConcurrencyConflict("the retried replace failed its ETag check")
        return stored


@pytest.mark.parametrize("n", [1, 2, 3])
def test_a_step_whose_checkpoint_was_saved_but_its_answer_lost_carries_on(
    world: World, analyst: Principal, n: int
) -> None:
    world.load_cases(ORG_A, 2_550)
    world.service.jobs = AnswerLost(world, n)  # type: ignore[assignment]
    job, _ = world.service.create(analyst, CreateExportRequest.model_validate({"format": "CSV"}))

    world.drain()

    done = world.jobs.get(ORG_A, job.job_id)
    assert done is not None and done.status is JobStatus.COMPLETED, done
    assert done.processed_rows == 2_550


@pytest.mark.parametrize(
    "body",
    [
        b'{"v": 1, "orgId": "o", "jobId": "j", "seq": true}',
        b'{"v": 1, "orgId": "o", "jobId": "j", "seq": "1"}',
        b'{"v": 1, "orgId": "o", "jobId": "j", "seq": 1.0}',
        b'{"v": true, "orgId": "o", "jobId": "j", "seq": 1}',
    ],
)
def test_a_work_message_with_a_step_or_version_of_the_wrong_type_is_a_bad_message(body: bytes) -> None:
    with pytest.raises(BadMessage):
        parse_message(body, WorkMessage)
