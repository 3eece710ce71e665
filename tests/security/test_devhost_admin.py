"""The local host's admin API starts functions only for whoever holds this run's token and addresses the host by a
loopback name: a web page the developer visits can send a form to 127.0.0.1 or point a name of its own at it
(DNS rebinding), but knows no token, and its rebinding requests carry its own name."""

from __future__ import annotations

import pytest
import requests

from devhost.host import HostOptions
from tests.conftest import ADMIN_HEADERS, ADMIN_TOKEN, LocalHost

pytestmark = pytest.mark.integration


def admin_url(host: LocalHost, path: str) -> str:
    return host.base_url.removesuffix("/api") + path


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-functions-key": "guessed"},
        {"x-functions-key": ADMIN_TOKEN[:-1]},
        {"Content-Type": "text/plain"},  # what a cross-site form sends
    ],
    ids=["no token", "a wrong token", "almost the token", "a form"],
)
def test_starting_a_function_without_this_runs_token_is_401(local_host: LocalHost, headers: dict[str, str]) -> None:
    for path in ("/admin/functions/clean_up_exports", "/admin/host/drain", "/admin/host/resume"):
        response = requests.post(admin_url(local_host, path), data=b'{"input": ""}', headers=headers, timeout=30)
        assert response.status_code == 401, (path, response.text)
        assert "x-functions-key" in response.json()["detail"]


def test_with_the_token_printed_at_start_a_function_runs(local_host: LocalHost) -> None:
    assert any(ADMIN_TOKEN in line for line in local_host.log_lines), "the token is printed when the host starts"
    assert local_host.run_function("clean_up_exports").status_code == 202


@pytest.mark.parametrize("host_header", ["attacker.example", "attacker.example:7071", "10.0.0.5", "127.0.0.1.nip.io"])
def test_a_request_addressed_to_another_name_is_403_even_with_the_token(
    local_host: LocalHost, host_header: str
) -> None:
    for method, path in (("POST", "/admin/functions/clean_up_exports"), ("GET", "/admin/host/status")):
        response = requests.request(
            method, admin_url(local_host, path), json={"input": ""},
            headers={**ADMIN_HEADERS, "Host": host_header}, timeout=30,
        )
        assert response.status_code == 403, (host_header, path, response.text)


@pytest.mark.parametrize("host_header", ["127.0.0.1:7071", "localhost", "LOCALHOST:1", "[::1]:7071", "127.0.0.2"])
def test_loopback_names_reach_the_admin_api(local_host: LocalHost, host_header: str) -> None:
    response = requests.get(admin_url(local_host, "/admin/host/status"), headers={"Host": host_header}, timeout=30)
    assert response.status_code == 200


def test_each_run_has_its_own_token_unless_one_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    monkeypatch.delenv("DEVHOST_ADMIN_TOKEN", raising=False)
    first, second = HostOptions(app_dir=Path(".")), HostOptions(app_dir=Path("."))
    assert first.admin_token != second.admin_token and len(first.admin_token) >= 32
    monkeypatch.setenv("DEVHOST_ADMIN_TOKEN", "given")
    assert HostOptions(app_dir=Path(".")).admin_token == "given"
