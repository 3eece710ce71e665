"""Blueprint: the /exports routes. Thin: parse, call the service, map the result."""

from __future__ import annotations

import azure.functions as func
from pydantic import Field

from exports.dependencies import export_service
from exports.models import CamelModel, CreateExportRequest, JobStatus, JobView
from shared.auth import principal_from_headers
from shared.http import client_address, handles_errors, json_response, parse_body, validate

bp = func.Blueprint()


class ListQuery(CamelModel):
    status: JobStatus | None = None
    page_size: int | None = Field(default=None, ge=1, le=100)
    continuation_token: str | None = Field(default=None, max_length=2000)
    all: bool = False


@bp.route(route="exports", methods=["POST"])
@handles_errors
def create_export(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    request = parse_body(req, CreateExportRequest)
    service = export_service()
    job, created = service.create(
        principal, request, idempotency_key=req.headers.get("Idempotency-Key"), client=client_address(req)
    )
    headers = {
        "Location": f"/api/exports/{job.job_id}",
        "Retry-After": str(service.settings.retry_after_seconds),
    }
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return json_response(JobView.of(job), status=202, headers=headers)


@bp.route(route="exports", methods=["GET"])
@handles_errors
def list_exports(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    query = validate(ListQuery, dict(req.params))
    page = export_service().list(
        principal,
        status=query.status,
        page_size=query.page_size,
        continuation_token=query.continuation_token,
        whole_organization=query.all,
    )
    return json_response(page)


@bp.route(route="exports/{jobId}", methods=["GET"])
@handles_errors
def get_export(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    service = export_service()
    view = service.get(principal, req.route_params["jobId"], client=client_address(req))
    headers = {} if view.status.is_final else {"Retry-After": str(service.settings.retry_after_seconds)}
    return json_response(view, headers=headers)


@bp.route(route="exports/{jobId}/cancel", methods=["POST"])
@handles_errors
def cancel_export(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    return json_response(export_service().cancel(principal, req.route_params["jobId"], client=client_address(req)))


@bp.route(route="exports/{jobId}/download", methods=["GET"])
@handles_errors
def download_export(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    url = export_service().download_link(principal, req.route_params["jobId"], client=client_address(req))
    return func.HttpResponse(status_code=302, headers={"Location": url, "Cache-Control": "no-store"})


@bp.route(route="exports/{jobId}/manifest", methods=["GET"])
@handles_errors
def download_manifest(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    url = export_service().manifest_link(principal, req.route_params["jobId"], client=client_address(req))
    return func.HttpResponse(status_code=302, headers={"Location": url, "Cache-Control": "no-store"})


@bp.route(route="exports/{jobId}", methods=["DELETE"])
@handles_errors
def delete_export(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    export_service().delete(principal, req.route_params["jobId"], client=client_address(req))
    return func.HttpResponse(status_code=204, headers={"Cache-Control": "no-store"})


@bp.route(route="exports/{jobId}/audit", methods=["GET"])
@handles_errors
def export_audit(req: func.HttpRequest) -> func.HttpResponse:
    principal = principal_from_headers(req.headers)
    return json_response(export_service().audit_trail(principal, req.route_params["jobId"]))
