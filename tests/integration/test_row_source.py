"""The fast row source reads exactly what the SDK's query_entities reads, on a real Azurite."""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.data.tables import EdmType, EntityProperty, TableServiceClient

from exports.datasets.cases import CASE_PROPERTY_TYPES, case_schema
from exports.ports import Condition, SourceQuery
from shared.storage.row_source import TableRowSource, odata_filter

pytestmark = pytest.mark.integration

SELECT = ("RowKey", *sorted(CASE_PROPERTY_TYPES))


def sdk_read(tables: TableServiceClient, query: SourceQuery, after: str | None) -> list[dict[str, Any]]:
    text, parameters = odata_filter(query, after)
    found = tables.get_table_client(query.table).query_entities(
        text, parameters=parameters, select=list(query.select) if query.select else None
    )
    return [{k: v.value if isinstance(v, EntityProperty) else v for k, v in entity.items()} for entity in found]


def test_reading_with_the_schema_gives_the_sdk_s_values_and_types(
    tables: TableServiceClient, org: str, load_cases: Callable[..., int]
) -> None:
    load_cases(org, 2_345)
    query = SourceQuery("cases", org, (), SELECT, case_schema(SELECT))
    assert query.schema is not None, "every case property the export reads has a known type"
    fast = list(TableRowSource(tables, page_size=500).read(query, None))
    assert fast == sdk_read(tables, query, None)
    assert all(isinstance(row["CreatedAt"], datetime) and row["CreatedAt"].tzinfo is not None for row in fast)


def test_reading_without_a_schema_types_values_by_their_annotations(
    tables: TableServiceClient, org: str, load_cases: Callable[..., int]
) -> None:
    load_cases(org, 300)
    for select in (None, SELECT):
        query = SourceQuery("cases", org, (Condition("Status", "in", ("OPEN", "CLOSED")),), select)
        fast = list(TableRowSource(tables, page_size=100).read(query, "0000000050"))
        assert fast == sdk_read(tables, query, "0000000050")
        assert fast and all(str(row["RowKey"]) > "0000000050" for row in fast)


def test_int64_double_and_datetime_properties_come_back_typed(tables: TableServiceClient, org: str) -> None:
    tables.create_table_if_not_exists("typedrows")
    client = tables.get_table_client("typedrows")
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    big = EntityProperty(2**40, EdmType.INT64)
    client.upsert_entity({"PartitionKey": org, "RowKey": "1", "Big": big, "Ratio": 2.0, "When": when, "Text": "x"})
    schema = (("Big", "int64"), ("Ratio", "double"), ("When", "datetime"), ("Text", "string"))
    for query in (
        SourceQuery("typedrows", org, (), ("RowKey", "Big", "Ratio", "When", "Text"), schema),
        SourceQuery("typedrows", org),
    ):
        [row] = TableRowSource(tables).read(query, None)
        assert (row["Big"], row["Ratio"], row["When"], row["Text"]) == (2**40, 2.0, when, "x")
        assert isinstance(row["Ratio"], float)


def test_a_batch_that_stops_early_leaves_no_reader_behind(
    tables: TableServiceClient, org: str, load_cases: Callable[..., int]
) -> None:
    import threading

    load_cases(org, 1_200)
    rows = TableRowSource(tables, page_size=100).read(SourceQuery("cases", org, (), ("RowKey",), ()), None)
    first = [next(rows) for _ in range(150)]
    assert isinstance(rows, Generator)
    rows.close()
    assert first[-1]["RowKey"] == "0000000150"
    assert not [t for t in threading.enumerate() if t.name == "row-source-read-ahead"]


def test_counting_stops_at_the_limit_and_resumes_after_the_last_key(
    tables: TableServiceClient, org: str, load_cases: Callable[..., int]
) -> None:
    load_cases(org, 1_050)
    source = TableRowSource(tables, page_size=400)
    query = SourceQuery("cases", org)
    assert source.count(query, None, 1_000) == (1_000, "0000001000")
    assert source.count(query, "0000001000", 1_000) == (50, None)
    assert source.count(query, None, 5_000) == (1_050, None)
