"""The OpenAPI document, generated from the same pydantic models the routes use.

Bodies, responses and query parameters all come from the models (`models_json_schema`); only the
list of routes, their status codes and headers are written here. `tests/security/test_contract.py`
checks that every HTTP function in function_app.py is described here and nothing else is.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from exports.http_fields import ColumnCatalog, ColumnsQuery, PreviewQuery, TagAuditQuery
from exports.http_jobs import ListQuery
from exports.http_schedules import ScheduleListQuery
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
from exports.models.schedule import ScheduleCreate, SchedulePage, ScheduleView
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
    ScheduleCreate,
    ScheduleListQuery,
)
_OUTPUT_MODELS: tuple[type[BaseModel], ...] = (
    ScheduleView,
    SchedulePage,
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


TAGS: list[dict[str, str]] = [
    {"name": "exports", "description": "Export jobs: create, follow, download, cancel, delete and audit them"},
    {"name": "export-fields", "description": "The column catalog: what a column picker needs"},
    {
        "name": "tags",
        "description": "Tagged fields: custom fields promoted to named columns in slots 1 to 20 "
        "(manage_system_settings)",
    },
    {
        "name": "export-schedules",
        "description": "Scheduled exports: a recurrence that turns an export's body into a job at each run",
    },
    {"name": "page", "description": "The exports page: static HTML, script and style sheet, no data in them"},
    {"name": "meta", "description": "Health and this document; no sign-in needed"},
]

# The query models only generate the query parameters (`_query_parameters`); no body or response refers to them,
# so they are left out of components/schemas. The schemas their fields point to stay, referred to by the parameters.
_QUERY_MODELS: tuple[type[BaseModel], ...] = (
    ListQuery, ColumnsQuery, PreviewQuery, TagAuditQuery, ScheduleListQuery,
)


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
                "tags": ["exports"],
                "summary": "Record an export job and queue it",
                "description": "Validates the body, records the job and queues its first step. A case export needs "
                "access_reports, a ticket export import_export_tickets. Answers 202 with the job, its URL in "
                "Location and, in Retry-After, how long to wait before polling it. An Idempotency-Key (per user) "
                "returns the same job for a repeat, with Idempotent-Replayed: true; the same key with another body "
                "is 422. A callbackUrl in the body receives the signed completion event. Over the organization's "
                "daily quota the answer is 429 with Retry-After.",
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
                "tags": ["exports"],
                "summary": "List export jobs",
                "description": "The caller's jobs (or, with all=true and manage_system_settings, the organization's), "
                "newest first. Paginated: pageSize is 1 to 100, and the continuationToken of a page reads the next "
                "one; status keeps only the jobs in that status.",
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
                "tags": ["exports"],
                "summary": "Get an export job",
                "description": "A job: status, stage, progress, rows, size, expiry, error and warnings and, once "
                "completed, a fresh download link (downloadUrl; null without the job's dataset permission). The "
                "caller's own job, or any of the organization's with manage_system_settings; any other job is 404, "
                "like a missing one. While the job is queued or running, Retry-After says when to poll again.",
                "security": secured,
                "parameters": [JOB_ID],
                "responses": {
                    "200": _json(JobView, "The job", {"Retry-After": RETRY_AFTER}),
                    **_problems(401, 404),
                },
            },
            "delete": {
                "operationId": "deleteExport",
                "tags": ["exports"],
                "summary": "Delete an export job's file",
                "description": "Deletes the file at once and marks the job deleted (a running job is cancelled "
                "first); the record stays for the audit trail. A repeat is 204 too. Needs the job's dataset "
                "permission and an X-Requested-With header.",
                "security": secured,
                "parameters": [JOB_ID],
                "responses": {"204": {"description": "Deleted (also for a job deleted before)"}, **_problems(401, 404)},
            },
        },
        "/exports/{jobId}/audit": {
            "get": {
                "operationId": "getExportAudit",
                "tags": ["exports"],
                "summary": "Get an export job's audit trail",
                "description": "Who requested, cancelled, deleted or was given a download link for the job, oldest "
                "first. Any job of the caller's organization; needs manage_system_settings.",
                "security": secured,
                "parameters": [JOB_ID],
                "responses": {"200": _json(AuditTrail, "Audit rows, oldest first"), **_problems(401, 403, 404)},
            }
        },
        "/exports/{jobId}/cancel": {
            "post": {
                "operationId": "cancelExport",
                "tags": ["exports"],
                "summary": "Cancel a queued or running job",
                "description": "Cancels the job and answers it; a job cancelled before is answered as it is. A job "
                "that completed or failed is 409, and so is a cancel that kept losing the race for the job record "
                "to its worker (it may simply be repeated). Needs the job's dataset permission and an "
                "X-Requested-With header.",
                "security": secured,
                "parameters": [JOB_ID],
                "responses": {"200": _json(JobView, "The cancelled job"), **_problems(401, 404, 409)},
            }
        },
        "/exports/{jobId}/download": {
            "get": {
                "operationId": "downloadExport",
                "tags": ["exports"],
                "summary": "Download an export job's file",
                "description": "Redirects to a short-lived, read-only link to the file. Needs the job's dataset "
                "permission; a job that has not completed is 409, an expired or deleted file 410.",
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
        "/exports/{jobId}/manifest": {
            "get": {
                "operationId": "downloadExportManifest",
                "tags": ["exports"],
                "summary": "Download an export job's manifest",
                "description": "Redirects to a short-lived, read-only link to the manifest file written beside the "
                "export: what was asked for (dataset, type, format, request snapshot, columns), by whom and when, "
                "the data's as-of time, the row count, the byte size and the SHA-256 of the file exactly as "
                "downloaded (and each shard's rows). The same document is the job's `manifest`; the job's "
                "`manifestSha256` is this file's SHA-256. The same permission and states as the file's download.",
                "security": secured,
                "parameters": [JOB_ID],
                "responses": {
                    "302": {
                        "description": "Redirect to a read-only SAS link for the manifest file",
                        "headers": {"Location": _header("The SAS link", {"type": "string"}, required=True)},
                    },
                    **_problems(401, 403, 404, 409, 410),
                },
            }
        },
        "/export-fields/columns": {
            "get": {
                "operationId": "listColumns",
                "tags": ["export-fields"],
                "summary": "The column catalog, in file order",
                "description": "The columns an export with these options would have, in file order (name, label, "
                "data type, format pattern), with the organization's tagged columns. Needs access_reports for "
                "cases, import_export_tickets for tickets.",
                "security": secured,
                "parameters": _query_parameters(schemas, ColumnsQuery),
                "responses": {"200": _json(ColumnCatalog, "Columns in file order"), **_problems(401, 403, 422)},
            }
        },
        "/export-fields/tags": {
            "get": {
                "operationId": "listTags",
                "tags": ["tags"],
                "summary": "List the organization's tagged fields",
                "description": "Every tag of the caller's organization, by slot. Needs manage_system_settings.",
                "security": secured,
                "responses": {"200": _json(TagList, "Tags by slot"), **_problems(401, 403)},
            },
            "post": {
                "operationId": "createTag",
                "tags": ["tags"],
                "summary": "Promote a custom field to a named column in a free slot",
                "description": "Creates a tag in a free slot; a taken slot, source path or column name is 409 naming "
                "the tag that holds it. Needs manage_system_settings.",
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
                "tags": ["tags"],
                "summary": "The values one case would export for each tag",
                "description": "The raw and typed value of every tag for one case or, as problem, why a tag's field "
                "cannot be read. Needs manage_system_settings and access_reports (it shows a case's custom data).",
                "security": secured,
                "parameters": _query_parameters(schemas, PreviewQuery),
                "responses": {"200": _json(TagPreview, "One value per tag"), **_problems(401, 403, 404, 422)},
            }
        },
        "/export-fields/tags/audit": {
            "get": {
                "operationId": "getTagAudit",
                "tags": ["tags"],
                "summary": "The tags' audit trail",
                "description": "Who created, replaced, updated, deleted or previewed tags, with each tag before and "
                "after (or the case previewed), newest first. Paginated: pageSize is 1 to 100, and the "
                "continuationToken of a page reads the next one. Needs manage_system_settings.",
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
                "tags": ["tags"],
                "summary": "The tag in a slot",
                "description": "The tag in one slot (1 to 20). Needs manage_system_settings.",
                "security": secured,
                "parameters": [TAG_SLOT],
                "responses": {"200": _json(ReportFieldTag, "The tag"), **_problems(401, 403, 404)},
            },
            "put": {
                "operationId": "putTag",
                "tags": ["tags"],
                "summary": "Create or replace the tag in a slot",
                "description": "Creates the tag in an empty slot (201) or replaces the one there (200). Needs "
                "manage_system_settings.",
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
                "tags": ["tags"],
                "summary": "Change some fields of the tag in a slot",
                "description": "Changes only the fields the body names; a new tagSlot moves the tag there, and that "
                "slot must be free (else 409). Needs manage_system_settings.",
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
                "tags": ["tags"],
                "summary": "Delete the tag in a slot",
                "description": "Deletes the tag in the slot. Needs manage_system_settings and an X-Requested-With "
                "header.",
                "security": secured,
                "parameters": [TAG_SLOT],
                "responses": {"204": {"description": "Deleted"}, **_problems(401, 403, 404, 409)},
            },
        },
        # The exports page: static, no data and no identity in it; its script calls the routes above.
        "/page": {
            "get": {
                "operationId": "exportsPage",
                "tags": ["page"],
                "summary": "The exports page (HTML)",
                "description": "A static page, with no data and no sign-in of its own: its script calls the routes "
                "above. In local development it carries a principal picker.",
                "security": [],
                "responses": {
                    "200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}}
                },
            }
        },
        "/page/{asset}": {
            "get": {
                "operationId": "exportsPageAsset",
                "tags": ["page"],
                "summary": "The page's script and style sheet",
                "description": "app.js or app.css, static; any other name is 404.",
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
                "tags": ["meta"],
                "summary": "Is storage reachable?",
                "description": "200 when storage is reachable, 503 when it is not. Each instance checks storage at "
                "most every 10 seconds. No sign-in needed.",
                "security": [],
                "responses": {"200": _json(Health, "Up, storage reachable"), **_problems(503)},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["meta"],
                "summary": "This document",
                "description": "The OpenAPI document of this API, generated from the models the routes use. No "
                "sign-in needed.",
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
    paths.update(_schedule_paths(schemas, secured))
    _cross_site_rules(paths)
    for model in _QUERY_MODELS:
        del schemas[model.__name__]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flat-file exports",
            "version": "1.0.0",
            "description": "Every error is application/problem+json (RFC 9457). A 500 is a bug.",
            "contact": {"name": "The flat-file exports maintainers"},
        },
        "servers": [{"url": "/api"}],
        "security": secured,
        "tags": TAGS,
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }


# ---- scheduled exports ----------------------------------------------------------------------------------

SCHEDULE_ID = {
    "name": "scheduleId",
    "in": "path",
    "required": True,
    "description": "The schedule id from the create answer; anything else is 404",
    "schema": {"type": "string", "maxLength": 100},
}
_SCHEDULE_404 = {
    "404": {
        "description": "No such schedule for this caller (another user's or organization's schedule looks the same)",
        "content": {PROBLEM_JSON: {"schema": _ref(Problem)}},
    }
}
_SCHEDULE_RULES = (
    "The caller's own schedule, or any of the organization's with manage_system_settings; any other is 404, like a "
    "missing one."
)


def _schedule_paths(schemas: dict[str, Any], secured: list[dict[str, list[str]]]) -> dict[str, Any]:
    def change(operation_id: str, summary: str, description: str) -> dict[str, Any]:
        return {
            "operationId": operation_id,
            "tags": ["export-schedules"],
            "summary": summary,
            "description": f"{description} {_SCHEDULE_RULES} Needs the permission to export the schedule's "
            "dataset and an X-Requested-With header.",
            "security": secured,
            "parameters": [SCHEDULE_ID],
            "responses": {"200": _json(ScheduleView, "The schedule"), **_problems(401, 409), **_SCHEDULE_404},
        }

    return {
        "/export-schedules": {
            "post": {
                "operationId": "createExportSchedule",
                "tags": ["export-schedules"],
                "summary": "Schedule an export",
                "description": "Records a schedule: a name, the body of POST /exports and a recurrence (daily, "
                "weekly on given days or monthly on day 1 to 28, at a local time in an IANA time zone; or a "
                "six-field NCRONTAB expression). The export is checked exactly as POST /exports checks it (the "
                "dataset permission too) and no job is made now. A recurrence that runs more than once an hour, "
                "never runs, or names a local time a daylight-saving change skips on a day it runs (within five "
                "years) is 422, saying why. Each run makes an ordinary job with the creator's permissions as they "
                "were at creation; its scheduleId names the schedule.",
                "security": secured,
                "requestBody": _json_body(ScheduleCreate),
                "responses": {
                    "201": _json(
                        ScheduleView,
                        "The schedule, with its first run in nextRunAt",
                        {"Location": _header("The schedule's URL", {"type": "string"}, required=True)},
                    ),
                    **_problems(400, 401, 403, 413, 422),
                },
            },
            "get": {
                "operationId": "listExportSchedules",
                "tags": ["export-schedules"],
                "summary": "List export schedules",
                "description": "The caller's schedules (or, with all=true and manage_system_settings, the "
                "organization's), newest first. Paginated as GET /exports: pageSize is 1 to 100, and the "
                "continuationToken of a page reads the next one; status keeps only active or paused schedules.",
                "security": secured,
                "parameters": _query_parameters(schemas, ScheduleListQuery),
                "responses": {"200": _json(SchedulePage, "Schedules, newest first"), **_problems(400, 401, 403, 422)},
            },
        },
        "/export-schedules/{scheduleId}": {
            "get": {
                "operationId": "getExportSchedule",
                "tags": ["export-schedules"],
                "summary": "Get an export schedule",
                "description": f"A schedule: its export, recurrence, status, next run and last run. {_SCHEDULE_RULES}",
                "security": secured,
                "parameters": [SCHEDULE_ID],
                "responses": {"200": _json(ScheduleView, "The schedule"), **_problems(401), **_SCHEDULE_404},
            },
            "delete": {
                "operationId": "deleteExportSchedule",
                "tags": ["export-schedules"],
                "summary": "Delete an export schedule",
                "description": "Deletes the schedule; jobs it made stay. "
                f"{_SCHEDULE_RULES} Needs the permission to export the schedule's dataset and an X-Requested-With "
                "header.",
                "security": secured,
                "parameters": [SCHEDULE_ID],
                "responses": {"204": {"description": "Deleted"}, **_problems(401, 409), **_SCHEDULE_404},
            },
        },
        "/export-schedules/{scheduleId}/pause": {
            "post": change("pauseExportSchedule", "Pause an export schedule",
                           "Stops the schedule's runs until it is resumed; pausing a paused schedule answers it as it "
                           "is."),
        },
        "/export-schedules/{scheduleId}/resume": {
            "post": change("resumeExportSchedule", "Resume a paused export schedule",
                           "Runs the schedule again from its next occurrence after now; runs missed while it was "
                           "paused are not made up."),
        },
    }


def main() -> None:
    """Print the document, for tools that read it from a file (`make lint` runs Spectral over it)."""
    sys.stdout.write(json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
