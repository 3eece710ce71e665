"""A sorted ticket export sorts in runs cut by bytes, holding a sort key and a row's few properties per ticket.

The order is the rule `SortKey` states (nulls last either way, values of the wrong type after the others,
text by collation key, then case, then exactly, ties by record id); its bytes encoding must compare exactly
as it does, and the file must not depend on how the runs were cut or where a merge was resumed.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exports.datasets.columns import DataType
from exports.datasets.tickets import SortKey, TicketPlan, encode_entity, sort_key_bytes
from exports.models import CreateExportRequest, JobStage, JobStatus
from exports.ports import KEY
from exports.sorting import MERGE_BUFFER_BYTES, MIN_READ_SIZE, READ_SIZE, merge, read_size_for, run_name, write_run
from shared.auth import IMPORT_EXPORT_TICKETS, Principal
from tests.support.fakes import FakeRunStore
from tests.unit.conftest import ORG_A, World, make_world

AGENT = Principal(ORG_A, "agent-1", "Agent", frozenset({IMPORT_EXPORT_TICKETS}))
SORTS = [
    ("title", "asc"),
    ("title", "desc"),
    ("created_at", "asc"),
    ("closed_at", "desc"),
    ("ticket_number", "desc"),
    ("assignee_name", "asc"),
    ("description", "desc"),
    ("customFields.region", "asc"),
]

# ---- the key encoding against the rule ---------------------------------------------------------------

ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
# Letters that tie on the collation key or on case, control bytes the encoding escapes, a lone surrogate.
PIECES = ["a", "A", "á", "Á", "b", "z", "ß", "ss", "\x00", "\n", "\x0b", "\x01", "é", "😀", " ", "\ud800", "\uffff"]
texts = st.lists(st.sampled_from(PIECES), max_size=4).map("".join)
moments = st.builds(
    lambda seconds, micro, zone: (
        datetime(2024, 1, 1, tzinfo=UTC).astimezone(zone) + timedelta(seconds=seconds, microseconds=micro)
    ),
    st.integers(-3, 3),
    st.sampled_from([0, 1, 999_999]),
    st.sampled_from(ZONES),
)
misfits = st.one_of(
    st.booleans(),
    st.floats(allow_nan=True),
    st.binary(max_size=3),
    st.sampled_from(["2024-01-01", "x", "7"]),
)
VALUES: dict[DataType, Any] = {
    DataType.TEXT: st.one_of(st.none(), texts, st.integers(-3, 3), misfits),
    DataType.INTEGER: st.one_of(
        st.none(), st.just(""), st.integers(-(2**70), 2**70), st.sampled_from([-256, -255, -1, 0, 1, 255, 256]), misfits
    ),
    DataType.DATETIME: st.one_of(st.none(), st.just(""), moments, misfits),
}
record_ids = st.text(alphabet=st.sampled_from(["0", "1", "a", "é"]), max_size=3)


def _in_rule_order(items: list[tuple[Any, str]], dtype: DataType, descending: bool) -> list[int]:
    from exports.datasets.columns import fits

    keys = [SortKey(value, key, descending, misfit=not fits(value, dtype)) for value, key in items]
    return sorted(range(len(items)), key=lambda index: keys[index])


def _in_byte_order(items: list[tuple[Any, str]], dtype: DataType, descending: bool) -> list[int]:
    keys = [sort_key_bytes(value, key, dtype, descending) for value, key in items]
    return sorted(range(len(items)), key=lambda index: keys[index])


@pytest.mark.parametrize("dtype", list(VALUES), ids=lambda dtype: dtype.value)
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_bytes_of_sort_keys_compare_exactly_as_the_rule(dtype: DataType, descending: bool, data: Any) -> None:
    values = data.draw(st.lists(VALUES[dtype], max_size=12))
    ids = data.draw(st.lists(record_ids, min_size=len(values), max_size=len(values), unique=True))
    items = list(zip(values, ids, strict=True))
    # The rule's sort is stable over the items' order, the bytes' too; record ids are unique, so any tie
    # left would show as a difference.
    assert _in_byte_order(items, dtype, descending) == _in_rule_order(items, dtype, descending)


def test_times_without_a_zone_sort_among_themselves_as_the_rule_does() -> None:
    naive = [(datetime(2024, 1, 1) + timedelta(hours=hours), f"{hours + 10}") for hours in (5, -3, 0, 7, 0)]
    for descending in (False, True):
        assert _in_byte_order(naive, DataType.DATETIME, descending) == _in_rule_order(
            naive, DataType.DATETIME, descending
        )


def test_the_same_instant_in_two_offsets_ties_and_the_record_id_decides() -> None:
    moment = datetime(2024, 6, 1, 12, tzinfo=UTC)
    items = [(moment.astimezone(ZONES[1]), "b"), (moment, "c"), (moment.astimezone(ZONES[2]), "a")]
    assert _in_byte_order(items, DataType.DATETIME, True) == [2, 0, 1]


# ---- runs cut by bytes, merged --------------------------------------------------------------------


def export(world: World, body: dict[str, Any]) -> tuple[bytes, Any]:
    job, _ = world.service.create(AGENT, CreateExportRequest.model_validate(body))
    world.drain()
    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and stored.status is JobStatus.COMPLETED, stored
    return world.sink.blobs[job.blob_name], stored


def body_for(field: str, direction: str) -> dict[str, Any]:
    columns = ["ticket_number", "title", "created_at", "closed_at", "assignee_name", "customFields.region"]
    return {"dataset": "tickets", "format": "CSV", "sortField": field, "sortDirection": direction, "columns": columns}


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize(("field", "direction"), SORTS)
def test_tiny_runs_give_the_same_file_as_one_run_and_the_rule_s_order(field: str, direction: str) -> None:
    files = {}
    for run_bytes in (2_048, 256 * 1024 * 1024):
        world = make_world(sort_run_bytes=run_bytes)
        tickets = world.load_tickets(ORG_A, 1_200)
        data, job = export(world, body_for(field, direction))
        files[run_bytes] = data
        if run_bytes == 2_048:
            assert job.checkpoint.sort_runs > 50
        else:
            assert job.checkpoint.sort_runs == 1
        assert world.runs.runs == {}, "the runs are deleted once the file is committed"
    assert files[2_048] == files[256 * 1024 * 1024]
    # The same rows as the unsorted export, in the rule's order.
    world = make_world()
    world.load_tickets(ORG_A, 1_200)
    unsorted, _ = export(world, {k: v for k, v in body_for(field, direction).items() if not k.startswith("sort")})
    header, *rows = rows_of(unsorted)
    by_number = {int(row[0]): row for row in rows}
    plan = TicketPlan(ORG_A, CreateExportRequest.model_validate(body_for(field, direction)), [])
    ordered = sorted(tickets, key=lambda ticket: plan.sort_key({**ticket, KEY: ticket["RowKey"]}))
    assert rows_of(files[2_048]) == [header] + [by_number[ticket["Number"]] for ticket in ordered]


def runs_after_counting(world: World, body: dict[str, Any]) -> dict[str, bytes]:
    job, _ = world.service.create(AGENT, CreateExportRequest.model_validate(body))
    while True:
        world.step()
        stored = world.jobs.get(ORG_A, job.job_id)
        assert stored is not None
        if stored.stage is JobStage.EXPORTING:
            return dict(world.runs.runs)


def test_runs_are_cut_by_their_bytes() -> None:
    world = make_world(sort_run_bytes=16 * 1024)
    world.load_tickets(ORG_A, 800)
    runs = runs_after_counting(world, body_for("title", "asc"))
    longest = max(len(line) for data in runs.values() for line in data.split(b"\n"))
    # Each run stops at the first line that reaches the budget: at most the budget and one line more
    # (lines counted with their bytes object's overhead).
    assert len(runs) > 5
    assert all(len(data) <= 16 * 1024 + longest + 1 for data in runs.values())
    assert sum(data.count(b"\n") for data in runs.values()) == 800


def test_a_run_holds_only_what_the_row_needs() -> None:
    world = make_world(sort_run_bytes=1024 * 1024)
    world.load_tickets(ORG_A, 50)
    body = {"dataset": "tickets", "format": "CSV", "sortField": "title", "columns": ["ticket_number"]}
    (data,) = runs_after_counting(world, body).values()
    assert b"Description" not in data and b"Title" not in data and b"CustomFieldsJson" not in data
    assert b'"Number"' in data


def test_a_sorted_export_resumed_mid_merge_with_many_runs_is_byte_identical() -> None:
    def run(crash_after: int | None) -> bytes:
        world = make_world(rows_per_batch=1_000, chunk_rows=100, block_size_bytes=64 * 1024, sort_run_bytes=8 * 1024)
        world.load_tickets(ORG_A, 3_000)
        job, _ = world.service.create(AGENT, CreateExportRequest.model_validate(body_for("created_at", "desc")))
        while world.queue.messages:
            stored = world.jobs.get(ORG_A, job.job_id)
            assert stored is not None
            if crash_after is not None and stored.checkpoint.rows_written >= 1_000:
                # A batch in the middle of the merge dies after staging some blocks; its message comes back.
                world.sink.fail_after_stages = world.sink.stage_calls + crash_after
                message = world.queue.messages[0]
                with pytest.raises(ConnectionError):
                    world.step()
                world.service.run_step(message)
                crash_after = None
                continue
            world.step()
        stored = world.jobs.get(ORG_A, job.job_id)
        assert stored is not None and stored.checkpoint.sort_runs > 20 and stored.status is JobStatus.COMPLETED
        return world.sink.blobs[job.blob_name]

    assert run(crash_after=1) == run(crash_after=None)


def test_the_merge_equals_an_in_memory_sort_and_reads_runs_of_the_previous_version() -> None:
    tickets = [
        {KEY: f"{n:04d}", "Title": title, "Number": n}
        for n, title in enumerate(["b", "", None, "B", "á", "a", "b", "A", None, "ä", "Z", "a"] * 5)
    ]
    request = CreateExportRequest.model_validate({"dataset": "tickets", "format": "CSV", "sortField": "title"})
    plan = TicketPlan(ORG_A, request, [])
    store = FakeRunStore()
    line_of = plan.sort_lines()
    names = [run_name("sort-runs", "job", index) for index in range(7)]
    for index, name in enumerate(names):
        chunk = tickets[index::7]
        if index % 2:  # written by the previous version: whole entities, sorted by the rule
            store.write(name, b"".join(encode_entity(t) + b"\n" for t in sorted(chunk, key=plan.sort_key)))
        else:
            write_run(store, name, [line_of(t) for t in chunk])
    merged = [unit["entity"][KEY] for unit in merge(store, names, None, plan.split_line, plan.decode_unit)]
    assert merged == [t[KEY] for t in sorted(tickets, key=plan.sort_key)]
    # Resumed from any unit's cursor, the merge goes on with the units after it.
    units = list(merge(store, names, None, plan.split_line, plan.decode_unit))
    for at in (0, 17, len(units) - 1):
        rest = merge(store, names, units[at][KEY], plan.split_line, plan.decode_unit)
        assert [unit["entity"][KEY] for unit in rest] == merged[at + 1 :]


def test_the_merge_s_read_windows_share_a_bounded_buffer() -> None:
    assert read_size_for(1) == READ_SIZE
    assert read_size_for(64) * 64 <= MERGE_BUFFER_BYTES
    assert read_size_for(1_000) * 1_000 <= MERGE_BUFFER_BYTES
    assert read_size_for(100_000) == MIN_READ_SIZE
