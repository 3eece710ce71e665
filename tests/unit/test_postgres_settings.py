"""Choosing and configuring the PostgreSQL source: settings, the Entra password, the composition root."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from pydantic import ValidationError

from exports.composition import row_source
from exports.ports import KEY, Predicate
from shared.errors import ExportFailed
from shared.postgres.connection import ENTRA_SCOPE, EntraPassword, connection_kwargs, shared_pool
from shared.postgres.contract import CASES, TICKETS
from shared.postgres.row_source import PostgresRowSource, key_text, key_value
from shared.settings import Settings
from shared.storage.clients import StorageClients
from shared.storage.row_source import TableRowSource
from tests.support.azurite import free_port

STORAGE = "UseDevelopmentStorage=true"


def test_the_postgres_source_needs_a_connection_string() -> None:
    with pytest.raises(ValidationError, match="EXPORTS_POSTGRES_URL"):
        Settings(storage_connection_string=STORAGE, source="postgres")


def test_the_connection_string_is_a_secret_never_shown() -> None:
    settings = Settings(storage_connection_string=STORAGE, postgres_url="host=db password=hunter2")
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())


def test_the_views_schema_must_be_a_plain_name() -> None:
    with pytest.raises(ValidationError):
        Settings(storage_connection_string=STORAGE, postgres_schema='public"; DROP TABLE cases; --')


class CountingCredential:
    def __init__(self, lifetime: int, now: list[float]) -> None:
        self.lifetime = lifetime
        self.now = now
        self.calls: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.calls.append(scopes)
        return AccessToken(f"token-{len(self.calls)}", int(self.now[0]) + self.lifetime)


def test_the_entra_password_is_the_token_fetched_again_within_five_minutes_of_its_expiry() -> None:
    now = [1_000_000.0]
    credential = CountingCredential(3600, now)
    password = EntraPassword(credential, clock=lambda: now[0])
    assert password() == "token-1"
    now[0] += 3600 - 301  # more than five minutes left: the same token
    assert password() == "token-1"
    now[0] += 2  # within five minutes of expiry: a new one
    assert password() == "token-2"
    assert credential.calls == [(ENTRA_SCOPE,), (ENTRA_SCOPE,)]


def test_each_new_connection_gets_the_current_password_and_autocommit_reads() -> None:
    settings = Settings(storage_connection_string=STORAGE, postgres_url="host=db", postgres_connect_timeout_seconds=3)
    passwords = iter(["first", "second"])
    kwargs = connection_kwargs(settings, lambda: next(passwords))
    assert kwargs()["password"] == "first" and kwargs()["password"] == "second"
    fixed = connection_kwargs(settings, None)()
    assert "password" not in fixed and fixed["autocommit"] is True and fixed["connect_timeout"] == 3


def test_the_composition_root_reads_table_storage_unless_told_postgres() -> None:
    tables = Settings(storage_connection_string=STORAGE)
    assert isinstance(row_source(tables, StorageClients(tables)), TableRowSource)
    # Nothing listens there: building the source opens no connection (the first read would).
    closed = f"host=127.0.0.1 port={free_port()} user=nobody dbname=none connect_timeout=1"
    postgres = Settings(storage_connection_string=STORAGE, source="postgres", postgres_url=closed)
    source = row_source(postgres, StorageClients(postgres))
    assert isinstance(source, PostgresRowSource)


def test_keys_are_zero_padded_so_text_order_is_key_order() -> None:
    keys = [0, 7, 10, 99, 10**12, 2**63 - 1]
    assert sorted(key_text(key) for key in keys) == [key_text(key) for key in keys]
    assert [key_value(key_text(key)) for key in keys] == keys
    with pytest.raises(ExportFailed):
        key_value("0000000001|INV|0001")


def test_a_predicate_value_of_another_type_than_the_column_matches_no_row() -> None:
    by_field = CASES.by_field()
    june = datetime(2024, 6, 1, tzinfo=UTC)
    assert PostgresRowSource._conditions(CASES, by_field, [Predicate("CreatedAt", "ge", "2024-06-01")])[0] is None
    assert PostgresRowSource._conditions(CASES, by_field, [Predicate("SubjectCount", "gt", True)])[0] is None
    assert PostgresRowSource._conditions(CASES, by_field, [Predicate("Status", "in", (1, 2))])[0] is None
    terms, parameters = PostgresRowSource._conditions(
        CASES, by_field, [Predicate("CreatedAt", "ge", june), Predicate("Status", "in", ("OPEN", 3))]
    )
    assert terms is not None and parameters == [june, ["OPEN"]]  # the text values of the list only
    naive = datetime(2024, 6, 1)
    assert PostgresRowSource._conditions(CASES, by_field, [Predicate("CreatedAt", "eq", naive)])[0] is None


def test_a_key_predicate_compares_the_views_ordering_key() -> None:
    terms, parameters = PostgresRowSource._conditions(TICKETS, TICKETS.by_field(), [Predicate(KEY, "eq", key_text(42))])
    assert terms is not None and parameters == [42]


def test_every_service_a_process_builds_shares_one_bounded_pool() -> None:
    closed = f"host=127.0.0.1 port={free_port()} user=nobody dbname=none connect_timeout=1"
    settings = Settings(storage_connection_string=STORAGE, source="postgres", postgres_url=closed, postgres_pool_max=3)
    pool = shared_pool(settings)
    try:
        assert shared_pool(settings) is pool
        assert (pool.min_size, pool.max_size) == (0, 3)  # no connection until an export reads
        assert pool.get_stats().get("pool_size", 0) == 0
    finally:
        pool.close()
    assert shared_pool(settings) is not pool  # a closed pool is replaced
    shared_pool(settings).close()
