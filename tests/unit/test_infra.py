"""The Bicep in infra/, parsed with pycep (no az or bicep CLI here): the resources, roles and settings the issue asks
for are there, the app settings are ones the app reads, and every checkov skip says why. The PostgreSQL source's
settings and checks are also evaluated for given parameters, by a small evaluator of the parsed expressions."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any, cast, get_args
from urllib.parse import unquote

import pytest
import yaml  # type: ignore[import-untyped]
from psycopg.conninfo import conninfo_to_dict
from pycep import BicepParser

from devhost.app_loader import describe_functions, load_app, load_host_config
from shared.settings import Settings
from shared.storage.clients import StorageClients
from tests.conftest import HOST_ENV
from tests.support.azurite import PROJECT_ROOT

INFRA = PROJECT_ROOT / "infra"
MODULES = ("monitoring", "storage", "functionapp", "roles", "keyvaultaccess", "checks")
# Deploys nothing: its parameter's @allowed is the check (main.bicep, "Deployment-time checks").
RESOURCELESS_MODULES = {"checks"}

# Built-in role definition ids (the same in every tenant).
LEAST_STORAGE_ROLES = {
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Delegator": "db58b8e5-c6ad-4a2a-8342-4190687cbf4a",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
}
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
BROADER_ROLES = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Storage Account Contributor": "17d1049b-9a84-46fb-8f53-869881c3d3ab",
    "Storage Account Key Operator Service Role": "81a9662b-bebf-436f-a333-f67b29880f12",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Contributor": "f25e0fa2-a7c8-4377-a976-54943a77a395",
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


def module_config(name: str) -> dict[str, Any]:
    """A module's name, scope and params; a conditional module (`= if (...)`) has them one level down."""
    config = cast(dict[str, Any], parsed("main")["modules"][name]["config"])
    return cast(dict[str, Any], config["config"]) if "condition" in config else config


def postgres_settings() -> dict[str, Any]:
    """The EXPORTS_POSTGRES_* settings main.bicep adds with the PostgreSQL source (the conditional's true branch)."""
    return cast(dict[str, Any], variable("main", "postgresSettings")["operator"]["operands"]["true_value"])


def app_settings() -> dict[str, Any]:
    """The Function App's settings: the module's own and every EXPORTS_* one main.bicep may pass in."""
    return {**variable("functionapp", "baseSettings"), **variable("main", "exportSettings"), **postgres_settings()}


# ---- the files ---------------------------------------------------------------------------------------------------


def test_every_bicep_file_parses_and_is_main_or_one_of_its_modules() -> None:
    assert set(bicep_texts()) == {"main.bicep", *(f"modules/{name}.bicep" for name in MODULES)}
    for name in ("main", *MODULES):
        if name in RESOURCELESS_MODULES:
            assert not parsed(name).get("resources"), f"{name}.bicep deploys nothing"
        else:
            assert parsed(name)["resources"], f"{name}.bicep declares resources"


def test_main_deploys_every_module_into_its_resource_group_with_the_parameters_each_declares() -> None:
    main = parsed("main")
    assert main["globals"]["scope"]["value"] == "subscription"
    assert resource("main", "group")["type"] == "Microsoft.Resources/resourceGroups"
    modules = main["modules"]
    assert {Path(m["detail"]["path"]).stem for m in modules.values()} == set(MODULES)
    for symbol, module in modules.items():
        declared = parsed(Path(module["detail"]["path"]).stem)["parameters"]
        given = set(module_config(symbol)["params"])
        required = {name for name, param in declared.items() if param.get("default") is None}
        assert given <= set(declared), f"{module['detail']['path']} has no parameter {given - set(declared)}"
        assert required <= given, f"{module['detail']['path']} needs {required - given}"
        if symbol != "keyVaultAccess":  # the vault's own resource group (see the Key Vault test)
            assert module_config(symbol)["scope"] == "group"


