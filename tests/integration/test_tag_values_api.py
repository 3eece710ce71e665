"""Tagged values and the overflow over HTTP on Azurite: tags made through the API, cases with typed fields, CSV."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
import pytest
from azure.data.tables import TableServiceClient

from tests.conftest import Api, download_csv
from tools.load_cases import load_entities

pytestmark = pytest.mark.integration

TEMPLATE = "5b0c1a52-9a57-4b43-8e3c-2c2f8f0a1a01"


def tag(slot: int, path: str, column: str, data_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "sourceEntityType": "CASE",
        "sourceFieldPath": f"customFields.{path}",
        "tagSlot": slot,
        "columnName": column,
        "displayLabel": column.replace("_", " ").title(),
        "dataType": data_type,
        **extra,
    }


def load_case(tables: TableServiceClient, org: str, fields: dict[str, Any]) -> None:
    case = {
        "PartitionKey": org,
        "RowKey": "0000000001",
        "CaseId": "case-1",
        "CaseNumber": "C-1",
        "TemplateId": TEMPLATE,
        "CustomFieldsJson": orjson.dumps(fields).decode(),
    }
    load_entities(tables, "cases", [case])


def test_numbers_typed_by_people_round_trip_exactly_or_as_typed(
    admin_api: Api, org: str, tables: TableServiceClient
) -> None:
    typed = {
        "grouped": "1,234.50",
        "decimalComma": "1,5",
        "germanAmount": "1.234,50",
        "longId": "12345678901234567890",
        "rate": 25,
        "rateText": "25%",
        "price": "$1,234.50",
        "euros": "€12,00",
    }
    tags = [
        tag(1, "grouped", "grouped", "NUMBER"),
        tag(2, "decimalComma", "decimal_comma", "NUMBER"),
        tag(3, "germanAmount", "german_amount", "NUMBER"),
        tag(4, "longId", "long_id", "NUMBER"),
        tag(5, "rate", "rate", "PERCENTAGE", formatPattern="0.0%"),
        tag(6, "rateText", "rate_text", "PERCENTAGE", formatPattern="0.0%"),
        tag(7, "price", "price", "CURRENCY", formatPattern="$#,##0.00"),
        tag(8, "euros", "euros", "CURRENCY"),
    ]
    for body in tags:
        assert admin_api.post("/export-fields/tags", json=body).status_code == 201
    load_case(tables, org, typed)

    columns = [body["columnName"] for body in tags]
    job = admin_api.post("/exports", json={"format": "CSV", "exportType": "CUSTOM", "columns": columns}).json()
    (row,) = download_csv(admin_api, job["jobId"])
    assert row == {
        "grouped": "1234.5",
        "decimal_comma": "1,5",
        "german_amount": "1.234,50",
        "long_id": "12345678901234567890",
        "rate": "0.25",
        "rate_text": "0.25",
        "price": "1234.50",
        "euros": "€12,00",
    }
    preview = admin_api.get("/export-fields/tags/preview", params={"caseId": "case-1"})
    assert preview.status_code == 200
    values = {v["columnName"]: v["value"] for v in json.loads(preview.content, parse_float=Decimal)["values"]}
    assert values["long_id"] == 12345678901234567890 and values["rate"] == values["rate_text"] == Decimal("0.25")


def test_the_overflow_keeps_every_field_whose_tag_column_is_not_in_the_file(
    admin_api: Api, org: str, tables: TableServiceClient
) -> None:
    for body in [
        tag(1, "totalDollarAmount", "total_dollar_amount", "CURRENCY"),
        tag(2, "address.city", "city", "TEXT"),
        tag(3, "recoveryRate", "recovery_rate", "PERCENTAGE", templateId=TEMPLATE),
    ]:
        assert admin_api.post("/export-fields/tags", json=body).status_code == 201
    fields = {"totalDollarAmount": 10, "address": {"city": "Lyon", "street": "1 rue Neuve"}, "recoveryRate": "5%"}
    load_case(tables, org, fields)

    options = {"includeOverflow": True, "includeTaggedFields": False, "includeInvestigations": False}
    catalog = admin_api.get("/export-fields/columns", params={k: str(v).lower() for k, v in options.items()}).json()
    assert catalog["columns"][-1]["name"] == "custom_fields_overflow"
    assert catalog["columns"][-1]["excludedFields"] == []
    (row,) = download_csv(admin_api, admin_api.post("/exports", json={"format": "CSV", **options}).json()["jobId"])
    assert "city" not in row and json.loads(row["custom_fields_overflow"]) == fields

    chosen = ["case_id", "city", "custom_fields_overflow"]
    catalog = admin_api.get(
        "/export-fields/columns", params={"exportType": "CUSTOM", "columns": ",".join(chosen)}
    ).json()
    assert [col["name"] for col in catalog["columns"]] == chosen
    assert catalog["columns"][-1]["excludedFields"] == ["address.city"]
    custom = admin_api.post("/exports", json={"format": "CSV", "exportType": "CUSTOM", "columns": chosen}).json()
    (row,) = download_csv(admin_api, custom["jobId"])
    assert row["city"] == "Lyon"
    assert json.loads(row["custom_fields_overflow"]) == {
        "totalDollarAmount": 10,
        "address": {"street": "1 rue Neuve"},
        "recoveryRate": "5%",
    }
    refused = admin_api.get("/export-fields/columns", params={"columns": "case_id"})
    assert refused.status_code == 422 and "CUSTOM" in refused.json()["detail"]
