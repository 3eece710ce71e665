"""Datasets over HTTP on Azurite: the tag admin, the column catalog, flat files, ticket views, tenancy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from tests.conftest import Api, download_csv
from tests.support.fixed_data import fixed_cases, fixed_records, fixed_tags
from tools.load_cases import load_entities

pytestmark = pytest.mark.integration


def seed_fixed(tables: TableServiceClient, org: str, admin_api: Api, **overrides: Any) -> None:
    cases = [{**case, **overrides} for case in fixed_cases(org)]
    load_entities(tables, "cases", cases)
    load_entities(tables, "caserecords", fixed_records(org))
    for tag in fixed_tags():
        assert admin_api.post("/export-fields/tags", json=tag).status_code == 201


def test_the_tag_admin_creates_lists_updates_moves_and_deletes_tags(admin_api: Api) -> None:
    created = admin_api.post("/export-fields/tags", json=fixed_tags()[0])
    assert created.status_code == 201 and created.headers["Location"] == "/api/export-fields/tags/1"
    assert created.json()["columnName"] == "total_dollar_amount" and created.json()["createdById"] == "admin-1"
    assert [tag["tagSlot"] for tag in admin_api.get("/export-fields/tags").json()["items"]] == [1]
    patched = admin_api.request("PATCH", "/export-fields/tags/1", json={"displayLabel": "Total $", "tagSlot": 4})
    assert patched.status_code == 200 and patched.json()["tagSlot"] == 4
    assert admin_api.get("/export-fields/tags/1").status_code == 404
    put = admin_api.request(
        "PUT", "/export-fields/tags/4", json={**fixed_tags()[0], "tagSlot": 4, "dataType": "NUMBER"}
    )
    assert (
        put.status_code == 200
        and put.json()["dataType"] == "NUMBER"
        and put.json()["displayLabel"] == "Total Dollar Amount"
    )
    assert admin_api.request("DELETE", "/export-fields/tags/4").status_code == 204
    assert admin_api.get("/export-fields/tags").json()["items"] == []
    # The path and column name are free again once the tag is gone.
    assert admin_api.post("/export-fields/tags", json=fixed_tags()[0]).status_code == 201


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"sourceFieldPath": "customFields.other", "columnName": "other"}, "Tag slot 1 is already in use"),
        (
            {"tagSlot": 2, "columnName": "other"},
            "CASE field customFields.totalDollarAmount is already tagged in slot 1",
        ),
        ({"tagSlot": 2, "sourceFieldPath": "customFields.other"}, "Column name total_dollar_amount is already used"),
    ],
)
def test_a_taken_slot_path_or_column_name_is_a_409_naming_it(
    admin_api: Api, change: dict[str, Any], detail: str
) -> None:
    assert admin_api.post("/export-fields/tags", json=fixed_tags()[0]).status_code == 201
    conflict = admin_api.post("/export-fields/tags", json={**fixed_tags()[0], **change})
    assert conflict.status_code == 409 and conflict.headers["Content-Type"].startswith("application/problem+json")
    assert detail in conflict.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"columnName": "case_id"}, "core column"),
        ({"columnName": "Bad Name"}, "columnName"),
        ({"tagSlot": 21}, "tagSlot"),
        ({"dataType": "MONEY"}, "dataType"),
        ({"sourceEntityType": "CASE", "sourceFieldPath": "responses.q5"}, "responses"),
        ({"templateId": "not-a-uuid"}, "templateId"),
    ],
)
def test_an_invalid_tag_is_a_422(admin_api: Api, body: dict[str, Any], field: str) -> None:
    response = admin_api.post("/export-fields/tags", json={**fixed_tags()[0], **body})
    assert response.status_code == 422 and field in response.text


def test_only_admins_manage_tags(api: Api) -> None:
    assert api.get("/export-fields/tags").status_code == 403
    assert api.post("/export-fields/tags", json=fixed_tags()[0]).status_code == 403


def test_the_column_catalog_lists_core_investigation_and_tagged_columns(admin_api: Api) -> None:
    admin_api.post("/export-fields/tags", json=fixed_tags()[2])
    catalog = admin_api.get("/export-fields/columns", params={"maxInvestigations": "2"}).json()
    names = [column["name"] for column in catalog["columns"]]
    assert names[0] == "case_id" and "inv_2_finding_summary" in names and "inv_3_id" not in names
    assert names[-1] == "hours_spent"
    assert catalog["columns"][4] == {
        "name": "case_created_at",
        "label": "Created At",
        "dataType": "DATETIME",
        "formatPattern": None,
        "sourceEntityType": None,
        "sourceFieldPath": None,
        "templateId": None,
        "excludedFields": None,
    }
    tickets = admin_api.get("/export-fields/columns", params={"dataset": "tickets"}).json()
    assert [column["name"] for column in tickets["columns"]][:3] == ["ticket_id", "ticket_number", "title"]


def test_the_preview_shows_the_values_one_case_would_export(
    admin_api: Api, org: str, tables: TableServiceClient
) -> None:
    seed_fixed(tables, org, admin_api)
    preview = admin_api.get("/export-fields/tags/preview", params={"caseId": "case-1"})
    assert preview.status_code == 200
    values = {value["columnName"]: value["value"] for value in preview.json()["values"]}
    assert values == {
        "total_dollar_amount": 1234.5,
        "recovery_rate": 0.125,
        "hours_spent": 40,
        "q5_answer": "Partly, see notes",
        "gift_value": 99.99,
    }
    assert admin_api.get("/export-fields/tags/preview", params={"caseId": "nope"}).status_code == 404


def test_a_flat_file_over_http_holds_investigations_tags_and_overflow(
    admin_api: Api, org: str, tables: TableServiceClient
) -> None:
    seed_fixed(tables, org, admin_api)
    job = admin_api.post("/exports", json={"format": "CSV", "includeOverflow": True}).json()
    rows = download_csv(admin_api, job["jobId"])
    assert [row["case_id"] for row in rows] == ["case-1", "case-2", "case-3"]
    assert rows[0]["inv_1_investigator_name"] == "李小龙" and rows[0]["hours_spent"] == "40"
    assert rows[0]["q5_answer"] == "Partly, see notes" and rows[1]["total_dollar_amount"] == "not disclosed"
    assert rows[2]["custom_fields_overflow"] == ""


def test_a_tag_edited_after_the_job_was_created_does_not_change_that_export(
    admin_api: Api, org: str, tables: TableServiceClient
) -> None:
    seed_fixed(tables, org, admin_api)
    job = admin_api.post("/exports", json={"format": "CSV"}).json()
    admin_api.request("PATCH", "/export-fields/tags/3", json={"columnName": "renamed_hours"})
    admin_api.request("DELETE", "/export-fields/tags/1")
    rows = download_csv(admin_api, job["jobId"])
    assert "hours_spent" in rows[0] and "total_dollar_amount" in rows[0] and "renamed_hours" not in rows[0]


def test_two_organizations_sharing_ids_never_see_each_others_rows(
    admin_api: Api, org: str, tables: TableServiceClient, api_as: Callable[..., Api]
) -> None:
    other_org = org + "-b"
    other_admin = api_as(other_org, "admin-1", "access_reports", "manage_system_settings")
    seed_fixed(tables, org, admin_api)
    seed_fixed(tables, other_org, other_admin, CaseNumber="B-SECRET", AssignedToName="Other Org Person")
    mine = download_csv(admin_api, admin_api.post("/exports", json={"format": "CSV"}).json()["jobId"])
    theirs = download_csv(other_admin, other_admin.post("/exports", json={"format": "CSV"}).json()["jobId"])
    assert {row["case_number"] for row in mine} == {"C-2024-000001", "C-2024-000002", "C-2024-000003"}
    assert {row["case_number"] for row in theirs} == {"B-SECRET"}
    assert "Other Org Person" not in str(mine)


def test_a_ticket_view_export_applies_its_snapshot(admin_api: Api, org: str, load_tickets: Callable[..., int]) -> None:
    load_tickets(org, 400)
    body = {
        "dataset": "tickets",
        "format": "CSV",
        "viewId": "0b7c1d5e-0000-4000-8000-000000000001",
        "filters": [
            {"field": "status", "operator": "in", "value": "Open,Pending"},
            {"field": "title", "operator": "contains", "value": "vpn"},
        ],
        "sortField": "created_at",
        "sortDirection": "desc",
        "columns": ["ticket_number", "title", "status", "created_at"],
        "scope": {"teamId": "6f1d5c1e-0000-4000-8000-000000000002"},
    }
    rows = download_csv(admin_api, admin_api.post("/exports", json=body).json()["jobId"])
    from tools.synthetic_tickets import synthetic_tickets

    expected = [
        t
        for t in synthetic_tickets(org, 400)
        if t["Status"] in ("Open", "Pending")
        and "vpn" in t["Title"].casefold()
        and t.get("TeamId") == "6f1d5c1e-0000-4000-8000-000000000002"
    ]
    expected.sort(key=lambda t: (-t["CreatedAt"].timestamp(), t["RowKey"]))
    assert [int(row["ticket_number"]) for row in rows] == [t["Number"] for t in expected] and expected
    assert list(rows[0]) == ["ticket_number", "title", "status", "created_at"]


@pytest.mark.parametrize(("field", "direction"), [("title", "desc"), ("created_at", "asc")])
def test_a_sorted_ticket_export_is_the_unsorted_one_sorted_by_the_rule_from_many_runs(
    admin_api: Api,
    org: str,
    load_tickets: Callable[..., int],
    tables: TableServiceClient,
    blobs: BlobServiceClient,
    field: str,
    direction: str,
) -> None:
    # 2,500 tickets with every catalog column take ~2.5 MB of run lines: dozens of runs at the test host's
    # EXPORTS_SORT_RUN_BYTES (64 KiB), merged on Azurite.
    from exports.datasets.tickets import TicketPlan
    from exports.models import CreateExportRequest
    from exports.ports import KEY
    from tools.synthetic_tickets import synthetic_tickets

    load_tickets(org, 2_500)
    body = {"dataset": "tickets", "format": "CSV", "sortField": field, "sortDirection": direction}
    sorted_job = admin_api.post("/exports", json=body).json()["jobId"]
    unsorted_job = admin_api.post("/exports", json={"dataset": "tickets", "format": "CSV"}).json()["jobId"]
    rows = download_csv(admin_api, sorted_job)
    unsorted = {row["ticket_number"]: row for row in download_csv(admin_api, unsorted_job)}
    plan = TicketPlan(org, CreateExportRequest.model_validate(body), [])
    tickets = sorted(synthetic_tickets(org, 2_500), key=lambda t: plan.sort_key({**t, KEY: t["RowKey"]}))
    assert rows == [unsorted[str(t["Number"])] for t in tickets]
    stored = tables.get_table_client("exportjobs").get_entity(org, sorted_job)
    assert orjson.loads(stored["CheckpointJson"])["sort_runs"] > 20
    runs = blobs.get_container_client("exports").list_blobs(name_starts_with=f"sort-runs/{stored['BlobName']}/")
    assert [blob.name for blob in runs] == [], "the runs are deleted once the file is committed"


def test_a_ticket_filter_on_an_unknown_field_is_a_422(admin_api: Api) -> None:
    body = {"dataset": "tickets", "format": "CSV", "filters": [{"field": "mood", "operator": "equals", "value": "x"}]}
    response = admin_api.post("/exports", json=body)
    assert response.status_code == 422 and "unknown ticket field 'mood'" in response.json()["detail"]
