"""The overflow column: every custom field of a case is in the file exactly once, in its tag's column or here."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from exports import datasets
from exports.datasets.cases import OVERFLOW_COLUMN, CasePlan
from exports.models import ColumnSpec, CreateExportRequest, Dataset, ExportType, TagCreate
from exports.tag_service import TagService
from shared.auth import Principal
from shared.errors import ValidationFailed
from tests.support.fixed_data import TEMPLATE_A, TEMPLATE_B, fixed_cases, fixed_records, fixed_tags
from tests.unit.conftest import ORG_A, World

NESTED_TAG = {
    "sourceEntityType": "CASE",
    "sourceFieldPath": "customFields.address.city",
    "tagSlot": 7,
    "columnName": "city",
    "displayLabel": "City",
    "dataType": "TEXT",
}
ADDRESS = {"city": "Lyon", "street": "1 rue Neuve"}


@pytest.fixture
def tags(world: World) -> TagService:
    return TagService(
        settings=world.service.settings, tags=world.tags, source=world.source, audit=world.audit, clock=world.clock
    )


def overflow_cases() -> list[dict[str, Any]]:
    """The fixed cases, with a nested object and a field its template's tag does not read."""
    cases = fixed_cases(ORG_A)
    first = json.loads(cases[0]["CustomFieldsJson"])
    cases[0]["CustomFieldsJson"] = orjson.dumps({**first, "address": ADDRESS}).decode()
    cases[1]["CustomFieldsJson"] = orjson.dumps(
        {"totalDollarAmount": "not disclosed", "site": "B7", "recoveryRate": "3%", "address": {"city": "Oslo"}}
    ).decode()
    return cases


@pytest.fixture
def overflow_world(world: World, admin: Principal, tags: TagService) -> World:
    world.source.add("cases", overflow_cases())
    world.source.add("caserecords", fixed_records(ORG_A))
    for tag in [*fixed_tags(), NESTED_TAG]:
        tags.create(admin, TagCreate.model_validate(tag))
    return world


def export(world: World, principal: Principal, **fields: Any) -> tuple[list[ColumnSpec], list[dict[str, Any]]]:
    job, _ = world.service.create(principal, CreateExportRequest.model_validate({"format": "CSV", **fields}))
    plan = datasets.plan_for(job)
    build = plan.row_builder()
    names = [col.name for col in job.columns]
    rows = [dict(zip(names, row, strict=True)) for unit in plan.units(world.source, None) for row in build(unit)]
    return job.columns, rows


def overflow(row: dict[str, Any]) -> dict[str, Any]:
    text = row[OVERFLOW_COLUMN]
    return json.loads(text) if text else {}


def test_without_tagged_columns_the_overflow_holds_every_custom_field(overflow_world: World, admin: Principal) -> None:
    _, rows = export(overflow_world, admin, includeOverflow=True, includeTaggedFields=False)
    assert overflow(rows[0]) == {
        "totalDollarAmount": 1234.5,
        "recoveryRate": "12.5%",
        "employeeId": "00042",
        "notes": "line one\nline two",
        "address": ADDRESS,
    }
    assert overflow(rows[1])["totalDollarAmount"] == "not disclosed"


def test_with_tagged_columns_a_tagged_field_is_only_in_its_column(overflow_world: World, admin: Principal) -> None:
    _, rows = export(overflow_world, admin, includeOverflow=True, includeInvestigations=False)
    first, second, _ = rows
    assert first["total_dollar_amount"] == 1234.5 and first["recovery_rate"] == 0.125 and first["city"] == "Lyon"
    assert overflow(first) == {
        "employeeId": "00042",
        "notes": "line one\nline two",
        "address": {"street": "1 rue Neuve"},
    }
    # The recovery rate tag reads template A only: case 2 (template B) keeps its rate in the overflow.
    assert second["recovery_rate"] is None
    assert overflow(second) == {"site": "B7", "recoveryRate": "3%"}  # Oslo is in the city column: address left empty


def test_a_custom_export_keeps_in_the_overflow_the_fields_of_tags_it_does_not_pick(
    overflow_world: World, admin: Principal
) -> None:
    columns, rows = export(
        overflow_world, admin, exportType="CUSTOM", columns=["case_number", "recovery_rate", OVERFLOW_COLUMN]
    )
    assert columns[-1].excluded_fields == [f"recoveryRate@{TEMPLATE_A}"]
    assert overflow(rows[0]) == {
        "totalDollarAmount": 1234.5,
        "employeeId": "00042",
        "notes": "line one\nline two",
        "address": ADDRESS,
    }
    assert rows[0]["recovery_rate"] == 0.125


def test_a_nested_tag_leaves_the_rest_of_its_object_in_the_overflow(overflow_world: World, admin: Principal) -> None:
    columns, rows = export(overflow_world, admin, exportType="CUSTOM", columns=["city", OVERFLOW_COLUMN])
    assert columns[-1].excluded_fields == ["address.city"]
    assert rows[0]["city"] == "Lyon" and overflow(rows[0])["address"] == {"street": "1 rue Neuve"}
    assert rows[1]["city"] == "Oslo" and "address" not in overflow(rows[1])
    _, without = export(overflow_world, admin, exportType="CUSTOM", columns=["case_id", OVERFLOW_COLUMN])
    assert overflow(without[0])["address"] == ADDRESS and overflow(without[1])["address"] == {"city": "Oslo"}


@pytest.mark.parametrize(
    "fields",
    [
        {"includeOverflow": True},
        {"includeOverflow": True, "includeTaggedFields": False},
        {"exportType": "CASES_ONLY", "includeOverflow": True},
        {"exportType": "CUSTOM", "columns": ["case_id", "total_dollar_amount", "city", OVERFLOW_COLUMN]},
        {"exportType": "CUSTOM", "columns": [OVERFLOW_COLUMN]},
    ],
)
def test_every_custom_field_of_a_case_is_in_the_file_exactly_once(
    overflow_world: World, admin: Principal, fields: dict[str, Any]
) -> None:
    columns, rows = export(overflow_world, admin, **fields)
    case_tags = [col for col in columns if col.source_entity_type == "CASE"]
    for case, row in zip(overflow_cases(), rows, strict=True):
        source = json.loads(case.get("CustomFieldsJson", "{}"))
        found: list[str] = []
        for col in case_tags:
            path = col.source_field_path.split(".")[1:]  # type: ignore[union-attr]
            template_fits = col.template_id in (None, case.get("TemplateId"))
            if template_fits and _has(source, path):
                found.append(".".join(path))
        found += _leaves(overflow(row))
        assert sorted(found) == sorted(_leaves(source)), row


def test_the_column_catalog_shows_the_overflow_the_export_uses(
    overflow_world: World, admin: Principal, tags: TagService
) -> None:
    def catalog_overflow(export_type: ExportType, *, tagged: bool, columns: list[str] | None = None) -> Any:
        listed = tags.catalog(admin, Dataset.CASES, export_type, 3, True, tagged, True, columns=columns or [])
        return next(col for col in listed if col.name == OVERFLOW_COLUMN).excluded_fields

    def export_overflow(**fields: Any) -> Any:
        columns, _ = export(overflow_world, admin, **fields)
        return next(col for col in columns if col.name == OVERFLOW_COLUMN).excluded_fields

    assert (
        catalog_overflow(ExportType.FLAT_FILE, tagged=False)
        == export_overflow(includeOverflow=True, includeTaggedFields=False)
        == []
    )
    assert (
        catalog_overflow(ExportType.FLAT_FILE, tagged=True)
        == export_overflow(includeOverflow=True)
        == [
            "address.city",
            f"recoveryRate@{TEMPLATE_A}",
            "totalDollarAmount",
        ]
    )
    chosen = ["case_id", "city", OVERFLOW_COLUMN]
    assert (
        catalog_overflow(ExportType.CUSTOM, tagged=True, columns=chosen)
        == export_overflow(exportType="CUSTOM", columns=chosen)
        == ["address.city"]
    )


def test_the_catalog_takes_columns_only_for_a_custom_export(
    overflow_world: World, admin: Principal, tags: TagService
) -> None:
    with pytest.raises(ValidationFailed, match="CUSTOM"):
        tags.catalog(admin, Dataset.CASES, ExportType.FLAT_FILE, 3, True, True, True, columns=["case_id"])
    with pytest.raises(ValidationFailed, match="shoe_size"):
        tags.catalog(admin, Dataset.CASES, ExportType.CUSTOM, 3, True, True, True, columns=["shoe_size"])


def test_a_job_recorded_before_keeps_in_the_overflow_the_fields_of_tags_it_does_not_export(world: World) -> None:
    # Such jobs listed every CASE tag in the overflow's excluded fields, whatever their columns.
    case = {
        "PartitionKey": ORG_A,
        "RowKey": "0000000001",
        "TemplateId": TEMPLATE_B,
        "CustomFieldsJson": orjson.dumps({"totalDollarAmount": 5, "site": "B7"}).decode(),
    }
    world.source.add("cases", [case])
    stored = ColumnSpec(
        name=OVERFLOW_COLUMN,
        label="Other Custom Fields",
        data_type="TEXT",
        excluded_fields=["totalDollarAmount", f"recoveryRate@{TEMPLATE_A}"],
    )
    plan = CasePlan(
        organization_id=ORG_A,
        request=CreateExportRequest.model_validate({"format": "CSV", "includeOverflow": True}),
        columns=[stored],
        as_of=world.clock.now(),
    )
    (unit,) = plan.units(world.source, None)
    assert plan.row_builder()(unit) == [['{"site":"B7","totalDollarAmount":5}']]


def _has(fields: Any, path: list[str]) -> bool:
    for key in path:
        if not isinstance(fields, dict) or key not in fields:
            return False
        fields = fields[key]
    return True


def _leaves(fields: dict[str, Any], prefix: str = "") -> list[str]:
    """Every field by its path ("address.city"); an empty object counts as one field."""
    found = []
    for key, value in fields.items():
        if isinstance(value, dict) and value:
            found += _leaves(value, f"{prefix}{key}.")
        else:
            found.append(prefix + key)
    return found