def test_the_parameters_file_sets_only_declared_parameters_and_every_required_one() -> None:
    document = json.loads((INFRA / "main.parameters.json").read_text())
    declared = parsed("main")["parameters"]
    given = set(document["parameters"])
    assert given <= set(declared)
    assert {name for name, param in declared.items() if param.get("default") is None} <= given
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


# ---- the PostgreSQL source --------------------------------------------------------------------------------------

# What `environment().suffixes.keyvaultDns` is in Azure's public cloud.
KEYVAULT_DNS = ".vault.azure.net"
INTERPOLATION = re.compile(r"\$\{([^}]+)\}")
POSTGRES_SETTINGS = {
    "EXPORTS_POSTGRES_AUTH",
    "EXPORTS_POSTGRES_URL",
    "EXPORTS_POSTGRES_SCHEMA",
    "EXPORTS_POSTGRES_STATEMENT_TIMEOUT_SECONDS",
    "EXPORTS_POSTGRES_POOL_MAX",
}
APP_NAME = "func-exports-example"
SECRET_URI = "https://kv-exports.vault.azure.net/secrets/exports-postgres/"
ENTRA = {
    "exportsSource": "postgres",
    "postgresAuth": "entra",
    "postgresHost": "pg-exports.postgres.database.azure.com",
    "postgresDatabase": "support",
}
PASSWORD = {
    "exportsSource": "postgres",
    "postgresAuth": "password",
    "postgresConnectionSecretUri": SECRET_URI,
    "keyVaultName": "kv-exports",
}


class Deployment:
    """main.bicep's variables for given parameters, evaluated from the parsed expressions. It knows the few
    functions and operators the PostgreSQL settings and checks use, and fails on anything else. pycep gives a
    name and a string literal alike as a str: a str that names a parameter or variable is read as that name,
    so a literal must never spell one (none here does)."""

    FUNCTIONS: dict[str, Any] = {
        "empty": lambda a: len(a["item_to_test"]) == 0,
        "contains": lambda a: a["item_to_find"] in a["container"],
        "starts_with": lambda a: a["string_to_search"].startswith(a["string_to_find"]),
        "to_lower": lambda a: a["string_to_change"].lower(),
        "length": lambda a: len(a["arg_1"]),
        "uri_component_to_string": lambda a: unquote(a["uri_encoded_string"]),
        "string": lambda a: str(a["value_to_convert"]),
        "union": lambda a: {**a["arg_1"], **a["arg_2"]},
    }

    def __init__(self, **overrides: Any) -> None:
        declared = parsed("main")["parameters"]
        assert set(overrides) <= set(declared), set(overrides) - set(declared)
        defaults = {name: param["default"] for name, param in declared.items()}
        # functionAppName comes from uniqueString() unless appName is given: fixed here, it is not the point.
        self.names: dict[str, Any] = {**defaults, **overrides, "functionAppName": APP_NAME}
        self.names["environment().suffixes.keyvaultDns"] = KEYVAULT_DNS
        self.variables = parsed("main")["variables"]

    def __getitem__(self, name: str) -> Any:
        if name not in self.names:
            self.names[name] = self.value(self.variables[name]["value"])
        return self.names[name]

    def value(self, node: Any) -> Any:
        if isinstance(node, str):
            if node in self.names or node in self.variables:
                return self[node]
            return INTERPOLATION.sub(lambda match: str(self[match.group(1)]), node)
        if not isinstance(node, dict):
            return node
        if "operator" in node:
            kind, operands = node["operator"]["type"], node["operator"]["operands"]
            if kind == "conditional":
                branch = "true_value" if self.value(operands["condition"]) else "false_value"
                return self.value(operands[branch])
            if kind == "not":
                return not self.value(operands["bool_value"])
            left, right = self.value(operands["operand_1"]), operands["operand_2"]
            if kind == "and":
                return left and self.value(right)
            if kind == "or":
                return left or self.value(right)
            binary = {"equals": lambda a, b: a == b, "greater_than": lambda a, b: a > b}
            return binary[kind](left, self.value(right))
        if "function" in node:
            function = node["function"]
            arguments = {key: self.value(argument) for key, argument in function["parameters"].items()}
            return self.FUNCTIONS[function["type"]](arguments)
        return {key: self.value(item) for key, item in node.items()}

    def app_settings(self) -> dict[str, str]:
        """The EXPORTS_* settings the Function App gets: the expression main.bicep passes to the module."""
        passed = self.value(module_config("functionApp")["params"]["exportSettings"])
        return {key: value for key, value in passed.items() if key in ("EXPORTS_SOURCE", *POSTGRES_SETTINGS)}

    def problem(self) -> str:
        """What the checks module is given: 'ok', or the reason the deployment stops."""
        return cast(str, self.value(module_config("checks")["params"]["postgres"]))


