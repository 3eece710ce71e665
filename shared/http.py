"""The HTTP edge: JSON bodies in, JSON and problem+json (RFC 9457) out."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import azure.functions as func
import orjson
from pydantic import BaseModel, ValidationError

from shared.auth import principal_from_headers
from shared.errors import (
    Forbidden,
    MalformedRequest,
    PayloadTooLarge,
    RequestError,
    TooManyRequests,
    UnsupportedMediaType,
    ValidationFailed,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# orjson refuses documents nested deeper than this (its own fixed limit); we name it in the answer.
MAX_JSON_DEPTH = 1024
PROBLEM_JSON = "application/problem+json"
# Every API response: a browser never guesses another type than the one it is given (no MIME sniffing).
NO_SNIFF = {"X-Content-Type-Options": "nosniff"}
# A header no HTML form can send: a body-less POST or DELETE must carry it (cross-site request forgery).
REQUESTED_WITH = "X-Requested-With"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ModelT = TypeVar("ModelT", bound=BaseModel)


def json_response(
    body: BaseModel | dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    payload = body.model_dump(mode="json", by_alias=True) if isinstance(body, BaseModel) else body
    return func.HttpResponse(
        orjson.dumps(payload),
        status_code=status,
        headers={"Cache-Control": "no-store", **NO_SNIFF, **(headers or {})},
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
        orjson.dumps(body), status_code=status, headers={"Cache-Control": "no-store", **NO_SNIFF}, mimetype=PROBLEM_JSON
    )


def parse_body(req: func.HttpRequest, model: type[ModelT]) -> ModelT:
    require_json(req)
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


def require_json(req: func.HttpRequest) -> None:
    """A body is JSON only when it says so: `application/json`, in UTF-8 if a charset is named.

    An HTML form can only send `application/x-www-form-urlencoded`, `multipart/form-data` or `text/plain`,
    and a form's `text/plain` body can be made to read as JSON; so any other type is refused (415) before
    the body is read, and a page on another site cannot write through the user's session cookie.
    """
    media_type, *parameters = (req.headers.get("Content-Type") or "").split(";")
    charsets = {
        value.strip().strip('"').lower()
        for name, _, value in (parameter.partition("=") for parameter in parameters)
        if name.strip().lower() == "charset"
    }
    if media_type.strip().lower() != "application/json" or not charsets <= {"utf-8"}:
        raise UnsupportedMediaType(
            "The request body must be sent as Content-Type: application/json (UTF-8); "
            f"{media_type.strip() or 'no Content-Type'} is not accepted."
        )


def refuse_cross_site(req: func.HttpRequest) -> None:
    """What a page on another site could make a signed-in browser send is refused on every state-changing route.

    A body must be JSON (`require_json`), which no form can send and a script on another origin cannot send
    without a CORS preflight this API never grants. A POST or DELETE without a body must carry
    X-Requested-With (any value), a header no form can set. The principal is read first, so a caller who is
    not signed in always gets 401, whatever else is wrong with the request.
    """
    method = (req.method or "").upper()
    if method not in STATE_CHANGING:
        return
    principal_from_headers(req.headers)
    if req.get_body():
        require_json(req)
    elif method in ("POST", "DELETE") and not (req.headers.get(REQUESTED_WITH) or "").strip():
        raise Forbidden(
            f"A {method} without a body needs the {REQUESTED_WITH} header (any value), which shows it is not a "
            "form submitted from another site."
        )


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
    """Turns domain errors into problem+json; anything else is a bug, logged and answered 500.

    Every route it wraps also refuses cross-site writes (`refuse_cross_site`) before the handler runs, and
    every answer carries X-Content-Type-Options: nosniff.
    """

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        response = _answer(handler, req)
        for name, value in NO_SNIFF.items():
            response.headers[name] = value
        return response

    return wrapper


def _answer(handler: Callable[[func.HttpRequest], func.HttpResponse], req: func.HttpRequest) -> func.HttpResponse:
    try:
        refuse_cross_site(req)
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
