"""The daily quota on Azurite: the job table's count of one UTC day, concurrent creates in one organization
against the real adapters (the bound of README, "Job lifecycle"), and a burst of creates over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from azure.data.tables import TableServiceClient

from exports.composition import build_service
from exports.job_ids import job_ids_of_day, new_job_id
from exports.models import CreateExportRequest
from shared.auth import ACCESS_REPORTS, Principal
from shared.errors import QuotaExceeded
from shared.settings import Settings
from shared.storage.clients import StorageClients
from shared.storage.job_table import TableJobStore
from tests.conftest import LocalHost, principal
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 1)


@pytest.fixture(scope="module")
def settings(azurite: Azurite) -> Settings:
    settings = Settings(storage_connection_string=azurite.connection_string)
    StorageClients(settings).ensure_resources()
    return settings


def test_the_table_counts_one_utc_day_of_one_organization_and_stops_at_the_limit(
    settings: Settings, tables: TableServiceClient, org: str
) -> None:
    table = tables.get_table_client("exportjobs")
    midnight = datetime(2026, 3, 1, tzinfo=UTC)
    inside = [midnight, midnight + timedelta(hours=12), midnight + timedelta(days=1, microseconds=-1)]
    outside = [midnight - timedelta(milliseconds=1), midnight + timedelta(days=1)]
    for when in inside * 2 + outside:
        table.create_entity({"PartitionKey": org, "RowKey": new_job_id(when)})
    table.create_entity({"PartitionKey": f"{org}-other", "RowKey": new_job_id(midnight)})
    store = TableJobStore(table)
    first, end = job_ids_of_day(DAY)

    assert store.count_ids(org, first, end, 100) == 6
    assert store.count_ids(org, first, end, 4) == 4
    assert store.count_ids(org, *job_ids_of_day(DAY - timedelta(days=1)), 100) == 1
    assert store.count_ids(org, *job_ids_of_day(DAY + timedelta(days=1)), 100) == 1


def test_concurrent_creates_in_one_organization_never_lose_a_unit_and_stay_within_the_bound(
    settings: Settings, org: str, tables: TableServiceClient
) -> None:
    quota, racing = 8, 24
    service = build_service(settings.model_copy(update={"daily_quota_per_org": quota}))
    analyst = Principal(org, "analyst-1", "Ana Lyst", frozenset({ACCESS_REPORTS}))
    request = CreateExportRequest.model_validate({"format": "CSV"})
    start = threading.Barrier(racing, timeout=60)

    def create(_: int) -> str:
        start.wait()
        try:
            service.create(analyst, request)
        except QuotaExceeded:
            return "refused"
        return "created"

    with ThreadPoolExecutor(racing) as pool:
        outcomes = list(pool.map(create, range(racing)))

    created = outcomes.count("created")
    assert quota <= created <= quota + racing - 1, outcomes  # no unit lost, over by less than in flight
    stored = tables.get_table_client("exportjobs").query_entities("PartitionKey eq @org", parameters={"org": org})
    assert len(list(stored)) == created
    with pytest.raises(QuotaExceeded):
        service.create(analyst, request)


@pytest.fixture(scope="module")
def wide_host(storage_env: dict[str, str]) -> Iterator[LocalHost]:
    """HTTP only, with 32 threads (Azure's largest thread pool for one worker): 32 creates run at once."""
    env = {**storage_env, "PYTHON_THREADPOOL_THREAD_COUNT": "32", "EXPORTS_DAILY_QUOTA_PER_ORG": "1000"}
    host = LocalHost(env, "--only", "http")
    yield host
    host.stop()


def test_a_burst_of_creates_in_one_organization_over_http_all_succeed(wide_host: LocalHost, org: str) -> None:
    """Under the quota, simultaneous creates of one organization wait for no one: with one counter record per
    organization and day, 32 clients sending 8 each got 429s (the record's ETag retries ran out)."""
    clients, each = 32, 8
    headers = {"X-MS-CLIENT-PRINCIPAL": principal(org, "analyst-1", "access_reports")}
    start = threading.Barrier(clients, timeout=60)

    def post(_: int) -> list[int]:
        with requests.Session() as session:
            session.headers.update(headers)
            # Connected before the barrier: the burst is of requests, not of connections (the local
            # host's listen backlog is the standard library's 5).
            assert session.get(f"{wide_host.base_url}/exports", timeout=60).status_code == 200
            start.wait()
            return [
                session.post(f"{wide_host.base_url}/exports", json={"format": "CSV"}, timeout=60).status_code
                for _ in range(each)
            ]

    with ThreadPoolExecutor(clients) as pool:
        statuses = [status for answers in pool.map(post, range(clients)) for status in answers]

    assert statuses == [202] * (clients * each)
    listed, token = 0, None
    while True:
        params = {"pageSize": "100", **({"continuationToken": token} if token else {})}
        page = requests.get(f"{wide_host.base_url}/exports", params=params, headers=headers, timeout=30).json()
        listed += len(page["items"])
        token = page.get("continuationToken")
        if not token:
            break
    assert listed == clients * each
