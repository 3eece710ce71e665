"""Optional OpenTelemetry export: on only with an Application Insights connection string, never imported without."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from typing import Any

import pytest

from shared import telemetry
from shared.settings import Settings
from tests.support.azurite import PROJECT_ROOT

# Unreachable on purpose: a discard port on loopback, so nothing leaves the machine whatever the exporter does.
CONNECTION = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
    "IngestionEndpoint=http://127.0.0.1:9/;LiveEndpoint=http://127.0.0.1:9/"
)


def settings(**values: Any) -> Settings:
    return Settings(storage_connection_string="UseDevelopmentStorage=true", **values)


class Distro:
    """Stands in for azure.monitor.opentelemetry: records each configure_azure_monitor call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def configure_azure_monitor(self, **options: Any) -> None:
        self.calls.append(options)


@pytest.fixture
def distro(monkeypatch: pytest.MonkeyPatch) -> Distro:
    distro = Distro()
    module = types.ModuleType("azure.monitor.opentelemetry")
    module.configure_azure_monitor = distro.configure_azure_monitor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.monitor.opentelemetry", module)
    monkeypatch.setattr(telemetry, "_configured", False)
    return distro


def test_without_a_connection_string_nothing_is_configured(distro: Distro) -> None:
    assert telemetry.configure_telemetry(settings()) is False
    assert telemetry.configure_telemetry(settings(applicationinsights_connection_string="  ")) is False
    assert distro.calls == []


def test_a_connection_string_configures_the_distro_once_per_process(distro: Distro) -> None:
    on = settings(applicationinsights_connection_string=CONNECTION)

    assert telemetry.configure_telemetry(on) is True
    assert telemetry.configure_telemetry(on) is True
    assert [{k: v for k, v in call.items() if k != "span_processors"} for call in distro.calls] == [
        {"connection_string": CONNECTION}
    ], "no credential: the resource takes its key"
    assert [type(p).__name__ for p in distro.calls[0]["span_processors"]] == ["RedactingSpanProcessor"]


