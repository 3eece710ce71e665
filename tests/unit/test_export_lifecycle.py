"""The job lifecycle through the service, on in-memory adapters."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import openpyxl
import orjson
import pytest

from exports.models import (
    WARNING_SAMPLES,
    CellWarning,
    CreateExportRequest,
    ExportJob,
    JobStage,
    JobStatus,
    WorkMessage,
)
from shared.auth import Principal
from shared.errors import BadMessage, Conflict, Forbidden, Gone, NotFound, ValidationFailed
from tests.unit.conftest import ORG_A, World, make_world


def csv_request(**fields: object) -> CreateExportRequest:
    return CreateExportRequest.model_validate({"format": "CSV", **fields})


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "CSV starts with a UTF-8 byte-order mark"
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def test_an_export_runs_in_several_batches_and_holds_every_row_once(world: World, analyst: Principal) -> None:
    entities = world.load_cases(ORG_A, 2_550)
    job, created = world.service.create(analyst, csv_request())
    assert created and job.status is JobStatus.QUEUED

    steps = world.drain()

    view = world.service.get(analyst, job.job_id)
    assert view.status is JobStatus.COMPLETED and view.progress == 100
    assert view.total_rows == view.processed_rows == 2_550
    assert steps == 3  # counting with the first batch of at most 1,000 rows, then two more batches
    rows = read_csv(world.sink.blobs[job.blob_name])
    assert rows[0][:3] == ["case_id", "case_number", "case_status"]
    assert [row[0] for row in rows[1:]] == [entity["CaseId"] for entity in entities]
    assert view.download_url is not None and view.expires_at == world.clock.now() + timedelta(days=7)


def test_the_file_is_committed_as_a_named_csv_attachment(world: World, analyst: Principal) -> None:
    world.load_cases(ORG_A, 10)
    job, _ = world.service.create(analyst, csv_request())
    world.drain()
    properties = world.sink.properties[job.blob_name]
    assert properties["content_type"] == "text/csv; charset=utf-8"
    assert properties["content_disposition"] is not None
    assert properties["content_disposition"].startswith('attachment; filename="cases-flat_file-20260301-120000.csv"')


def test_an_export_of_no_rows_completes_with_just_the_header(world: World, analyst: Principal) -> None:
    job, _ = world.service.create(analyst, csv_request())
    world.drain()
    assert world.service.get(analyst, job.job_id).total_rows == 0
    assert len(read_csv(world.sink.blobs[job.blob_name])) == 1


def test_filters_select_rows_by_status_and_date(world: World, analyst: Principal) -> None:
    entities = world.load_cases(ORG_A, 500)
    request = csv_request(statuses=["CLOSED", "OPEN"], dateRange={"start": "2024-01-01", "end": "2024-12-31"})
    job, _ = world.service.create(analyst, request)
    world.drain()
    expected = [e["CaseId"] for e in entities if e["Status"] in ("CLOSED", "OPEN") and e["CreatedAt"].year == 2024]
    assert expected, "the synthetic data has matching rows"
    assert [row[0] for row in read_csv(world.sink.blobs[job.blob_name])[1:]] == expected


def test_a_redelivered_message_leaves_the_file_unchanged(analyst: Principal) -> None:
    undisturbed = make_world()
    undisturbed.load_cases(ORG_A, 1_500)
    job, _ = undisturbed.service.create(analyst, csv_request())
    undisturbed.drain()
    expected = undisturbed.sink.blobs[job.blob_name]

    world = make_world()
    world.load_cases(ORG_A, 1_500)
    job, _ = world.service.create(analyst, csv_request())
    while world.queue.messages:
        message = world.queue.messages[0]
        world.step()
        world.service.run_step(message)  # the same message, delivered a second time
    assert world.sink.blobs[job.blob_name] == expected


def test_a_batch_that_crashed_after_staging_is_redone_to_the_same_bytes(analyst: Principal) -> None:
    undisturbed = make_world(block_size_bytes=64 * 1024)
    undisturbed.load_cases(ORG_A, 3_000)
    job, _ = undisturbed.service.create(analyst, csv_request())
    undisturbed.drain()
    expected = undisturbed.sink.blobs[job.blob_name]

    world = make_world(block_size_bytes=64 * 1024)
    world.load_cases(ORG_A, 3_000)
    job, _ = world.service.create(analyst, csv_request())
    world.step()  # counting
    world.sink.fail_after_stages = 3
    message = world.queue.messages[0]
    with pytest.raises(ConnectionError):
        world.step()
    world.service.run_step(message)  # the host re-delivers it
    world.drain()
    assert world.sink.blobs[job.blob_name] == expected


def test_a_stale_message_redrives_a_job_only_once_it_stopped_moving(world: World, analyst: Principal) -> None:
    world.load_cases(ORG_A, 3_000)
    job, _ = world.service.create(analyst, csv_request())
    world.step()  # counting, and the first batch in the same invocation
    second_batch = world.queue.messages[0]
    world.step()
    world.queue.messages.clear()  # the next message was lost after the checkpoint
    world.service.run_step(second_batch)
    assert world.queue.messages == [], "a fresh job is left alone"
    world.clock.advance(timedelta(minutes=5))
    world.service.run_step(second_batch)
    assert [m.seq for m in world.queue.messages] == [3]
    world.drain()
    assert world.service.get(analyst, job.job_id).status is JobStatus.COMPLETED


def test_the_timer_redrives_a_job_whose_message_was_lost(world: World, analyst: Principal) -> None:
    world.load_cases(ORG_A, 100)
    job, _ = world.service.create(analyst, csv_request())
    world.queue.messages.clear()
    world.clock.advance(timedelta(minutes=20))
    assert world.service.redrive_stalled() == 1
    world.drain()
    assert world.service.get(analyst, job.job_id).status is JobStatus.COMPLETED


def test_a_job_that_never_moves_fails_after_the_redrive_limit(world: World, analyst: Principal) -> None:
    job, _ = world.service.create(analyst, csv_request())
    for _ in range(3):
        world.queue.messages.clear()
        world.clock.advance(timedelta(minutes=20))
        world.service.redrive_stalled()
    world.clock.advance(timedelta(minutes=20))
    world.service.redrive_stalled()
    view = world.service.get(analyst, job.job_id)
    assert view.status is JobStatus.FAILED
    assert view.error_message is not None and "stopped making progress" in view.error_message


def test_cancelling_stops_the_export_at_the_next_batch_and_keeps_no_file(world: World, analyst: Principal) -> None:
    world.load_cases(ORG_A, 3_000)
    job, _ = world.service.create(analyst, csv_request())
    world.step()
    world.step()
    assert world.service.cancel(analyst, job.job_id).status is JobStatus.CANCELLED
    world.drain()
    assert job.blob_name not in world.sink.blobs and job.blob_name not in world.sink.staged
    with pytest.raises(Conflict):
        world.service.download_link(analyst, job.job_id)


def test_cancelling_twice_is_harmless_but_a_completed_job_cannot_be_cancelled(world: World, analyst: Principal) -> None:
    first, _ = world.service.create(analyst, csv_request())
    world.service.cancel(analyst, first.job_id)
    assert world.service.cancel(analyst, first.job_id).status is JobStatus.CANCELLED
    done, _ = world.service.create(analyst, csv_request())
    world.drain()
    with pytest.raises(Conflict, match="already completed"):
        world.service.cancel(analyst, done.job_id)


def test_a_cancel_that_lands_during_finalizing_still_wins(world: World, analyst: Principal) -> None:
    world.load_cases(ORG_A, 50)
    job, _ = world.service.create(analyst, csv_request())
    original_commit = world.sink.commit

    def commit_then_cancel(*args: object, **kwargs: object) -> int:
        size = original_commit(*args, **kwargs)  # type: ignore[arg-type]
        world.service.cancel(analyst, job.job_id)
        return size

    world.sink.commit = commit_then_cancel  # type: ignore[method-assign]
    world.drain()
    assert world.service.get(analyst, job.job_id).status is JobStatus.CANCELLED
    assert job.blob_name not in world.sink.blobs


def break_cases(world: World, entities: list[dict[str, Any]], positions: list[int]) -> list[str]:
    """Source records whose creation time holds text instead of a time; returns their keys."""
    broken = [dict(entities[position], CreatedAt=f"last tuesday #{position}") for position in positions]
    world.source.add("cases", broken)
    return [str(entity["RowKey"]) for entity in broken]


def test_a_value_of_the_wrong_type_is_exported_as_its_text_and_the_job_completes_with_a_warning(
    world: World, analyst: Principal
) -> None:
    entities = world.load_cases(ORG_A, 20)
    (key,) = break_cases(world, entities, [7])
    job, _ = world.service.create(analyst, csv_request())
    world.drain()

    view = world.service.get(analyst, job.job_id)
    assert view.status is JobStatus.COMPLETED and view.error_message is None
    rows = read_csv(world.sink.blobs[job.blob_name])
    created = rows[0].index("case_created_at")
    assert rows[8][created] == "last tuesday #7"
    assert rows[9][created] == entities[8]["CreatedAt"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert view.warnings == 1
    assert view.warning_samples == [
        CellWarning(record=key, column="case_created_at", found="text", expected="datetime")
    ]
    (event,) = world.events.events()
    assert event.status is JobStatus.COMPLETED
    assert (event.warnings, event.warning_samples) == (1, view.warning_samples)
    body = orjson.loads(event.body())
    assert body["warnings"] == 1
    assert body["warningSamples"] == [
        {"record": key, "column": "case_created_at", "found": "text", "expected": "datetime"}
    ]


@pytest.mark.parametrize("fmt", ["XLSX", "JSON", "JSONL"])
def test_every_format_writes_the_text_of_a_wrong_typed_value(world: World, analyst: Principal, fmt: str) -> None:
    entities = world.load_cases(ORG_A, 5)
    break_cases(world, entities, [2])
    job, _ = world.service.create(analyst, csv_request(format=fmt, exportType="CASES_ONLY"))
    world.drain()
    assert world.service.get(analyst, job.job_id).warnings == 1
    data = world.sink.blobs[job.blob_name]
    if fmt == "XLSX":
        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True)["Sheet1"]
        rows = list(sheet.iter_rows(values_only=True))
        created = rows[0].index("Created At")
        assert rows[3][created] == "last tuesday #2"
        assert isinstance(rows[4][created], datetime)
    else:
        lines = data.decode().strip().strip("[]").splitlines() if fmt == "JSON" else data.decode().splitlines()
        objects = [orjson.loads(line.rstrip(",")) for line in lines if line.strip()]
        assert objects[2]["case_created_at"] == "last tuesday #2"
        assert objects[3]["case_created_at"].endswith("Z")


def test_warnings_are_counted_once_when_a_batch_runs_again(analyst: Principal) -> None:
    world = make_world(block_size_bytes=64 * 1024)
    entities = world.load_cases(ORG_A, 3_000)
    keys = break_cases(world, entities, [5, 1_200, 1_201, 2_999])
    job, _ = world.service.create(analyst, csv_request())
    world.step()  # counting and the first batch: one warning
    second_batch = world.queue.messages[0]
    save = world.jobs.replace

    def crash_when_saving(saved: ExportJob) -> ExportJob:
        world.jobs.replace = save  # type: ignore[method-assign]
        assert saved.checkpoint.warnings == 3, "the batch built its rows before it crashed"
        raise ConnectionError("the worker died before its checkpoint was saved")

    world.jobs.replace = crash_when_saving  # type: ignore[method-assign,assignment]
    with pytest.raises(ConnectionError):
        world.step()  # the second batch wrote its rows (two warnings), then crashed before saving its step
    world.service.run_step(second_batch)  # the host re-delivers it
    world.service.run_step(second_batch)  # and once more: a duplicate of a step already saved
    world.drain()

    view = world.service.get(analyst, job.job_id)
    assert view.status is JobStatus.COMPLETED and view.total_rows == 3_000
    assert view.warnings == 4
    assert [sample.record for sample in view.warning_samples] == keys
    (event,) = world.events.events()
    assert event.warnings == 4


def test_only_the_first_warnings_are_kept_with_the_count_of_all(world: World, analyst: Principal) -> None:
    entities = world.load_cases(ORG_A, 2_500)
    keys = break_cases(world, entities, list(range(0, 2_500, 100)))
    job, _ = world.service.create(analyst, csv_request())
    world.drain()
    view = world.service.get(analyst, job.job_id)
    assert view.status is JobStatus.COMPLETED and view.warnings == 25
    assert [sample.record for sample in view.warning_samples] == keys[:WARNING_SAMPLES]


def test_a_broken_ticket_is_exported_as_text_also_when_the_view_sorts_by_that_column(
    world: World, analyst: Principal
) -> None:
    entities = world.load_tickets(ORG_A, 6)
    world.source.add("tickets", [dict(entities[3], CreatedAt="not a date")])
    agent = Principal(ORG_A, "agent-1", "Agent", frozenset({"import_export_tickets"}))
    for direction in ("asc", "desc"):
        request = CreateExportRequest.model_validate(
            {"dataset": "tickets", "format": "CSV", "sortField": "created_at", "sortDirection": direction,
             "columns": ["ticket_number", "created_at"]}
        )
        job, _ = world.service.create(agent, request)
        world.drain()
        view = world.service.get(agent, job.job_id)
        assert view.status is JobStatus.COMPLETED and view.warnings == 1
        rows = read_csv(world.sink.blobs[job.blob_name])[1:]
        # Text in a date column cannot be ordered among the dates: it comes after them, either way.
        assert rows[-1] == [str(entities[3]["Number"]), "not a date"]
        dates = [row[1] for row in rows[:-1]]
        assert dates == sorted(dates, reverse=direction == "desc")


def test_a_storage_error_is_retried_then_fails_the_job_on_the_last_attempt(world: World, analyst: Principal) -> None:
    world.load_cases(ORG_A, 10)
    job, _ = world.service.create(analyst, csv_request())
    world.sink.fail_after_stages = 1
    world.step()  # counting; the first batch, chained to it, fails and is queued as a step of its own
    message = world.queue.pop()
    assert message.seq == 1 and world.service.get(analyst, job.job_id).status is JobStatus.RUNNING
    world.sink.fail_after_stages = 1
    with pytest.raises(ConnectionError):
        world.service.run_step(message, attempt=1)
    world.sink.fail_after_stages = 1
    world.service.run_step(message, attempt=5)
    view = world.service.get(analyst, job.job_id)
    assert view.status is JobStatus.FAILED
    assert view.error_message is not None and "after 5 attempts (ConnectionError)" in view.error_message


def test_a_work_message_for_an_unknown_job_is_a_bad_message(world: World) -> None:
    with pytest.raises(BadMessage, match="does not exist"):
        world.service.run_step(WorkMessage(org_id=ORG_A, job_id="nope", seq=0))


def test_the_same_idempotency_key_returns_the_same_job(world: World, analyst: Principal) -> None:
    first, created = world.service.create(analyst, csv_request(), idempotency_key="abc")
    again, created_again = world.service.create(analyst, csv_request(), idempotency_key="abc")
    assert created and not created_again and again.job_id == first.job_id
    assert len(world.queue.messages) == 1
    with pytest.raises(ValidationFailed, match="different export request"):
        world.service.create(analyst, csv_request(statuses=["OPEN"]), idempotency_key="abc")


def test_an_idempotency_key_is_scoped_to_its_user(world: World, analyst: Principal, colleague: Principal) -> None:
    mine, _ = world.service.create(analyst, csv_request(), idempotency_key="abc")
    theirs, created = world.service.create(colleague, csv_request(), idempotency_key="abc")
    assert created and theirs.job_id != mine.job_id


def test_exporting_cases_needs_the_access_reports_permission(world: World) -> None:
    nobody = Principal(ORG_A, "user-9", "No Body", frozenset())
    with pytest.raises(Forbidden, match="access_reports"):
        world.service.create(nobody, csv_request())


def test_other_users_and_organizations_see_a_job_as_missing(
    world: World, analyst: Principal, colleague: Principal, outsider: Principal, admin: Principal
) -> None:
    job, _ = world.service.create(analyst, csv_request())
    for stranger in (colleague, outsider):
        with pytest.raises(NotFound):
            world.service.get(stranger, job.job_id)
        with pytest.raises(NotFound):
            world.service.cancel(stranger, job.job_id)
        with pytest.raises(NotFound):
            world.service.download_link(stranger, job.job_id)
    assert world.service.get(admin, job.job_id).job_id == job.job_id


def test_listing_shows_own_jobs_newest_first_and_the_organization_to_admins(
    world: World, analyst: Principal, colleague: Principal, admin: Principal
) -> None:
    ids = []
    for _ in range(3):
        ids.append(world.service.create(analyst, csv_request())[0].job_id)
        world.clock.advance(timedelta(seconds=1))
    world.service.create(colleague, csv_request())
    page = world.service.list(analyst, status=None, page_size=2, continuation_token=None, whole_organization=False)
    assert [item.job_id for item in page.items] == [ids[2], ids[1]] and page.continuation_token
    rest = world.service.list(
        analyst, status=None, page_size=2, continuation_token=page.continuation_token, whole_organization=False
    )
    assert [item.job_id for item in rest.items] == [ids[0]] and rest.continuation_token is None
    everyone = world.service.list(admin, status=None, page_size=10, continuation_token=None, whole_organization=True)
    assert len(everyone.items) == 4
    with pytest.raises(Forbidden):
        world.service.list(analyst, status=None, page_size=10, continuation_token=None, whole_organization=True)


def test_download_is_refused_until_completed_and_gone_after_expiry(world: World, analyst: Principal) -> None:
    world.load_cases(ORG_A, 10)
    job, _ = world.service.create(analyst, csv_request())
    with pytest.raises(Conflict, match="queued"):
        world.service.download_link(analyst, job.job_id)
    world.drain()
    assert world.service.download_link(analyst, job.job_id).startswith("https://blobs.example/")
    assert world.signer.signed[-1][1] == timedelta(minutes=15)
    world.clock.advance(timedelta(days=7, seconds=1))
    with pytest.raises(Gone):
        world.service.download_link(analyst, job.job_id)


def ticket_request(**fields: object) -> CreateExportRequest:
    return CreateExportRequest.model_validate({"dataset": "tickets", "format": "CSV", **fields})


AGENT = Principal(ORG_A, "agent-1", "Agent", frozenset({"import_export_tickets"}))


def test_case_exports_are_kept_7_days_and_ticket_exports_72_hours(world: World, analyst: Principal) -> None:
    world.load_cases(ORG_A, 10)
    world.load_tickets(ORG_A, 10)
    case_job, _ = world.service.create(analyst, csv_request())
    ticket_job, _ = world.service.create(AGENT, ticket_request())
    world.drain()
    ended = world.clock.now()
    assert world.service.get(analyst, case_job.job_id).expires_at == ended + timedelta(days=7)
    assert world.service.get(AGENT, ticket_job.job_id).expires_at == ended + timedelta(hours=72)

    world.clock.advance(timedelta(hours=72, seconds=1))
    with pytest.raises(Gone):
        world.service.download_link(AGENT, ticket_job.job_id)
    world.service.download_link(analyst, case_job.job_id)
    assert world.service.clean_up() == 1
    assert ticket_job.blob_name not in world.sink.blobs and case_job.blob_name in world.sink.blobs


def test_retention_is_a_setting_per_dataset_and_applies_to_every_way_a_job_ends(analyst: Principal) -> None:
    world = make_world(case_expiry_hours=24, ticket_expiry_hours=2)
    world.load_tickets(ORG_A, 10)
    completed, _ = world.service.create(analyst, csv_request())
    done_tickets, _ = world.service.create(AGENT, ticket_request())
    world.drain()
    cancelled, _ = world.service.create(AGENT, ticket_request())
    world.service.cancel(AGENT, cancelled.job_id)
    failed, _ = world.service.create(analyst, csv_request())
    world.service.reject_work_message(
        f'{{"v": 9, "orgId": "{ORG_A}", "jobId": "{failed.job_id}", "seq": 0}}'.encode(), "unreadable", attempt=5
    )
    now = world.clock.now()
    expiry = {job.job_id: world.jobs.get(ORG_A, job.job_id).expires_at  # type: ignore[union-attr]
              for job in (completed, done_tickets, cancelled, failed)}
    assert expiry == {
        completed.job_id: now + timedelta(hours=24),
        done_tickets.job_id: now + timedelta(hours=2),
        cancelled.job_id: now + timedelta(hours=2),
        failed.job_id: now + timedelta(hours=24),
    }


def test_a_job_waiting_to_start_shows_stage_queued(analyst: Principal) -> None:
    world = make_world(max_running_per_org=1)
    world.load_cases(ORG_A, 2_500)
    first, _ = world.service.create(analyst, csv_request())
    second, created = world.service.create(analyst, csv_request())
    assert created and second.stage is JobStage.QUEUED
    assert world.service.get(analyst, second.job_id).stage is JobStage.QUEUED

    world.step()  # the first job starts
    world.step()  # the second is held by the running cap and its message comes back later
    assert world.service.get(analyst, first.job_id).stage is JobStage.EXPORTING
    held = world.service.get(analyst, second.job_id)
    assert (held.status, held.stage) == (JobStatus.QUEUED, JobStage.QUEUED)
    listed = world.service.list(analyst, status=JobStatus.QUEUED, page_size=10, continuation_token=None,
                                whole_organization=False)
    assert [(item.job_id, item.stage) for item in listed.items] == [(second.job_id, JobStage.QUEUED)]

    world.queue.messages = [m for m in world.queue.messages if m.job_id != second.job_id]  # its message was lost
    world.clock.advance(timedelta(minutes=20))
    world.service.redrive_stalled()  # re-queued by the timer
    assert world.service.get(analyst, second.job_id).stage is JobStage.QUEUED
    world.drain()
    assert world.service.get(analyst, second.job_id).status is JobStatus.COMPLETED


def test_a_queued_job_recorded_without_a_stage_shows_stage_queued(world: World, analyst: Principal) -> None:
    job, _ = world.service.create(analyst, csv_request())
    stored = world.jobs.jobs[(ORG_A, job.job_id)]
    stored.stage = None  # as jobs were recorded before queued jobs had a stage
    assert world.service.get(analyst, job.job_id).stage is JobStage.QUEUED
    world.drain()
    assert world.service.get(analyst, job.job_id).stage is None  # completed: no stage


def test_a_link_never_outlives_the_file(world: World, analyst: Principal) -> None:
    world.load_cases(ORG_A, 10)
    job, _ = world.service.create(analyst, csv_request())
    world.drain()
    world.clock.advance(timedelta(days=7) - timedelta(minutes=5))
    world.service.download_link(analyst, job.job_id)
    assert world.signer.signed[-1][1] == timedelta(minutes=5)


def test_clean_up_deletes_expired_files_once_and_marks_jobs(world: World, analyst: Principal) -> None:
    world.load_cases(ORG_A, 10)
    job, _ = world.service.create(analyst, csv_request())
    world.drain()
    assert world.service.clean_up() == 0
    world.clock.advance(timedelta(days=8))
    assert world.service.clean_up() == 1
    assert world.service.clean_up() == 0
    assert job.blob_name not in world.sink.blobs
    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and stored.is_cleaned_up and stored.cleaned_up_at == world.clock.now()
    with pytest.raises(Gone):
        world.service.download_link(analyst, job.job_id)


def test_progress_and_stage_are_reported_while_running(world: World, analyst: Principal) -> None:
    world.load_cases(ORG_A, 2_000)
    job, _ = world.service.create(analyst, csv_request())
    assert world.service.get(analyst, job.job_id).status is JobStatus.QUEUED
    world.step()  # counting, then the first batch in the same invocation
    view = world.service.get(analyst, job.job_id)
    assert (view.status, view.stage, view.total_rows, view.processed_rows, view.progress) == (
        JobStatus.RUNNING,
        JobStage.EXPORTING,
        2_000,
        1_000,
        50,
    )


def test_an_unreadable_work_message_fails_the_job_it_names_on_its_last_attempt(
    world: World, analyst: Principal
) -> None:
    job, _ = world.service.create(analyst, csv_request())
    body = f'{{"v": 9, "orgId": "{ORG_A}", "jobId": "{job.job_id}", "seq": 0}}'.encode()
    world.service.reject_work_message(body, "unknown schema version 9", attempt=4)
    assert world.service.get(analyst, job.job_id).status is JobStatus.QUEUED
    world.service.reject_work_message(body, "unknown schema version 9", attempt=5)
    view = world.service.get(analyst, job.job_id)
    assert view.status is JobStatus.FAILED
    assert view.error_message == (
        "The export stopped: one of its work messages could not be read (unknown schema version 9)."
    )


def test_an_unreadable_work_message_never_touches_another_organizations_job(world: World, analyst: Principal) -> None:
    job, _ = world.service.create(analyst, csv_request())
    body = f'{{"v": 9, "orgId": "org-b", "jobId": "{job.job_id}", "seq": 0}}'.encode()
    world.service.reject_work_message(body, "unknown schema version 9", attempt=5)
    assert world.service.get(analyst, job.job_id).status is JobStatus.QUEUED