def load_settings(monkeypatch: pytest.MonkeyPatch, deployed: dict[str, str]) -> Settings:
    for name in ("AzureWebJobsStorage", "EXPORTS_STORAGE_CONNECTION_STRING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AzureWebJobsStorage__accountName", "stexample")
    for name, value in deployed.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_the_source_parameters_are_the_choices_the_app_takes() -> None:
    declared = parsed("main")["parameters"]

    def allowed(name: str) -> set[str]:
        (decorator,) = [d for d in declared[name]["decorators"] if d["type"] == "allowed"]
        return set(decorator["argument"])

    assert allowed("exportsSource") == set(get_args(Settings.model_fields["source"].annotation))
    assert declared["exportsSource"]["default"] == Settings.model_fields["source"].default == "tables"
    assert allowed("postgresAuth") == set(get_args(Settings.model_fields["postgres_auth"].annotation))
    # Entra by default in Azure: no password to keep anywhere (the app's own default, for local runs, is password).
    assert declared["postgresAuth"]["default"] == "entra"
    assert declared["postgresSchema"]["default"] == Settings.model_fields["postgres_schema"].default
    timeout, pool = declared["postgresStatementTimeoutSeconds"], declared["postgresPoolMax"]
    assert timeout["default"] == Settings.model_fields["postgres_statement_timeout_seconds"].default == 60
    assert pool["default"] == Settings.model_fields["postgres_pool_max"].default == 4
    assert {"type": "max_value", "argument": 600} in timeout["decorators"]
    assert {"type": "min_value", "argument": 1} in pool["decorators"]
    assert {"type": "max_value", "argument": 50} in pool["decorators"]


def test_the_postgres_source_settings_are_set_only_when_the_source_is_postgres() -> None:
    assert variable("main", "exportSettings")["EXPORTS_SOURCE"] == "exportsSource"
    assert set(postgres_settings()) == POSTGRES_SETTINGS
    assert not POSTGRES_SETTINGS & {*variable("main", "exportSettings"), *variable("functionapp", "baseSettings")}
    conditional = variable("main", "postgresSettings")["operator"]
    assert conditional["type"] == "conditional" and conditional["operands"]["false_value"] == {}
    assert module_config("functionApp")["params"]["exportSettings"] == {
        "function": {"type": "union", "parameters": {"arg_1": "exportSettings", "arg_2": "postgresSettings"}}
    }
    # Evaluated: the Table source (the default) gets no EXPORTS_POSTGRES_* setting, whatever else is given.
    assert Deployment().app_settings() == {"EXPORTS_SOURCE": "tables"}
    assert Deployment(**{**ENTRA, "exportsSource": "tables"}).app_settings() == {"EXPORTS_SOURCE": "tables"}
    assert Deployment(**{**PASSWORD, "exportsSource": "tables"}).app_settings() == {"EXPORTS_SOURCE": "tables"}
    for parameters in (ENTRA, PASSWORD):
        deployed = Deployment(**parameters).app_settings()
        assert set(deployed) == {"EXPORTS_SOURCE", *POSTGRES_SETTINGS}
        assert deployed["EXPORTS_SOURCE"] == "postgres"
        assert deployed["EXPORTS_POSTGRES_AUTH"] == parameters["postgresAuth"]
        assert deployed["EXPORTS_POSTGRES_SCHEMA"] == "public"
        assert deployed["EXPORTS_POSTGRES_STATEMENT_TIMEOUT_SECONDS"] == "60"
        assert deployed["EXPORTS_POSTGRES_POOL_MAX"] == "4"


