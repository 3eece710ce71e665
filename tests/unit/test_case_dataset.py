"""The compliance flat file (seed 000): columns, investigations, tags, overflow, export types, filters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exports import datasets
from exports.models import CreateExportRequest, TagCreate, TagUpdate
from exports.tag_service import TagService
from shared.auth import Principal
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.support.fixed_data import CAT_SAFETY, fixed_cases, fixed_records, fixed_tags, t
from tests.unit.conftest import ORG_A, ORG_B, World

CORE = [
    "case_id",
    "case_number",
    "case_status",
    "case_priority",
    "case_created_at",
    "case_closed_at",
    "case_days_open",
    "case_sla_breached",
    "category_name",
    "category_code",
    "subcategory_name",
    "source_channel",
    "is_anonymous",
    "reporter_relationship",
    "assigned_to_name",
    "assigned_to_email",
    "business_unit_name",
    "business_unit_code",
    "location_name",
    "location_country",
    "location_region",
    "outcome",
    "outcome_reason",
    "has_remediation",
    "remediation_status",
    "riu_count",
    "investigation_count",
    "subject_count",
    "attachment_count",
]
INV = [
    "id",
    "type",
    "status",
    "outcome",
    "started_at",
    "completed_at",
    "days_to_complete",
    "investigator_name",
    "interview_count",
    "finding_summary",
]


@pytest.fixture
def tags(world: World) -> TagService:
    return TagService(
        settings=world.service.settings, tags=world.tags, source=world.source, audit=world.audit, clock=world.clock
    )


@pytest.fixture
def fixed_world(world: World, admin: Principal, tags: TagService) -> World:
    world.source.add("cases", fixed_cases(ORG_A))
    world.source.add("caserecords", fixed_records(ORG_A))
    for tag in fixed_tags():
        tags.create(admin, TagCreate.model_validate(tag))
    return world


def export_rows(world: World, principal: Principal, **fields: Any) -> tuple[list[str], list[list[Any]]]:
    """Creates a job and builds its rows exactly as the worker would, as typed values."""
    job, _ = world.service.create(principal, CreateExportRequest.model_validate({"format": "CSV", **fields}))
    plan = datasets.plan_for(job)
    build = plan.row_builder()
    rows = [row for unit in plan.units(world.source, None) for row in build(unit)]
    assert plan.count(world.source, None, 10_000) == (len(rows), None)
    return [col.name for col in job.columns], rows


def as_dicts(names: list[str], rows: list[list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(names, row, strict=True)) for row in rows]


def test_a_flat_file_has_core_then_investigation_then_tagged_columns(fixed_world: World, admin: Principal) -> None:
    names, _ = export_rows(fixed_world, admin)
    assert names == CORE + [f"inv_{n}_{s}" for n in (1, 2, 3) for s in INV] + [
        "total_dollar_amount",
        "recovery_rate",
        "hours_spent",
        "q5_answer",
        "gift_value",
    ]
    assert len(names) == 29 + 30 + 5


def test_core_and_computed_columns_hold_the_source_values(fixed_world: World, admin: Principal) -> None:
    names, rows = export_rows(fixed_world, admin)
    first, second, third = as_dicts(names, rows)
    assert first["case_id"] == "case-1" and first["case_created_at"] == t(2024, 1, 10, 9)
    assert first["case_days_open"] == 30  # 10 Jan 09:00 to 9 Feb 21:00: 30 whole days
    assert first["case_sla_breached"] is True  # closed after the SLA date
    assert (first["riu_count"], first["investigation_count"], first["subject_count"]) == (2, 2, 2)
    assert first["location_name"] == "München HQ" and first["outcome_reason"] == 'Receipts "adjusted"'
    as_of = t(2026, 3, 1, 12)  # the job's creation time: open cases are measured up to it
    assert second["case_days_open"] == (as_of - t(2024, 3, 1, 12)).days
    assert second["case_sla_breached"] is True and second["riu_count"] == 1 and second["investigation_count"] == 0
    assert third["case_sla_breached"] is None and third["assigned_to_name"] is None


def test_investigation_slots_repeat_the_investigation_columns_in_order(fixed_world: World, admin: Principal) -> None:
    names, rows = export_rows(fixed_world, admin)
    first, second, _ = as_dicts(names, rows)
    assert [first[f"inv_1_{s}"] for s in INV] == [
        "inv-1a",
        "FULL",
        "COMPLETED",
        "SUBSTANTIATED",
        t(2024, 1, 12),
        t(2024, 2, 1, 12),
        20,
        "李小龙",
        3,
        "Confirmed, twice",
    ]
    assert first["inv_2_id"] == "inv-1b" and first["inv_2_days_to_complete"] is None
    assert all(first[f"inv_3_{s}"] is None for s in INV)
    assert all(second[f"inv_1_{s}"] is None for s in INV)


def test_max_investigations_sets_the_number_of_slots(fixed_world: World, admin: Principal) -> None:
    names, _ = export_rows(fixed_world, admin, maxInvestigations=10, includeTaggedFields=False)
    assert names[-10:] == [f"inv_10_{s}" for s in INV] and len(names) == 29 + 100


def test_tagged_values_are_typed_and_resolved_from_the_right_record(fixed_world: World, admin: Principal) -> None:
    names, rows = export_rows(fixed_world, admin)
    first, second, third = as_dicts(names, rows)
    assert first["total_dollar_amount"] == 1234.5
    assert first["recovery_rate"] == pytest.approx(0.125)
    assert first["hours_spent"] == 40  # the first investigation's
    assert first["q5_answer"] == "Partly, see notes"
    assert first["gift_value"] == 99.99
    assert second["total_dollar_amount"] == "not disclosed"  # does not fit CURRENCY: kept, never lost
    assert second["recovery_rate"] is None  # tag limited to template A; case 2 uses template B
    assert third["total_dollar_amount"] is None and third["hours_spent"] is None


def test_overflow_holds_the_untagged_custom_fields_as_json(fixed_world: World, admin: Principal) -> None:
    names, rows = export_rows(fixed_world, admin, includeOverflow=True, includeInvestigations=False)
    first, second, third = as_dicts(names, rows)
    assert names[-1] == "custom_fields_overflow"
    assert json.loads(first["custom_fields_overflow"]) == {"employeeId": "00042", "notes": "line one\nline two"}
    assert json.loads(second["custom_fields_overflow"]) == {"site": "B7"}
    assert third["custom_fields_overflow"] is None


def test_cases_only_leaves_out_investigations(fixed_world: World, admin: Principal) -> None:
    names, rows = export_rows(fixed_world, admin, exportType="CASES_ONLY")
    assert not any(name.startswith("inv_") for name in names) and len(rows) == 3


def test_investigations_only_has_one_row_per_investigation(fixed_world: World, admin: Principal) -> None:
    names, rows = export_rows(fixed_world, admin, exportType="INVESTIGATIONS_ONLY")
    assert names[:6] == [
        "case_id",
        "case_number",
        "case_status",
        "category_name",
        "business_unit_name",
        "location_name",
    ]
    assert names[6:16] == [f"investigation_{s}" for s in INV]
    assert names[16:] == ["total_dollar_amount", "recovery_rate", "hours_spent"]
    records = as_dicts(names, rows)
    assert [(r["case_id"], r["investigation_id"], r["hours_spent"]) for r in records] == [
        ("case-1", "inv-1a", 40),
        ("case-1", "inv-1b", 2),
    ]


def test_disclosures_only_has_one_row_per_disclosure(fixed_world: World, admin: Principal) -> None:
    names, rows = export_rows(fixed_world, admin, exportType="DISCLOSURES_ONLY")
    assert as_dicts(names, rows) == [
        {
            "case_id": "case-1",
            "case_number": "C-2024-000001",
            "case_status": "CLOSED",
            "category_name": "Fraud, Waste & Abuse",
            "business_unit_name": "Finance",
            "location_name": "München HQ",
            "disclosure_id": "dis-1",
            "disclosure_type": "GIFT",
            "disclosure_status": "APPROVED",
            "disclosure_submitted_at": t(2024, 1, 11),
            "discloser_name": "José Núñez",
            "disclosure_amount": 250.0,
            "total_dollar_amount": 1234.5,
            "recovery_rate": pytest.approx(0.125),
            "gift_value": 99.99,
        }
    ]


def test_a_custom_export_has_exactly_the_chosen_columns_in_order(fixed_world: World, admin: Principal) -> None:
    names, rows = export_rows(
        fixed_world,
        admin,
        exportType="CUSTOM",
        columns=["case_number", "gift_value", "inv_2_id", "custom_fields_overflow"],
    )
    assert names == ["case_number", "gift_value", "inv_2_id", "custom_fields_overflow"]
    assert rows[0][:3] == ["C-2024-000001", 99.99, "inv-1b"]


def test_a_custom_export_of_an_unknown_column_is_refused(fixed_world: World, admin: Principal) -> None:
    with pytest.raises(ValidationFailed, match="shoe_size"):
        export_rows(fixed_world, admin, exportType="CUSTOM", columns=["case_id", "shoe_size"])


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"statuses": ["OPEN", "NEW"]}, ["case-2", "case-3"]),
        ({"dateRange": {"start": "2024-03-01", "end": "2024-03-04"}}, ["case-2"]),
        ({"dateRange": {"start": "2024-01-10T09:00:00Z", "end": "2024-01-10T09:00:00Z"}}, ["case-1"]),
        ({"categories": [CAT_SAFETY]}, ["case-2", "case-3"]),
        ({"categories": [CAT_SAFETY], "statuses": ["NEW"]}, ["case-3"]),
        ({"businessUnits": ["55555555-5555-4555-8555-555555555555"]}, []),
        ({"locations": ["55555555-5555-4555-8555-555555555555"]}, []),
    ],
)
def test_filters_select_cases(
    fixed_world: World, admin: Principal, fields: dict[str, Any], expected: list[str]
) -> None:
    names, rows = export_rows(fixed_world, admin, **fields)
    assert [row["case_id"] for row in as_dicts(names, rows)] == expected


def test_tags_are_snapshotted_when_the_job_is_created(fixed_world: World, admin: Principal, tags: TagService) -> None:
    job, _ = fixed_world.service.create(admin, CreateExportRequest.model_validate({"format": "CSV"}))
    tags.update(admin, 1, TagUpdate(column_name="renamed"))
    tags.delete(admin, 3)
    plan = datasets.plan_for(job)
    rows = [row for unit in plan.units(fixed_world.source, None) for row in plan.row_builder()(unit)]
    names = [col.name for col in job.columns]
    assert "total_dollar_amount" in names and "hours_spent" in names and "renamed" not in names
    assert as_dicts(names, rows)[0]["hours_spent"] == 40


def test_another_organizations_cases_never_appear(fixed_world: World, admin: Principal, outsider: Principal) -> None:
    fixed_world.source.add("cases", fixed_cases(ORG_B)[:1])  # the same case ids, another organization
    _, rows = export_rows(fixed_world, outsider)
    assert len(rows) == 1
    _, rows = export_rows(fixed_world, admin)
    assert len(rows) == 3


class TestTagAdmin:
    def test_only_admins_manage_tags(self, tags: TagService, analyst: Principal) -> None:
        with pytest.raises(Forbidden, match="manage_system_settings"):
            tags.list(analyst)

    def test_a_taken_slot_is_a_conflict(self, fixed_world: World, tags: TagService, admin: Principal) -> None:
        body = {**fixed_tags()[0], "sourceFieldPath": "customFields.other", "columnName": "other"}
        with pytest.raises(Conflict, match="slot 1"):
            tags.create(admin, TagCreate.model_validate(body))

    def test_a_tagged_path_is_a_conflict(self, fixed_world: World, tags: TagService, admin: Principal) -> None:
        body = {**fixed_tags()[0], "tagSlot": 9, "columnName": "again"}
        with pytest.raises(Conflict, match="already tagged in slot 1"):
            tags.create(admin, TagCreate.model_validate(body))

    def test_the_same_path_under_another_template_is_another_tag(
        self, fixed_world: World, tags: TagService, admin: Principal
    ) -> None:
        body = {
            **fixed_tags()[1],
            "tagSlot": 9,
            "columnName": "recovery_rate_b",
            "templateId": "22222222-2222-4222-8222-222222222222",
        }
        assert tags.create(admin, TagCreate.model_validate(body)).tag_slot == 9

    def test_a_core_column_name_is_refused(self, tags: TagService, admin: Principal) -> None:
        body = {**fixed_tags()[0], "columnName": "case_id"}
        with pytest.raises(ValidationFailed, match="core column"):
            tags.create(admin, TagCreate.model_validate(body))

    def test_put_creates_then_replaces(self, tags: TagService, admin: Principal) -> None:
        body = TagCreate.model_validate({**fixed_tags()[0], "tagSlot": 4})
        assert tags.put(admin, 4, body)[1] is True
        replaced, created = tags.put(admin, 4, body.model_copy(update={"display_label": "Total $"}))
        assert not created and replaced.display_label == "Total $"
        with pytest.raises(ValidationFailed, match="does not match"):
            tags.put(admin, 5, body)

    def test_a_tag_can_move_to_a_free_slot(self, fixed_world: World, tags: TagService, admin: Principal) -> None:
        moved = tags.update(admin, 3, TagUpdate(tag_slot=7))
        assert moved.tag_slot == 7 and [tag.tag_slot for tag in tags.list(admin)] == [1, 2, 5, 7, 20]
        with pytest.raises(NotFound):
            tags.get(admin, 3)

    def test_preview_shows_one_cases_tagged_values(
        self, fixed_world: World, tags: TagService, admin: Principal
    ) -> None:
        values = {value.column_name: (value.raw_value, value.value) for value in tags.preview(admin, "case-1")}
        assert values == {
            "total_dollar_amount": (1234.5, 1234.5),
            "recovery_rate": ("12.5%", pytest.approx(0.125)),
            "hours_spent": (40, 40),
            "q5_answer": ("Partly, see notes", "Partly, see notes"),
            "gift_value": (99.99, 99.99),
        }
        with pytest.raises(NotFound):
            tags.preview(admin, "case-404")

    def test_a_path_must_fit_its_entity_type(self) -> None:
        from pydantic import ValidationError

        with pytest.raises(ValidationError, match="responses"):
            TagCreate.model_validate({**fixed_tags()[3], "sourceEntityType": "CASE"})
        with pytest.raises(ValidationError):
            TagCreate.model_validate({**fixed_tags()[0], "tagSlot": 21})
        with pytest.raises(ValidationError):
            TagCreate.model_validate({**fixed_tags()[0], "columnName": "Total"})


def test_whole_days_is_the_same_computation_everywhere() -> None:
    from exports.datasets.columns import whole_days

    assert whole_days(t(2024, 1, 1, 12), t(2024, 1, 3, 11)) == 1
    assert whole_days(t(2024, 1, 3), t(2024, 1, 1)) == 0
    assert whole_days(None, t(2024, 1, 1)) is None
