"""What the storage services answer to a lost optimistic-concurrency race, as the domain's one error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from shared.errors import ConcurrencyConflict


@contextmanager
def etag_conflicts(what: str) -> Iterator[None]:
    """An insert that finds the entity there, or an ETag-matched write that finds it changed (412) or
    gone, raises ConcurrencyConflict: the caller re-reads and tries again, or lets the winner carry on."""
    try:
        yield
    except (ResourceExistsError, ResourceNotFoundError) as error:
        raise ConcurrencyConflict(f"{what} changed or vanished") from error
    except HttpResponseError as error:
        if error.status_code == 412:
            raise ConcurrencyConflict(f"{what} was changed by someone else") from error
        raise