def test_with_entra_the_connection_names_the_server_and_user_and_holds_no_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployed = Deployment(**ENTRA).app_settings()
    # libpq's own reading of the setting (psycopg's conninfo parser).
    assert conninfo_to_dict(deployed["EXPORTS_POSTGRES_URL"]) == {
        "host": "pg-exports.postgres.database.azure.com",
        "port": "5432",
        "dbname": "support",
        "user": APP_NAME,  # by default the role is named after the app, as its system-assigned identity is
        "sslmode": "require",
    }
    named = Deployment(**ENTRA, postgresUser="exports-reader").app_settings()
    assert conninfo_to_dict(named["EXPORTS_POSTGRES_URL"])["user"] == "exports-reader"
    loaded = load_settings(monkeypatch, deployed)
    assert (loaded.source, loaded.postgres_auth, loaded.postgres_schema) == ("postgres", "entra", "public")
    assert loaded.postgres_url is not None and "password" not in loaded.postgres_url.get_secret_value()
    # azd shows the role the PostgreSQL admin creates for the app with pgaadauth_create_principal.
    output = parsed("main")["outputs"]["POSTGRES_ENTRA_PRINCIPAL"]["value"]
    assert Deployment(**ENTRA).value(output) == APP_NAME
    assert Deployment(**PASSWORD).value(output) == Deployment().value(output) == ""


def test_with_a_password_the_connection_string_comes_from_key_vault_and_the_identity_may_read_that_vault_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployed = Deployment(**PASSWORD).app_settings()
    assert deployed["EXPORTS_POSTGRES_URL"] == f"@Microsoft.KeyVault(SecretUri={SECRET_URI})"
    loaded = load_settings(monkeypatch, deployed)
    assert (loaded.source, loaded.postgres_auth) == ("postgres", "password")
    # The role: Key Vault Secrets User, on the existing vault, deployed only with the password mode.
    module = parsed("main")["modules"]["keyVaultAccess"]
    assert module["config"]["condition"] == "usesKeyVault"
    assert [Deployment(**p)["usesKeyVault"] for p in ({}, ENTRA, PASSWORD)] == [False, False, True]
    assert [Deployment(**{**PASSWORD, "exportsSource": "tables"})["usesKeyVault"]] == [False]
    config = module_config("keyVaultAccess")
    assert config["params"]["keyVaultName"] == "keyVaultName"
    assert config["params"]["principalId"] == module_config("roles")["params"]["principalId"]
    scope = config["scope"]["function"]
    assert scope["type"] == "resource_group" and scope["parameters"]["subscription_id"] is None
    group_name = scope["parameters"]["resource_group_name"]["operator"]["operands"]
    assert group_name["false_value"] == "keyVaultResourceGroup", "the vault's group, else the app's"
    assert resource("keyvaultaccess", "vault")["existing"] is True
    assert set(parsed("keyvaultaccess")["resources"]) == {"vault", "secretsUserAssignment"}
    assignment = resource("keyvaultaccess", "secretsUserAssignment")["config"]
    assert assignment["scope"] == "vault"
    assert assignment["properties"]["principalId"] == "principalId"
    assert assignment["properties"]["principalType"] == "ServicePrincipal"
    assert variable("keyvaultaccess", "keyVaultSecretsUser") == KEY_VAULT_SECRETS_USER
    role = assignment["properties"]["roleDefinitionId"]["function"]["parameters"]
    assert role["resource_name_1"] == "keyVaultSecretsUser"


