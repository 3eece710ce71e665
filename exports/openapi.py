"""The OpenAPI document, generated from the same pydantic models the routes use."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from exports.http_fields import ColumnCatalog
from exports.models import CamelModel, CreateExportRequest, JobPage, JobView

REF = "#/components/schemas/{model}"


class Problem(CamelModel):
    """An error, as RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


class Health(CamelModel):
    status: str
    storage: str


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _problems(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Malformed request",
        401: "No or invalid principal",
        403: "Missing permission",
        404: "Not found",
        409: "Conflict with the job's state",
        410: "File expired",
        413: "Body too large",
        422: "Validation failed",
        503: "Storage unreachable",
    }
    return {
        str(status): {"description": text[status], "content": {"application/problem+json": {"schema": _ref(Problem)}}}
        for status in statuses
    }


JOB_ID = {"name": "jobId", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 100}}
PRINCIPAL = {"principalHeader": {"type": "apiKey", "in": "header", "name": "X-MS-CLIENT-PRINCIPAL"}}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [
            (model, "serialization" if model is not CreateExportRequest else "validation")
            for model in (CreateExportRequest, JobView, JobPage, ColumnCatalog, Problem, Health)
        ],
        by_alias=True,
        ref_template=REF,
    )
    secured: list[dict[str, list[str]]] = [{"principalHeader": []}]
    paths: dict[str, Any] = {
        "/exports": {
            "post": {
                "operationId": "createExport",
                "security": secured,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 200},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(CreateExportRequest)}},
                },
                "responses": {"202": _json(JobView, "Job recorded and queued"), **_problems(400, 401, 403, 413, 422)},
            },
            "get": {
                "operationId": "listExports",
                "security": secured,
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["queued", "running", "completed", "failed", "cancelled"]},
                    },
                    {"name": "pageSize", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                    {"name": "continuationToken", "in": "query", "schema": {"type": "string", "maxLength": 2000}},
                    {"name": "all", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": {
                    "200": _json(JobPage, "The caller's jobs, newest first"),
                    **_problems(400, 401, 403, 422),
                },
            },
        },
        "/exports/{jobId}": {
            "get": {
                "operationId": "getExport",
                "security": secured,
                "parameters": [JOB_ID],
                "responses": {"200": _json(JobView, "The job"), **_problems(401, 404)},
            }
        },
        "/exports/{jobId}/cancel": {
            "post": {
                "operationId": "cancelExport",
                "security": secured,
                "parameters": [JOB_ID],
                "responses": {"200": _json(JobView, "The cancelled job"), **_problems(401, 404, 409)},
            }
        },
        "/exports/{jobId}/download": {
            "get": {
                "operationId": "downloadExport",
                "security": secured,
                "parameters": [JOB_ID],
                "responses": {
                    "302": {
                        "description": "Redirect to a short-lived read-only link",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    },
                    **_problems(401, 404, 409, 410),
                },
            }
        },
        "/export-fields/columns": {
            "get": {
                "operationId": "listColumns",
                "security": secured,
                "parameters": [
                    {"name": "dataset", "in": "query", "schema": {"type": "string", "enum": ["cases"]}},
                    {
                        "name": "exportType",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": ["FLAT_FILE", "CASES_ONLY", "INVESTIGATIONS_ONLY", "DISCLOSURES_ONLY", "CUSTOM"],
                        },
                    },
                    {
                        "name": "maxInvestigations",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 10},
                    },
                ],
                "responses": {"200": _json(ColumnCatalog, "Columns in file order"), **_problems(401, 403, 422)},
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "responses": {"200": _json(Health, "Up, storage reachable"), **_problems(503)},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "responses": {
                    "200": {
                        "description": "This document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Flat-file exports", "version": "1.0.0"},
        "servers": [{"url": "/api"}],
        "paths": paths,
        "components": {"schemas": schemas["$defs"], "securitySchemes": PRINCIPAL},
    }
