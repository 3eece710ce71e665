"""Queue message parsing: anything unreadable is a BadMessage, bound for the poison queue.

An export request is the exception: one that names its organization, request and requester but is
otherwise invalid is read as an InvalidRequestMessage, so the requester can be told why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from exports.models import (
    ExportRequestMessage,
    QueueName,
    QueueOrganizationId,
    QueueRequestId,
    QueueUserId,
)
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


@dataclass(frozen=True)
class InvalidRequestMessage:
    """An export request that identifies its organization, request and requester, and is invalid."""

    org_id: str
    request_id: str
    requested_by_id: str
    reply_queue: str | None
    reason: str
    errors: list[dict[str, Any]]


class _Identity(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="ignore")


class _Requester(_Identity):
    user_id: QueueUserId


class _RequestIdentity(_Identity):
    org_id: QueueOrganizationId
    request_id: QueueRequestId
    requested_by: _Requester


class _ReplyQueue(_Identity):
    reply_queue: QueueName


def read_export_request(body: bytes) -> ExportRequestMessage | InvalidRequestMessage:
    """The request, or what is wrong with it; raises BadMessage only if it names no one to answer."""
    try:
        return parse_message(body, ExportRequestMessage)
    except BadMessage:
        invalid = _invalid_request(body)
        if invalid is None:
            raise
        return invalid


def _invalid_request(body: bytes) -> InvalidRequestMessage | None:
    """What an unreadable request names and what is wrong with it; None if it names no one to answer."""
    document = _json_object(body)
    if document is None:
        return None
    try:
        identity = _RequestIdentity.model_validate(document)
    except ValidationError:
        return None
    try:
        ExportRequestMessage.model_validate(document)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
    else:
        return None  # refused for its size alone
    errors = [{"field": ".".join(str(part) for part in item["loc"]), "message": item["msg"]} for item in problems]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    try:
        reply_queue: str | None = _ReplyQueue.model_validate(document).reply_queue
    except ValidationError:
        reply_queue = None  # unusable: the answer goes to the events queue only
    return InvalidRequestMessage(
        org_id=identity.org_id,
        request_id=identity.request_id,
        requested_by_id=identity.requested_by.user_id,
        reply_queue=reply_queue,
        reason=f"{errors[0]['field']}: {errors[0]['message']}{more}",
        errors=errors,
    )


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The message as a JSON object of schema version 1, or None (what parse_message refuses first)."""
    if len(body) > MAX_MESSAGE_BYTES:
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict) or document.get("v") != 1 or isinstance(document.get("v"), bool):
        return None
    return document