def test_no_parameter_and_no_app_setting_ever_holds_a_password() -> None:
    declared = parsed("main")["parameters"]
    assert not [name for name in declared if re.search(r"(?i)password|connectionstring|url$|dsn", name)]
    for text in bicep_texts().values():
        assert not re.search(r"(?i)password\s*=|postgres(ql)?://", text)
    document = json.loads((INFRA / "main.parameters.json").read_text())
    for name in ("postgresHost", "postgresDatabase", "postgresUser", "postgresConnectionSecretUri", "keyVaultName"):
        # Filled from the azd environment (`azd env set POSTGRES_HOST ...`), never a value written here.
        assert re.fullmatch(r"\$\{[A-Z_]+\}", document["parameters"][name]["value"]), name
    assert document["parameters"]["exportsSource"]["value"] == "${EXPORT_SOURCE=tables}"
    assert document["parameters"]["postgresAuth"]["value"] == "${POSTGRES_AUTH=entra}"
    # The connection setting is one of two things only: none (Table source), or one without a password.
    assert "EXPORTS_POSTGRES_URL" not in Deployment().app_settings()
    assert "password" not in conninfo_to_dict(Deployment(**ENTRA).app_settings()["EXPORTS_POSTGRES_URL"])
    reference = Deployment(**PASSWORD).app_settings()["EXPORTS_POSTGRES_URL"]
    assert reference.startswith("@Microsoft.KeyVault(SecretUri=https://")


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        ({**ENTRA, "postgresHost": ""}, "needs postgresHost and postgresDatabase"),
        ({**ENTRA, "postgresDatabase": ""}, "needs postgresHost and postgresDatabase"),
        ({**ENTRA, "postgresUser": "Export Readers"}, "no space, quote or backslash"),
        ({**ENTRA, "postgresDatabase": "o'brien"}, "no space, quote or backslash"),
        ({**ENTRA, "postgresUser": "corp\\exports"}, "no space, quote or backslash"),
        ({**PASSWORD, "postgresConnectionSecretUri": ""}, "needs postgresConnectionSecretUri"),
        ({**PASSWORD, "keyVaultName": ""}, "needs postgresConnectionSecretUri"),
        ({**PASSWORD, "keyVaultName": "kv-other"}, "a secret of the vault keyVaultName (kv-other)"),
        ({**PASSWORD, "postgresConnectionSecretUri": "https://kv-exports.vault.azure.net/secrets/"}, "needs postgres"),
        ({**PASSWORD, "postgresConnectionSecretUri": "https://kv-exports.example.com/secrets/x"}, "needs postgres"),
    ],
)
def test_the_deployment_stops_with_its_reason_when_the_postgres_parameters_cannot_work(
    parameters: dict[str, str], reason: str
) -> None:
    problem = Deployment(**parameters).problem()
    assert problem != "ok" and reason in problem


def test_the_checks_pass_for_the_table_source_and_for_either_mode_given_what_it_needs() -> None:
    (param,) = parsed("checks")["parameters"].values()
    assert {"type": "allowed", "argument": ["ok"]} in param["decorators"] and param["default"] is None
    # The Function App is deployed only after the checks module, so a failed check stops it first.
    assert module_config("functionApp")["dependsOn"] == ["checks"]
    assert Deployment().problem() == "ok"
    assert Deployment(postgresHost="", postgresConnectionSecretUri="not a uri").problem() == "ok"
    assert Deployment(**ENTRA).problem() == "ok"
    assert Deployment(**ENTRA, postgresUser="exports-reader").problem() == "ok"
    assert Deployment(**PASSWORD).problem() == "ok"
    assert Deployment(**{**PASSWORD, "keyVaultName": "KV-Exports"}).problem() == "ok", "vault names ignore case"
    # A secret URI that names a version is a secret of the vault too.
    assert Deployment(**{**PASSWORD, "postgresConnectionSecretUri": SECRET_URI + "0123456789abcdef"}).problem() == "ok"


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
