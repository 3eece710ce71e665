"""The Bicep in infra/, parsed with pycep (no az or bicep CLI here): the resources, roles and settings the issue asks
for are there, the app settings are ones the app reads, and every checkov skip says why."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any, cast

import pytest
import yaml  # type: ignore[import-untyped]
from pycep import BicepParser

from devhost.app_loader import describe_functions, load_app, load_host_config
from shared.settings import Settings
from shared.storage.clients import StorageClients
from tests.conftest import HOST_ENV
from tests.support.azurite import PROJECT_ROOT

INFRA = PROJECT_ROOT / "infra"
MODULES = ("monitoring", "storage", "functionapp", "roles")

# Built-in role definition ids (the same in every tenant).
LEAST_STORAGE_ROLES = {
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Delegator": "db58b8e5-c6ad-4a2a-8342-4190687cbf4a",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
}
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
BROADER_ROLES = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Storage Account Contributor": "17d1049b-9a84-46fb-8f53-869881c3d3ab",
    "Storage Account Key Operator Service Role": "81a9662b-bebf-436f-a333-f67b29880f12",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
}


@cache
def parsed(name: str) -> dict[str, Any]:
    path = INFRA / "main.bicep" if name == "main" else INFRA / "modules" / f"{name}.bicep"
    return cast(dict[str, Any], BicepParser().parse(file_path=path))


def resource(module: str, name: str) -> dict[str, Any]:
    return parsed(module)["resources"][name]  # type: ignore[no-any-return]


def variable(module: str, name: str) -> Any:
    return parsed(module)["variables"][name]["value"]


def bicep_texts() -> dict[str, str]:
    return {str(path.relative_to(INFRA)): path.read_text() for path in sorted(INFRA.rglob("*.bicep"))}


def app_settings() -> dict[str, Any]:
    """The Function App's settings: the module's own and the EXPORTS_* ones main.bicep passes in."""
    return {**variable("functionapp", "baseSettings"), **variable("main", "exportSettings")}


# ---- the files ---------------------------------------------------------------------------------------------------


def test_every_bicep_file_parses_and_is_main_or_one_of_its_modules() -> None:
    assert set(bicep_texts()) == {"main.bicep", *(f"modules/{name}.bicep" for name in MODULES)}
    for name in ("main", *MODULES):
        assert parsed(name)["resources"], f"{name}.bicep declares resources"


def test_main_deploys_every_module_into_its_resource_group_with_the_parameters_each_declares() -> None:
    main = parsed("main")
    assert main["globals"]["scope"]["value"] == "subscription"
    assert resource("main", "group")["type"] == "Microsoft.Resources/resourceGroups"
    modules = main["modules"]
    assert {Path(m["detail"]["path"]).stem for m in modules.values()} == set(MODULES)
    for module in modules.values():
        declared = parsed(Path(module["detail"]["path"]).stem)["parameters"]
        given = set(module["config"]["params"])
        required = {name for name, param in declared.items() if "default" not in param}
        assert given <= set(declared), f"{module['detail']['path']} has no parameter {given - set(declared)}"
        assert required <= given, f"{module['detail']['path']} needs {required - given}"
        assert module["config"]["scope"] == "group"


def test_the_parameters_file_sets_only_declared_parameters_and_every_required_one() -> None:
    document = json.loads((INFRA / "main.parameters.json").read_text())
    declared = parsed("main")["parameters"]
    given = set(document["parameters"])
    assert given <= set(declared)
    assert {name for name, param in declared.items() if "default" not in param} <= given
    # azd fills these from its environment (`azd env set AUTH_CLIENT_ID ...`).
    assert document["parameters"]["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert document["parameters"]["authClientId"]["value"] == "${AUTH_CLIENT_ID}"


def test_every_parameter_of_main_is_described() -> None:
    for name, param in parsed("main")["parameters"].items():
        assert any(d["type"] == "description" for d in param["decorators"]), name


def test_azd_deploys_this_folder_as_a_python_function_app_to_the_tagged_app() -> None:
    azd = yaml.safe_load((PROJECT_ROOT / "azure.yaml").read_text())
    assert azd["services"] == {"api": {"project": ".", "language": "python", "host": "function"}}
    assert azd["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    tags = parsed("main")["modules"]["functionApp"]["config"]["params"]["tags"]
    assert tags == {
        "function": {"type": "union", "parameters": {"arg_1": "tags", "arg_2": {"'azd-service-name'": "api"}}}
    }
    assert variable("main", "tags") == {"'azd-env-name'": "environmentName"}


def test_the_deployed_package_leaves_out_tools_tests_and_virtual_environments() -> None:
    ignored = {line.strip() for line in (PROJECT_ROOT / ".funcignore").read_text().splitlines()}
    assert {".venv/", ".venv-checkov/", "node_modules/", "tests/", "infra/", "bench/", "devhost/"} <= ignored
    assert not {"exports/", "shared/", "function_app.py", "host.json", "requirements.txt"} & ignored


# ---- the Function App --------------------------------------------------------------------------------------------


def test_the_function_app_is_python_311_on_linux_flex_consumption_with_a_system_assigned_identity() -> None:
    plan = resource("functionapp", "plan")["config"]
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"} and plan["properties"]["reserved"] is True
    app = resource("functionapp", "app")["config"]
    assert app["kind"] == "functionapp,linux"
    assert app["identity"] == {"type": "SystemAssigned"}
    config = app["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"] == {"type": "SystemAssignedIdentity"}


def test_the_function_app_takes_https_and_tls_12_only_and_no_publishing_passwords() -> None:
    properties = resource("functionapp", "app")["config"]["properties"]
    assert properties["httpsOnly"] is True
    site = properties["siteConfig"]
    assert (site["minTlsVersion"], site["scmMinTlsVersion"], site["ftpsState"]) == ("1.2", "1.2", "Disabled")
    for name in ("ftpCredentials", "scmCredentials"):
        assert resource("functionapp", name)["config"]["properties"] == {"allow": False}


def test_app_service_authentication_answers_401_to_every_unauthenticated_call_but_health_and_contract() -> None:
    auth = resource("functionapp", "auth")["config"]
    assert auth["name"] == "authsettingsV2"
    properties = auth["properties"]
    assert properties["platform"] == {"enabled": True}
    validation = properties["globalValidation"]
    assert validation["requireAuthentication"] is True and validation["unauthenticatedClientAction"] == "Return401"
    assert properties["identityProviders"]["azureActiveDirectory"]["enabled"] is True
    anonymous = parsed("functionapp")["parameters"]["anonymousPaths"]["default"]
    assert anonymous == ["/api/health", "/api/openapi.json"]
    meta = (PROJECT_ROOT / "exports" / "http_meta.py").read_text()
    assert 'route="health"' in meta and 'route="openapi.json"' in meta, "the open paths are the app's routes"


HTTP_THREADS = 4  # at least this many threads stay free for HTTP requests when every queue trigger is busy


def test_the_worker_has_a_thread_for_every_queue_invocation_the_host_allows_and_some_left_for_http() -> None:
    threads = int(app_settings()["PYTHON_THREADPOOL_THREAD_COUNT"])
    queues = load_host_config(PROJECT_ROOT).queues
    functions = describe_functions(load_app(PROJECT_ROOT))
    queue_triggers = [f for f in functions if f.kind == "queue"]
    timers = [f for f in functions if f.kind == "timer"]
    held = len(queue_triggers) * (queues.batch_size + queues.new_batch_threshold)
    assert held == 18  # the figure the Bicep comment explains
    assert threads >= held + len(timers) + HTTP_THREADS
    # Local runs use the same pool: `make run` (from the example settings) and the tests' hosts.
    example = json.loads((PROJECT_ROOT / "local.settings.json.example").read_text())
    assert example["Values"]["PYTHON_THREADPOOL_THREAD_COUNT"] == str(threads)
    assert HOST_ENV["PYTHON_THREADPOOL_THREAD_COUNT"] == str(threads)


def test_the_app_settings_hold_no_key_and_no_connection_string_to_storage() -> None:
    settings = app_settings()
    assert settings["AzureWebJobsStorage__accountName"] == "storageAccountName"
    assert "AzureWebJobsStorage" not in settings
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "Authorization=AAD"
    for path, text in bicep_texts().items():
        for forbidden in ("listKeys(", "AccountKey=", "listAccountSas(", "SharedAccessSignature"):
            assert forbidden not in text, f"{path} uses {forbidden}"


def test_the_app_settings_are_ones_the_app_reads_and_choose_the_managed_identity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = app_settings()
    fields = Settings.model_fields
    # The rest are binding expressions: %NAME% in a trigger, resolved by the host from the app settings.
    bindings = "\n".join(path.read_text() for path in (PROJECT_ROOT / "exports").glob("*.py"))
    for name in settings:
        if name.startswith("EXPORTS_"):
            read = name.removeprefix("EXPORTS_").lower() in fields or f"%{name}%" in bindings
            assert read, f"{name} is not a setting of the app"
    for name in ("AzureWebJobsStorage", "EXPORTS_STORAGE_CONNECTION_STRING"):
        monkeypatch.delenv(name, raising=False)
    # The values main.bicep passes by default.
    monkeypatch.setenv("AzureWebJobsStorage__accountName", "stexample")
    monkeypatch.setenv("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "Authorization=AAD")
    monkeypatch.setenv("EXPORTS_DOWNLOAD_LINK_MINUTES", "15")
    monkeypatch.setenv("EXPORTS_CASE_EXPIRY_HOURS", "168")
    monkeypatch.setenv("EXPORTS_TICKET_EXPIRY_HOURS", "72")
    loaded = Settings()
    assert loaded.storage_connection_string is None and loaded.storage_account_name == "stexample"
    assert (loaded.case_expiry_hours, loaded.ticket_expiry_hours) == (168, 72)
    assert StorageClients(loaded)._endpoint("queue") == "https://stexample.queue.core.windows.net"


# ---- storage -----------------------------------------------------------------------------------------------------


def test_the_storage_account_is_https_and_tls_12_only_private_and_takes_no_shared_key() -> None:
    properties = resource("storage", "storage")["config"]["properties"]
    assert properties["minimumTlsVersion"] == "TLS1_2" and properties["supportsHttpsTrafficOnly"] is True
    assert properties["allowBlobPublicAccess"] is False
    assert properties["allowSharedKeyAccess"] is False and properties["defaultToOAuthAuthentication"] is True
    for name in ("exportsContainer", "packageContainer"):
        assert resource("storage", name)["config"]["properties"] == {"publicAccess": "None"}


def test_a_lifecycle_rule_deletes_export_files_some_days_after_the_longer_expiry() -> None:
    (rule,) = resource("storage", "lifecycle")["config"]["properties"]["policy"]["rules"]
    assert rule["enabled"] is True
    assert rule["definition"]["filters"]["prefixMatch"] == ["${exportsContainerName}/"]
    delete = rule["definition"]["actions"]["baseBlob"]["delete"]
    assert delete == {"daysAfterModificationGreaterThan": "deleteExportsAfterDays"}
    passed = parsed("main")["modules"]["storage"]["config"]["params"]["deleteExportsAfterDays"]
    assert passed == {
        "operator": {"type": "add", "operands": {"operand_1": "longestExpiryDays", "operand_2": "lifecycleGraceDays"}}
    }
    # Whole days, rounded up, of the longer of the two retentions (hours): never before either file's expiry.
    longest = {"function": {"type": "max", "parameters": {"arg_1": "caseExpiryHours", "arg_2": "ticketExpiryHours"}}}
    assert variable("main", "longestExpiryDays") == {
        "operator": {
            "type": "divide",
            "operands": {
                "operand_1": {"operator": {"type": "add", "operands": {"operand_1": longest, "operand_2": 23}}},
                "operand_2": 24,
            },
        }
    }
    main_params = parsed("main")["parameters"]
    assert main_params["caseExpiryHours"]["default"] == Settings.model_fields["case_expiry_hours"].default == 168
    assert main_params["ticketExpiryHours"]["default"] == Settings.model_fields["ticket_expiry_hours"].default == 72
    assert app_settings()["EXPORTS_CASE_EXPIRY_HOURS"] == {
        "function": {"type": "string", "parameters": {"value_to_convert": "caseExpiryHours"}}
    }
    assert app_settings()["EXPORTS_TICKET_EXPIRY_HOURS"] == {
        "function": {"type": "string", "parameters": {"value_to_convert": "ticketExpiryHours"}}
    }
    grace = main_params["lifecycleGraceDays"]
    assert grace["default"] >= 1 and {"type": "min_value", "argument": 1} in grace["decorators"]


# ---- identity and roles ------------------------------------------------------------------------------------------


def test_the_identity_has_exactly_the_least_storage_roles_on_the_account_only() -> None:
    assert {role["name"]: role["id"] for role in variable("roles", "storageRoles")} == LEAST_STORAGE_ROLES
    assignments = resource("roles", "storageRoleAssignments")["config"]
    assert assignments["loop_type"]["detail"]["array_name"] == "storageRoles"
    assignment = assignments["config"]
    assert assignment["scope"] == "storage"
    assert assignment["properties"]["principalId"] == "principalId"
    assert assignment["properties"]["principalType"] == "ServicePrincipal"
    assert resource("roles", "storage")["existing"] is True


def test_the_identity_may_publish_telemetry_and_holds_no_broader_role_anywhere() -> None:
    telemetry = resource("roles", "telemetryRoleAssignment")["config"]
    assert telemetry["scope"] == "appInsights"
    assert variable("roles", "monitoringMetricsPublisher") == MONITORING_METRICS_PUBLISHER
    everything = "\n".join(bicep_texts().values())
    assert not [name for name, role_id in BROADER_ROLES.items() if role_id in everything]
    roles_given = parsed("main")["modules"]["roles"]["config"]["params"]
    outputs = {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "outputs", "operand_2": "principalId"}}
    }
    assert roles_given["principalId"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "functionApp", "operand_2": outputs}}
    }


# ---- observability -----------------------------------------------------------------------------------------------


def test_application_insights_stores_in_log_analytics_and_takes_entra_tokens_only() -> None:
    workspace = resource("monitoring", "workspace")
    assert workspace["type"] == "Microsoft.OperationalInsights/workspaces"
    insights = resource("monitoring", "appInsights")
    assert insights["type"] == "Microsoft.Insights/components"
    properties = insights["config"]["properties"]
    assert properties["WorkspaceResourceId"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "workspace", "operand_2": "id"}}
    }
    assert properties["DisableLocalAuth"] is True
    assert app_settings()["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "appInsightsConnectionString"
    assert app_settings()["OTEL_LOGS_EXPORTER"] == "none", "the host sends the log lines; the app's exporter does not"


# ---- checkov -----------------------------------------------------------------------------------------------------

SKIP = re.compile(r"checkov:skip=([A-Z0-9_]+)(.*)")


def test_every_checkov_skip_names_one_check_and_gives_its_reason() -> None:
    skips = [
        (path, match)
        for path, text in bicep_texts().items()
        for line in text.splitlines()
        if (match := SKIP.search(line))
    ]
    assert skips, "the files carry their skips"
    for path, match in skips:
        check, reason = match.group(1), match.group(2)
        assert re.fullmatch(r"CKV2?_AZURE_\d+", check), (path, check)
        assert reason.startswith(": ") and len(reason) > 30, f"{path}: {check} is skipped without a reason"
