"""Blueprint: the /export-fields routes — the column catalog and the tag admin. Thin."""

from __future__ import annotations

import azure.functions as func
from pydantic import Field

from exports.dependencies import tag_service
from exports.models import CamelModel, ColumnSpec, Dataset, ExportType, TagCreate, TagList, TagUpdate
from shared.auth import ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, principal_from_headers
from shared.errors import Forbidden
from shared.http import handles_errors, json_response, parse_body, validate

bp = func.Blueprint()


class ColumnsQuery(CamelModel):
    dataset: Dataset = Dataset.CASES
    export_type: ExportType = ExportType.FLAT_FILE
    max_investigations: int = Field(default=3, ge=1, le=10)
    include_investigations: bool = True
    include_tagged_fields: bool = True
    include_overflow: bool = False


class ColumnCatalog(CamelModel):
    dataset: Dataset
    export_type: ExportType
    columns: list[ColumnSpec]


class PreviewQuery(CamelModel):
    case_id: str = Field(min_length=1, max_length=100)


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
    tag = tag_service().create(principal, parse_body(req, TagCreate))
    return json_response(tag, status=201, headers={"Location": f"/api/export-fields/tags/{tag.tag_slot}"})


@bp.route(route="export-fields/tags/preview", methods=["GET"])
@handles_errors
def preview_tags(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    query = validate(PreviewQuery, dict(req.params))
    return json_response(
        {
            "caseId": query.case_id,
            "values": [
                value.model_dump(mode="json", by_alias=True)
                for value in tag_service().preview(principal, query.case_id)
            ],
        }
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
    tag, created = tag_service().put(principal, _slot(req), parse_body(req, TagCreate))
    return json_response(tag, status=201 if created else 200)


@bp.route(route="export-fields/tags/{slot:int}", methods=["PATCH"])
@handles_errors
def update_tag(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    return json_response(tag_service().update(principal, _slot(req), parse_body(req, TagUpdate)))


@bp.route(route="export-fields/tags/{slot:int}", methods=["DELETE"])
@handles_errors
def delete_tag(req: func.HttpRequest) -> func.HttpResponse:
    tag_service().delete(principal_from_headers(req.headers), _slot(req))
    return func.HttpResponse(status_code=204)


def _slot(req: func.HttpRequest) -> int:
    from shared.errors import NotFound

    slot = int(req.route_params["slot"])
    if not 1 <= slot <= 20:
        raise NotFound(f"No tag slot {slot}: slots are 1 to 20.")
    return slot
