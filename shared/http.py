"""The HTTP edge: JSON bodies in, JSON and problem+json (RFC 9457) out."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import azure.functions as func
import orjson
from pydantic import BaseModel, ValidationError

from shared.errors import MalformedRequest, PayloadTooLarge, RequestError, TooManyRequests, ValidationFailed

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# orjson refuses documents nested deeper than this (its own fixed limit); we name it in the answer.
MAX_JSON_DEPTH = 1024
PROBLEM_JSON = "application/problem+json"
ModelT = TypeVar("ModelT", bound=BaseModel)


def json_response(
    body: BaseModel | dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    payload = body.model_dump(mode="json", by_alias=True) if isinstance(body, BaseModel) else body
    return func.HttpResponse(
        orjson.dumps(payload),
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
        mimetype="application/json",
    )


def problem(
    status: int, title: str, detail: str, *, errors: list[dict[str, Any]] | None = None, instance: str | None = None
) -> func.HttpResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return func.HttpResponse(
        orjson.dumps(body), status_code=status, headers={"Cache-Control": "no-store"}, mimetype=PROBLEM_JSON
    )


def parse_body(req: func.HttpRequest, model: type[ModelT]) -> ModelT:
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body is over the limit of {MAX_BODY_BYTES} bytes.")
    if not raw.strip():
        raise MalformedRequest("The request needs a JSON body.")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        if "depth limit" in str(error) or "recursion" in str(error):
            raise ValidationFailed(
                f"The request body is nested more than {MAX_JSON_DEPTH} levels deep, over the limit."
            ) from None
        raise MalformedRequest(f"The request body is not valid JSON: {error}.") from None
    if not isinstance(document, dict):
        raise ValidationFailed("The request body must be a JSON object.")
    return validate(model, document)


def validate(model: type[ModelT], document: Any) -> ModelT:
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise ValidationFailed(_summary(error), errors=_errors(error)) from None
    except RecursionError:
        raise ValidationFailed(f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.") from None


def handles_errors(
    handler: Callable[[func.HttpRequest], func.HttpResponse],
) -> Callable[[func.HttpRequest], func.HttpResponse]:
    """Turns domain errors into problem+json; anything else is a bug, logged and answered 500."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return handler(req)
        except TooManyRequests as error:
            response = problem(error.status, error.title, error.detail)
            response.headers["Retry-After"] = str(error.retry_after_seconds)
            return response
        except RequestError as error:
            return problem(error.status, error.title, error.detail, errors=error.errors)
        except Exception:
            log.exception("unhandled error in %s", handler.__name__)
            return problem(500, "Internal Server Error", "Something went wrong on our side; it has been logged.")

    return wrapper


def _errors(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(part) for part in item["loc"]) or "(body)", "message": item["msg"]}
        for item in error.errors(include_url=False, include_input=False)
    ]


def _summary(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{where + ': ' if where else ''}{first['msg']}{more}"


def client_address(req: func.HttpRequest) -> str | None:
    """The caller's address as the front end saw it: the last X-Forwarded-For entry, without its port.

    App Service's front end appends the address it accepted the connection from, so the last entry is
    the one a client cannot forge; earlier entries are whatever the client sent.
    """
    forwarded = next((value for key, value in req.headers.items() if key.lower() == "x-forwarded-for"), "")
    last = forwarded.rsplit(",", 1)[-1].strip()[:100]
    if not last:
        return None
    if last.startswith("["):  # [v6]:port
        return last[1:].split("]", 1)[0] or None
    if last.count(":") == 1:  # v4:port
        return last.split(":", 1)[0] or None
    return last
