"""The tag admin's audit trail over HTTP on Azurite: every change and a preview, with the tag before and after,
listed for administrators newest first by GET /export-fields/tags/audit."""

from __future__ import annotations

from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from tests.conftest import Api
from tests.support.fixed_data import fixed_cases, fixed_records, fixed_tags
from tools.load_cases import load_entities

pytestmark = pytest.mark.integration


def definition(tag: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A tag as an audit row shows it: every field of the definition, unset ones as null."""
    return {"templateId": None, "formatPattern": None, **tag, **changes}


def test_each_tag_change_and_a_preview_appear_in_the_tag_audit_with_before_and_after(
    admin_api: Api, api: Api, org: str, tables: TableServiceClient
) -> None:
    load_entities(tables, "cases", fixed_cases(org))
    load_entities(tables, "caserecords", fixed_records(org))
    tag = fixed_tags()[0]

    assert admin_api.post("/export-fields/tags", json=tag).status_code == 201
    assert admin_api.request("PUT", "/export-fields/tags/1", json={**tag, "displayLabel": "Total $"}).status_code == 200
    assert admin_api.request("PATCH", "/export-fields/tags/1", json={"tagSlot": 4}).status_code == 200
    assert admin_api.post("/export-fields/tags", json={**tag, "tagSlot": 7}).status_code == 409  # refused: no row
    assert admin_api.get("/export-fields/tags/preview", params={"caseId": "case-1"}).status_code == 200
    assert admin_api.request("DELETE", "/export-fields/tags/4").status_code == 204

    assert api.get("/export-fields/tags/audit").status_code == 403
    listed = admin_api.get("/export-fields/tags/audit")

    assert listed.status_code == 200, listed.text
    assert listed.json()["continuationToken"] is None
    rows = listed.json()["items"]
    assert [(row["action"], row["tagSlot"]) for row in rows] == [
        ("deleted", 4), ("previewed", None), ("updated", 1), ("replaced", 1), ("created", 1)]
    deleted, previewed, updated, replaced, created = rows
    labelled = definition(tag, displayLabel="Total $")
    assert (created["before"], created["after"]) == (None, definition(tag))
    assert (replaced["before"], replaced["after"]) == (definition(tag), labelled)
    assert (updated["before"], updated["after"]) == (labelled, {**labelled, "tagSlot": 4})
    assert (deleted["before"], deleted["after"]) == ({**labelled, "tagSlot": 4}, None)
    assert (previewed["caseId"], previewed["before"], previewed["after"]) == ("case-1", None, None)
    assert {(row["actorId"], row["actorName"], row["clientAddress"]) for row in rows} == {
        ("admin-1", "Ad Min", "127.0.0.1")}

    first = admin_api.get("/export-fields/tags/audit", params={"pageSize": "2"}).json()
    rest = admin_api.get(
        "/export-fields/tags/audit", params={"pageSize": "3", "continuationToken": first["continuationToken"]}
    ).json()
    assert first["items"] + rest["items"] == rows and rest["continuationToken"] is None
    garbled = admin_api.get("/export-fields/tags/audit", params={"continuationToken": "garbage"})
    assert garbled.status_code == 400 and garbled.headers["Content-Type"].startswith("application/problem+json")
