"""Structured logs: one JSON object per line, with the job, organization, batch, rows and duration they concern.

Application Insights receives each worker log line as a trace's `message` (the Functions host forwards it), so a
query reads the fields with `parse_json(message)`:

    traces | extend log = parse_json(message) | where log.job_id == "<job id>" | project timestamp, log

The triggers set the job and organization in a context (`log_context`) for the length of one invocation, so
every line of that invocation carries them without each call naming them; a call adds its own with `extra=`
(`batch`, `rows`, `duration_ms`, ...). Only the fields in `FIELDS` are written: an export's cell values never
become log fields, whatever a caller passes. Every text goes through `shared.redaction.redact` before it is
encoded (masking the encoded line could eat a JSON escape), so a secret in a field is masked like one in the
message.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import orjson

from shared.redaction import install_log_redaction, redact

# The fields a line may carry besides time, level, logger and message. Identifiers and counts, never data.
FIELDS = (
    "job_id",
    "organization_id",
    "request_id",
    "dataset",
    "format",
    "status",
    "stage",
    "step",
    "attempt",
    "shard",
    "batch",
    "rows",
    "total_rows",
    "bytes",
    "duration_ms",
)

_EMPTY: Mapping[str, object] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar("exports_log_context", default=_EMPTY)

# The storage SDK logs every HTTP request at INFO, with its URL: query filters and row keys are in it.
_QUIET_LOGGERS = ("azure.core.pipeline.policies.http_logging_policy",)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Every line logged inside the block carries these fields (unknown names are dropped)."""
    token = _context.set(MappingProxyType({**_context.get(), **_known(fields)}))
    try:
        yield
    finally:
        _context.reset(token)


def current_log_context() -> Mapping[str, object]:
    return _context.get()


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON: time (UTC, ISO 8601), level, logger, message, the known fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        fields = {**_context.get(), **_known(record.__dict__)}
        line.update((name, _plain(value)) for name, value in fields.items())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = redact(record.exc_text)
        if record.stack_info:
            line["stack"] = redact(record.stack_info)
        return orjson.dumps(line, default=str).decode()


_install_lock = threading.Lock()
_installed = False


def install_json_logging() -> None:
    """Formats every root handler's lines as JSON (adds one on stderr if there is none). Safe to call twice.

    In Azure the Python worker's root handler forwards the formatted line to the host, which sends it to
    Application Insights; under the local host it is the console handler.
    """
    global _installed
    install_log_redaction()
    with _install_lock:
        if _installed:
            return
        root = logging.getLogger()
        if not root.handlers:
            root.addHandler(logging.StreamHandler())
            root.setLevel(logging.INFO)
        formatter = JsonFormatter()
        for handler in root.handlers:
            # pytest's capture handlers come and go with each test; they keep their own format.
            if type(handler).__module__.startswith("_pytest."):
                continue
            handler.setFormatter(formatter)
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        _installed = True


def _known(values: Mapping[str, object]) -> dict[str, object]:
    return {name: values[name] for name in FIELDS if values.get(name) is not None}


def _plain(value: object) -> object:
    if isinstance(value, bool | int | float):
        return value
    return redact(str(value))
