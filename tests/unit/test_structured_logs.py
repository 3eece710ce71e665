"""Structured logs: one JSON object per line with the job, organization, batch, rows and duration; no secrets
and no exported cell values in any line."""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections.abc import Iterator

import azure.functions as func
import orjson
import pytest

from exports import queue_worker
from exports.engine import ExportBatch
from exports.formats.json_writer import JsonArrayWriter
from exports.models import ColumnSpec, CreateExportRequest
from shared import logging_json
from shared.auth import Principal
from shared.logging_json import FIELDS, JsonFormatter, current_log_context, install_json_logging, log_context
from shared.storage.row_source import _read_ahead
from tests.support.fakes import FakeBlobSink
from tests.unit.conftest import ORG_A, World

log = logging.getLogger("tests.structured_logs")


class Lines:
    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def records(self) -> list[dict[str, object]]:
        return [orjson.loads(line) for line in self.text.splitlines()]


@pytest.fixture
def lines() -> Iterator[Lines]:
    """Every record of the process at DEBUG and up, through the app's formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield Lines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_each_line_is_one_json_object_with_time_level_logger_and_message(lines: Lines) -> None:
    log.info("export %s queued", "job-1", extra={"job_id": "job-1", "rows": 20_000, "duration_ms": 1234})
    log.warning("two\nlines of message")

    assert len(lines.text.splitlines()) == 2
    first, second = lines.records()
    assert first["level"] == "INFO" and first["logger"] == "tests.structured_logs"
    assert first["message"] == "export job-1 queued"
    assert (first["job_id"], first["rows"], first["duration_ms"]) == ("job-1", 20_000, 1234)
    assert str(first["time"]).endswith("+00:00")
    assert second["message"] == "two\nlines of message"


def test_fields_outside_the_known_set_are_never_written(lines: Lines) -> None:
    log.info("a row", extra={"row": ["Zoë Ångström", "secret case notes"], "cells": {"a": 1}, "batch": 3})

    (record,) = lines.records()
    assert record["batch"] == 3
    assert set(record) <= {"time", "level", "logger", "message", *FIELDS}
    assert "Ångström" not in lines.text and "case notes" not in lines.text


def test_the_context_marks_every_line_inside_it_and_none_after(lines: Lines) -> None:
    with log_context(job_id="job-1", organization_id="org-a"):
        log.info("outer")
        with log_context(batch=2):
            log.info("inner")
        log.info("the record's own field wins", extra={"job_id": "job-2"})
        assert current_log_context() == {"job_id": "job-1", "organization_id": "org-a"}
    log.info("after")

    outer, inner, own, after = lines.records()
    assert (outer["job_id"], outer["organization_id"], "batch" in outer) == ("job-1", "org-a", False)
    assert (inner["job_id"], inner["batch"]) == ("job-1", 2)
    assert own["job_id"] == "job-2"
    assert "job_id" not in after and "organization_id" not in after
    assert current_log_context() == {}


def test_the_context_is_restored_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), log_context(job_id="job-1"):
        raise RuntimeError("boom")
    assert current_log_context() == {}


class LoggingSink(FakeBlobSink):
    """Logs from the thread that stages the block, as a storage retry would."""

    def stage(self, blob_name: str, block_id: str, data: bytes) -> None:
        log.warning("staging block %s again", block_id)
        super().stage(blob_name, block_id, data)


def test_a_line_logged_while_staging_a_block_carries_the_invocations_job_organization_and_step(
    lines: Lines,
) -> None:
    batch = ExportBatch(
        blob_name="file.json",
        batch_index=0,
        writer=JsonArrayWriter([ColumnSpec(name="n", label="N", data_type="INTEGER")], {}),
        sink=LoggingSink(),
        build_rows=lambda unit: [[unit["n"]]],
        starts_file=True,
        row_limit=10,
        chunk_rows=5,
        block_size=1,
        out_of_time=lambda: False,
    )
    with log_context(job_id="job-1", organization_id="org-a", step=3):
        batch.run([{"key": f"{n:03d}", "n": n} for n in range(10)])

    staged = [r for r in lines.records() if str(r["message"]).startswith("staging block")]
    assert staged, "the sink logged from the staging thread"
    for record in staged:
        assert (record["job_id"], record["organization_id"], record["step"]) == ("job-1", "org-a", 3)


def test_a_line_logged_while_reading_ahead_carries_the_invocations_job_organization_and_step(lines: Lines) -> None:
    reader = threading.get_ident()
    threads: set[int] = set()

    def pages() -> Iterator[list[dict[str, object]]]:
        for number in range(3):
            threads.add(threading.get_ident())
            log.warning("page %s took a retry", number)
            yield [{"RowKey": str(number)}]

    with log_context(job_id="job-1", organization_id="org-a", step=4):
        assert [page[0]["RowKey"] for page in _read_ahead(pages(), depth=1)] == ["0", "1", "2"]

    assert threads and reader not in threads, "the pages were fetched by the read-ahead thread"
    records = [r for r in lines.records() if str(r["message"]).startswith("page ")]
    assert len(records) == 3
    for record in records:
        assert (record["job_id"], record["organization_id"], record["step"]) == ("job-1", "org-a", 4)


def test_secrets_in_fields_and_messages_are_still_masked(lines: Lines) -> None:
    with log_context(organization_id="org;AccountKey=c2VjcmV0a2V5=="):
        log.info("link https://a.blob.core.windows.net/x/y?sv=1&sig=abcDEF%2B123&se=2", extra={"rows": 1})

    (record,) = lines.records()
    assert record["organization_id"] == "org;AccountKey=***"
    assert "sig=***" in str(record["message"])
    assert "c2VjcmV0a2V5" not in lines.text and "abcDEF" not in lines.text


def test_an_exception_is_one_field_of_the_same_line(lines: Lines) -> None:
    try:
        raise ValueError("bad AccountKey=abc123")
    except ValueError:
        log.exception("step failed", extra={"job_id": "job-1"})

    (record,) = lines.records()
    assert "ValueError" in str(record["exception"]) and "AccountKey=***" in str(record["exception"])
    assert "abc123" not in lines.text


def test_installing_formats_the_root_handlers_and_quiets_the_sdk_request_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging_json, "_installed", False)
    handler = logging.StreamHandler(io.StringIO())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install_json_logging()
        install_json_logging()
        assert isinstance(handler.formatter, JsonFormatter)
        sdk = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
        assert sdk.getEffectiveLevel() == logging.WARNING
    finally:
        root.removeHandler(handler)


# ---- the worker, through its trigger, on in-memory adapters --------------------------------------------------


def run_worker_until_done(world: World, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(queue_worker, "export_service", lambda: world.service)
    steps = 0
    while world.queue.messages:
        message = world.queue.pop()
        body = message.model_dump_json(by_alias=True).encode()
        queue_worker.run_export_step(func.QueueMessage(id=f"m{steps}", body=body))
        steps += 1
    return steps


def cell_values(data: bytes) -> set[str]:
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))
    return {cell for row in rows[1:] for cell in row}


def test_an_export_logs_its_job_batches_rows_and_durations_but_no_cell_value(
    world: World, analyst: Principal, monkeypatch: pytest.MonkeyPatch, lines: Lines
) -> None:
    world.load_cases(ORG_A, 2_100)
    job, _ = world.service.create(analyst, CreateExportRequest.model_validate({"format": "CSV"}))
    steps = run_worker_until_done(world, monkeypatch)

    assert steps == 3  # counting with the first batch, then two more batches
    records = lines.records()
    worker = [r for r in records if str(r["logger"]).startswith("exports.")]
    assert worker and all(r["job_id"] == job.job_id and r["organization_id"] == ORG_A for r in worker)
    batches = [r for r in worker if "batch" in r]
    assert [(r["batch"], r["rows"]) for r in batches] == [(0, 1_000), (1, 1_000), (2, 100)]
    assert all(isinstance(r["duration_ms"], int) and isinstance(r["step"], int) for r in batches)
    (completed,) = [r for r in worker if "completed" in str(r["message"])]
    assert completed["rows"] == 2_100 and completed["bytes"] == len(world.sink.blobs[job.blob_name])

    # Cell values with text in them: names, free text, places, categories. Numbers and short tokens ("NA") would
    # match the log's own counts and words.
    cells = {
        value
        for value in cell_values(world.sink.blobs[job.blob_name])
        if len(value) >= 4 and any(ch.isalpha() for ch in value)
    }
    assert {"Zoë Ångström", "München HQ", "Near miss\nreported twice"} & cells, "the file holds the planted values"
    text = lines.text
    leaked = sorted(value for value in cells if value in text or orjson.dumps(value).decode()[1:-1] in text)
    assert leaked == []
