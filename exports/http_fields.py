"""Blueprint: the /export-fields routes — the column catalog and the tag admin. Thin."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import azure.functions as func
import orjson
from pydantic import Field

from exports.datasets.tags import json_text
from exports.dependencies import tag_service
from exports.formats.cells import is_finite, plain_number
from exports.models import (
    CamelModel,
    ColumnSpec,
    Dataset,
    ExportType,
    TagCreate,
    TagList,
    TagPreviewValue,
    TagUpdate,
)
from shared.auth import ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, principal_from_headers
from shared.errors import Forbidden
from shared.http import client_address, handles_errors, json_response, parse_body, validate

bp = func.Blueprint()


class ColumnsQuery(CamelModel):
    dataset: Dataset = Dataset.CASES
    export_type: ExportType = ExportType.FLAT_FILE
    max_investigations: int = Field(default=3, ge=1, le=10)
    include_investigations: bool = True
    include_tagged_fields: bool = True
    include_overflow: bool = False
    columns: str | None = Field(
        default=None,
        max_length=4000,
        description="A CUSTOM export's chosen columns, comma-separated: the catalog is then exactly that "
        "export's columns, the overflow column leaving out the same tagged fields",
    )


class ColumnCatalog(CamelModel):
    dataset: Dataset
    export_type: ExportType
    columns: list[ColumnSpec]


class PreviewQuery(CamelModel):
    case_id: str = Field(min_length=1, max_length=100)


class TagAuditQuery(CamelModel):
    page_size: int = Field(default=50, ge=1, le=100)
    continuation_token: str | None = Field(default=None, max_length=2000)


@bp.route(route="export-fields/columns", methods=["GET"])
@handles_errors
def list_columns(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    query = validate(ColumnsQuery, dict(req.params))
    needed = IMPORT_EXPORT_TICKETS if query.dataset is Dataset.TICKETS else ACCESS_REPORTS
    if not principal.has(needed):
        raise Forbidden(f"The {query.dataset.value} column catalog needs the {needed} permission.")
    columns = tag_service().catalog(
        principal,
        query.dataset,
        query.export_type,
        query.max_investigations,
        query.include_investigations,
        query.include_tagged_fields,
        query.include_overflow,
        columns=[name.strip() for name in query.columns.split(",")] if query.columns else [],
    )
    return json_response(ColumnCatalog(dataset=query.dataset, export_type=query.export_type, columns=columns))


@bp.route(route="export-fields/tags", methods=["GET"])
@handles_errors
def list_tags(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(TagList(items=tag_service().list(principal_from_headers(req.headers))))


@bp.route(route="export-fields/tags", methods=["POST"])
@handles_errors
def create_tag(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    tag = tag_service().create(principal, parse_body(req, TagCreate), client=client_address(req))
    return json_response(tag, status=201, headers={"Location": f"/api/export-fields/tags/{tag.tag_slot}"})


@bp.route(route="export-fields/tags/preview", methods=["GET"])
@handles_errors
def preview_tags(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    query = validate(PreviewQuery, dict(req.params))
    values = tag_service().preview(principal, query.case_id, client=client_address(req))
    return json_response({"caseId": query.case_id, "values": [_preview_json(value) for value in values]})


@bp.route(route="export-fields/tags/audit", methods=["GET"])
@handles_errors
def tag_audit(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    query = validate(TagAuditQuery, dict(req.params))
    return json_response(
        tag_service().audit_trail(principal, page_size=query.page_size, continuation_token=query.continuation_token)
    )


@bp.route(route="export-fields/tags/{slot:int}", methods=["GET"])
@handles_errors
def get_tag(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    return json_response(tag_service().get(principal, _slot(req)))


@bp.route(route="export-fields/tags/{slot:int}", methods=["PUT"])
@handles_errors
def put_tag(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    tag, created = tag_service().put(principal, _slot(req), parse_body(req, TagCreate), client=client_address(req))
    return json_response(tag, status=201 if created else 200)


@bp.route(route="export-fields/tags/{slot:int}", methods=["PATCH"])
@handles_errors
def update_tag(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    return json_response(
        tag_service().update(principal, _slot(req), parse_body(req, TagUpdate), client=client_address(req))
    )


@bp.route(route="export-fields/tags/{slot:int}", methods=["DELETE"])
@handles_errors
def delete_tag(req: func.HttpRequest) -> func.HttpResponse:
    tag_service().delete(principal_from_headers(req.headers), _slot(req), client=client_address(req))
    return func.HttpResponse(status_code=204)


def _preview_json(value: TagPreviewValue) -> dict[str, Any]:
    """One tag's preview with numbers as exact JSON numbers (a Decimal, an integer beyond 64 bits)."""
    body = value.model_dump(mode="json", by_alias=True)
    body["rawValue"] = orjson.Fragment(json_text(value.raw_value))
    typed = value.value
    if isinstance(typed, int | Decimal) and not isinstance(typed, bool) and is_finite(typed):
        body["value"] = orjson.Fragment(plain_number(typed))
    return body


def _slot(req: func.HttpRequest) -> int:
    from shared.errors import NotFound

    slot = int(req.route_params["slot"])
    if not 1 <= slot <= 20:
        raise NotFound(f"No tag slot {slot}: slots are 1 to 20.")
    return slot
