"""The OpenAPI document, generated from the same pydantic models the routes use.

Bodies, responses and query parameters all come from the models (`models_json_schema`); only the
list of routes, their status codes and headers are written here. `tests/security/test_contract.py`
checks that every HTTP function in function_app.py is described here and nothing else is.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from exports.http_fields import ColumnCatalog, ColumnsQuery, PreviewQuery, TagAuditQuery
from exports.http_jobs import ListQuery
from exports.models import (
    AuditTrail,
    CamelModel,
    CreateExportRequest,
    JobPage,
    JobView,
    ReportFieldTag,
    TagAuditPage,
    TagCreate,
    TagList,
    TagPreviewValue,
    TagUpdate,
)
from shared.auth import MAX_HEADER_BYTES
from shared.http import MAX_BODY_BYTES, PROBLEM_JSON, REQUESTED_WITH

REF = "#/components/schemas/{model}"


class ProblemError(CamelModel):
    """One validation error: where (a dotted path, `(body)` for the whole body) and what."""

    field: str
    message: str


class Problem(CamelModel):
    """An error, as RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemError] | None = None


class Health(CamelModel):
    status: str
    storage: str


class TagPreview(CamelModel):
    """What GET /export-fields/tags/preview answers: one case's value for each of the organization's tags."""

    case_id: str
    values: list[TagPreviewValue]


# Models described in components/schemas: (model, mode). Requests and query models validate input.
_INPUT_MODELS: tuple[type[BaseModel], ...] = (
    CreateExportRequest,
    ListQuery,
    ColumnsQuery,
    PreviewQuery,
    TagAuditQuery,
    TagCreate,
    TagUpdate,
)
_OUTPUT_MODELS: tuple[type[BaseModel], ...] = (
    JobView,
    JobPage,
    AuditTrail,
    ColumnCatalog,
    ReportFieldTag,
    TagList,
    TagPreview,
    TagAuditPage,
    Problem,
    Health,
)

_PROBLEM_TEXT = {
    400: "Malformed request (not JSON, or a continuation token this API did not issue)",
    401: "No X-MS-CLIENT-PRINCIPAL, or one that cannot be read",
    403: "The principal lacks the permission this needs (or a body-less POST/DELETE lacks X-Requested-With)",
    404: "No such job for this caller (another user's or organization's job looks the same)",
    409: "Conflict with the job's state",
    410: "The file has expired and was deleted",
    413: f"The body is over {MAX_BODY_BYTES} bytes",
    415: "The body is not sent as Content-Type: application/json",
    422: "Validation failed; `errors` names each field and bound",
    429: "The organization's daily export quota is used up; Retry-After says when it resets",
    503: "Storage is unreachable",
}


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": _ref(model)}}}
    if headers:
        response["headers"] = headers
    return response


def _problems(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {"description": _PROBLEM_TEXT[status], "content": {PROBLEM_JSON: {"schema": _ref(Problem)}}}
        for status in statuses
    }


def _header(description: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": schema}


def _query_parameters(schemas: dict[str, Any], model: type[BaseModel]) -> list[dict[str, Any]]:
    """The model's fields as query parameters (optional `X | None` fields lose their null branch)."""
    definition = schemas[model.__name__]
    required = set(definition.get("required", []))
    parameters = []
    for name, prop in definition["properties"].items():
        schema = {key: value for key, value in prop.items() if key not in ("title", "default")}
        branches = schema.pop("anyOf", None)
        if branches is not None:
            kept = [branch for branch in branches if branch != {"type": "null"}]
            schema.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
        parameters.append({"name": name, "in": "query", "required": name in required, "schema": schema})
    return parameters


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "required": True,
        "description": f"At most {MAX_BODY_BYTES} bytes; unknown fields are refused",
        "content": {"application/json": {"schema": _ref(model)}},
    }


TAG_SLOT = {
    "name": "slot",
    "in": "path",
    "required": True,
    "description": "The tag slot; slots are 1 to 20, any other number is 404",
    "schema": {"type": "integer"},
}
JOB_ID = {
    "name": "jobId",
    "in": "path",
    "required": True,
    "description": "The job id from the create answer; anything else is 404",
    "schema": {"type": "string", "maxLength": 100},
}
RETRY_AFTER = _header("Seconds to wait before polling the job again", {"type": "integer", "minimum": 1})
SECURITY_SCHEMES = {
    "appServicePrincipal": {
        "type": "apiKey",
        "in": "header",
        "name": "X-MS-CLIENT-PRINCIPAL",
        "description": (
            "Base64 JSON principal set by App Service Authentication (claims org_id, oid, name, roles); "
            f"at most {MAX_HEADER_BYTES} characters. Trusted only because App Service Authentication is on."
        ),
    }
}


