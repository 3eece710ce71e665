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
    assert distro.calls == [{"connection_string": CONNECTION}], "no credential: the resource takes its key"


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

    assert distro.calls == [{"connection_string": CONNECTION, "credential": "cred"}]
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
