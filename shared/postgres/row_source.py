"""Source rows from PostgreSQL, through the views of the source contract (shared/postgres/contract.py).

Every read is keyset pagination on the view's ordering key: one short statement per page
(`WHERE organization_id = $1 AND key > $2 ... ORDER BY key LIMIT n`), an index range scan that never
skips rows with OFFSET and never holds a transaction open between pages, so it suits a read replica
(a long snapshot there is what gets cancelled by replication) and a restart between pages costs one page.
Values are always parameters; identifiers come only from the contract and the configured schema, never
from a request.

Before its first read of a view, the source checks the view against the contract: a missing view, a
missing column or a column of the wrong type fails the export with a message naming them
(ContractViolation, an ExportFailed). Connection and server errors (unreachable, restarted, a statement
timeout) are raised as they are, so the worker retries the step.

Rows come out as the core expects them from any source: the dataset's field names, a value only where
the view has one (NULL is a missing value, as in Table storage), JSON as its text, and the unit key as
zero-padded text under `key`, so that text order is key order (shards compare keys as text).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg_pool import ConnectionPool

from exports.ports import KEY, RECORD, Predicate, RowQuery
from shared.errors import ExportFailed
from shared.postgres.contract import (
    ACCEPTED_TYPES,
    CONTRACTS,
    DECLARED,
    ORGANIZATION_COLUMN,
    ColumnKind,
    ViewColumn,
    ViewContract,
)

PAGE_ROWS = 1_000
# Wide enough for any non-negative bigint, so text order is key order.
KEY_DIGITS = 19
_OPERATORS = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}


class ContractViolation(ExportFailed):
    """A view does not offer what the source contract says it must."""


def key_text(value: int) -> str:
    return f"{value:0{KEY_DIGITS}d}"


def key_value(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ExportFailed(f"The export's cursor {text!r} is not a key of the PostgreSQL source.") from None


def _fits(kind: ColumnKind, value: Any) -> bool:
    """Whether a predicate value is of the column's type; a value of another type matches no row, as in
    every source (a text "7" is neither equal to nor greater than the number 7)."""
    if kind == "text":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "timestamptz":
        return isinstance(value, datetime) and value.tzinfo is not None
    if kind == "double":
        return isinstance(value, float)
    return False  # JSON is never compared


class PostgresRowSource:
    """The row source over PostgreSQL; one pool per worker process, shared by every export it runs."""

    def __init__(self, pool: ConnectionPool, *, schema: str = "public", page_rows: int = PAGE_ROWS) -> None:
        self._pool = pool
        self._schema = schema
        self._page_rows = page_rows
        self._checked: set[str] = set()
        self._lock = threading.Lock()

    # ---- the port ----------------------------------------------------------------------------------

    def read(self, query: RowQuery, after: str | None) -> Iterator[dict[str, Any]]:
        contract = CONTRACTS[query.entity_set]
        self.check_view(contract)
        by_field = contract.by_field()
        wanted = self._projection(contract, query.fields)
        names = [column.column for column in wanted]
        selected = [*contract.order, *(name for name in names if name not in contract.order)]
        fields = {column.column: column.field for column in wanted}
        json_columns = {column.column for column in wanted if column.kind == "json"}
        conditions, parameters = self._conditions(contract, by_field, query.predicates)
        if conditions is None:
            return
        cursor: tuple[Any, ...] | None = (key_value(after),) if after is not None else None
        order_width = len(contract.order)
        records = order_width == 3  # (case key, kind, position): a record's own key, as warnings name it
        # Where each wanted field is in a fetched row: one pass over those places per row.
        places = [(index, fields[name]) for index, name in enumerate(selected) if name in fields]

        def page_after(after_key: tuple[Any, ...] | None) -> list[tuple[Any, ...]]:
            return self._page(
                query.organization_id, contract, selected, json_columns, conditions, parameters, after_key
            )

        # The next page is fetched while this one is turned into rows: the server's time and the worker's
        # overlap. At most one page is in flight, so memory stays at two pages; a page waiting to be used
        # holds no connection.
        reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgres-read-ahead")
        try:
            pending: Future[list[tuple[Any, ...]]] = reader.submit(contextvars.copy_context().run, page_after, cursor)
            while True:
                page = pending.result()
                full = len(page) == self._page_rows
                if full:
                    following = tuple(page[-1][:order_width])
                    pending = reader.submit(contextvars.copy_context().run, page_after, following)
                for values in page:
                    key = key_text(values[0])
                    row: dict[str, Any] = {KEY: key}
                    if records:
                        row[RECORD] = f"{key}|{values[1]}|{values[2]:04d}"
                    for index, field in places:
                        value = values[index]
                        if value is not None:
                            row[field] = value
                    yield row
                if not full:
                    return
        finally:
            # A reader that stops early (a batch's end, a shard's bound) leaves at most one page unread.
            reader.shutdown(wait=False, cancel_futures=True)

    def count(self, query: RowQuery, after: str | None, limit: int) -> tuple[int, str | None]:
        contract = CONTRACTS[query.entity_set]
        self.check_view(contract)
        conditions, parameters = self._conditions(contract, contract.by_field(), query.predicates)
        if conditions is None:
            return 0, None
        where = self._where(contract, conditions, after is not None, 1)
        arguments = [query.organization_id, *([key_value(after)] if after is not None else []), *parameters]
        # The keys of at most `limit` rows, counted by the server; the last one is the next cursor.
        statement = sql.SQL(
            "SELECT count(*), max(k) FROM (SELECT {key} AS k FROM {view} WHERE {where} "
            "ORDER BY {key} LIMIT %s) AS counted"
        ).format(key=sql.Identifier(contract.key), view=self._view(contract), where=where)
        with self._pool.connection() as connection:
            found = connection.execute(statement, [*arguments, limit]).fetchone()
        counted, last = (found[0], found[1]) if found else (0, None)
        return counted, key_text(last) if counted >= limit and last is not None else None

    # ---- the contract ------------------------------------------------------------------------------

    def check_view(self, contract: ViewContract) -> None:
        """Fails with a ContractViolation naming the view and column unless the view offers the contract."""
        if contract.view in self._checked:
            return
        with self._pool.connection() as connection:
            found = connection.execute(
                "SELECT a.attname, t.typname FROM pg_catalog.pg_attribute a "
                "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
                "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
                [sql.Identifier(self._schema, contract.view).as_string(connection)],
            ).fetchall()
        where = f"{self._schema}.{contract.view}"
        if not found:
            raise ContractViolation(
                f"The PostgreSQL source has no view {where}: the export service reads each dataset through "
                'the views of its source contract (README, "Reading from PostgreSQL").',
                details={"view": where},
            )
        types: dict[str, str] = {str(name): str(type_name) for name, type_name in found}
        expected: list[tuple[str, ColumnKind]] = [
            (ORGANIZATION_COLUMN, "text"),
            (contract.key, "integer"),
            *((column.column, column.kind) for column in contract.columns),
        ]
        for name, kind in expected:
            if name not in types:
                raise ContractViolation(
                    f"The view {where} has no column {name} ({DECLARED[kind]}), which the source contract requires.",
                    details={"view": where, "column": name, "expected": DECLARED[kind]},
                )
            if types[name] not in ACCEPTED_TYPES[kind]:
                raise ContractViolation(
                    f"The column {name} of the view {where} is {types[name]}; the source contract requires "
                    f"{DECLARED[kind]}.",
                    details={"view": where, "column": name, "found": types[name], "expected": DECLARED[kind]},
                )
        with self._lock:
            self._checked.add(contract.view)

    # ---- SQL ---------------------------------------------------------------------------------------

    def _view(self, contract: ViewContract) -> sql.Composable:
        return sql.Identifier(self._schema, contract.view)

    @staticmethod
    def _projection(contract: ViewContract, fields: tuple[str, ...] | None) -> list[ViewColumn]:
        if fields is None:
            return list(contract.columns)
        by_field = contract.by_field()
        unknown = [name for name in fields if name != KEY and name not in by_field]
        if unknown:
            raise ExportFailed(f"The export reads {', '.join(unknown)}, which the view {contract.view} does not offer.")
        return [by_field[name] for name in dict.fromkeys(fields) if name != KEY]

    @staticmethod
    def _conditions(
        contract: ViewContract, by_field: dict[str, ViewColumn], predicates: Sequence[Predicate]
    ) -> tuple[list[sql.Composable] | None, list[Any]]:
        """The predicates as SQL terms with their parameters; None when no row can satisfy them."""
        terms: list[sql.Composable] = []
        parameters: list[Any] = []
        for predicate in predicates:
            if predicate.field == KEY:
                key = sql.Identifier(contract.key)
                terms.append(sql.SQL("{} {} %s").format(key, sql.SQL(_OPERATORS[predicate.op])))
                parameters.append(key_value(str(predicate.value)))
                continue
            found = by_field.get(predicate.field)
            if found is None:
                raise ExportFailed(f"The export filters on {predicate.field}, which {contract.view} does not offer.")
            if predicate.op == "in":
                values = [value for value in predicate.value if _fits(found.kind, value)]
                if not values:
                    return None, []
                terms.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(found.column)))
                parameters.append(values)
            else:
                if not _fits(found.kind, predicate.value):
                    return None, []
                terms.append(
                    sql.SQL("{} {} %s").format(sql.Identifier(found.column), sql.SQL(_OPERATORS[predicate.op]))
                )
                parameters.append(predicate.value)
        return terms, parameters

    @staticmethod
    def _where(contract: ViewContract, conditions: list[sql.Composable], cursor: bool, width: int) -> sql.Composable:
        terms: list[sql.Composable] = [sql.SQL("{} = %s").format(sql.Identifier(ORGANIZATION_COLUMN))]
        if cursor:
            order = [sql.Identifier(name) for name in contract.order[:width]]
            placeholders = sql.SQL(", ").join(sql.Placeholder() for _ in order)
            if width == 1:
                terms.append(sql.SQL("{} > %s").format(order[0]))
            else:
                # The key's own bound first: the planner starts the key's index scan there. A row comparison
                # over columns of a join alone is a filter, and every page would walk the organization from
                # its first key.
                terms.append(sql.SQL("{} >= %s").format(order[0]))
                terms.append(sql.SQL("({}) > ({})").format(sql.SQL(", ").join(order), placeholders))
        return sql.SQL(" AND ").join([*terms, *conditions])

    def _page(
        self,
        organization_id: str,
        contract: ViewContract,
        selected: list[str],
        json_columns: set[str],
        conditions: list[sql.Composable],
        parameters: list[Any],
        cursor: tuple[Any, ...] | None,
    ) -> list[tuple[Any, ...]]:
        """One page after `cursor`: the unit key alone (where a batch resumed), or the whole ordering key
        of the previous page's last row (a unit's rows may span pages)."""
        columns = sql.SQL(", ").join(
            sql.SQL("{}::text").format(sql.Identifier(name)) if name in json_columns else sql.Identifier(name)
            for name in selected
        )
        width = len(cursor) if cursor is not None else 1
        statement = sql.SQL("SELECT {columns} FROM {view} WHERE {where} ORDER BY {order} LIMIT %s").format(
            columns=columns,
            view=self._view(contract),
            where=self._where(contract, conditions, cursor is not None, width),
            order=sql.SQL(", ").join(sql.Identifier(name) for name in contract.order),
        )
        with self._pool.connection() as connection:
            bound = (cursor[0],) if cursor is not None and len(cursor) > 1 else ()
            return connection.execute(
                statement, [organization_id, *bound, *(cursor or ()), *parameters, self._page_rows]
            ).fetchall()
