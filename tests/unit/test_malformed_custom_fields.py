"""A custom-field container that is not a JSON object is never lost silently.

The overflow column exports its stored text exactly, the tag columns reading it stay empty, and the job
counts one warning per broken container ({record, column: the property, found, expected: "JSON object"}),
once whatever re-runs a batch or however the export is sharded.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
import pytest

from exports.datasets.cases import OVERFLOW_COLUMN
from exports.datasets.tags import Malformed, json_property, read_container
from exports.models import CellWarning, CreateExportRequest, JobStatus, TagCreate
from exports.tag_service import TagService
from shared.auth import IMPORT_EXPORT_TICKETS, Principal
from tests.support.fixed_data import fixed_cases, fixed_records, fixed_tags
from tests.unit.conftest import ORG_A, World, make_world

BROKEN = '{"totalDollarAmount": 12, "site": "B7"'  # the closing brace is missing
NOT_AN_OBJECT = '["B7", 12]'
SITE_TAG = {
    "sourceEntityType": "CASE",
    "sourceFieldPath": "customFields.site",
    "tagSlot": 8,
    "columnName": "site",
    "displayLabel": "Site",
    "dataType": "TEXT",
}


def tag_service(world: World) -> TagService:
    return TagService(
        settings=world.service.settings, tags=world.tags, source=world.source, audit=world.audit, clock=world.clock
    )


@pytest.fixture
def broken_world(world: World, admin: Principal) -> World:
    """The fixed cases, with case 1's custom fields cut short and case 2's a JSON list."""
    cases = fixed_cases(ORG_A)
    cases[0]["CustomFieldsJson"] = BROKEN
    cases[1]["CustomFieldsJson"] = NOT_AN_OBJECT
    world.source.add("cases", cases)
    world.source.add("caserecords", fixed_records(ORG_A))
    for tag in [*fixed_tags(), SITE_TAG]:
        tag_service(world).create(admin, TagCreate.model_validate(tag))
    return world


def export(world: World, principal: Principal, **fields: Any) -> tuple[Any, list[dict[str, str]]]:
    request = CreateExportRequest.model_validate({"format": "CSV", "csvBom": False, **fields})
    job, _ = world.service.create(principal, request)
    world.drain()
    view = world.service.get(principal, job.job_id)
    assert view.status is JobStatus.COMPLETED, view.error_message
    return view, list(csv.DictReader(io.StringIO(world.sink.blobs[job.blob_name].decode())))


def test_the_overflow_exports_a_broken_containers_text_and_its_tag_columns_stay_empty(
    broken_world: World, admin: Principal
) -> None:
    view, rows = export(
        broken_world, admin, exportType="CUSTOM", columns=["case_id", "total_dollar_amount", "site", OVERFLOW_COLUMN]
    )
    first, second, third = rows
    assert first == {"case_id": "case-1", "total_dollar_amount": "", "site": "", OVERFLOW_COLUMN: BROKEN}
    assert second == {"case_id": "case-2", "total_dollar_amount": "", "site": "", OVERFLOW_COLUMN: NOT_AN_OBJECT}
    assert third == {"case_id": "case-3", "total_dollar_amount": "", "site": "", OVERFLOW_COLUMN: ""}
    # One warning per broken container, though three columns read each.
    assert view.warnings == 2
    assert view.warning_samples == [
        CellWarning(record="0000000001", column="CustomFieldsJson", found="malformed JSON", expected="JSON object"),
        CellWarning(record="0000000002", column="CustomFieldsJson", found="not an object", expected="JSON object"),
    ]
    (event,) = broken_world.events.events()
    assert (event.warnings, event.warning_samples) == (2, view.warning_samples)


def test_without_the_overflow_the_tag_columns_still_say_their_container_is_broken(
    broken_world: World, admin: Principal
) -> None:
    view, rows = export(broken_world, admin, exportType="CUSTOM", columns=["case_id", "site"])
    assert [row["site"] for row in rows] == ["", "", ""]
    assert [(sample.record, sample.found) for sample in view.warning_samples] == [
        ("0000000001", "malformed JSON"),
        ("0000000002", "not an object"),
    ]


def test_a_broken_container_no_column_reads_costs_nothing(broken_world: World, admin: Principal) -> None:
    view, rows = export(broken_world, admin, exportType="CUSTOM", columns=["case_id", "case_status"])
    assert len(rows) == 3 and view.warnings == 0


def test_a_broken_record_container_is_named_by_the_records_key(world: World, admin: Principal) -> None:
    records = fixed_records(ORG_A)
    response = next(record for record in records if record["Kind"] == "IRS")
    response["ResponsesJson"] = '{"q5": "Partly'
    world.source.add("cases", fixed_cases(ORG_A))
    world.source.add("caserecords", records)
    for tag in fixed_tags():
        tag_service(world).create(admin, TagCreate.model_validate(tag))
    view, rows = export(world, admin, exportType="CUSTOM", columns=["case_id", "q5_answer"])
    assert [row["q5_answer"] for row in rows] == ["", "", ""]
    assert view.warning_samples == [
        CellWarning(
            record="0000000001|IRS|0001", column="ResponsesJson", found="malformed JSON", expected="JSON object"
        )
    ]


def test_a_broken_case_container_counts_once_per_case_in_a_per_record_export(
    broken_world: World, admin: Principal
) -> None:
    # Case 1 has two investigations: both rows read its broken custom fields, one warning says so.
    view, rows = export(broken_world, admin, exportType="INVESTIGATIONS_ONLY", includeTaggedFields=True)
    assert [row["site"] for row in rows] == ["", ""]
    assert [(sample.record, sample.column) for sample in view.warning_samples] == [("0000000001", "CustomFieldsJson")]


@pytest.mark.parametrize("empty", [None, "", "null", "{}"])
def test_no_custom_fields_is_no_warning(world: World, admin: Principal, empty: str | None) -> None:
    case = {"PartitionKey": ORG_A, "RowKey": "0000000001", "CaseId": "case-1"}
    world.source.add("cases", [case if empty is None else {**case, "CustomFieldsJson": empty}])
    view, rows = export(world, admin, exportType="CUSTOM", columns=["case_id", OVERFLOW_COLUMN])
    assert rows == [{"case_id": "case-1", OVERFLOW_COLUMN: ""}] and view.warnings == 0


@pytest.mark.parametrize(
    ("stored", "found", "text"),
    [
        ('{"a": 1', "malformed JSON", '{"a": 1'),
        ('{"a": NaN}', "malformed JSON", '{"a": NaN}'),  # not JSON, though Python's json module reads it
        ('{"a": 1} x', "malformed JSON", '{"a": 1} x'),
        ("  ", "malformed JSON", "  "),
        ('"just text"', "not an object", '"just text"'),
        ("42", "not an object", "42"),
        (42, "integer", "42"),  # a property stored as a number, not as JSON text
    ],
)
def test_a_container_that_is_not_a_json_object_is_read_as_malformed(stored: object, found: str, text: str) -> None:
    entity = {"key": "0000000009", "CustomFieldsJson": stored}
    assert read_container(entity, "CustomFieldsJson") == Malformed("0000000009", "CustomFieldsJson", found, text)
    assert json_property(entity, "CustomFieldsJson") == {}  # readers of single fields find none


def test_the_tag_preview_says_the_container_is_broken(broken_world: World, admin: Principal) -> None:
    values = {value.column_name: value for value in tag_service(broken_world).preview(admin, "case-1")}
    site = values["site"]
    assert (site.raw_value, site.value) == (None, None)
    assert site.problem is not None
    assert "CustomFieldsJson of record 0000000001 is not a JSON object (malformed JSON)" in site.problem
    # Tags reading the case's records, whose JSON is sound, show their values as before.
    assert (values["hours_spent"].value, values["hours_spent"].problem) == (40, None)


def export_with_broken_containers(world: World, analyst: Principal, broken: list[int], *, shuffled: bool) -> Any:
    entities = world.load_cases(ORG_A, 4_600)
    world.source.add("cases", [dict(entities[n], CustomFieldsJson=f'{{"n": {n}') for n in broken])
    request = CreateExportRequest.model_validate({"format": "CSV", "includeOverflow": True})
    job, _ = world.service.create(analyst, request)
    if shuffled:
        world.drain_shuffled_twice(seed=5)
    else:
        world.drain()
    return world.service.get(analyst, job.job_id), world.sink.blobs[job.blob_name]


def test_broken_containers_count_once_in_shards_run_in_any_order_and_twice(analyst: Principal) -> None:
    broken = [3, 1_999, 2_000, 2_700, 4_599]
    expected_view, expected_file = export_with_broken_containers(
        make_world(max_shards=1), analyst, broken, shuffled=False
    )
    view, file = export_with_broken_containers(make_world(shard_rows=2_000), analyst, broken, shuffled=True)
    assert view.status is JobStatus.COMPLETED and file == expected_file
    assert view.warnings == expected_view.warnings == len(broken)
    assert view.warning_samples == expected_view.warning_samples
    assert [sample.record for sample in view.warning_samples] == [f"{n + 1:010d}" for n in broken]
    assert orjson.dumps([s.found for s in view.warning_samples]) == orjson.dumps(["malformed JSON"] * len(broken))


def test_broken_containers_count_once_when_a_batch_runs_again_after_a_crash(analyst: Principal) -> None:
    world = make_world()
    entities = world.load_cases(ORG_A, 2_500)
    world.source.add("cases", [dict(entities[n], CustomFieldsJson="[") for n in (5, 1_500)])
    job, _ = world.service.create(
        analyst, CreateExportRequest.model_validate({"format": "CSV", "includeOverflow": True})
    )
    world.step()  # counting and the first batch
    second_batch = world.queue.messages[0]
    save = world.jobs.replace

    def crash_when_saving(saved: Any) -> Any:
        world.jobs.replace = save  # type: ignore[method-assign]
        raise ConnectionError("the worker died before its checkpoint was saved")

    world.jobs.replace = crash_when_saving  # type: ignore[method-assign,assignment]
    with pytest.raises(ConnectionError):
        world.step()  # the second batch built its rows (one broken container), then crashed
    world.service.run_step(second_batch)  # the host re-delivers it
    world.drain()
    view = world.service.get(analyst, job.job_id)
    assert view.status is JobStatus.COMPLETED and view.warnings == 2
    assert [sample.record for sample in view.warning_samples] == ["0000000006", "0000001501"]


# ---- tickets: `customFields.<key>` columns read the ticket's CustomFieldsJson by the same rule ----------


def ticket_export(world: World, principal: Principal, **fields: Any) -> tuple[Any, list[dict[str, str]]]:
    return export(world, principal, dataset="tickets", **fields)


@pytest.fixture
def agent() -> Principal:
    return Principal(ORG_A, "agent-1", "Agent", frozenset({IMPORT_EXPORT_TICKETS}))


def broken_tickets() -> list[dict[str, Any]]:
    def ticket(number: int, custom: Any) -> dict[str, Any]:
        entity = {"PartitionKey": ORG_A, "RowKey": f"{number:010d}", "Number": number}
        return entity if custom is None else {**entity, "CustomFieldsJson": custom}

    return [ticket(1, BROKEN), ticket(2, NOT_AN_OBJECT), ticket(3, '{"site": "B7", "n": 12}'), ticket(4, 42),
            ticket(5, None), ticket(6, "null")]  # fmt: skip


def test_a_tickets_broken_custom_fields_leave_its_columns_empty_with_one_warning(
    world: World, agent: Principal
) -> None:
    world.source.add("tickets", broken_tickets())
    view, rows = ticket_export(world, agent, columns=["ticket_number", "customFields.site", "customFields.n"])
    assert [(row["customFields.site"], row["customFields.n"]) for row in rows] == [
        ("", ""),
        ("", ""),
        ("B7", "12"),
        ("", ""),
        ("", ""),
        ("", ""),
    ]
    # One warning per broken container, though two columns read each.
    assert view.warning_samples == [
        CellWarning(record="0000000001", column="CustomFieldsJson", found="malformed JSON", expected="JSON object"),
        CellWarning(record="0000000002", column="CustomFieldsJson", found="not an object", expected="JSON object"),
        CellWarning(record="0000000004", column="CustomFieldsJson", found="integer", expected="JSON object"),
    ]
    assert view.warnings == 3


def test_a_tickets_broken_custom_fields_cost_nothing_when_no_column_reads_them(world: World, agent: Principal) -> None:
    world.source.add("tickets", broken_tickets())
    view, rows = ticket_export(world, agent, columns=["ticket_number", "title"])
    assert len(rows) == 6 and view.warnings == 0


def test_a_sorted_ticket_export_says_the_same_of_broken_custom_fields(world: World, agent: Principal) -> None:
    world.source.add("tickets", broken_tickets())
    view, rows = ticket_export(
        world, agent, columns=["ticket_number", "customFields.site"], sortField="ticket_number", sortDirection="desc"
    )
    assert [row["ticket_number"] for row in rows] == ["6", "5", "4", "3", "2", "1"]
    assert [(sample.record, sample.found) for sample in view.warning_samples] == [
        ("0000000004", "integer"),
        ("0000000002", "not an object"),
        ("0000000001", "malformed JSON"),
    ]
