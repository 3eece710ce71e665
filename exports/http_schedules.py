"""Blueprint: the /export-schedules routes. Thin: parse, call the use case, map the result."""

from __future__ import annotations

from typing import Literal

import azure.functions as func
from pydantic import Field

from exports.dependencies import export_schedules
from exports.models import CamelModel
from exports.models.schedule import ScheduleCreate
from shared.auth import principal_from_headers
from shared.http import handles_errors, json_response, parse_body, validate

bp = func.Blueprint()


class ScheduleListQuery(CamelModel):
    """As GET /exports: the caller's schedules, or with all=true the organization's (manage_system_settings)."""

    status: Literal["active", "paused"] | None = None
    page_size: int | None = Field(default=None, ge=1, le=100)
    continuation_token: str | None = Field(default=None, max_length=2000)
    all: bool = False


@bp.route(route="export-schedules", methods=["POST"])
@handles_errors
def create_export_schedule(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    body = parse_body(req, ScheduleCreate)
    view = export_schedules().create(principal, body)
    return json_response(view, status=201, headers={"Location": f"/api/export-schedules/{view.schedule_id}"})


@bp.route(route="export-schedules", methods=["GET"])
@handles_errors
def list_export_schedules(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    query = validate(ScheduleListQuery, dict(req.params))
    page = export_schedules().list(
        principal,
        status=query.status,
        page_size=query.page_size,
        continuation_token=query.continuation_token,
        whole_organization=query.all,
    )
    return json_response(page)


@bp.route(route="export-schedules/{scheduleId}", methods=["GET"])
@handles_errors
def get_export_schedule(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    return json_response(export_schedules().get(principal, req.route_params["scheduleId"]))


@bp.route(route="export-schedules/{scheduleId}/pause", methods=["POST"])
@handles_errors
def pause_export_schedule(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    return json_response(export_schedules().pause(principal, req.route_params["scheduleId"]))


@bp.route(route="export-schedules/{scheduleId}/resume", methods=["POST"])
@handles_errors
def resume_export_schedule(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    return json_response(export_schedules().resume(principal, req.route_params["scheduleId"]))


@bp.route(route="export-schedules/{scheduleId}", methods=["DELETE"])
@handles_errors
def delete_export_schedule(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    export_schedules().delete(principal, req.route_params["scheduleId"])
    return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})
