"""The HTTP edge of the lifecycle: the caller's address for the audit trail, and 429 with Retry-After."""

from __future__ import annotations

import azure.functions as func
import orjson
import pytest

from shared.errors import TooManyRequests
from shared.http import client_address, handles_errors


def request(**headers: str) -> func.HttpRequest:
    return func.HttpRequest("GET", "http://localhost/api/exports", headers=headers, body=b"")


@pytest.mark.parametrize(
    ("forwarded", "address"),
    [
        ("203.0.113.7:53122", "203.0.113.7"),
        ("203.0.113.7", "203.0.113.7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("2001:db8::7", "2001:db8::7"),
        # A client's own X-Forwarded-For comes first; the front end appends what it saw, which is what counts.
        ("10.9.9.9, 198.51.100.4:61000", "198.51.100.4"),
    ],
)
def test_the_client_address_is_the_last_forwarded_for_entry_without_its_port(forwarded: str, address: str) -> None:
    assert client_address(request(**{"X-Forwarded-For": forwarded})) == address


def test_without_forwarded_for_the_client_address_is_unknown() -> None:
    assert client_address(request()) is None


def test_an_exhausted_quota_answers_429_problem_json_with_retry_after() -> None:
    @handles_errors
    def refuse(req: func.HttpRequest) -> func.HttpResponse:
        raise TooManyRequests("Daily limit reached.", retry_after_seconds=3600)

    response = refuse(request())

    assert response.status_code == 429 and response.headers["Retry-After"] == "3600"
    assert response.mimetype == "application/problem+json"
    assert orjson.loads(response.get_body())["detail"] == "Daily limit reached."
