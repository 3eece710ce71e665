"""Connections to the PostgreSQL source: one bounded pool per worker process, read-only sessions.

Every session is read-only (`default_transaction_read_only`), bounded by a `statement_timeout`, and reads
times in UTC, so the same view gives the same values whichever server or replica answers. Connections are
reused across the invocations one process runs and checked before use, so a restarted server costs a
reconnect, not a failed export.

With Microsoft Entra authentication (Azure Database for PostgreSQL) the password of each new connection is
an access token of the app's managed identity, fetched when the one held is within five minutes of its
expiry; no password is stored anywhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from azure.core.credentials import AccessToken, TokenCredential
from psycopg_pool import ConnectionPool

from shared.settings import Settings

# The scope of Azure Database for PostgreSQL (flexible server) for Microsoft Entra tokens.
ENTRA_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
REFRESH_MARGIN_SECONDS = 300


class EntraPassword:
    """The current token as the password, fetched again shortly before it expires."""

    def __init__(self, credential: TokenCredential, *, clock: Callable[[], float] = time.time) -> None:
        self._credential = credential
        self._clock = clock
        self._token: AccessToken | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._token is None or self._token.expires_on - self._clock() < REFRESH_MARGIN_SECONDS:
                self._token = self._credential.get_token(ENTRA_SCOPE)
            return self._token.token


def connection_kwargs(settings: Settings, password: Callable[[], str] | None) -> Callable[[], dict[str, Any]]:
    """What each new connection is opened with (a callable: the token may have changed since the last)."""
    fixed: dict[str, Any] = {
        "autocommit": True,
        "connect_timeout": settings.postgres_connect_timeout_seconds,
        "application_name": "export-service",
    }

    def kwargs() -> dict[str, Any]:
        return {**fixed, "password": password()} if password is not None else dict(fixed)

    return kwargs


def configure(settings: Settings) -> Callable[[psycopg.Connection[Any]], None]:
    """Sets up each new connection: the options are SET rather than sent as startup options, because a
    connection pooler in front of the server (PgBouncer, Azure's built-in one) refuses startup options."""
    timeout_ms = int(settings.postgres_statement_timeout_seconds * 1000)

    def setup(connection: psycopg.Connection[Any]) -> None:
        connection.execute("SET default_transaction_read_only = on")
        connection.execute(f"SET statement_timeout = {timeout_ms:d}")
        connection.execute("SET TimeZone = 'UTC'")
        # psycopg prepares a statement it runs often; a generic plan of a keyset read may sort all the
        # organization's rows after the cursor instead of walking the key's index.
        connection.execute("SET plan_cache_mode = force_custom_plan")

    return setup


_pools: dict[tuple[Any, ...], ConnectionPool] = {}
_pools_lock = threading.Lock()


def shared_pool(settings: Settings) -> ConnectionPool:
    """One pool per process and database: every export service the process builds shares it."""
    url = settings.postgres_url.get_secret_value() if settings.postgres_url else None
    key = (
        url,
        settings.postgres_auth,
        settings.postgres_statement_timeout_seconds,
        settings.postgres_connect_timeout_seconds,
        settings.postgres_pool_max,
    )
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or pool.closed:
            pool = _pools[key] = open_pool(settings)
        return pool


def open_pool(settings: Settings, *, credential: TokenCredential | None = None) -> ConnectionPool:
    """The process's pool; connections are opened when first needed, so an app that never exports from
    PostgreSQL (or starts while it is down) opens none."""
    if settings.postgres_url is None:
        raise ValueError("EXPORTS_POSTGRES_URL is not set")
    password: Callable[[], str] | None = None
    if settings.postgres_auth == "entra":
        if credential is None:
            from azure.identity import DefaultAzureCredential

            # AZURE_CLIENT_ID, when set, names a user-assigned identity (as for storage).
            credential = DefaultAzureCredential()
        password = EntraPassword(credential)
    return ConnectionPool(
        settings.postgres_url.get_secret_value(),
        kwargs=connection_kwargs(settings, password),
        configure=configure(settings),
        check=ConnectionPool.check_connection,
        min_size=0,
        max_size=settings.postgres_pool_max,
        timeout=settings.postgres_connect_timeout_seconds * 3,
        open=True,
        name="export-source",
    )
