"""Storage service clients, built once from settings, with retries configured on the clients."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from azure.core.credentials import TokenCredential
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.blob import ExponentialRetry as BlobExponentialRetry
from azure.storage.queue import ExponentialRetry as QueueExponentialRetry
from azure.storage.queue import QueueServiceClient

from shared.settings import EVENTS_QUEUE, NOTIFICATIONS_QUEUE, REQUEST_QUEUE, WORK_QUEUE, Settings
from shared.storage.table_filter import refuse_long_filters

# Exponential backoff on timeouts, 408/429/5xx and dropped connections; the SDK policies honour
# Retry-After. Worker-level retries (the queue's re-delivery) sit on top of these.
RETRY_OPTIONS: dict[str, Any] = {
    "retry_total": 5,
    "retry_connect": 5,
    "retry_read": 5,
    "retry_status": 5,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 20,
    "connection_timeout": 10,
    "read_timeout": 60,
}
# Blob and Queue clients ignore retry_backoff_*: they build their own ExponentialRetry, whose defaults
# wait about 15, 18 and 24 seconds between attempts. Same attempt counts, waits of about 1, 3, 5, 9, 17 s.
# (They do not retry 429: Blob and Queue storage throttle with 503 ServerBusy, which they do retry.)
STORAGE_BACKOFF: dict[str, Any] = {"initial_backoff": 1, "increment_base": 2, "random_jitter_range": 1}


def _blob_retry() -> BlobExponentialRetry:
    return BlobExponentialRetry(**STORAGE_BACKOFF, **RETRY_OPTIONS)


def _queue_retry() -> QueueExponentialRetry:
    return QueueExponentialRetry(**STORAGE_BACKOFF, **RETRY_OPTIONS)


@dataclass
class StorageClients:
    settings: Settings

    @cached_property
    def _credential(self) -> TokenCredential:
        from azure.identity import DefaultAzureCredential

        # With a user-assigned identity the host is told its client id; DefaultAzureCredential must be told too.
        return DefaultAzureCredential(managed_identity_client_id=self.settings.storage_client_id)

    def _endpoint(self, service: str) -> str:
        explicit = {"blob": self.settings.storage_blob_uri, "queue": self.settings.storage_queue_uri,
                    "table": self.settings.storage_table_uri}[service]
        return explicit or f"https://{self.settings.storage_account_name}.{service}.core.windows.net"

    @cached_property
    def tables(self) -> TableServiceClient:
        conn = self.settings.storage_connection_string
        if conn:
            # Every request's $filter is counted before it is sent (Table storage's 15-comparison limit).
            return TableServiceClient.from_connection_string(
                conn, raw_request_hook=refuse_long_filters, **RETRY_OPTIONS
            )
        return TableServiceClient(
            self._endpoint("table"), credential=self._credential, raw_request_hook=refuse_long_filters, **RETRY_OPTIONS
        )

    @cached_property
    def blobs(self) -> BlobServiceClient:
        conn = self.settings.storage_connection_string
        if conn:
            return BlobServiceClient.from_connection_string(conn, retry_policy=_blob_retry(), **RETRY_OPTIONS)
        return BlobServiceClient(
            self._endpoint("blob"), credential=self._credential, retry_policy=_blob_retry(), **RETRY_OPTIONS
        )

    @cached_property
    def queues(self) -> QueueServiceClient:
        conn = self.settings.storage_connection_string
        if conn:
            return QueueServiceClient.from_connection_string(conn, retry_policy=_queue_retry(), **RETRY_OPTIONS)
        return QueueServiceClient(
            self._endpoint("queue"), credential=self._credential, retry_policy=_queue_retry(), **RETRY_OPTIONS
        )

    def ensure_resources(self) -> None:
        """Creates the tables, queues and private container the app uses, if missing."""
        from azure.core.exceptions import ResourceExistsError

        s = self.settings
        for table in (
            s.jobs_table,
            s.schedules_table,
            s.idempotency_table,
            s.cases_table,
            s.case_records_table,
            s.tickets_table,
            s.tags_table,
            s.audit_table,
            s.limits_table,
        ):
            self.tables.create_table_if_not_exists(table)
        for queue in (
            REQUEST_QUEUE,
            WORK_QUEUE,
            f"{REQUEST_QUEUE}-poison",
            f"{WORK_QUEUE}-poison",
            EVENTS_QUEUE,
            NOTIFICATIONS_QUEUE,
            f"{NOTIFICATIONS_QUEUE}-poison",
        ):
            with contextlib.suppress(ResourceExistsError):
                self.queues.create_queue(queue)
        with contextlib.suppress(ResourceExistsError):
            self.blobs.create_container(s.exports_container)  # private: no public access level
