"""The naive peer: what a typical implementation does, run in its own process so its peak RSS is its own.

It writes the same file as the project's FLAT_FILE export (the same 29 columns, in the same order):
it reads the organization's cases and their investigation and RIU records from the same source, joins
them in pandas, counts the records per case and computes days open and SLA breached, then `to_csv` /
`to_excel` (openpyxl) into memory and `upload_blob` to Azurite.

- Table storage: `azure-data-tables` query_entities of the organization's partition of `cases`, and of
  `caserecords` filtered to the kinds the export reads (`Kind eq 'INV' or Kind eq 'RIU'`, selecting
  `RowKey` and `Kind`, as the project's counting read does), each into a DataFrame.
- PostgreSQL: `pandas.read_sql` of the worker's own cases and records statements without their LIMIT
  (bench.postgres.export_queries), over a psycopg connection.

Prints one JSON line: seconds (from the first read to the upload's end), the phases, and peak RSS in MB.

    python -m bench.naive CONNECTION_STRING ORGANIZATION csv|xlsx
    python -m bench.naive CONNECTION_STRING ORGANIZATION csv|xlsx POSTGRES_CONNINFO QUERIES_JSON
"""

from __future__ import annotations

import io
import resource
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

# The flat file's columns in file order: (column name, how the peer gets it). A string is the case
# property of that name; the others are computed below. Checked against the project's catalog by
# tests/unit/test_naive_peer.py.
COUNTED_KINDS = {"riu_count": "RIU", "investigation_count": "INV"}
COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("case_id", "CaseId"),
    ("case_number", "CaseNumber"),
    ("case_status", "Status"),
    ("case_priority", "Priority"),
    ("case_created_at", "CreatedAt"),
    ("case_closed_at", "ClosedAt"),
    ("case_days_open", None),
    ("case_sla_breached", None),
    ("category_name", "CategoryName"),
    ("category_code", "CategoryCode"),
    ("subcategory_name", "SubcategoryName"),
    ("source_channel", "SourceChannel"),
    ("is_anonymous", "IsAnonymous"),
    ("reporter_relationship", "ReporterRelationship"),
    ("assigned_to_name", "AssignedToName"),
    ("assigned_to_email", "AssignedToEmail"),
    ("business_unit_name", "BusinessUnitName"),
    ("business_unit_code", "BusinessUnitCode"),
    ("location_name", "LocationName"),
    ("location_country", "LocationCountry"),
    ("location_region", "LocationRegion"),
    ("outcome", "Outcome"),
    ("outcome_reason", "OutcomeReason"),
    ("has_remediation", "HasRemediation"),
    ("remediation_status", "RemediationStatus"),
    ("riu_count", None),
    ("investigation_count", None),
    ("subject_count", "SubjectCount"),
    ("attachment_count", "AttachmentCount"),
)
SECONDS_PER_DAY = 86_400


