"""The private PostgreSQL the tests run against: databases can be created and used, and a restart keeps the data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.support.postgres import PrivatePostgres

pytestmark = pytest.mark.integration


@pytest.fixture
def own_server() -> Iterator[PrivatePostgres]:
    """A server of its own: restarting the session's would cut the connections other tests hold."""
    server = PrivatePostgres().start()
    yield server
    server.stop()


def test_a_created_database_can_be_used(postgres: PrivatePostgres) -> None:
    name = f"db_{uuid.uuid4().hex[:12]}"
    dsn = postgres.create_database(name)
    assert dsn == f"host=127.0.0.1 port={postgres.port} user=postgres dbname={name}"
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE cases (id int PRIMARY KEY, title text NOT NULL)")
        conn.execute("INSERT INTO cases VALUES (1, 'Überprüfung ✓'), (2, 'plain')")
        conn.commit()
        assert conn.execute("SELECT id, title FROM cases ORDER BY id").fetchall() == [
            (1, "Überprüfung ✓"),
            (2, "plain"),
        ]
        assert conn.execute("SELECT current_database(), current_setting('server_encoding')").fetchone() == (
            name,
            "UTF8",
        )
        # Only the test speed-ups: values are stored exactly as on any server.
        assert conn.execute("SELECT current_setting('fsync')").fetchone() == ("off",)


def test_restart_keeps_the_data_and_takes_new_connections(own_server: PrivatePostgres) -> None:
    dsn = own_server.create_database("kept")
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE rows (n int)")
        conn.execute("INSERT INTO rows SELECT generate_series(1, 1000)")
        conn.commit()
    port = own_server.port

    before = psycopg.connect(dsn, autocommit=True)
    try:
        own_server.restart()
        # The session open across the restart was cut, as a client of a real server restart sees it.
        with pytest.raises(psycopg.OperationalError):
            before.execute("SELECT 1")
    finally:
        before.close()

    assert own_server.port == port
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*), sum(n) FROM rows").fetchone() == (1000, 500500)


def test_stop_removes_the_cluster() -> None:
    server = PrivatePostgres().start()
    assert (server.data_dir / "PG_VERSION").is_file()
    server.stop()
    assert not server.base_dir.exists()
