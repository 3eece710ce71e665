"""One page of a caller's list (jobs, schedules): an organization's rows, optionally one user's and one status,
read until the page is full, with a continuation token the API hands out and takes back."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from azure.data.tables import TableClient

from shared.errors import MalformedRequest


def filled_page(
    table: TableClient,
    organization_id: str,
    *,
    created_by_id: str | None,
    status: str | None,
    page_size: int,
    continuation_token: str | None,
) -> tuple[list[Any], str | None]:
    """Up to `page_size` entities in RowKey order, and the token of the next page (None at the end)."""
    query = "PartitionKey eq @org"
    parameters: dict[str, Any] = {"org": organization_id}
    if created_by_id is not None:
        query += " and CreatedById eq @user"
        parameters["user"] = created_by_id
    if status is not None:
        query += " and Status eq @status"
        parameters["status"] = status
    pages: Any = table.query_entities(query, parameters=parameters, results_per_page=page_size).by_page(
        continuation_token=decode_token(continuation_token)
    )
    entities: list[Any] = []
    token: Any = None
    # A filtered page can come back short (even empty) with a token: keep reading until it is full.
    for page in pages:
        entities.extend(page)
        token = pages.continuation_token
        if len(entities) >= page_size or not token:
            break
    return entities, encode_token(token) if token else None


def encode_token(token: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(token)).decode("ascii")


def decode_token(token: str | None) -> Any:
    if not token:
        return None
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise MalformedRequest("continuationToken is not one this API returned.") from None
    if not isinstance(decoded, dict) or not all(isinstance(v, str | None) for v in decoded.values()):
        raise MalformedRequest("continuationToken is not one this API returned.")
    return decoded
