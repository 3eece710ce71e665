"""The HTTP edge's own rules, route by route: no MIME sniffing, no cross-site writes, a health check that does not
hit storage on every unauthenticated call."""

from __future__ import annotations

import azure.functions as func
import orjson
import pytest

from exports import http_meta
from shared.auth import encode_principal
from shared.errors import NotFound
from shared.http import handles_errors, json_response, problem

PRINCIPAL = encode_principal("org-a", "user-1", "Ana", ["access_reports"])


def request(method: str = "GET", body: bytes = b"", **headers: str) -> func.HttpRequest:
    return func.HttpRequest(method, "http://localhost/api/exports", headers=headers, body=body)


@handles_errors
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(b"", status_code=204)


@handles_errors
def missing(req: func.HttpRequest) -> func.HttpResponse:
    raise NotFound("No export x was found.")


@handles_errors
def broken(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("a bug")


def test_every_answer_says_nosniff_success_problem_bug_and_bare(caplog: pytest.LogCaptureFixture) -> None:
    answers = [echo(request()), missing(request()), broken(request()), json_response({"a": 1}), problem(503, "x", "y")]
    assert [a.headers.get("X-Content-Type-Options") for a in answers] == ["nosniff"] * 5


def test_the_health_and_contract_routes_say_nosniff_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_meta, "storage_probe", http_meta._StorageProbe())
    monkeypatch.setattr(http_meta, "_check_storage", lambda: True)
    for route in (http_meta.health, http_meta.openapi):
        assert route(request()).headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "body", "headers", "status"),
    [
        ("POST", b'{"format": "CSV"}', {"Content-Type": "text/plain"}, 415),
        ("PUT", b'{"format": "CSV"}', {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ("PATCH", b'{"format": "CSV"}', {}, 415),
        ("DELETE", b'{"x": 1}', {"Content-Type": "multipart/form-data; boundary=b"}, 415),
        ("POST", b"", {}, 403),
        ("DELETE", b"", {"X-Requested-With": "   "}, 403),
        ("POST", b'{"format": "CSV"}', {"Content-Type": "application/json; charset=utf-8"}, 204),
        ("POST", b"", {"X-Requested-With": "exports-page"}, 204),
        ("DELETE", b"", {"X-Requested-With": "XMLHttpRequest"}, 204),
        ("GET", b"", {}, 204),
    ],
)
def test_state_changing_requests_a_form_could_send_are_refused_before_the_route_runs(
    method: str, body: bytes, headers: dict[str, str], status: int
) -> None:
    answer = echo(request(method, body, **{"X-MS-CLIENT-PRINCIPAL": PRINCIPAL, **headers}))
    assert answer.status_code == status, answer.get_body()
    if status >= 400:
        assert answer.mimetype == "application/problem+json"


def test_without_a_principal_a_write_is_401_whatever_its_content_type() -> None:
    answer = echo(request("POST", b"x", **{"Content-Type": "text/plain"}))
    assert answer.status_code == 401 and "X-MS-CLIENT-PRINCIPAL" in orjson.loads(answer.get_body())["detail"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_health_checks_storage_at_most_once_per_interval_whoever_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    checks: list[float] = []
    outcomes = iter([True, False])

    def check() -> bool:
        checks.append(clock.now)
        return next(outcomes)

    monkeypatch.setattr(http_meta, "storage_probe", http_meta._StorageProbe(clock))
    monkeypatch.setattr(http_meta, "_check_storage", check)

    answers = [http_meta.health(request()).status_code for _ in range(50)]
    clock.now = 1000.0 + http_meta.HEALTH_CHECK_INTERVAL_SECONDS - 0.5
    answers.append(http_meta.health(request()).status_code)
    clock.now = 1000.0 + http_meta.HEALTH_CHECK_INTERVAL_SECONDS
    answers.append(http_meta.health(request()).status_code)

    assert checks == [1000.0, 1000.0 + http_meta.HEALTH_CHECK_INTERVAL_SECONDS]
    assert answers == [200] * 51 + [503]
