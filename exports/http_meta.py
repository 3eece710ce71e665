"""Blueprint: /health and /openapi.json."""

from __future__ import annotations

import logging

import azure.functions as func

from exports.dependencies import storage_clients
from exports.openapi import Health, openapi_document
from shared.http import json_response, problem

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.route(route="health", methods=["GET"])
def health(req: func.HttpRequest) -> func.HttpResponse:
    try:
        next(iter(storage_clients().tables.list_tables(results_per_page=1)), None)
    except Exception as error:  # any failure to reach storage means "not healthy", whatever its kind
        log.warning("health check: storage unreachable (%s)", type(error).__name__)
        return problem(503, "Service Unavailable", "Storage is unreachable.")
    return json_response(Health(status="ok", storage="reachable"))


@bp.route(route="openapi.json", methods=["GET"])
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(openapi_document())
