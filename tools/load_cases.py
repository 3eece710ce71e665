"""Loads N synthetic cases for one organization: `python -m tools.load_cases --org ORG --rows N`."""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.data.tables import TableClient, TableServiceClient

from shared.settings import get_settings
from tools.synthetic_cases import synthetic_cases

TRANSACTION_SIZE = 100  # Table storage's limit for one entity-group transaction


def load(
    service: TableServiceClient,
    table: str,
    organization_id: str,
    rows: int,
    *,
    seed: int = 1,
    start: int = 1,
    threads: int = 4,
) -> int:
    service.create_table_if_not_exists(table)
    client = service.get_table_client(table)
    batches = _chunks(synthetic_cases(organization_id, rows, seed=seed, start=start), TRANSACTION_SIZE)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return sum(pool.map(lambda batch: _upsert(client, batch), batches))


def is_empty(service: TableServiceClient, table: str, organization_id: str) -> bool:
    service.create_table_if_not_exists(table)
    client = service.get_table_client(table)
    found = client.query_entities(
        "PartitionKey eq @org", parameters={"org": organization_id}, select=["RowKey"], results_per_page=1
    )
    return next(iter(found), None) is None


def _upsert(client: TableClient, batch: list[dict[str, Any]]) -> int:
    client.submit_transaction([("upsert", entity) for entity in batch])
    return len(batch)


def _chunks(items: Any, size: int) -> Any:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--org", required=True, help="organization id (the partition key)")
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--if-empty", action="store_true", help="load only if the organization has no cases")
    args = parser.parse_args(argv)
    settings = get_settings()
    if not settings.storage_connection_string:
        print("load_cases needs AzureWebJobsStorage set to a connection string", file=sys.stderr)
        return 2
    service = TableServiceClient.from_connection_string(settings.storage_connection_string)
    if args.if_empty and not is_empty(service, settings.cases_table, args.org):
        print(f"organization {args.org} already has cases; nothing loaded")
        return 0
    started = time.monotonic()
    loaded = load(service, settings.cases_table, args.org, args.rows, seed=args.seed)
    print(f"loaded {loaded} cases for {args.org} in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
