"""Optional OpenTelemetry export to Application Insights: on only when a connection string is set.

`azure-monitor-opentelemetry` is imported here and nowhere else, and only when
`APPLICATIONINSIGHTS_CONNECTION_STRING` is set: locally and in the tests it is never loaded. In Azure it adds the
app's traces (each storage call through the Azure SDK, outbound HTTP) and metrics. The Functions host already
sends every worker log line (the JSON of `shared.logging_json`) to the same resource, so the Bicep sets
`OTEL_LOGS_EXPORTER=none`: the distro reads only that to leave log lines alone (its `disable_logging` keyword is
overwritten by the environment's value), and each line is stored once.

Spans carry what the instrumentations record: whole URLs of storage calls (a query's `$filter` holds users' search
terms and filter values) and of outbound HTTP. A span processor, ahead of the exporter, redacts every string in a
span's attributes, events and status as log lines are redacted, and masks every URL query value
(`shared.redaction.redact_telemetry`). The webhook sender uses `http.client`, which no instrumentation traces.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from shared.redaction import MASK, redact_telemetry
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
    options: dict[str, Any] = {
        "connection_string": settings.applicationinsights_connection_string.get_secret_value(),
        # The distro adds these before its exporter's processor, so the exporter only sees redacted spans.
        "span_processors": [redacting_span_processor()],
    }
    if entra_authentication(settings):
        from azure.identity import DefaultAzureCredential

        options["credential"] = DefaultAzureCredential(managed_identity_client_id=settings.storage_client_id)
    return options


def _configure_azure_monitor() -> Callable[..., None]:
    from azure.monitor.opentelemetry import configure_azure_monitor

    return configure_azure_monitor


def redacting_span_processor() -> Any:
    """A SpanProcessor that redacts a span when it ends, before any later processor (the exporter) sees it.

    The SDK hands every processor the same ended span, whose attribute mapping is frozen: the processor swaps in
    redacted copies, as Azure Monitor's documentation does to change spans. Imported here, never at module load:
    without a connection string OpenTelemetry is not loaded at all.
    """
    from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
    from opentelemetry.trace import Status

    class RedactingSpanProcessor(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            span._attributes = _redacted(span.attributes)
            span._events = [
                Event(event.name, _redacted(event.attributes), event.timestamp) for event in span.events
            ]
            if span.status.description:
                span._status = Status(span.status.status_code, redact_telemetry(span.status.description))
            span._name = redact_telemetry(span.name)

    return RedactingSpanProcessor()


# Attributes that are credentials whatever their form (captured request headers), masked whole.
_SECRET_KEYS = ("authorization", "cookie", "x-ms-client-principal", "x-functions-key")
# Query text (a SQL source's statement, if traced): its quoted literals are data.
_STATEMENT_KEYS = ("db.statement", "db.query.text")
_QUOTED = re.compile(r"'(?:[^']|'')*'")


def _redacted(attributes: Any) -> dict[str, Any]:
    redacted = {}
    for key, value in (attributes or {}).items():
        lowered = str(key).lower()
        if any(secret in lowered for secret in _SECRET_KEYS):
            redacted[key] = MASK
        elif lowered in _STATEMENT_KEYS and isinstance(value, str):
            redacted[key] = _QUOTED.sub(f"'{MASK}'", redact_telemetry(value))
        else:
            redacted[key] = _redact_value(value)
    return redacted


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_telemetry(value)
    if isinstance(value, tuple | list):
        return tuple(redact_telemetry(item) if isinstance(item, str) else item for item in value)
    return value