def test_entra_authentication_sends_with_the_apps_identity(distro: Distro, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []

    def credential(**options: Any) -> str:
        made.append(options)
        return "cred"

    monkeypatch.setattr("azure.identity.DefaultAzureCredential", credential)
    on = settings(
        applicationinsights_connection_string=CONNECTION,
        applicationinsights_authentication_string="Authorization=AAD",
    )

    telemetry.configure_telemetry(on)

    assert [{k: v for k, v in call.items() if k != "span_processors"} for call in distro.calls] == [
        {"connection_string": CONNECTION, "credential": "cred"}
    ]
    assert made == [{"managed_identity_client_id": None}]


@pytest.mark.parametrize(
    ("value", "entra"),
    [("Authorization=AAD", True), ("authorization = aad;ClientId=x", True), ("", False), ("Authorization=Key", False)],
)
def test_the_authentication_string_is_read_as_the_host_reads_it(value: str, entra: bool) -> None:
    assert telemetry.entra_authentication(settings(applicationinsights_authentication_string=value)) is entra


def run_app(extra_env: dict[str, str], script: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APPLICATIONINSIGHTS_", "OTEL_"))}
    env.update({"AzureWebJobsStorage": "UseDevelopmentStorage=true", "EXPORTS_CLEANUP_SCHEDULE": "0 0 * * * *"})
    env.update(extra_env)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


LOAD_THE_APP = """
import json, logging, sys
import function_app
from exports.dependencies import storage_clients
storage_clients()
from opentelemetry import trace
"""


def test_loading_the_app_without_a_connection_string_never_imports_the_distro() -> None:
    seen = run_app(
        {},
        "import json, sys\nimport function_app\nfrom exports.dependencies import storage_clients\nstorage_clients()\n"
        "print(json.dumps({'distro': 'azure.monitor.opentelemetry' in sys.modules,"
        " 'otel': any(m.startswith('opentelemetry') for m in sys.modules)}))",
    )
    assert seen == {"distro": False, "otel": False}


def test_with_a_connection_string_the_pinned_distro_exports_traces_and_leaves_log_lines_to_the_host() -> None:
    seen = run_app(
        {"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION, "OTEL_LOGS_EXPORTER": "none"},
        LOAD_THE_APP + "print(json.dumps({'tracer': type(trace.get_tracer_provider()).__module__,"
        " 'handlers': [type(h).__module__ for h in logging.getLogger().handlers]}))",
    )
    assert seen["tracer"].startswith("opentelemetry.sdk.trace")
    assert not any("opentelemetry" in handler for handler in seen["handlers"]), seen


# ---- no secrets and no data in telemetry --------------------------------------------------------------------

SEARCH_TERM = "merger-codename-bluebird"


def test_span_attributes_events_and_status_are_redacted_before_the_exporter_sees_them() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status, StatusCode

    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(telemetry.redacting_span_processor())  # as the distro orders them: ours first
    provider.add_span_processor(SimpleSpanProcessor(exported))
    storage_query = (
        "https://acct.table.core.windows.net/tickets()?$filter=PartitionKey%20eq%20'org-a'%20and%20"
        f"Title%20eq%20'{SEARCH_TERM}'&$top=1000&NextRowKey=00042"
    )
    with provider.get_tracer("test").start_as_current_span("TableClient.query_entities") as span:
        span.set_attribute("http.url", storage_query)
        span.set_attribute("url.full", "https://hooks.example.com/in?token=receiver-token-123")
        span.set_attribute("db.statement", f"Title eq '{SEARCH_TERM}'")
        span.set_attribute("http.request.header.authorization", ("Bearer eyJhbGciOi.secret-token",))
        span.set_attribute("http.status_code", 200)
        span.add_event("exception", {"exception.message": f"failed {storage_query}; AccountKey=abc123=="})
        span.set_status(Status(StatusCode.ERROR, f"GET {storage_query} sig=deadbeef"))

    [finished] = exported.get_finished_spans()
    text = repr(dict(finished.attributes or {})) + repr([dict(e.attributes or {}) for e in finished.events])
    text += str(finished.status.description)
    for secret in (SEARCH_TERM, "receiver-token-123", "abc123", "deadbeef", "00042"):
        assert secret not in text, secret
    assert finished.attributes["http.url"] == (  # type: ignore[index]
        "https://acct.table.core.windows.net/tickets()?$filter=***&$top=***&NextRowKey=***"
    )
    assert finished.attributes["http.status_code"] == 200  # type: ignore[index]


TRACE_A_STORAGE_QUERY = LOAD_THE_APP + f"""
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from azure.data.tables import TableClient
exported = InMemorySpanExporter()
trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exported))  # after the distro's: what it exports
key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
table = TableClient.from_connection_string(
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + key
    + ";TableEndpoint=http://127.0.0.1:9/devstoreaccount1;",
    table_name="tickets", retry_total=0,
)
try:
    list(table.query_entities("Title eq @term", parameters={{"term": "{SEARCH_TERM}"}}))
except Exception:
    pass
spans = exported.get_finished_spans()
print(json.dumps([[s.name, dict(s.attributes or {{}}), [dict(e.attributes or {{}}) for e in s.events],
                   s.status.description] for s in spans], default=str))
"""


def test_the_distro_traces_a_storage_query_without_its_filter_values() -> None:
    # Every span sampled: the distro's default rate-limited sampler drops the first ones of a process.
    env = {"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION, "OTEL_LOGS_EXPORTER": "none",
           "OTEL_TRACES_SAMPLER": "always_on"}
    spans: list[list[Any]] = run_app(env, TRACE_A_STORAGE_QUERY)  # type: ignore[assignment]
    assert spans, "the Azure SDK call was traced"
    urls = [str(value) for span in spans for key, value in span[1].items() if "url" in key]
    assert any("$filter=***" in url for url in urls), urls
    assert SEARCH_TERM not in json.dumps(spans)


def test_a_settings_error_names_the_setting_but_never_echoes_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("EXPORTS_ROWS_PER_BATCH", "AccountKey=pasted-into-the-wrong-setting")
    monkeypatch.setenv("EXPORTS_WEBHOOK_SECRETS", '{"org-a": 73317331}')
    with pytest.raises(ValidationError) as refused:
        Settings()
    text = str(refused.value) + repr(refused.value)
    assert "rows_per_batch" in text and "webhook_secrets" in text
    assert "pasted-into-the-wrong-setting" not in text and "73317331" not in text
