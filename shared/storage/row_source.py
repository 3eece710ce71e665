"""Source rows from Table storage: one organization is one partition, read as a RowKey range scan.

The read path is the export's ceiling, so it avoids the SDK's per-value work but not its pipeline:
every page is one `GET /{table}()` sent through the table client's own pipeline (`send_request`), so
authentication (shared key, SAS, managed identity), retries with backoff and timeouts are the SDK's.
The page is decoded with orjson and typed here:

- With `SourceQuery.schema` (the property types from the dataset's catalog) the service is asked for
  JSON *without metadata* (smallest payload, least work for the server) and only the schema's
  DateTime/Int64/Double/Guid/Binary properties are converted.
- Without a schema it asks for minimal metadata and converts by each value's `@odata.type`
  annotation, as the SDK does, so any caller gets the same values as from `query_entities`.

`read` keeps a bounded read-ahead: one background thread fetches at most `read_ahead` pages beyond
the one being consumed, so the next page's round trip overlaps formatting and upload.
"""

from __future__ import annotations

import base64
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

# The SDK's own parameter substitution, so a filter reads exactly as with `query_entities(parameters=)`.
from azure.data.tables._serialize import _parameter_filter_substitution

from exports.ports import Condition, SourceQuery

PAGE_SIZE = 1000
READ_AHEAD_PAGES = 2
NO_METADATA = "application/json;odata=nometadata"
MINIMAL_METADATA = "application/json;odata=minimalmetadata"
_NEXT_PK = "x-ms-continuation-NextPartitionKey"
_NEXT_RK = "x-ms-continuation-NextRowKey"
_ANNOTATION = "@odata.type"

Entity = dict[str, Any]


def odata_filter(query: SourceQuery, after: str | None) -> tuple[str, dict[str, Any]]:
    """The query as an OData filter with parameters (values are never pasted into the text)."""
    terms = ["PartitionKey eq @p_org"]
    parameters: dict[str, Any] = {"p_org": query.partition}
    if after is not None:
        terms.append("RowKey gt @p_after")
        parameters["p_after"] = after
    for index, condition in enumerate(query.conditions):
        terms.append(_term(condition, f"p{index}", parameters))
    return " and ".join(terms), parameters


def filter_text(query: SourceQuery, after: str | None) -> str:
    text, parameters = odata_filter(query, after)
    return str(_parameter_filter_substitution(parameters, text))


def _term(condition: Condition, name: str, parameters: dict[str, Any]) -> str:
    if condition.op == "in":
        alternatives = []
        for position, value in enumerate(condition.value):
            parameters[f"{name}_{position}"] = _value(value)
            alternatives.append(f"{condition.prop} eq @{name}_{position}")
        # The SDK substitutes @names between spaces, so the parentheses must stand apart.
        return "( " + " or ".join(alternatives) + " )"
    parameters[name] = _value(condition.value)
    return f"{condition.prop} {condition.op} @{name}"


def _value(value: Any) -> Any:
    return value if isinstance(value, str | bool | int | float | datetime) else str(value)


# ---- typing values -----------------------------------------------------------------------------------


def _datetime(value: Any) -> Any:
    # Table storage writes UTC with up to 7 fractional digits and a Z; fromisoformat keeps 6 (like the SDK).
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value  # not a timestamp after all: the row builder reports the wrong type
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


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "Edm.DateTime": _datetime,
    "Edm.Int64": _int64,
    "Edm.Double": _double,
    "Edm.Binary": _binary,
    "datetime": _datetime,
    "int64": _int64,
    "double": _double,
    "binary": _binary,
}


def _typer(schema: tuple[tuple[str, str], ...] | None) -> Callable[[list[Entity]], list[Entity]]:
    """How a page's entities get their Python types."""
    if schema is None:
        return _by_annotation
    converters = [(name, _CONVERT[kind]) for name, kind in schema if kind in _CONVERT]

    def by_schema(entities: list[Entity]) -> list[Entity]:
        for entity in entities:
            for name, convert in converters:
                value = entity.get(name)
                if value is not None:
                    entity[name] = convert(value)
            entity.pop("Timestamp", None)
        return entities

    return by_schema


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


# ---- reading -----------------------------------------------------------------------------------------


def _covers(schema: tuple[tuple[str, str], ...] | None, select: tuple[str, ...] | None) -> bool:
    """A schema is used only when it types every selected property: an unnamed one would lose its type."""
    if schema is None or select is None:
        return False
    named = {name for name, _ in schema} | {"PartitionKey", "RowKey"}
    return all(prop in named for prop in select)


class _PageReader:
    """Pages of one query through the table client's pipeline, following continuation headers."""

    def __init__(self, table: TableClient, query: SourceQuery, after: str | None, page_size: int) -> None:
        self._table = table
        self._url = f"/{quote(query.table)}()"
        self._params: dict[str, str] = {"$filter": filter_text(query, after), "$top": str(page_size)}
        if query.select:
            self._params["$select"] = ",".join(query.select)
        schema = query.schema if _covers(query.schema, query.select) else None
        self._accept = NO_METADATA if schema is not None else MINIMAL_METADATA
        self._typed = _typer(schema)
        self.done = False

    def next_page(self) -> list[Entity]:
        # Every query value is percent-encoded here: HttpRequest(params=...) pastes values in as they are, so a
        # `&` in a filter value would start a new query parameter (a second $filter: another organization's
        # rows) and a `{` would break the URL template. Issue 7, found by the fuzzer.
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
        entities: list[Entity] = orjson.loads(response.read())["value"]
        return self._typed(entities)

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

    thread = threading.Thread(target=produce, name="row-source-read-ahead", daemon=True)
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
    def __init__(
        self, service: TableServiceClient, *, page_size: int = PAGE_SIZE, read_ahead: int = READ_AHEAD_PAGES
    ) -> None:
        self._service = service
        self._page_size = page_size
        self._read_ahead = read_ahead

    def read(self, query: SourceQuery, after: str | None) -> Iterator[dict[str, Any]]:
        reader = _PageReader(self._service.get_table_client(query.table), query, after, self._page_size)
        pages = _read_ahead(reader.pages(), self._read_ahead) if self._read_ahead > 0 else reader.pages()
        try:
            for page in pages:
                yield from page
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def count(self, query: SourceQuery, after: str | None, limit: int) -> tuple[int, str | None]:
        keys_only = SourceQuery(query.table, query.partition, query.conditions, ("RowKey",), schema=())
        reader = _PageReader(self._service.get_table_client(query.table), keys_only, after, self._page_size)
        counted = 0
        last: str | None = None
        while not reader.done:
            page = reader.next_page()
            if counted + len(page) >= limit:
                take = limit - counted
                return limit, str(page[take - 1]["RowKey"]) if take else last
            counted += len(page)
            if page:
                last = str(page[-1]["RowKey"])
        return counted, None
