"""Optional OpenTelemetry export to Application Insights: on only when a connection string is set.

`azure-monitor-opentelemetry` is imported here and nowhere else, and only when
`APPLICATIONINSIGHTS_CONNECTION_STRING` is set: locally and in the tests it is never loaded. In Azure it adds the
app's traces (each storage call through the Azure SDK, outbound HTTP) and metrics. The Functions host already
sends every worker log line (the JSON of `shared.logging_json`) to the same resource, so the Bicep sets
`OTEL_LOGS_EXPORTER=none`: the distro reads only that to leave log lines alone (its `disable_logging` keyword is
overwritten by the environment's value), and each line is stored once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from shared.settings import Settings

log = logging.getLogger(__name__)

_lock = threading.Lock()
_configured = False


def entra_authentication(settings: Settings) -> bool:
    """True when telemetry must be sent with a Microsoft Entra token (local authentication off on the resource)."""
    auth = (settings.applicationinsights_authentication_string or "").replace(" ", "").lower()
    return "authorization=aad" in auth.split(";")


def configure_telemetry(settings: Settings) -> bool:
    """Starts the OpenTelemetry export once per process if a connection string is set; True if it is on."""
    global _configured
    secret = settings.applicationinsights_connection_string
    if secret is None or not secret.get_secret_value().strip():
        return False
    with _lock:
        if _configured:
            return True
        _configure_azure_monitor()(**_options(settings))
        _configured = True
    log.info("OpenTelemetry export to Application Insights is on")
    return True


def _options(settings: Settings) -> dict[str, Any]:
    assert settings.applicationinsights_connection_string is not None
    options: dict[str, Any] = {"connection_string": settings.applicationinsights_connection_string.get_secret_value()}
    if entra_authentication(settings):
        from azure.identity import DefaultAzureCredential

        options["credential"] = DefaultAzureCredential(managed_identity_client_id=settings.storage_client_id)
    return options


def _configure_azure_monitor() -> Callable[..., None]:
    from azure.monitor.opentelemetry import configure_azure_monitor

    return configure_azure_monitor
