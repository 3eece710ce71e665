"""Blueprint: /health and /openapi.json."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import azure.functions as func

from exports.dependencies import storage_clients
from exports.openapi import Health, openapi_document
from shared.http import json_response, problem

bp = func.Blueprint()
log = logging.getLogger(__name__)


# /health needs no sign-in (probes call it): its storage check runs at most once per this many seconds per
# instance, so anyone calling it in a loop costs storage nothing more.
HEALTH_CHECK_INTERVAL_SECONDS = 10.0


class _StorageProbe:
    """The last storage check and when it ran; one check at a time, shared by every caller."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._reachable = False

    def reachable(self) -> bool:
        with self._lock:
            now = self.clock()
            if self._checked_at is None or now - self._checked_at >= HEALTH_CHECK_INTERVAL_SECONDS:
                self._reachable = _check_storage()
                self._checked_at = self.clock()
            return self._reachable


def _check_storage() -> bool:
    try:
        next(iter(storage_clients().tables.list_tables(results_per_page=1)), None)
    except Exception as error:  # any failure to reach storage means "not healthy", whatever its kind
        log.warning("health check: storage unreachable (%s)", type(error).__name__)
        return False
    return True


storage_probe = _StorageProbe()


@bp.route(route="health", methods=["GET"])
def health(req: func.HttpRequest) -> func.HttpResponse:
    if not storage_probe.reachable():
        return problem(503, "Service Unavailable", "Storage is unreachable.")
    return json_response(Health(status="ok", storage="reachable"))


@bp.route(route="openapi.json", methods=["GET"])
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(openapi_document())
