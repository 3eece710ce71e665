"""The OpenAPI document describes every HTTP function of the app, and every error as problem+json."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis

from tests.security.routes import registered_http_routes as _routes


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # Building the document reads no settings and talks to no storage.
    from exports.openapi import openapi_document

    return openapi_document()


def described(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path.lstrip("/"), method) for path, item in document["paths"].items() for method in item}


def test_every_http_function_is_described_and_nothing_else(document: dict[str, Any]) -> None:
    assert described(document) == {(path, method.lower()) for method, path in _routes()}


def test_the_document_is_valid_openapi_that_schemathesis_can_load(document: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_dict(document)
    operations = list(schema.get_all_operations())
    assert len(operations) == len(described(document))
    assert all(type(result).__name__ == "Ok" for result in operations), operations


def test_every_secured_operation_declares_401_and_every_error_is_problem_json(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            secured = operation.get("security", document["security"]) != []
            assert not secured or "401" in operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert list(response["content"]) == ["application/problem+json"], (method, path, status)


def test_request_bodies_and_query_parameters_come_from_the_pydantic_models(document: dict[str, Any]) -> None:
    from exports.http_jobs import ListQuery

    schemas = document["components"]["schemas"]
    body = document["paths"]["/exports"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/CreateExportRequest"}
    assert schemas["CreateExportRequest"]["additionalProperties"] is False  # unknown fields are refused
    listed = {p["name"] for p in document["paths"]["/exports"]["get"]["parameters"]}
    assert listed == {field.alias or name for name, field in ListQuery.model_fields.items()}


def test_no_organization_id_is_accepted_from_the_caller(document: dict[str, Any]) -> None:
    text = str({path: item for path, item in document["paths"].items()}).lower()
    request = str(document["components"]["schemas"]["CreateExportRequest"]).lower()
    assert "orgid" not in text and "organizationid" not in text and "organization_id" not in request
