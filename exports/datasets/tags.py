"""Tagged fields: resolving a tag's value from a case bundle, typed by the tag's data type."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import orjson

from exports.models import ColumnSpec

CONTAINER_PROPERTY = {"customFields": "CustomFieldsJson", "responses": "ResponsesJson"}
RECORD_KIND = {"INVESTIGATION": "INV", "DISCLOSURE": "DIS", "INTERVIEW_RESPONSE": "IRS", "RIU": "RIU"}
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def json_property(entity: dict[str, Any], name: str) -> dict[str, Any]:
    raw = entity.get(name)
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def raw_value(spec: ColumnSpec, case: dict[str, Any], records: dict[str, list[dict[str, Any]]]) -> Any:
    """The untyped value a tag points at: on the case, or on the case's first matching record."""
    assert spec.source_entity_type is not None and spec.source_field_path is not None
    kind = RECORD_KIND.get(spec.source_entity_type)
    candidates = records.get(kind, []) if kind else [case]
    container, *path = spec.source_field_path.split(".")
    for entity in candidates:
        if spec.template_id is not None and entity.get("TemplateId") != spec.template_id:
            continue
        value: Any = json_property(entity, CONTAINER_PROPERTY[container])
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value
    return None


def typed_value(value: Any, data_type: str) -> Any:
    """The value as the tag's data type; a value that does not fit is kept as text, never lost."""
    if value is None or value == "":
        return None
    if data_type == "TEXT":
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    if data_type in ("NUMBER", "CURRENCY"):
        return _number(value)
    if data_type == "PERCENTAGE":
        if isinstance(value, str) and value.strip().endswith("%"):
            number = _number(value.strip()[:-1])
            return number / 100 if isinstance(number, int | float) and not isinstance(number, bool) else value
        return _number(value)
    if data_type == "BOOLEAN":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return True if text in _TRUE else False if text in _FALSE else str(value)
    if data_type == "DATE":
        return _date(value)
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return value
    text = str(value).strip().replace(",", "")
    if _NUMBER.match(text):
        number = float(text)
        return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
    return str(value)


def _date(value: Any) -> Any:
    if not isinstance(value, str):
        return orjson.dumps(value).decode()
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        return value
