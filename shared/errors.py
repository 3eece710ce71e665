"""The error hierarchy. The core raises these; only the HTTP edge turns them into problem+json."""

from __future__ import annotations

from datetime import datetime
from typing import Any


class ExportServiceError(Exception):
    """Base of every error the service raises on purpose."""


class RequestError(ExportServiceError):
    """The caller asked for something that cannot be done: a 4xx at the HTTP edge."""

    status = 400
    title = "Bad Request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class MalformedRequest(RequestError):
    status = 400
    title = "Malformed request"


class Unauthenticated(RequestError):
    status = 401
    title = "Unauthenticated"


class Forbidden(RequestError):
    status = 403
    title = "Forbidden"


class NotFound(RequestError):
    status = 404
    title = "Not Found"


class Conflict(RequestError):
    status = 409
    title = "Conflict"


class Gone(RequestError):
    status = 410
    title = "Gone"


class PayloadTooLarge(RequestError):
    status = 413
    title = "Payload Too Large"


class UnsupportedMediaType(RequestError):
    status = 415
    title = "Unsupported Media Type"


class ValidationFailed(RequestError):
    status = 422
    title = "Validation failed"


class TooManyRequests(RequestError):
    status = 429
    title = "Too Many Requests"

    def __init__(self, detail: str, *, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class QuotaExceeded(TooManyRequests):
    """The organization's daily quota is used up until `resets_at`; other 429s (contention) are transient."""

    def __init__(self, detail: str, *, retry_after_seconds: int, resets_at: datetime) -> None:
        super().__init__(detail, retry_after_seconds=retry_after_seconds)
        self.resets_at = resets_at


class ConcurrencyConflict(ExportServiceError):
    """An ETag did not match: someone else changed the record first."""


class ExportFailed(ExportServiceError):
    """A permanent problem with one export: the job is marked failed with this readable message."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class BadMessage(ExportServiceError):
    """A queue message that can never be processed; the host moves it to the poison queue."""