def flat_file(cases: Any, records: Any, as_of: datetime) -> Any:
    """The flat file as a DataFrame: `cases` has a `key` column and the case properties, `records` has
    `key` and `Kind` (one row per record)."""
    import pandas as pd

    counts = records.groupby(["key", "Kind"]).size().unstack(fill_value=0) if len(records) else pd.DataFrame()
    frame = cases.merge(counts, left_on="key", right_index=True, how="left")
    created = pd.to_datetime(frame["CreatedAt"], utc=True)
    no_dates = pd.Series(pd.NaT, index=frame.index)
    closed = pd.to_datetime(frame["ClosedAt"], utc=True) if "ClosedAt" in frame else no_dates
    end = closed.fillna(pd.Timestamp(as_of))
    days = ((end - created).dt.total_seconds() // SECONDS_PER_DAY).clip(lower=0)
    due = pd.to_datetime(frame["SlaDueAt"], utc=True)
    breached = (end > due).astype("boolean").mask(due.isna())
    out = pd.DataFrame(index=frame.index)
    for name, prop in COLUMNS:
        if prop is not None:
            out[name] = frame.get(prop, None)
        elif name == "case_days_open":
            out[name] = days.astype("Int64")
        elif name == "case_sla_breached":
            out[name] = breached
        else:
            kind = COUNTED_KINDS[name]
            out[name] = frame[kind].fillna(0).astype(int) if kind in frame else 0
    return out


def tables_reader(connection: str, organization: str) -> Callable[[], tuple[Any, Any]]:
    import pandas as pd
    from azure.data.tables import TableServiceClient

    service = TableServiceClient.from_connection_string(connection)
    cases_table = service.get_table_client("cases")
    records_table = service.get_table_client("caserecords")

    def read() -> tuple[Any, Any]:
        entities = cases_table.query_entities("PartitionKey eq @org", parameters={"org": organization})
        cases = pd.DataFrame([dict(entity) for entity in entities])
        cases["key"] = cases["RowKey"]
        found = records_table.query_entities(
            "PartitionKey eq @org and (Kind eq 'INV' or Kind eq 'RIU')",
            parameters={"org": organization},
            select=["RowKey", "Kind"],
        )
        records = pd.DataFrame([dict(entity) for entity in found], columns=["RowKey", "Kind"])
        records["key"] = records["RowKey"].str.split("|", n=1).str[0]
        return cases, records

    return read


def postgres_reader(dsn: str, queries: dict[str, Any]) -> Callable[[], tuple[Any, Any]]:
    import pandas as pd
    import psycopg

    from shared.postgres.contract import CASE_RECORDS, CASES

    def frame(conn: Any, name: str, renames: dict[str, str]) -> Any:
        text, params = queries[name]
        read = pd.read_sql(text, conn, params=params)
        return read.rename(columns={**renames, "case_key": "key"})

    def read() -> tuple[Any, Any]:
        with psycopg.connect(dsn) as conn, warnings.catch_warnings():
            # pandas reads through any DB-API connection but warns that it tests only SQLAlchemy and sqlite3
            # ones; SQLAlchemy is not installed, and psycopg 3 runs a plain SQL string with its parameters.
            warnings.filterwarnings(
                "ignore", message="pandas only supports SQLAlchemy connectable", category=UserWarning
            )
            cases = frame(conn, "cases", {column.column: column.field for column in CASES.columns})
            records = frame(conn, "records", {column.column: column.field for column in CASE_RECORDS.columns})
        return cases, records

    return read


def main(argv: list[str]) -> int:
    connection, organization, fmt, *postgres = argv
    import pandas as pd
    from azure.storage.blob import BlobServiceClient

    blobs = BlobServiceClient.from_connection_string(connection)
    container = blobs.get_container_client("bench-naive")
    if not container.exists():
        container.create_container()
    if postgres:
        dsn, queries_json = postgres
        read = postgres_reader(dsn, orjson.loads(queries_json))
    else:
        read = tables_reader(connection, organization)

    # The clock includes opening the source's connection, for both sources (an HTTP one, a PostgreSQL session).
    started = time.perf_counter()
    cases, records = read()
    read_done = time.perf_counter()
    frame = flat_file(cases, records, datetime.now(UTC))
    buffer = io.BytesIO()
    if fmt == "csv":
        frame.to_csv(buffer, index=False, encoding="utf-8-sig")
    else:
        # openpyxl cannot write tz-aware datetimes: the typical fix is to drop the zone.
        for name in frame.columns:
            if isinstance(frame[name].dtype, pd.DatetimeTZDtype):
                frame[name] = frame[name].dt.tz_localize(None)
            elif frame[name].dtype == object:
                frame[name] = frame[name].map(
                    lambda v: v.replace(tzinfo=None) if hasattr(v, "tzinfo") and v.tzinfo is not None else v
                )
        frame.to_excel(buffer, index=False, engine="openpyxl")
    format_done = time.perf_counter()
    data = buffer.getvalue()
    container.get_blob_client(f"{uuid.uuid4().hex}.{fmt}").upload_blob(data, overwrite=True)
    finished = time.perf_counter()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        orjson.dumps(
            {
                "rows": len(frame),
                "columns": len(frame.columns),
                "records": len(records),
                "bytes": len(data),
                "seconds": finished - started,
                "read_seconds": read_done - started,
                "format_seconds": format_done - read_done,
                "upload_seconds": finished - format_done,
                "peak_rss_mb": peak_kb / 1024,
            }
        ).decode()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
