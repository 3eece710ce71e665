"""Transient storage errors: a proxy on loopback drops, delays and refuses storage calls; exports complete."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.storage.queue import QueueClient

from exports.models import WorkMessage
from shared.settings import Settings
from shared.storage.blob_sink import AzureBlobSink
from shared.storage.clients import StorageClients
from shared.storage.job_table import TableJobStore
from shared.storage.work_queue import AzureWorkQueue
from tests.faults.harness import FAULT_ENV, FORMATS, LEDGER, Exports, FaultHost, Storage, start_worker
from tests.support.azurite import Azurite, connection_string
from tests.support.faulty_proxy import Fault, FaultPlan, FaultyProxy, Request

Plan = Callable[[Request], Fault | None]


class FirstOnly:
    """The first request gets `fault`, every later one passes: a single call has to retry through it."""

    def __init__(self, fault: Fault) -> None:
        self.fault: Fault | None = fault
        self.lock = threading.Lock()

    def __call__(self, _request: Request) -> Fault | None:
        with self.lock:
            fault, self.fault = self.fault, None
            return fault


@pytest.fixture
def proxies(fault_azurite: Azurite) -> Iterator[Callable[[Plan, Plan, Plan], tuple[str, list[FaultyProxy]]]]:
    """One fault proxy per storage service; returns the connection string that goes through them."""
    started: list[FaultyProxy] = []

    def make(blob: Plan, queue: Plan, table: Plan) -> tuple[str, list[FaultyProxy]]:
        ports = (fault_azurite.blob_port, fault_azurite.queue_port, fault_azurite.table_port)
        trio = [FaultyProxy(port, plan).start() for port, plan in zip(ports, (blob, queue, table), strict=True)]
        started.extend(trio)
        return connection_string(*(proxy.port for proxy in trio)), trio

    yield make
    for proxy in started:
        proxy.stop()


def never(_request: Request) -> Fault | None:
    return None


FAULTS = {
    "503 ServerBusy": Fault("status", status=503),
    "500 InternalError": Fault("status", status=500),
    "429 TooManyRequests": Fault("status", status=429),
    "dropped connection": Fault("drop"),
    "lost answer": Fault("drop_after"),
}
# Blob and Queue storage throttle with 503 ServerBusy and their SDK policies do not retry 429;
# 429 is the throttling answer of Table storage on Cosmos DB, and the Table client retries it.
# (Slow answers are in the random test below.)
CASES = [
    *[(service, fault) for service in ("blob", "queue", "table") for fault in ("503 ServerBusy", "dropped connection",
                                                                            "lost answer")],
    ("table", "500 InternalError"),
    ("table", "429 TooManyRequests"),
]


@pytest.mark.parametrize(("service", "fault"), CASES)
def test_each_storage_client_retries_through_a_transient_error(
    service: str,
    fault: str,
    proxies: Callable[[Plan, Plan, Plan], tuple[str, list[FaultyProxy]]],
    storage: Storage,
    loaded_org: str,
) -> None:
    plans: dict[str, Plan] = {"blob": never, "queue": never, "table": never}
    plans[service] = FirstOnly(FAULTS[fault])
    conn, trio = proxies(plans["blob"], plans["queue"], plans["table"])
    clients = StorageClients(Settings(storage_connection_string=conn))

    if service == "blob":  # stage a block: PUT
        blob = f"retry-check-{uuid.uuid4().hex}"
        AzureBlobSink(clients.blobs, "exports").stage(blob, "YmxvY2s=", b"hello")
        assert storage.blobs.get_blob_client("exports", blob).get_block_list("uncommitted")[1][0].size == 5
    elif service == "queue":  # send a message: POST (a lost answer may deliver it twice, which seq makes harmless)
        queue_name = f"retry-check-{uuid.uuid4().hex[:8]}"
        QueueClient.from_connection_string(storage.connection_string, queue_name).create_queue()
        AzureWorkQueue(clients.queues, queue_name).send(WorkMessage(org_id="o", job_id="j", seq=0))
        assert (storage.raw_queue(queue_name).get_queue_properties().approximate_message_count or 0) >= 1
        storage.raw_queue(queue_name).delete_queue()
    else:  # read a job: GET
        assert TableJobStore(clients.tables.get_table_client("exportjobs")).get(loaded_org, "0-missing") is None

    assert sum(proxy.faults for proxy in trio) == 1
    LEDGER.fault(f"single call: {fault}")


def test_exports_complete_while_storage_calls_fail_at_random(
    front: FaultHost,
    storage: Storage,
    loaded_org: str,
    app_dir: Path,
    fault_runs: int,
    proxies: Callable[[Plan, Plan, Plan], tuple[str, list[FaultyProxy]]],
) -> None:
    """Every storage call of the worker goes through the proxies; about one in eight goes wrong."""
    kinds = {"drop": 1.0, "drop_after": 1.0, "delay": 1.0, "status": 2.0}
    conn, trio = proxies(
        FaultPlan(rate=0.12, kinds=kinds, statuses=(500, 503), seed=1),
        FaultPlan(rate=0.12, kinds=kinds, statuses=(500, 503), seed=2),
        FaultPlan(rate=0.12, kinds=kinds, statuses=(429, 500, 503), seed=3),
    )
    # The host's own queue plumbing (AzureWebJobsStorage) stays direct; the app's storage calls go through.
    env = {"AzureWebJobsStorage": storage.connection_string, "EXPORTS_STORAGE_CONNECTION_STRING": conn, **FAULT_ENV}
    exports = Exports(front, storage, loaded_org)
    worker = start_worker(env, app_dir)
    try:
        jobs = [exports.create(FORMATS[i % len(FORMATS)]) for i in range(max(1, fault_runs // 3))]
        exports.settle(jobs, rescue=front)
    finally:
        worker.stop()
    for proxy in trio:
        for kind, count in proxy.injected.items():
            LEDGER.fault(f"storage call: {kind}", count)
    assert sum(proxy.faults for proxy in trio) > 0
    for job_id in jobs:
        assert exports.judge(job_id) == "completed"
