"""The naive peer: what a typical implementation does, run in its own process so its peak RSS is its own.

`azure-data-tables` query_entities of the organization's partition (list_entities filtered to one
partition) into a pandas DataFrame, `to_csv` / `to_excel` (openpyxl) into memory, `upload_blob`.
Prints one JSON line: seconds (from the first read to the upload's end) and peak RSS in MB.

    python -m bench.naive CONNECTION_STRING ORGANIZATION csv|xlsx
"""

from __future__ import annotations

import io
import resource
import sys
import time
import uuid

import orjson


def main(argv: list[str]) -> int:
    connection, organization, fmt = argv
    import pandas as pd
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient

    tables = TableServiceClient.from_connection_string(connection)
    blobs = BlobServiceClient.from_connection_string(connection)
    container = blobs.get_container_client("bench-naive")
    if not container.exists():
        container.create_container()

    started = time.perf_counter()
    table = tables.get_table_client("cases")
    entities = table.query_entities("PartitionKey eq @org", parameters={"org": organization})
    frame = pd.DataFrame([dict(entity) for entity in entities])
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
