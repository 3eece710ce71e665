"""The one settings class: every knob the app reads, validated once at start."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Queue names are fixed: the trigger bindings name them when function_app.py is indexed.
REQUEST_QUEUE = "export-requests"
WORK_QUEUE = "export-work"
# Lifecycle: completion events for other systems, and webhook deliveries with their retries.
EVENTS_QUEUE = "export-events"
NOTIFICATIONS_QUEUE = "export-notifications"


class Settings(BaseSettings):
    """App settings from environment variables (Azure app settings / local.settings.json `Values`)."""

    # A setting that fails validation is named, never echoed: a key pasted into the wrong setting, or a
    # malformed EXPORTS_WEBHOOK_SECRETS, must not reach the host's log through the error message.
    model_config = SettingsConfigDict(
        env_prefix="EXPORTS_", extra="ignore", frozen=True, populate_by_name=True, hide_input_in_errors=True
    )

    # Storage: a connection string (Azurite, or an account key), or an account name used with
    # DefaultAzureCredential (managed identity in Azure). The Functions host's own setting is reused.
    storage_connection_string: str | None = Field(
        default=None,
        validation_alias=AliasChoices("EXPORTS_STORAGE_CONNECTION_STRING", "AzureWebJobsStorage"),
    )
    storage_account_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices("EXPORTS_STORAGE_ACCOUNT_NAME", "AzureWebJobsStorage__accountName"),
    )
    # Identity-based connections may name each service's URI instead of the account (as the host allows).
    storage_blob_uri: str | None = Field(default=None, validation_alias="AzureWebJobsStorage__blobServiceUri")
    storage_queue_uri: str | None = Field(default=None, validation_alias="AzureWebJobsStorage__queueServiceUri")
    storage_table_uri: str | None = Field(default=None, validation_alias="AzureWebJobsStorage__tableServiceUri")
    # A user-assigned identity is named by its client id, as the host's identity-based connection takes it.
    storage_client_id: str | None = Field(default=None, validation_alias="AzureWebJobsStorage__clientId")
    # Telemetry: the app's OpenTelemetry export is on only when the connection string is set (the
    # same settings the Functions host reads); "Authorization=AAD" sends with the managed identity's token.
    applicationinsights_connection_string: SecretStr | None = Field(
        default=None, validation_alias="APPLICATIONINSIGHTS_CONNECTION_STRING"
    )
    applicationinsights_authentication_string: str | None = Field(
        default=None, validation_alias="APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
    )

    # Where exports read their rows: Table storage (the embedded default, the tables below) or a PostgreSQL
    # database offering the views of the source contract (README, "Reading from PostgreSQL").
    source: Literal["tables", "postgres"] = "tables"
    # A libpq connection string or URI. With password authentication it holds the password and comes from a
    # Key Vault reference in Azure; with `entra` it names host, database and user only, and the password
    # is a Microsoft Entra token of the app's managed identity (AZURE_CLIENT_ID names a user-assigned one).
    postgres_url: SecretStr | None = None
    postgres_auth: Literal["password", "entra"] = "password"
    # The schema that holds the export views (an adopting team may keep them apart from its tables).
    postgres_schema: str = Field(default="public", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    postgres_statement_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    postgres_connect_timeout_seconds: int = Field(default=10, ge=1, le=120)
    # Connections one worker process keeps open: each export reads with at most two at a time.
    postgres_pool_max: int = Field(default=4, ge=1, le=50)
    # Each export holds two pages (one read ahead) of its cases and two of their records, and a worker runs
    # several exports' batches at once: pages of 1,000 keep that in a few MB per export.
    postgres_page_rows: int = Field(default=1_000, ge=100, le=100_000)

    jobs_table: str = "exportjobs"
    # Scheduled exports (exports/schedules.py): one row per schedule, partitioned by organization.
    schedules_table: str = "exportschedules"
    idempotency_table: str = "exportidempotency"
    cases_table: str = "cases"
    case_records_table: str = "caserecords"
    tickets_table: str = "tickets"
    tags_table: str = "exportfieldtags"
    sort_runs_prefix: str = "sort-runs"
    exports_container: str = "exports"

    # Batching: one worker invocation writes at most this many rows, or stops early at the time budget.
    rows_per_batch: int = Field(default=50_000, ge=1_000, le=1_000_000)
    # Batches are cut at multiples of this many rows, so the file never depends on where a cut fell.
    chunk_rows: int = Field(default=1_000, ge=1, le=100_000)
    # A sorted export sorts its rows in runs of at most this many bytes of sort keys and row data (each
    # run is held once more while it is written, so a sort needs about twice this), then merges them.
    sort_run_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    batch_time_budget_seconds: float = Field(default=120.0, gt=0, le=540)
    block_size_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024, le=100 * 1024 * 1024)
    # Sharding: an export of more than `shard_rows` source rows is split into key ranges of at
    # least that many rows, each written by its own chain of queue messages, at most `max_shards` of them
    # (1 turns sharding off). Every format shards (exports/formats/shard_join.py); per-record and sorted
    # exports run as one chain.
    shard_rows: int = Field(default=250_000, ge=1_000)
    max_shards: int = Field(default=16, ge=1, le=64)
    # A stale work message re-drives its job only when the job has not moved for this long.
    redrive_after_seconds: float = Field(default=60.0, ge=0)
    # Must match host.json extensions.queues.maxDequeueCount: the last attempt fails the job.
    max_attempts: int = Field(default=5, ge=1, le=100)

    # Jobs that have not moved for this long are re-driven by the timer from their checkpoint,
    # at most `max_redrives` times before they are failed.
    stalled_after_seconds: float = Field(default=900.0, ge=1)
    max_redrives: int = Field(default=3, ge=0, le=100)

    download_link_minutes: int = Field(default=15, ge=1, le=60)
    # How long a job's file stays after the job ends, per dataset: seed 000 and the brief keep case exports
    # 7 days, seed 001 keeps ticket exports 72 hours.
    case_expiry_hours: float = Field(default=168.0, gt=0, le=365 * 24)
    ticket_expiry_hours: float = Field(default=72.0, gt=0, le=365 * 24)
    # The one retention setting there was before, in days: still honoured, for case exports, so a
    # deployment that set it keeps its retention. Both it and EXPORTS_CASE_EXPIRY_HOURS: they must agree.
    expiry_days: float | None = Field(default=None, gt=0, le=365)
    retry_after_seconds: int = Field(default=2, ge=1, le=60)
    list_page_size: int = Field(default=20, ge=1, le=100)

    # Lifecycle. "local" allows http and loopback callback URLs so a test receiver on
    # 127.0.0.1 works; "azure" (the default, so a forgotten setting fails safe) allows only https URLs
    # whose host resolves to public addresses.
    environment: Literal["local", "azure"] = "azure"
    audit_table: str = "exportaudit"
    limits_table: str = "exportlimits"
    max_running_per_org: int = Field(default=2, ge=1, le=100)
    daily_quota_per_org: int = Field(default=100, ge=1, le=100_000)
    # A job over the running cap stays queued and looks again after this long.
    cap_wait_seconds: float = Field(default=15.0, gt=0, le=600)
    # Per-organization webhook secrets as a JSON object {"org id": "secret"}; organizations not named
    # get HMAC-SHA256(master key, org id) when a master key is set (given to them out of band).
    webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    webhook_master_key: SecretStr | None = None
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Deliveries back off exponentially from this delay and give up after the window or the attempts.
    webhook_backoff_seconds: float = Field(default=30.0, gt=0, le=3600)
    webhook_retry_window_seconds: float = Field(default=6 * 3600.0, gt=0, le=7 * 24 * 3600)
    webhook_max_attempts: int = Field(default=10, ge=1, le=30)
    # A final job whose event was not published (a crash in between) is re-published after this long.
    event_republish_after_seconds: float = Field(default=60.0, ge=0)

    @model_validator(mode="after")
    def _storage_is_configured(self) -> Settings:
        service_uris = self.storage_blob_uri and self.storage_queue_uri and self.storage_table_uri
        if not self.storage_connection_string and not self.storage_account_name and not service_uris:
            raise ValueError(
                "storage is not configured: set AzureWebJobsStorage (a connection string) "
                "or AzureWebJobsStorage__accountName (managed identity), or the three "
                "AzureWebJobsStorage__{blob,queue,table}ServiceUri settings"
            )
        if self.source == "postgres" and self.postgres_url is None:
            raise ValueError("EXPORTS_SOURCE is postgres: set EXPORTS_POSTGRES_URL (a libpq connection string)")
        if self.rows_per_batch % self.chunk_rows:
            raise ValueError("EXPORTS_ROWS_PER_BATCH must be a multiple of EXPORTS_CHUNK_ROWS")
        if self.expiry_days is not None:
            hours = self.expiry_days * 24
            if "case_expiry_hours" in self.model_fields_set and self.case_expiry_hours != hours:
                raise ValueError(
                    "EXPORTS_EXPIRY_DAYS (the old setting, for case exports) and EXPORTS_CASE_EXPIRY_HOURS disagree; "
                    "set only EXPORTS_CASE_EXPIRY_HOURS"
                )
            object.__setattr__(self, "case_expiry_hours", hours)  # frozen: set once, while validating
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
