"""Route templates, precedence and host.json parsing of the local Functions host."""

from __future__ import annotations

import json

import pytest

from devhost.app_loader import (
    ConfigError,
    QueueOptions,
    apply_settings,
    parse_host_config,
    parse_timespan,
    resolve_setting_refs,
)
from devhost.http_server import problem
from devhost.routing import Router, RouteTemplate, RouteTemplateError


def test_literal_segments_win_over_parameters_whatever_the_registration_order() -> None:
    router: Router[str] = Router()
    router.add("export-fields/tags/{slot}", ["GET"], "slot")
    router.add("exports/{id}", ["GET"], "export")
    router.add("export-fields/tags/preview", ["GET"], "preview")

    assert router.resolve("GET", "export-fields/tags/preview").route.target == "preview"  # type: ignore[union-attr]
    found = router.resolve("GET", "export-fields/tags/abc")
    assert found.route is not None and found.route.target == "slot" and found.params == {"slot": "abc"}
    found = router.resolve("GET", "exports/42")
    assert found.route is not None and found.params == {"id": "42"}


def test_constrained_parameter_is_tried_before_a_plain_one() -> None:
    router: Router[str] = Router()
    router.add("items/{name}", None, "name")
    router.add("items/{id:int}", None, "id")
    assert router.resolve("GET", "items/7").route.target == "id"  # type: ignore[union-attr]
    assert router.resolve("GET", "items/seven").route.target == "name"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("items/{id:int}", "items/-12", {"id": "-12"}),
        ("items/{id:int}", "items/12a", None),
        ("items/{code:alpha}", "items/abC", {"code": "abC"}),
        ("items/{code:alpha}", "items/ab1", None),
        (
            "items/{g:guid}",
            "items/0f8fad5b-d9cb-469f-a165-70867728950e",
            {"g": "0f8fad5b-d9cb-469f-a165-70867728950e"},
        ),
        ("items/{x:minlength(2)}", "items/a", {"x": "a"}),  # unknown constraints accept any segment
        ("items/{name?}", "items", {}),
        ("items/{name?}", "items/", {}),
        ("items/{name?}", "items/pen", {"name": "pen"}),
        ("items/{name?}", "items/pen/cap", None),
        ("files/{*rest}", "files/a/b%20c/d.txt", {"rest": "a/b c/d.txt"}),
        ("files/{*rest}", "files", {}),
        ("Files/List", "files/list", {}),
        ("files/{name}.{ext}", "files/report.csv", {"name": "report", "ext": "csv"}),
        ("a/{b}", "a/x%2Fy", {"b": "x/y"}),
        ("a/{b}", "a", None),
        ("", "", {}),
    ],
)
def test_template_matching(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate.parse(template).match(path) == expected


@pytest.mark.parametrize("template", ["a/{*rest}/b", "a/{x?}/b", "a/{x}/{x}", "a/{}"])
def test_invalid_templates_are_rejected(template: str) -> None:
    with pytest.raises(RouteTemplateError):
        RouteTemplate.parse(template)


def test_methods_decide_between_405_and_404() -> None:
    router: Router[str] = Router()
    router.add("things/{id}", ["GET", "post"], "things")
    router.add("any", [], "any")
    assert router.resolve("POST", "things/1").route is not None
    wrong = router.resolve("DELETE", "things/1")
    assert wrong.route is None and wrong.path_matched
    missing = router.resolve("GET", "nothing")
    assert missing.route is None and not missing.path_matched
    assert router.resolve("PATCH", "any").route is not None


def test_problem_body_shape() -> None:
    assert json.loads(problem(404, "No function handles GET /api/xyz")) == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No function handles GET /api/xyz",
    }


def test_host_json_defaults_match_the_functions_host() -> None:
    config = parse_host_config({"version": "2.0"})
    assert config.route_prefix == "api"
    assert config.queues == QueueOptions(
        batch_size=16,
        new_batch_threshold=8,
        max_polling_interval=60.0,
        visibility_timeout=0.0,
        max_dequeue_count=5,
        message_encoding="base64",
    )


def test_host_json_values() -> None:
    config = parse_host_config(
        {
            "extensions": {
                "http": {"routePrefix": ""},
                "queues": {
                    "batchSize": 4,
                    "maxPollingInterval": 2000,
                    "visibilityTimeout": "00:00:05",
                    "maxDequeueCount": 2,
                    "messageEncoding": "None",
                },
            }
        }
    )
    assert config.route_prefix == ""
    assert config.queues == QueueOptions(4, 2, 2.0, 5.0, 2, "none")
    assert parse_host_config({"extensions": {"queues": {"batchSize": 64}}}).queues.batch_size == 32


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("00:00:01", 1.0),
        ("00:01:00", 60.0),
        ("01:00:00", 3600.0),
        ("1.00:00:00", 86400.0),
        ("00:00:00.5", 0.5),
        ("00:10", 600.0),
        (1500, 1.5),
        ("250", 0.25),
    ],
)
def test_timespans(raw: object, seconds: float) -> None:
    assert parse_timespan(raw) == seconds


@pytest.mark.parametrize("raw", ["soon", "1:2:3:4", True, None])
def test_bad_timespans(raw: object) -> None:
    with pytest.raises(ConfigError):
        parse_timespan(raw)


def test_bad_queue_options_are_reported() -> None:
    with pytest.raises(ConfigError):
        parse_host_config({"extensions": {"queues": {"messageEncoding": "utf8"}}})
    with pytest.raises(ConfigError):
        parse_host_config({"extensions": {"queues": {"maxDequeueCount": 0}}})


def test_settings_do_not_override_the_environment_and_references_resolve() -> None:
    env = {"ALREADY": "from-env"}
    apply_settings({"ALREADY": "from-file", "NEW": "work"}, env)
    assert env == {"ALREADY": "from-env", "NEW": "work"}
    assert resolve_setting_refs("%NEW%-items", env) == "work-items"
    with pytest.raises(ConfigError):
        resolve_setting_refs("%MISSING%", env)
