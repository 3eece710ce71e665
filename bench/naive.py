"""The naive peer: what a typical implementation does, run in its own process so its peak RSS is its own.

Table storage: `azure-data-tables` query_entities of the organization's partition (list_entities
filtered to one partition) into a pandas DataFrame. PostgreSQL: `pandas.read_sql` of the query the
worker's first page of cases would be, without its LIMIT (bench.postgres.export_queries), over a
psycopg connection. Then `to_csv` / `to_excel` (openpyxl) into memory, `upload_blob` to Azurite.
Prints one JSON line: seconds (from the first read to the upload's end) and peak RSS in MB.

    python -m bench.naive CONNECTION_STRING ORGANIZATION csv|xlsx
    python -m bench.naive CONNECTION_STRING ORGANIZATION csv|xlsx POSTGRES_CONNINFO QUERY PARAMS_JSON
"""

from __future__ import annotations

import io
import resource
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

import orjson


def tables_reader(connection: str, organization: str) -> Callable[[], Any]:
    import pandas as pd
    from azure.data.tables import TableServiceClient

    table = TableServiceClient.from_connection_string(connection).get_table_client("cases")

    def read() -> Any:
        entities = table.query_entities("PartitionKey eq @org", parameters={"org": organization})
        return pd.DataFrame([dict(entity) for entity in entities])

    return read


def postgres_reader(dsn: str, query: str, params: list[Any]) -> Callable[[], Any]:
    import pandas as pd
    import psycopg

    def read() -> Any:
        with psycopg.connect(dsn) as conn, warnings.catch_warnings():
            # pandas reads through any DB-API connection but warns that it tests only SQLAlchemy and sqlite3
            # ones; SQLAlchemy is not installed, and psycopg 3 runs a plain SQL string with its parameters.
            warnings.filterwarnings(
                "ignore", message="pandas only supports SQLAlchemy connectable", category=UserWarning
            )
            return pd.read_sql(query, conn, params=params)

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
        dsn, query, params_json = postgres
        read = postgres_reader(dsn, query, orjson.loads(params_json))
    else:
        read = tables_reader(connection, organization)

    # The clock includes opening the source's connection, for both sources (an HTTP one, a PostgreSQL session).
    started = time.perf_counter()
    frame = read()
    read_done = time.perf_counter()
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
