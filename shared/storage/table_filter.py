"""Table storage's limit on one query: at most 15 discrete comparisons in its `$filter`.

Real Table storage answers a longer filter with 400 (REST reference, "Querying tables and
entities"); Azurite accepts it, so a test run would never notice. Every `$filter` this app sends is
counted here instead, before it leaves: the table clients of `StorageClients` call
`refuse_long_filters` on every request, and the row source checks its own filters whatever client
it is given. A filter over the limit is a bug in the code that built it, never the caller's fault.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from shared.errors import ExportFailed
from shared.storage.table_query import MAX_FILTER_COMPARISONS

# A string literal, with '' standing for one quote inside it (also after a type prefix: datetime'...').
_STRING = re.compile(r"'(?:[^']|'')*'")
# Comparison operators are lower-case keywords standing apart from names (`Status_eq` is a name).
_COMPARISON = re.compile(r"(?<![\w.])(?:eq|ne|gt|ge|lt|le)(?![\w.])")


class FilterTooLong(ExportFailed):
    """A query with more comparisons than Table storage allows: the code that built it is wrong."""

    def __init__(self, comparisons: int) -> None:
        super().__init__(
            f"The export needed a Table storage query with {comparisons} comparisons; Table storage allows "
            f"at most {MAX_FILTER_COMPARISONS}. This is a bug in the export service; please report it.",
            details={"comparisons": comparisons, "limit": MAX_FILTER_COMPARISONS},
        )
        self.comparisons = comparisons


def comparisons(text: str) -> int:
    """The comparisons in an OData filter, as Table storage counts them; quoted values never count."""
    return len(_COMPARISON.findall(_STRING.sub("''", text)))


def check_filter(text: str) -> None:
    found = comparisons(text)
    if found > MAX_FILTER_COMPARISONS:
        raise FilterTooLong(found)


def refuse_long_filters(request: Any) -> None:
    """A `raw_request_hook` for the table clients: counts the `$filter` of every request before it is sent."""
    query = urlsplit(request.http_request.url).query
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "$filter":
            check_filter(value)