REQUESTED_WITH_HEADER = {
    "name": REQUESTED_WITH,
    "in": "header",
    "required": True,
    "description": "Any value: a header no HTML form can send, so a page on another site cannot make this call",
    "schema": {"type": "string", "minLength": 1},
}


def _cross_site_rules(paths: dict[str, Any]) -> None:
    """What shared.http.refuse_cross_site enforces on every route: a body is application/json or 415; a
    secured POST or DELETE without a body needs X-Requested-With or 403."""
    for item in paths.values():
        for method, operation in item.items():
            if "requestBody" in operation:
                operation["responses"].update(_problems(415))
            elif method in ("post", "delete") and operation.get("security") != []:
                operation["parameters"] = [*operation.get("parameters", []), REQUESTED_WITH_HEADER]
                operation["responses"].update(_problems(403))
            operation["responses"] = dict(sorted(operation["responses"].items()))


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    _, generated = models_json_schema(
        [(model, "validation") for model in _INPUT_MODELS] + [(model, "serialization") for model in _OUTPUT_MODELS],
        by_alias=True,
        ref_template=REF,
    )
    schemas: dict[str, Any] = generated["$defs"]
    secured: list[dict[str, list[str]]] = [{"appServicePrincipal": []}]
    paths: dict[str, Any] = {
        "/exports": {
            "post": {
                "operationId": "createExport",
                "summary": "Record an export job and queue it",
                "security": secured,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "Per user: a repeat returns the same job; the same key with another body is 422",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    }
                ],
                "requestBody": _json_body(CreateExportRequest),
                "responses": {
                    "202": _json(
                        JobView,
                        "Job recorded and queued (or, for a repeated Idempotency-Key, the job recorded first)",
                        {
                            "Location": _header("The job's URL", {"type": "string"}, required=True),
                            "Retry-After": {**RETRY_AFTER, "required": True},
                            "Idempotent-Replayed": _header(
                                "`true` when an earlier request with this key made the job", {"type": "string"}
                            ),
                        },
                    ),
                    "429": {
                        "description": _PROBLEM_TEXT[429],
                        "headers": {
                            "Retry-After": _header(
                                "Seconds until the quota resets (midnight UTC)", {"type": "integer"}, required=True
                            )
                        },
                        "content": {PROBLEM_JSON: {"schema": _ref(Problem)}},
                    },
                    **_problems(400, 401, 403, 413, 422),
                },
            },
            "get": {
                "operationId": "listExports",
                "summary": "The caller's jobs (or, with all=true and manage_system_settings, the organization's)",
                "security": secured,
                "parameters": _query_parameters(schemas, ListQuery),
                "responses": {
                    "200": _json(JobPage, "Jobs, newest first"),
                    **_problems(400, 401, 403, 422),
                },
            },
        },
        "/exports/{jobId}": {
            "get": {
                "operationId": "getExport",
                "summary": "A job: status, progress and, once completed, a fresh download link",
                "security": secured,
                "parameters": [JOB_ID],
                "responses": {
                    "200": _json(JobView, "The job", {"Retry-After": RETRY_AFTER}),
                    **_problems(401, 404),
                },
            },
            "delete": {
                "operationId": "deleteExport",
                "summary": "Delete the file at once and mark the job deleted (a running job is cancelled first); "
                "the record stays for the audit trail",
                "security": secured,
                "parameters": [JOB_ID],
                "responses": {"204": {"description": "Deleted (also for a job deleted before)"}, **_problems(401, 404)},
            },
        },
        "/exports/{jobId}/audit": {
            "get": {
                "operationId": "getExportAudit",
                "summary": "Who requested, cancelled, deleted or was given a download link for the job "
                "(manage_system_settings)",
                "security": secured,
                "parameters": [JOB_ID],
                "responses": {"200": _json(AuditTrail, "Audit rows, oldest first"), **_problems(401, 403, 404)},
            }
        },
        "/exports/{jobId}/cancel": {
            "post": {
                "operationId": "cancelExport",
                "summary": "Cancel a queued or running job",
                "security": secured,
                "parameters": [JOB_ID],
                "responses": {"200": _json(JobView, "The cancelled job"), **_problems(401, 404, 409)},
            }
        },
        "/exports/{jobId}/download": {
            "get": {
                "operationId": "downloadExport",
                "summary": "Redirect to a short-lived, read-only link to the file",
                "security": secured,
                "parameters": [JOB_ID],
                "responses": {
                    "302": {
                        "description": "Redirect to a read-only SAS link for this one file",
                        "headers": {"Location": _header("The SAS link", {"type": "string"}, required=True)},
                    },
                    **_problems(401, 403, 404, 409, 410),
                },
            }
        },
        "/export-fields/columns": {
            "get": {
                "operationId": "listColumns",
                "summary": "The column catalog, in file order",
                "security": secured,
                "parameters": _query_parameters(schemas, ColumnsQuery),
                "responses": {"200": _json(ColumnCatalog, "Columns in file order"), **_problems(401, 403, 422)},
            }
        },
        "/export-fields/tags": {
            "get": {
                "operationId": "listTags",
                "summary": "The organization's tagged fields (manage_system_settings)",
                "security": secured,
                "responses": {"200": _json(TagList, "Tags by slot"), **_problems(401, 403)},
            },
            "post": {
                "operationId": "createTag",
                "summary": "Promote a custom field to a named column in a free slot",
                "security": secured,
                "requestBody": _json_body(TagCreate),
                "responses": {
                    "201": _json(
                        ReportFieldTag,
                        "The tag",
                        {"Location": _header("The tag's URL", {"type": "string"}, required=True)},
                    ),
                    **_problems(400, 401, 403, 409, 413, 422),
                },
            },
        },
        "/export-fields/tags/preview": {
            "get": {
                "operationId": "previewTags",
                "summary": "The values one case would export for each tag",
                "security": secured,
                "parameters": _query_parameters(schemas, PreviewQuery),
                "responses": {"200": _json(TagPreview, "One value per tag"), **_problems(401, 403, 404, 422)},
            }
        },
        "/export-fields/tags/audit": {
            "get": {
                "operationId": "getTagAudit",
                "summary": "Who created, replaced, updated, deleted or previewed tags, with each tag before and after "
                "(manage_system_settings)",
                "security": secured,
                "parameters": _query_parameters(schemas, TagAuditQuery),
                "responses": {
                    "200": _json(TagAuditPage, "Audit rows, newest first; continuationToken reads the next page"),
                    **_problems(400, 401, 403, 422),
                },
            }
        },
        "/export-fields/tags/{slot}": {
            "get": {
                "operationId": "getTag",
                "summary": "The tag in a slot",
                "security": secured,
                "parameters": [TAG_SLOT],
                "responses": {"200": _json(ReportFieldTag, "The tag"), **_problems(401, 403, 404)},
            },
            "put": {
                "operationId": "putTag",
                "summary": "Create or replace the tag in a slot",
                "security": secured,
                "parameters": [TAG_SLOT],
                "requestBody": _json_body(TagCreate),
                "responses": {
                    "200": _json(ReportFieldTag, "The replaced tag"),
                    "201": _json(ReportFieldTag, "The new tag"),
                    **_problems(400, 401, 403, 404, 409, 413, 422),
                },
            },
            "patch": {
                "operationId": "updateTag",
                "summary": "Change some fields of the tag in a slot",
                "security": secured,
                "parameters": [TAG_SLOT],
                "requestBody": _json_body(TagUpdate),
                "responses": {
                    "200": _json(ReportFieldTag, "The updated tag"),
                    **_problems(400, 401, 403, 404, 409, 413, 422),
                },
            },
            "delete": {
                "operationId": "deleteTag",
                "summary": "Delete the tag in a slot",
                "security": secured,
                "parameters": [TAG_SLOT],
                "responses": {"204": {"description": "Deleted"}, **_problems(401, 403, 404, 409)},
            },
        },
        # The exports page: static, no data and no identity in it; its script calls the routes above.
        "/page": {
            "get": {
                "operationId": "exportsPage",
                "summary": "The exports page (HTML); in local development it carries a principal picker",
                "security": [],
                "responses": {
                    "200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}}
                },
            }
        },
        "/page/{asset}": {
            "get": {
                "operationId": "exportsPageAsset",
                "summary": "The page's script and style sheet",
                "security": [],
                "parameters": [
                    {
                        "name": "asset",
                        "in": "path",
                        "required": True,
                        "description": "One of the page's assets; anything else is 404",
                        "schema": {"type": "string", "enum": ["app.js", "app.css"]},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The asset",
                        "content": {
                            "text/javascript": {"schema": {"type": "string"}},
                            "text/css": {"schema": {"type": "string"}},
                        },
                    },
                    "404": {"description": "No such asset", "content": {PROBLEM_JSON: {"schema": _ref(Problem)}}},
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Is storage reachable?",
                "security": [],
                "responses": {"200": _json(Health, "Up, storage reachable"), **_problems(503)},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "This document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }
    _cross_site_rules(paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flat-file exports",
            "version": "1.0.0",
            "description": "Every error is application/problem+json (RFC 9457). A 500 is a bug.",
        },
        "servers": [{"url": "/api"}],
        "security": secured,
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }
