"""Source rows from Table storage: one organization is one partition, read as a RowKey range scan.

The read path is the export's ceiling, so it avoids the SDK's per-value work but not its pipeline:
every page is one `GET /{table}()` sent through the table client's own pipeline (`send_request`), so
authentication (shared key, SAS, managed identity), retries with backoff and timeouts are the SDK's.
The page is decoded with orjson and typed here, by each value's own type as stored, never by the type a
dataset expects: JSON with *minimal metadata*, whose `@odata.type` annotations mark every Edm.DateTime,
Edm.Int64, Edm.Binary and Edm.Guid value (JSON without metadata writes them as plain strings, so the text
"2024-06-01" and a DateTime, or "12" and an Int64, could not be told apart). A keys-only read (counting)
asks for no metadata. `TableQuery.schema` only names the dataset's Edm.Double properties, whose whole
values Table storage writes as JSON integers without an annotation.

Every entity is also checked against the types of the query's filter values: Table storage never
matches a property against a value of another type, Azurite does, so rows Azure would not return are
dropped here and a filter gives the same rows locally as in Azure (`_type_checks`).

`read` keeps a bounded read-ahead: one background thread fetches at most `read_ahead` pages beyond
the one being consumed, so the next page's round trip overlaps formatting and upload.
"""

from __future__ import annotations

import base64
import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.data.tables import TableClient, TableServiceClient

from exports.ports import KEY, RECORD, RowQuery
from shared.storage.sdk_filter import substitute
from shared.storage.table_filter import check_filter
from shared.storage.table_query import (
    ROW_KEY,
    Condition,
    TableLayout,
    TableQuery,
    TranslatedQuery,
    kind_of,
    matcher,
    sent_value,
    translate,
)

PAGE_SIZE = 1000
READ_AHEAD_PAGES = 2
NO_METADATA = "application/json;odata=nometadata"
MINIMAL_METADATA = "application/json;odata=minimalmetadata"
_NEXT_PK = "x-ms-continuation-NextPartitionKey"
_NEXT_RK = "x-ms-continuation-NextRowKey"
_ANNOTATION = "@odata.type"

Entity = dict[str, Any]


def odata_filter(query: TableQuery, after: str | None) -> tuple[str, dict[str, Any]]:
    """The query as an OData filter with parameters (values are never pasted into the text)."""
    terms = ["PartitionKey eq @p_org"]
    parameters: dict[str, Any] = {"p_org": query.partition}
    if after is not None:
        terms.append("RowKey gt @p_after")
        parameters["p_after"] = after
    for index, condition in enumerate(query.conditions):
        terms.append(_term(condition, f"p{index}", parameters))
    return " and ".join(terms), parameters


def filter_text(query: TableQuery, after: str | None) -> str:
    text, parameters = odata_filter(query, after)
    # The SDK's own substitution, so a filter reads exactly as with `query_entities(parameters=)`.
    return substitute(parameters, text)


def _term(condition: Condition, name: str, parameters: dict[str, Any]) -> str:
    if condition.op == "in":
        alternatives = []
        for position, value in enumerate(condition.value):
            parameters[f"{name}_{position}"] = sent_value(value)
            alternatives.append(f"{condition.prop} eq @{name}_{position}")
        # The SDK substitutes @names between spaces, so the parentheses must stand apart.
        return "( " + " or ".join(alternatives) + " )"
    parameters[name] = sent_value(condition.value)
    return f"{condition.prop} {condition.op} @{name}"


# ---- typing values -----------------------------------------------------------------------------------


def _datetime(value: Any) -> Any:
    # Table storage writes UTC with up to 7 fractional digits and a Z; fromisoformat keeps 6 (like the SDK).
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value  # not a timestamp after all: the row builder exports it as text, with a warning
    return value


def _int64(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    return value


def _double(value: Any) -> Any:
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return float(value)  # whole doubles may come as 1; NaN and Infinity as strings
        except ValueError:
            return value
    return value


def _binary(value: Any) -> Any:
    return base64.b64decode(value) if isinstance(value, str) else value


# By the `@odata.type` annotation Table storage gives every value JSON cannot tell apart from a string
# (Edm.DateTime, Edm.Int64, Edm.Binary, Edm.Guid; Edm.Double when it is NaN or infinite). A string
# without one is an Edm.String, whatever it looks like: it stays text.
_CONVERT: dict[str, Callable[[Any], Any]] = {
    "Edm.DateTime": _datetime,
    "Edm.Int64": _int64,
    "Edm.Double": _double,
    "Edm.Binary": _binary,
}
_KEYS = frozenset({"PartitionKey", "RowKey"})


def _typer(select: tuple[str, ...] | None, doubles: frozenset[str]) -> Callable[[list[Entity]], list[Entity]]:
    """How a page's entities (JSON with minimal metadata) get their Python types.

    Every value is typed by its own annotation, never by the type a dataset expects, so a value stored
    with another type reaches the row builder as what it is (text stays text, an Int64 stays an int).
    With `select` the plain keys are known: one C-speed set difference per entity finds its annotations
    (and `odata.etag`), so the Python work is per annotated value, not per property.
    `doubles`: properties the dataset stores as Edm.Double; Table storage writes a whole double as a
    JSON integer without an annotation, which is read back as the double it is.
    """
    if select is None:
        return _by_annotation
    plain = _KEYS | frozenset(select)
    whole = tuple((name, name + _ANNOTATION) for name in dict.fromkeys(select) if name in doubles)
    skip = len(_ANNOTATION)

    def by_annotation(entities: list[Entity]) -> list[Entity]:
        for entity in entities:
            extra = entity.keys() - plain
            for key in extra:
                if key.endswith(_ANNOTATION):
                    convert = _CONVERT.get(entity.pop(key))
                    name = key[:-skip]
                    if convert is not None and name in entity:
                        entity[name] = convert(entity[name])
                elif key.startswith("odata.") or key == "Timestamp":
                    del entity[key]
            for name, key in whole:
                if type(entity.get(name)) is int and key not in extra:
                    entity[name] = float(entity[name])
        return entities

    return by_annotation


def _by_annotation(entities: list[Entity]) -> list[Entity]:
    typed = []
    for entity in entities:
        if any(key.endswith(_ANNOTATION) or key.startswith("odata.") for key in entity):
            plain: Entity = {}
            for key, value in entity.items():
                if key.startswith("odata."):
                    continue
                if key.endswith(_ANNOTATION):
                    continue
                kind = entity.get(key + _ANNOTATION)
                convert = _CONVERT.get(kind) if kind else None
                plain[key] = convert(value) if convert else value
            entity = plain
        entity.pop("Timestamp", None)
        typed.append(entity)
    return typed


# ---- what Table storage would not have returned ---------------------------------------------------------


def _type_checks(conditions: tuple[Condition, ...]) -> tuple[tuple[str, frozenset[type]], ...]:
    """Per filtered property, the types its value may have for the entity to satisfy the filter.

    Table storage evaluates a comparison between a property and a value of another type as false (`ne`
    included), and a missing property satisfies no comparison; Azurite compares such values anyway
    (the text "2024-06-01" equals datetime'2024-06-01T00:00:00Z' there, and "7" is greater than 3).
    Only the types are checked here: values of one type are compared by the service, as in Azure.
    """
    allowed: dict[str, frozenset[type]] = {}
    for condition in conditions:
        if condition.prop in _KEYS:
            continue  # always strings
        values = condition.value if condition.op == "in" else (condition.value,)
        kinds = frozenset(kind_of(sent_value(value)) for value in values)
        allowed[condition.prop] = allowed[condition.prop] & kinds if condition.prop in allowed else kinds
    return tuple(allowed.items())


# ---- reading -----------------------------------------------------------------------------------------


class _PageReader:
    """Pages of one query through the table client's pipeline, following continuation headers."""

    def __init__(self, table: TableClient, query: TableQuery, after: str | None, page_size: int) -> None:
        self._table = table
        self._url = f"/{quote(query.table)}()"
        text = filter_text(query, after)
        check_filter(text)  # also when the client was built without the check (tools, benchmarks)
        self._params: dict[str, str] = {"$filter": text, "$top": str(page_size)}
        self._checks = _type_checks(query.conditions)
        select = query.select
        # Properties read only to check the filter's types are read, checked and left out again.
        self._extra: tuple[str, ...] = ()
        if select is not None:
            self._extra = tuple(dict.fromkeys(p for p, _ in self._checks if p not in select and p not in _KEYS))
            select = (*select, *self._extra)
            self._params["$select"] = ",".join(select)
        # Keys are always strings: a keys-only read needs no annotations, the smallest payload there is.
        keys_only = select is not None and all(prop in _KEYS for prop in select)
        self._accept = NO_METADATA if keys_only else MINIMAL_METADATA
        doubles = frozenset(name for name, kind in query.schema or () if kind == "double")
        self._typed = _typer(select, doubles)
        self.done = False

    def next_page(self) -> list[Entity]:
        # Every query value is percent-encoded here: HttpRequest(params=...) pastes values in as they are, so a
        # `&` in a filter value would start a new query parameter (a second $filter: another organization's
        # rows) and a `{` would break the URL template. Found by the fuzzer.
        query = "&".join(f"{key}={quote(value, safe='')}" for key, value in self._params.items())
        request = HttpRequest(
            "GET",
            f"{self._url}?{query}",
            headers={"Accept": self._accept, "DataServiceVersion": "3.0", "x-ms-version": "2019-02-02"},
        )
        # stream=True: the pipeline's ContentDecodePolicy would otherwise json-decode every page once more.
        response = self._table._client.send_request(request, stream=True)
        if response.status_code == 404:
            raise ResourceNotFoundError(response=response)
        if response.status_code >= 300:
            raise HttpResponseError(response=response)
        next_pk = response.headers.get(_NEXT_PK)
        next_rk = response.headers.get(_NEXT_RK)
        if next_pk or next_rk:
            self._params["NextPartitionKey"] = next_pk or ""
            self._params["NextRowKey"] = next_rk or ""
        else:
            self.done = True
        entities = self._typed(orjson.loads(response.read())["value"])
        if self._checks:
            entities = [entity for entity in entities if self._satisfies(entity)]
        if self._extra:
            for entity in entities:
                for prop in self._extra:
                    entity.pop(prop, None)
        return entities

    def _satisfies(self, entity: Entity) -> bool:
        for prop, kinds in self._checks:
            value = entity.get(prop)
            if value is None or kind_of(value) not in kinds:
                return False
        return True

    def pages(self) -> Iterator[list[Entity]]:
        while not self.done:
            yield self.next_page()


_END = object()


def _read_ahead(pages: Iterator[list[Entity]], depth: int) -> Iterator[list[Entity]]:
    """Yields `pages` while a background thread fetches up to `depth` pages ahead.

    Closing the generator early (the batch is full) stops the thread after at most the page it is
    fetching; an error in the thread is raised here, in the consumer.
    """
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        buffer.put(page, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            item: Any = _END
        except BaseException as error:  # handed to the consumer, which raises it
            item = error
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # In the reader's context, so the fetches' log lines carry the job, organization and step.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(produce,), name="row-source-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class TableRowSource:
    """The row source over Table storage (the embedded default): one partition per organization."""

    def __init__(
        self,
        service: TableServiceClient,
        *,
        layout: TableLayout | None = None,
        page_size: int = PAGE_SIZE,
        read_ahead: int = READ_AHEAD_PAGES,
    ) -> None:
        self._service = service
        self._layout = layout or TableLayout()
        self._page_size = page_size
        self._read_ahead = read_ahead

    def read(self, query: RowQuery, after: str | None) -> Iterator[dict[str, Any]]:
        translated = translate(query, after, self._layout)
        return rows_of(translated, self.read_table(translated.table_query, translated.after))

    def count(self, query: RowQuery, after: str | None, limit: int) -> tuple[int, str | None]:
        translated = translate(query, after, self._layout)
        if not translated.left and not translated.records:
            return self.count_table(translated.table_query, translated.after, limit)
        keys_only = RowQuery(query.entity_set, query.organization_id, query.predicates, (KEY,))
        keys = translate(keys_only, after, self._layout)
        return count_rows(rows_of(keys, self.read_table(keys.table_query, keys.after)), limit)

    def read_table(self, query: TableQuery, after: str | None) -> Iterator[dict[str, Any]]:
        """Entities of one partition in RowKey order with RowKey > `after`, as Table storage holds them."""
        reader = _PageReader(self._service.get_table_client(query.table), query, after, self._page_size)
        pages = _read_ahead(reader.pages(), self._read_ahead) if self._read_ahead > 0 else reader.pages()
        try:
            for page in pages:
                yield from page
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def count_table(self, query: TableQuery, after: str | None, limit: int) -> tuple[int, str | None]:
        keys_only = TableQuery(query.table, query.partition, query.conditions, (ROW_KEY,), schema=())
        reader = _PageReader(self._service.get_table_client(query.table), keys_only, after, self._page_size)
        counted = 0
        last: str | None = None
        while not reader.done:
            page = reader.next_page()
            if counted + len(page) >= limit:
                take = limit - counted
                return limit, str(page[take - 1][ROW_KEY]) if take else last
            counted += len(page)
            if page:
                last = str(page[-1][ROW_KEY])
        return counted, None


def rows_of(translated: TranslatedQuery, entities: Iterator[Entity]) -> Iterator[Entity]:
    """Entities as neutral rows: the terms left to the adapter checked, the unit key under `key`."""
    keep = matcher(translated.left) if translated.left else None
    extra = translated.extra
    unit_key = translated.unit_key
    records = translated.records
    try:
        for entity in entities:
            if keep is not None and not keep(entity):
                continue
            for prop in extra:
                entity.pop(prop, None)
            row_key = entity.pop(ROW_KEY)
            entity[KEY] = unit_key(row_key)
            if records:
                entity[RECORD] = row_key
            yield entity
    finally:
        close = getattr(entities, "close", None)
        if close is not None:
            close()


def count_rows(rows: Iterator[Entity], limit: int) -> tuple[int, str | None]:
    """Counts up to `limit` rows; (count, last key) when the limit is reached, (count, None) at the end."""
    counted = 0
    for row in rows:
        counted += 1
        if counted >= limit:
            last = str(row[KEY])
            close = getattr(rows, "close", None)
            if close is not None:
                close()
            return counted, last
    return counted, None
