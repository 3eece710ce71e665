"""Loading a v2-model function app the way `func start` does: settings, module import, host.json."""

from __future__ import annotations

import enum
import importlib
import json
import logging
import os
import re
import sys
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import azure.functions as func

log = logging.getLogger("devhost")

TriggerKind = Literal["http", "queue", "timer", "other"]
TRIGGER_KINDS: tuple[TriggerKind, ...] = ("http", "queue", "timer")

_KIND_BY_BINDING_TYPE: dict[str, TriggerKind] = {
    "httpTrigger": "http",
    "queueTrigger": "queue",
    "timerTrigger": "timer",
}


class ConfigError(Exception):
    """The app, its settings or host.json cannot be used as they are."""


# --- settings -----------------------------------------------------------------------------------------


def load_local_settings(path: Path) -> dict[str, str]:
    """`Values` of local.settings.json; a missing file means no values, as for `func start`."""
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    values = doc.get("Values") or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: 'Values' must be an object")
    # The host hands every value to the worker as a string, whatever its JSON type.
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in values.items() if v is not None}


def apply_settings(values: Mapping[str, str], environ: dict[str, str] | None = None) -> None:
    """Variables already in the environment win, so CI and tests can override local settings."""
    env = os.environ if environ is None else environ
    for key, value in values.items():
        env.setdefault(key, value)


_SETTING_REF = re.compile(r"%([^%]+)%")


def resolve_setting_refs(value: str, environ: Mapping[str, str] | None = None) -> str:
    """Expand `%NAME%` app-setting references like the host does for binding expressions."""
    env = os.environ if environ is None else environ

    def expand(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"app setting {name!r} (referenced as %{name}%) is not set")
        return env[name]

    return _SETTING_REF.sub(expand, value)


# --- host.json -----------------------------------------------------------------------------------------


_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d+))?)?$")


def parse_timespan(value: object) -> float:
    """Seconds from a .NET TimeSpan string (`[d.]hh:mm[:ss[.fff]]`) or an integer of milliseconds."""
    if isinstance(value, bool):
        raise ConfigError(f"not a time span: {value!r}")
    if isinstance(value, (int, float)):
        return float(value) / 1000.0
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text) / 1000.0
        match = _TIMESPAN.match(text)
        if match:
            days, hours, minutes, seconds, fraction = match.groups()
            total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)
            return total + (float(f"0.{fraction}") if fraction else 0.0)
    raise ConfigError(f"not a time span: {value!r}")


