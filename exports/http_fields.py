"""Blueprint: the /export-fields routes — the column catalog a column picker shows."""

from __future__ import annotations

import azure.functions as func
from pydantic import Field

from exports.datasets import cases
from exports.models import CamelModel, ColumnSpec, Dataset, ExportType
from shared.auth import ACCESS_REPORTS, principal_from_headers
from shared.errors import Forbidden
from shared.http import handles_errors, json_response, validate

bp = func.Blueprint()


class ColumnsQuery(CamelModel):
    dataset: Dataset = Dataset.CASES
    export_type: ExportType = ExportType.FLAT_FILE
    max_investigations: int = Field(default=3, ge=1, le=10)


class ColumnCatalog(CamelModel):
    dataset: Dataset
    export_type: ExportType
    columns: list[ColumnSpec]


@bp.route(route="export-fields/columns", methods=["GET"])
@handles_errors
def list_columns(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    query = validate(ColumnsQuery, dict(req.params))
    if not principal.has(ACCESS_REPORTS):
        raise Forbidden("The column catalog needs the access_reports permission.")
    columns = [col.spec() for col in cases.CORE_COLUMNS]
    return json_response(ColumnCatalog(dataset=query.dataset, export_type=query.export_type, columns=columns))
