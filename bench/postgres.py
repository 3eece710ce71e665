"""The PostgreSQL source in the benchmark: a private server, the same synthetic cases, the worker's queries, a ceiling.

- The server is the tests' throw-away cluster (tests/support/postgres.py) with the reference schema and
  its export views; `load_rows` loads the cases and records `bench.common.load_rows` loads into Table
  storage (same generator, same seed, same organization per size).
- `export_queries` gives the statements the worker's first batch issues for an export, taken from the
  PostgreSQL adapter itself (shared/postgres/row_source.py) as it reads through the case plan, minus
  their page LIMIT: the cases of export_cases and the records of export_case_records.
- The ceiling `raw_copy`: `COPY (<that query>) TO STDOUT` read through psycopg into /dev/null.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, cast

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from bench.common import LOAD_SEED, org_for
from bench.project import export_body
from tests.support.postgres import PrivatePostgres

DATABASE = "bench"
# Cases generated and inserted per transaction: tools.load_postgres.load holds a call's cases in memory.
LOAD_SLICE = 25_000
_LIMIT = " LIMIT %s"


@dataclass(frozen=True)
class SourceQuery:
    """One statement with %s placeholders and its parameters."""

    text: str
    params: tuple[Any, ...]


def start_server() -> tuple[PrivatePostgres, str]:
    """A private PostgreSQL with an empty database for the benchmark; returns the server and its conninfo."""
    server = PrivatePostgres().start()
    try:
        return server, server.create_database(DATABASE)
    except BaseException:
        server.stop()
        raise


def load_rows(dsn: str, rows: int) -> float:
    """Loads `rows` synthetic cases with their records into the size's organization; returns the seconds."""
    from tools.load_postgres import load

    return _load_in_slices(dsn, rows, load)


def load_ticket_rows(dsn: str, rows: int) -> float:
    """Loads `rows` synthetic tickets into the size's organization, as `common.load_ticket_rows` does in Azurite."""
    from tools.load_postgres import load_tickets

    return _load_in_slices(dsn, rows, load_tickets)


def _load_in_slices(dsn: str, rows: int, load: Callable[..., int]) -> float:
    """Applies the reference schema and loads `rows` with `load`, a slice at a time; returns the seconds."""
    from tools.load_postgres import apply_reference_schema

    started = time.monotonic()
    organization = org_for(rows)
    with psycopg.connect(dsn, autocommit=True) as conn:
        apply_reference_schema(conn)
        loaded = 0
        for start in range(1, rows + 1, LOAD_SLICE):
            loaded += load(conn, organization, min(LOAD_SLICE, rows + 1 - start), seed=LOAD_SEED, start=start)
    assert loaded == rows, (loaded, rows)
    return time.monotonic() - started


class _Recorder:
    """A connection that notes every statement it runs before running it."""

    def __init__(self, connection: psycopg.Connection[Any], seen: list[tuple[Any, tuple[Any, ...]]]) -> None:
        self._connection = connection
        self._seen = seen

    def execute(self, statement: Any, params: Any = None) -> Any:
        self._seen.append((statement, tuple(params or ())))
        return self._connection.execute(statement, params)

    def __getattr__(self, name: str) -> Any:
        # Everything else (adapters, pgconn) is the connection's: the adapter renders identifiers with it.
        return getattr(self._connection, name)


class _RecordingPool:
    """Stands in for the worker's pool: one connection, every statement noted."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.seen: list[tuple[Any, tuple[Any, ...]]] = []
        self._connection = connection

    @contextlib.contextmanager
    def connection(self) -> Iterator[_Recorder]:
        yield _Recorder(self._connection, self.seen)


def export_queries(dsn: str, organization: str, fmt: str) -> dict[str, SourceQuery]:
    """The statement of the worker's first page of each view for the export `fmt`, without its LIMIT.

    Taken from the adapter, not written again here, so the ceiling reads what the export reads: the plan
    the worker builds from the request (no tags: the benchmark defines none) reads one page of cases
    and one of records through a PostgresRowSource whose statements are recorded.
    """
    from exports.datasets import columns_for
    from exports.datasets.cases import CasePlan
    from exports.models import CreateExportRequest
    from shared.postgres.contract import CASE_RECORDS, CASES
    from shared.postgres.row_source import PostgresRowSource

    request = CreateExportRequest.model_validate(export_body(fmt))
    plan = CasePlan(
        organization_id=organization, request=request, columns=columns_for(request, []), as_of=datetime.now(UTC)
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        pool = _RecordingPool(conn)
        # The source only asks its pool for `connection()`, which the recording pool offers.
        source = PostgresRowSource(cast(ConnectionPool, pool))
        units = plan.units(source, None)
        next(units, None)  # one unit: the first page of cases and the first page of records (and maybe the next)
        pages = [
            (statement.as_string(conn), params)
            for statement, params in pool.seen
            if isinstance(statement, sql.Composable)
        ]
    found: dict[str, SourceQuery] = {}
    for name, view in (("cases", CASES.view), ("records", CASE_RECORDS.view)):
        matching = [(text, params) for text, params in pages if f'"{view}"' in text and text.endswith(_LIMIT)]
        if not matching:
            raise RuntimeError(f"expected a first page of {view} ending with{_LIMIT}, found: {pages}")
        # The first: each view's pages are read one after the other, and a full page has the next one read ahead.
        text, params = matching[0]
        # The last parameter is the page size, LIMIT's.
        found[name] = SourceQuery(text[: -len(_LIMIT)], params[:-1])
    return found


def _session(conn: psycopg.Connection[Any]) -> None:
    """The worker's session settings that shape what COPY writes (times in UTC) and may do (read only)."""
    conn.execute("SET default_transaction_read_only = on")
    conn.execute("SET TimeZone = 'UTC'")


def _copy_out(conn: psycopg.Connection[Any], query: SourceQuery, sink: IO[bytes]) -> int:
    statement = sql.SQL("COPY ({}) TO STDOUT").format(sql.SQL(query.text))
    with conn.cursor() as cursor:
        # COPY takes no server-side parameters: psycopg binds them into the statement on the client.
        with cursor.copy(statement, query.params) as copy:
            for block in copy:
                sink.write(block)
        return cursor.rowcount


def raw_copy(dsn: str, queries: dict[str, SourceQuery]) -> dict[str, float]:
    """COPY of the cases query into /dev/null, then of the records query; the same keys as bench.ceilings.raw_scan.

    `rows_per_s`: cases alone; `with_records_rows_per_s`: case rows per second over both COPYs, one
    after the other (what the export has to read: its cases and their records).
    """
    with psycopg.connect(dsn, autocommit=True) as conn, open(os.devnull, "wb") as sink:
        _session(conn)
        started = time.perf_counter()
        rows = _copy_out(conn, queries["cases"], sink)
        cases_seconds = time.perf_counter() - started
        records = _copy_out(conn, queries["records"], sink)
        seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": cases_seconds,
        "rows_per_s": rows / cases_seconds,
        "records": records,
        "records_rows_per_s": records / (seconds - cases_seconds),
        "with_records_seconds": seconds,
        "with_records_rows_per_s": rows / seconds,
    }
