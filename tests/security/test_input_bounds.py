"""Every input is bounded: over a bound is a 413 or 422 problem that names the bound, never a 500."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from exports.messages import parse_message
from exports.models import ExportRequestMessage
from shared.errors import BadMessage
from tests.conftest import Api

pytestmark = pytest.mark.integration


def assert_problem(response: requests.Response, status: int, *named: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    text = body["detail"] + " " + " ".join(f"{e['field']} {e['message']}" for e in body.get("errors") or [])
    for part in named:
        assert part in text, (part, body)
    return body


def test_a_body_over_64_kib_is_413_naming_the_limit(api: Api) -> None:
    body = b'{"format": "CSV", "statuses": ["' + b"x" * (64 * 1024) + b'"]}'
    assert_problem(api.post("/exports", data=body, headers={"Content-Type": "application/json"}), 413, "65536 bytes")


def test_a_deeply_nested_body_is_a_clean_4xx(api: Api) -> None:
    for depth in (100, 1_100, 20_000):
        body = b'{"format": "CSV", "dateRange": ' + b"[" * depth + b"]" * depth + b"}"
        response = api.post("/exports", data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (depth, response.text)
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert ("1024 levels" in response.text) == (depth > 1_000), response.text


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"format": "CSV", "statuses": [f"S{i}" for i in range(51)]}, ("statuses", "at most 50")),
        ({"format": "CSV", "statuses": ["x" * 201]}, ("statuses.0", "at most 200 characters")),
        ({"format": "CSV", "categories": [str(uuid.uuid4()) for _ in range(201)]}, ("categories", "at most 200")),
        ({"format": "CSV", "businessUnits": [str(uuid.uuid4()) for _ in range(201)]}, ("businessUnits", "at most 200")),
        ({"format": "CSV", "locations": [str(uuid.uuid4()) for _ in range(201)]}, ("locations", "at most 200")),
        ({"format": "CSV", "maxInvestigations": 11}, ("maxInvestigations", "less than or equal to 10")),
        ({"format": "CSV", "exportType": "CUSTOM", "columns": ["c"] * 301}, ("columns", "at most 300")),
        ({"format": "CSV", "exportType": "CUSTOM", "columns": ["c" * 101]}, ("columns.0", "at most 100 characters")),
        ({"format": "CSV", "searchTerm": "s" * 201}, ("searchTerm", "at most 200 characters")),
        (
            {"format": "CSV", "dataset": "tickets", "filters": [{"field": "status", "operator": "equals"}] * 51},
            ("filters", "at most 50"),
        ),
        (
            {"format": "CSV", "dataset": "tickets", "filters": [{"field": "f", "operator": "in", "value": "v" * 1001}]},
            ("filters.0.value", "at most 1000 characters"),
        ),
    ],
)
def test_lists_and_strings_over_their_bound_are_422_naming_field_and_bound(
    api: Api, body: dict[str, Any], named: tuple[str, ...]
) -> None:
    assert_problem(api.post("/exports", json=body), 422, *named)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"pageSize": "101"}, ("pageSize", "less than or equal to 100")),
        ({"pageSize": "0"}, ("pageSize", "greater than or equal to 1")),
        ({"continuationToken": "t" * 2001}, ("continuationToken", "at most 2000 characters")),
    ],
)
def test_list_queries_over_their_bound_are_422(api: Api, params: dict[str, str], named: tuple[str, ...]) -> None:
    assert_problem(api.get("/exports", params=params), 422, *named)


def test_headers_over_their_bound_are_refused(api: Api, anonymous: Api) -> None:
    assert_problem(api.post("/exports", json={"format": "CSV"}, headers={"Idempotency-Key": "k" * 201}), 422, "200")
    response = anonymous.get("/exports", headers={"X-MS-CLIENT-PRINCIPAL": "A" * 17_000})
    assert_problem(response, 401, "too long")


def test_a_job_id_of_any_shape_is_just_not_found(api: Api) -> None:
    for job_id in ("x" * 101, "..%2F..%2Fetc", "a'b", "%00", "ÿ" * 10, "0" * 100):
        response = api.get(f"/exports/{job_id}")
        assert response.status_code == 404, (job_id, response.text)


def test_a_queued_request_cannot_carry_an_organization_of_its_own() -> None:
    # The queue message's orgId is the trust boundary (only holders of storage credentials can write to the
    # queue); the request inside it is the HTTP body and, like it, refuses unknown fields.
    body = (
        b'{"v": 1, "orgId": "org-1", "requestId": "r1", "requestedBy": {"userId": "u"},'
        b' "request": {"format": "CSV", "organizationId": "org-2"}}'
    )
    with pytest.raises(BadMessage, match=r"request\.organizationId"):
        parse_message(body, ExportRequestMessage)
