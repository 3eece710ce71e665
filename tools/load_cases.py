"""Loads synthetic source data for one organization.

`python -m tools.load_cases --org ORG --rows N [--dataset cases|tickets] [--seed S] [--if-empty]`
Cases come with their investigations, RIUs, disclosures and interview responses.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.data.tables import TableClient, TableServiceClient

from shared.settings import get_settings
from tools.synthetic_cases import synthetic_case_records, synthetic_cases
from tools.synthetic_tickets import synthetic_tickets

TRANSACTION_SIZE = 100  # Table storage's limit for one entity-group transaction
LOADER_RETRIES: dict[str, Any] = {"retry_total": 8, "retry_backoff_factor": 0.5, "retry_backoff_max": 10}
# The loader only upserts, which is idempotent, so its transactions (POST) may be retried too; the
# SDK takes this list per call, not per client.
RETRY_ON_METHODS = ["HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "POST"]


def loader_client(connection_string: str) -> TableServiceClient:
    return TableServiceClient.from_connection_string(connection_string, **LOADER_RETRIES)


def load(
    service: TableServiceClient,
    table: str,
    organization_id: str,
    rows: int,
    *,
    seed: int = 1,
    start: int = 1,
    threads: int = 4,
    records_table: str | None = "caserecords",
) -> int:
    """Loads `rows` cases into `table` and, unless `records_table` is None, their records too."""
    service.create_table_if_not_exists(table)
    cases = list(synthetic_cases(organization_id, rows, seed=seed, start=start))
    loaded = _load(service.get_table_client(table), cases, threads)
    if records_table is not None:
        service.create_table_if_not_exists(records_table)
        records = (record for case in cases for record in synthetic_case_records(case))
        _load(service.get_table_client(records_table), records, threads)
    return loaded


def load_tickets(
    service: TableServiceClient,
    table: str,
    organization_id: str,
    rows: int,
    *,
    seed: int = 1,
    start: int = 1,
    threads: int = 4,
) -> int:
    """Loads `rows` tickets numbered from `start` (a range of them: the benchmark loads ranges in parallel)."""
    service.create_table_if_not_exists(table)
    tickets = synthetic_tickets(organization_id, rows, seed=seed, start=start)
    return _load(service.get_table_client(table), tickets, threads)


def load_entities(service: TableServiceClient, table: str, entities: Iterable[dict[str, Any]]) -> int:
    service.create_table_if_not_exists(table)
    return _load(service.get_table_client(table), entities, 4)


def _load(client: TableClient, entities: Iterable[dict[str, Any]], threads: int) -> int:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return sum(pool.map(lambda batch: _upsert(client, batch), _transactions(entities)))


def is_empty(service: TableServiceClient, table: str, organization_id: str) -> bool:
    service.create_table_if_not_exists(table)
    client = service.get_table_client(table)
    found = client.query_entities(
        "PartitionKey eq @org", parameters={"org": organization_id}, select=["RowKey"], results_per_page=1
    )
    return next(iter(found), None) is None


def _upsert(client: TableClient, batch: list[dict[str, Any]]) -> int:
    client.submit_transaction([("upsert", entity) for entity in batch], retry_on_methods=RETRY_ON_METHODS)
    return len(batch)


def _transactions(entities: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Groups of at most 100 entities of one partition, as a transaction requires."""
    for _, group in itertools.groupby(entities, key=lambda entity: entity["PartitionKey"]):
        while chunk := list(itertools.islice(group, TRANSACTION_SIZE)):
            yield chunk


def load_dataset(
    service: TableServiceClient,
    dataset: str,
    organization_id: str,
    rows: int,
    *,
    seed: int = 1,
    if_empty: bool = False,
    cases_table: str = "cases",
    tickets_table: str = "tickets",
    records_table: str = "caserecords",
) -> int | None:
    """Loads synthetic cases (with their records) or tickets; None when `if_empty` found rows already."""
    table = cases_table if dataset == "cases" else tickets_table
    if if_empty and not is_empty(service, table, organization_id):
        return None
    if dataset == "cases":
        return load(service, table, organization_id, rows, seed=seed, records_table=records_table)
    return load_tickets(service, table, organization_id, rows, seed=seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--org", required=True, help="organization id (the partition key)")
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--dataset", choices=["cases", "tickets"], default="cases")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--if-empty", action="store_true", help="load only if the organization has no rows")
    args = parser.parse_args(argv)
    settings = get_settings()
    if not settings.storage_connection_string:
        print("load_cases needs AzureWebJobsStorage set to a connection string", file=sys.stderr)
        return 2
    started = time.monotonic()
    loaded = load_dataset(
        loader_client(settings.storage_connection_string),
        args.dataset,
        args.org,
        args.rows,
        seed=args.seed,
        if_empty=args.if_empty,
        cases_table=settings.cases_table,
        tickets_table=settings.tickets_table,
        records_table=settings.case_records_table,
    )
    if loaded is None:
        print(f"organization {args.org} already has {args.dataset}; nothing loaded")
        return 0
    print(f"loaded {loaded} {args.dataset} for {args.org} in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
