"""The Table storage row source types every value as it is stored, never as the dataset expects.

Pages are JSON with minimal metadata, as Table storage sends them: Edm.DateTime, Edm.Int64, Edm.Binary and
Edm.Guid values carry a `Prop@odata.type` annotation; a string without one is an Edm.String, whatever it
looks like. A value stored with another type than its column's reaches the row builder as what it is,
which then exports it as its text with a warning. The same reads on a real Azurite:
tests/integration/test_row_source.py.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from shared.storage.row_source import _type_checks, _typer
from shared.storage.table_query import Condition

SELECT = ("RowKey", "CreatedAt", "SubjectCount", "CaseNumber", "IsAnonymous", "Amount")
DOUBLES = frozenset({"Amount"})
JUNE = datetime(2024, 6, 1, tzinfo=UTC)


def page(*entities: dict[str, Any]) -> list[dict[str, Any]]:
    """A page as orjson decodes it, each entity with the `odata.etag` every minimal-metadata entity has."""
    body = {"odata.metadata": "https://account.table.core.windows.net/$metadata#cases", "value": [
        {"odata.etag": "W/\"datetime'2026-11-29T14%3A53%3A42.4952188Z'\"", "PartitionKey": "org", **entity}
        for entity in entities
    ]}  # fmt: skip
    value: list[dict[str, Any]] = orjson.loads(orjson.dumps(body))["value"]
    return value


def typed(*entities: dict[str, Any], select: tuple[str, ...] | None = SELECT) -> list[dict[str, Any]]:
    return _typer(select, DOUBLES)(page(*entities))


@pytest.mark.parametrize("select", [SELECT, None])
def test_annotated_values_get_their_types(select: tuple[str, ...] | None) -> None:
    [row] = typed(
        {
            "RowKey": "1",
            "CreatedAt@odata.type": "Edm.DateTime",
            "CreatedAt": "2024-06-01T00:00:00.0000000Z",
            "SubjectCount@odata.type": "Edm.Int64",
            "SubjectCount": "12",
            "CaseNumber": "C-1",
            "IsAnonymous": True,
            "Amount": 2.5,
        },
        select=select,
    )
    assert row == {"PartitionKey": "org", "RowKey": "1", "CreatedAt": JUNE, "SubjectCount": 12,
                   "CaseNumber": "C-1", "IsAnonymous": True, "Amount": 2.5}  # fmt: skip


@pytest.mark.parametrize("select", [SELECT, None])
@pytest.mark.parametrize(
    ("prop", "stored", "read"),
    [
        ("CreatedAt", "2024-06-01", "2024-06-01"),  # an Edm.String that reads as a date stays text
        ("CreatedAt", "2024-06-01T00:00:00Z", "2024-06-01T00:00:00Z"),
        ("SubjectCount", "12", "12"),  # an Edm.String of digits stays text
        ("SubjectCount", 12, 12),  # an Edm.Int32: Table storage writes it as a JSON number
        ("Amount", "2.5", "2.5"),
        ("IsAnonymous", "true", "true"),
    ],
)
def test_a_string_stays_text_whatever_it_looks_like(
    select: tuple[str, ...] | None, prop: str, stored: Any, read: Any
) -> None:
    [row] = typed({"RowKey": "1", prop: stored}, select=select)
    assert row[prop] == read and type(row[prop]) is type(read)


@pytest.mark.parametrize("select", [SELECT, None])
@pytest.mark.parametrize(
    ("prop", "annotation", "stored", "read"),
    [
        ("CaseNumber", "Edm.Int64", "12", 12),  # an Int64 where text is expected stays an int
        ("CaseNumber", "Edm.DateTime", "2024-06-01T00:00:00Z", JUNE),
        ("CaseNumber", "Edm.Binary", "AAE=", b"\x00\x01"),
        ("CreatedAt", "Edm.Int64", "1717200000", 1_717_200_000),  # never Unix seconds: an int
        ("CaseNumber", "Edm.Guid", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
    ],
)
def test_a_value_stored_with_another_type_arrives_as_what_it_is(
    select: tuple[str, ...] | None, prop: str, annotation: str, stored: Any, read: Any
) -> None:
    [row] = typed({"RowKey": "1", f"{prop}@odata.type": annotation, prop: stored}, select=select)
    assert row[prop] == read and type(row[prop]) is type(read)
    assert not any("@" in key or key.startswith("odata.") for key in row)


def test_a_whole_double_comes_as_an_unannotated_integer_and_is_read_as_a_double() -> None:
    rows = typed(
        {"RowKey": "1", "Amount": 12},
        {"RowKey": "2", "Amount@odata.type": "Edm.Double", "Amount": "NaN"},
        {"RowKey": "3", "Amount@odata.type": "Edm.Int64", "Amount": "12"},  # an Int64 stays an int
        {"RowKey": "4", "SubjectCount": 12},  # not a double: an Int32 stays an int
    )
    assert type(rows[0]["Amount"]) is float and rows[0]["Amount"] == 12.0
    assert math.isnan(rows[1]["Amount"])
    assert type(rows[2]["Amount"]) is int and type(rows[3]["SubjectCount"]) is int


def test_properties_the_reader_does_not_know_are_typed_by_their_annotations_too() -> None:
    [row] = typed({"RowKey": "1", "odata.id": "x", "Extra@odata.type": "Edm.Int64", "Extra": "5", "Timestamp": "t"})
    assert row == {"PartitionKey": "org", "RowKey": "1", "Extra": 5}


@pytest.mark.parametrize(
    ("conditions", "allowed"),
    [
        ((Condition("CreatedAt", "ge", JUNE), Condition("CreatedAt", "lt", JUNE)), {"CreatedAt": {datetime}}),
        ((Condition("Number", "gt", 3),), {"Number": {int}}),
        ((Condition("Status", "in", ("OPEN", "CLOSED")),), {"Status": {str}}),
        ((Condition("Flag", "eq", True),), {"Flag": {bool}}),
        ((Condition("RowKey", "gt", "0001"),), {}),  # keys are always strings
    ],
)
def test_a_filter_admits_only_values_of_its_own_type(
    conditions: tuple[Condition, ...], allowed: dict[str, set[type]]
) -> None:
    assert {prop: set(kinds) for prop, kinds in _type_checks(conditions)} == allowed
