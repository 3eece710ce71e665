"""Queue message parsing: anything unreadable is a BadMessage, bound for the poison queue."""

from __future__ import annotations

from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from shared.errors import BadMessage

MAX_MESSAGE_BYTES = 64 * 1024
ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_message(body: bytes, model: type[ModelT]) -> ModelT:
    if len(body) > MAX_MESSAGE_BYTES:
        raise BadMessage(f"message is {len(body)} bytes, over the {MAX_MESSAGE_BYTES}-byte limit")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadMessage("message is not JSON") from None
    if not isinstance(document, dict):
        raise BadMessage("message is not a JSON object")
    if document.get("v") != 1 or isinstance(document.get("v"), bool):  # true == 1 in Python
        raise BadMessage(f"message has unknown schema version {document.get('v')!r}; expected 1")
    try:
        return model.model_validate(document)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BadMessage(f"message does not match the {model.__name__} schema: {where}: {first['msg']}") from None


def named_job(body: bytes) -> tuple[str, str] | None:
    """The (organization, job) a malformed work message names, if it names any."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(document, dict):
        org, job = document.get("orgId"), document.get("jobId")
        if isinstance(org, str) and isinstance(job, str) and 0 < len(org) <= 128 and 0 < len(job) <= 100:
            return org, job
    return None
