"""The ceilings: what the storage emulator itself can deliver, with as little client work as possible.

- Raw scan: one organization's partition read over plain HTTP (`requests`, a read-only table SAS),
  JSON without metadata, all columns, 1,000 rows a page, decoded with orjson only to count rows.
- Raw upload: the same number of bytes as the CSV export, staged as blocks of the export's block size
  and committed (azure-storage-blob, one stage_block call per block, as the export does).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import requests
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import TableSasPermissions, generate_table_sas
from azure.storage.blob import BlobBlock, BlobServiceClient

from bench.common import CASES_TABLE, RECORDS_TABLE, account_key


def table_endpoint(connection: str) -> str:
    parts = dict(part.split("=", 1) for part in connection.split(";") if "=" in part)
    return parts["TableEndpoint"].rstrip("/")


def raw_scan(connection: str, organization: str, *, page_size: int = 1000) -> dict[str, float]:
    """Reads the organization's whole partition of the cases table; returns rows, seconds and rows/s.

    `with_records_*`: the cases, then the investigation and RIU records a FLAT_FILE export also reads
    (same filter as the export), in rows of cases per second: everything that export has to read.
    """
    started = time.perf_counter()
    rows = _scan(connection, CASES_TABLE, f"PartitionKey eq '{organization}'", page_size)
    cases_seconds = time.perf_counter() - started
    records = _scan(
        connection,
        RECORDS_TABLE,
        f"PartitionKey eq '{organization}' and (Kind eq 'INV' or Kind eq 'RIU')",
        page_size,
    )
    seconds = time.perf_counter() - started
    # Filter or volume: the same records read as a plain scan of the partition (every kind), which the worker
    # would then filter itself. Whichever is faster is what the export should ask Table storage for.
    plain_started = time.perf_counter()
    every_record = _scan(connection, RECORDS_TABLE, f"PartitionKey eq '{organization}'", page_size)
    plain_seconds = time.perf_counter() - plain_started
    return {
        "rows": rows,
        "seconds": cases_seconds,
        "rows_per_s": rows / cases_seconds,
        "records": records,
        "records_filtered_seconds": seconds - cases_seconds,
        "records_every_kind": every_record,
        "records_plain_scan_seconds": plain_seconds,
        "with_records_seconds": seconds,
        "with_records_rows_per_s": rows / seconds,
    }


def _scan(connection: str, table: str, query_filter: str, page_size: int) -> int:
    name, key = account_key()
    sas = generate_table_sas(
        AzureNamedKeyCredential(name, key),
        table,
        permission=TableSasPermissions(read=True),
        expiry=datetime.now(UTC) + timedelta(hours=2),
    )
    url = f"{table_endpoint(connection)}/{table}()?{sas}"
    headers = {
        "Accept": "application/json;odata=nometadata",
        "DataServiceVersion": "3.0",
        "x-ms-version": "2019-02-02",
    }
    params: dict[str, str] = {"$filter": query_filter, "$top": str(page_size)}
    rows = 0
    with requests.Session() as session:
        while True:
            response = _get(session, url, params, headers)
            if response.status_code == 404:
                return rows  # no such table (data loaded without records)
            response.raise_for_status()
            rows += len(orjson.loads(response.content)["value"])
            next_pk = response.headers.get("x-ms-continuation-NextPartitionKey")
            next_rk = response.headers.get("x-ms-continuation-NextRowKey")
            if not next_pk and not next_rk:
                break
            params["NextPartitionKey"] = next_pk or ""
            params["NextRowKey"] = next_rk or ""
    return rows


def _get(session: requests.Session, url: str, params: dict[str, str], headers: dict[str, str]) -> requests.Response:
    """One page; a keep-alive connection the server closed meanwhile is retried, as the SDKs do."""
    for attempt in range(3):
        try:
            return session.get(url, params=params, headers=headers, timeout=60)
        except requests.ConnectionError:
            if attempt == 2:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def raw_upload(connection: str, size: int, *, block_size: int = 8 * 1024 * 1024) -> dict[str, float]:
    """Stages `size` bytes as blocks of `block_size` and commits them; returns seconds and MB/s."""
    service = BlobServiceClient.from_connection_string(connection)
    container = service.get_container_client("bench-ceiling")
    if not container.exists():
        container.create_container()
    blob = container.get_blob_client(f"raw-{uuid.uuid4().hex}")
    block = os.urandom(min(block_size, max(size, 1)))
    ids: list[str] = []
    started = time.perf_counter()
    remaining = size
    while remaining > 0:
        data = block if remaining >= len(block) else block[:remaining]
        block_id = f"{len(ids):010d}"
        blob.stage_block(block_id, data, length=len(data))
        ids.append(block_id)
        remaining -= len(data)
    blob.commit_block_list([BlobBlock(block_id=i) for i in ids])
    seconds = time.perf_counter() - started
    blob.delete_blob()
    return {"seconds": seconds, "mb_per_s": size / 1e6 / seconds}


def file_hash(connection: str, size: int, *, read_bytes: int = 8 * 1024 * 1024) -> dict[str, float]:
    """What a manifest's SHA-256 costs for a file of `size` bytes, each way the worker can get it.

    - `hash_while_writing_s`: the resumable SHA-256 (exports/digest.py) over the bytes, as the worker
      feeds it every staged block; `hashlib_s` is the standard library's over the same bytes, for scale.
    - `read_back_s`: reading the committed blob back in the worker's ranges (job_writer.HASH_READ_BYTES)
      and hashing it, as a sharded export's finalizing step does.
    """
    from exports.digest import FileDigest

    block = os.urandom(min(read_bytes, max(size, 1)))
    chunks = [block if offset + len(block) <= size else block[: size - offset] for offset in range(0, size, len(block))]

    started = time.perf_counter()
    digest = FileDigest()
    for chunk in chunks:
        digest.update(chunk)
        digest = FileDigest(digest.state())  # as a batch boundary does
    hash_while_writing = time.perf_counter() - started
    started = time.perf_counter()
    reference = hashlib.sha256()
    for chunk in chunks:
        reference.update(chunk)
    hashlib_seconds = time.perf_counter() - started
    assert digest.hexdigest() == reference.hexdigest()

    service = BlobServiceClient.from_connection_string(connection)
    container = service.get_container_client("bench-ceiling")
    if not container.exists():
        container.create_container()
    blob = container.get_blob_client(f"hash-{uuid.uuid4().hex}")
    ids = [f"{index:010d}" for index in range(len(chunks))]
    for block_id, chunk in zip(ids, chunks, strict=True):
        blob.stage_block(block_id, chunk, length=len(chunk))
    blob.commit_block_list([BlobBlock(block_id=i) for i in ids])
    started = time.perf_counter()
    back = FileDigest()
    for offset in range(0, size, read_bytes):
        back.update(blob.download_blob(offset=offset, length=min(read_bytes, size - offset)).readall())
    read_back = time.perf_counter() - started
    blob.delete_blob()
    assert back.hexdigest() == reference.hexdigest()
    return {
        "hash_while_writing_s": hash_while_writing,
        "hashlib_s": hashlib_seconds,
        "read_back_s": read_back,
        "read_back_mb_per_s": size / 1e6 / read_back,
    }