@dataclass(frozen=True)
class QueueOptions:
    """`extensions.queues` with the Functions host's defaults."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: Literal["base64", "none"] = "base64"


@dataclass(frozen=True)
class HttpOptions:
    """`extensions.http` throttles; None is unbounded (the host's -1)."""

    # How many HTTP functions run at once; the rest wait in the host's request queue.
    max_concurrent_requests: int | None = None
    # Running plus waiting; a request beyond it is refused with 429.
    max_outstanding_requests: int | None = None


# Flex Consumption's default (the plan infra/ deploys to); host.json's "-1" means no limit.
DEFAULT_FUNCTION_TIMEOUT = 30 * 60.0


@dataclass(frozen=True)
class HostConfig:
    route_prefix: str = "api"
    queues: QueueOptions = field(default_factory=QueueOptions)
    http: HttpOptions = field(default_factory=HttpOptions)
    function_timeout: float | None = DEFAULT_FUNCTION_TIMEOUT


def _int_option(section: Mapping[str, Any], key: str, default: int, minimum: int) -> int:
    raw = section.get(key, default)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
        raise ConfigError(f"host.json extensions.queues.{key} must be an integer >= {minimum}, got {raw!r}")
    return raw


def _limit(section: Mapping[str, Any], key: str) -> int | None:
    raw = section.get(key, -1)
    if isinstance(raw, bool) or not isinstance(raw, int) or (raw < 1 and raw != -1):
        raise ConfigError(f"host.json extensions.http.{key} must be a positive integer or -1, got {raw!r}")
    return None if raw == -1 else raw


def _function_timeout(doc: Mapping[str, Any]) -> float | None:
    raw = doc.get("functionTimeout")
    if raw is None:
        return DEFAULT_FUNCTION_TIMEOUT
    if raw in ("-1", -1):
        return None
    seconds = parse_timespan(raw)
    if seconds <= 0:
        raise ConfigError(f"host.json functionTimeout must be positive or -1, got {raw!r}")
    return seconds


def parse_host_config(doc: Mapping[str, Any]) -> HostConfig:
    extensions = doc.get("extensions") or {}
    http = extensions.get("http") or {}
    prefix = http.get("routePrefix", "api")
    if not isinstance(prefix, str):
        raise ConfigError("host.json extensions.http.routePrefix must be a string")
    http_options = HttpOptions(
        max_concurrent_requests=_limit(http, "maxConcurrentRequests"),
        max_outstanding_requests=_limit(http, "maxOutstandingRequests"),
    )

    queues = extensions.get("queues") or {}
    # The storage service hands out at most 32 messages per request, so the host caps it there too.
    batch_size = min(_int_option(queues, "batchSize", 16, 1), 32)
    threshold = _int_option(queues, "newBatchThreshold", batch_size // 2, 0)
    encoding = str(queues.get("messageEncoding", "base64")).lower()
    if encoding not in ("base64", "none"):
        raise ConfigError(
            f"host.json extensions.queues.messageEncoding must be base64 or none, got {encoding!r}"
        )
    options = QueueOptions(
        batch_size=batch_size,
        new_batch_threshold=threshold,
        max_polling_interval=parse_timespan(queues.get("maxPollingInterval", "00:01:00")),
        visibility_timeout=parse_timespan(queues.get("visibilityTimeout", "00:00:00")),
        max_dequeue_count=_int_option(queues, "maxDequeueCount", 5, 1),
        message_encoding="base64" if encoding == "base64" else "none",
    )
    return HostConfig(
        route_prefix=prefix.strip("/"),
        queues=options,
        http=http_options,
        function_timeout=_function_timeout(doc),
    )


def load_host_config(app_dir: Path) -> HostConfig:
    path = app_dir / "host.json"
    if not path.is_file():
        return HostConfig()
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    return parse_host_config(doc)


# --- the app -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionInfo:
    """One registered function, reduced to what the host needs to trigger it."""

    name: str
    kind: TriggerKind
    trigger: dict[str, Any]
    bindings: tuple[dict[str, Any], ...]
    user_function: Callable[..., Any]

    @property
    def trigger_arg(self) -> str:
        return str(self.trigger["name"])


def load_app(app_dir: Path, module_name: str = "function_app") -> func.FunctionApp:
    app_path = str(app_dir.resolve())
    if app_path not in sys.path:
        sys.path.insert(0, app_path)
    module = importlib.import_module(module_name)
    candidate = getattr(module, "app", None)
    if isinstance(candidate, func.FunctionApp):
        return candidate
    for value in vars(module).values():
        if isinstance(value, func.FunctionApp):
            return value
    raise ConfigError(f"{module.__file__} defines no azure.functions.FunctionApp instance")


def _plain(value: Any) -> Any:
    """Binding dicts hold enums (HttpMethod, AuthLevel); the host only cares about their values."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.value if isinstance(value, enum.Enum) else value


# The SDK's get_functions() indexes the app's blueprints and refuses to run twice on one FunctionApp (it
# sees every function a second time as a duplicate), so each app is described once and remembered.
_DESCRIBED: weakref.WeakKeyDictionary[func.FunctionApp, list[FunctionInfo]] = weakref.WeakKeyDictionary()


def describe_functions(app: func.FunctionApp) -> list[FunctionInfo]:
    described = _DESCRIBED.get(app)
    if described is None:
        described = _DESCRIBED[app] = _describe(app)
    return list(described)


def _describe(app: func.FunctionApp) -> list[FunctionInfo]:
    infos: list[FunctionInfo] = []
    for function in app.get_functions():
        name = function.get_function_name()
        if not name:
            continue
        bindings = tuple(
            {k: _plain(v) for k, v in b.get_dict_repr().items()} for b in function.get_bindings()
        )
        trigger = next((b for b in bindings if str(b.get("type", "")).endswith("Trigger")), None)
        if trigger is None:
            log.warning("function %s has no trigger binding; it will never run", name)
            continue
        kind = _KIND_BY_BINDING_TYPE.get(str(trigger["type"]), "other")
        if kind == "other":
            log.warning("function %s: %s triggers are not supported by devhost", name, trigger["type"])
        infos.append(FunctionInfo(name, kind, trigger, bindings, function.get_user_function()))
    return infos
