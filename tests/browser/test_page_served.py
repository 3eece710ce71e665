"""The page as the function app serves it: static, with no identity in it, and without the principal picker
unless the app runs locally (EXPORTS_ENVIRONMENT=local; the default is Azure, where the picker must not exist)."""

from __future__ import annotations

import pytest
import requests

from exports.http_page import page_html
from tests.browser.conftest import Stack
from tests.conftest import LocalHost


def test_in_azure_the_page_has_no_principal_picker(monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.functions as func

    from exports import http_page
    from shared.settings import Settings

    monkeypatch.delenv("EXPORTS_ENVIRONMENT", raising=False)
    settings = Settings(storage_connection_string="UseDevelopmentStorage=true")
    assert settings.environment == "azure", "a forgotten setting must mean Azure"
    monkeypatch.setattr(http_page, "get_settings", lambda: settings)
    response = http_page.exports_page(func.HttpRequest("GET", "http://localhost/api/page", body=b""))
    page = response.get_body().decode()
    assert response.status_code == 200 and 'id="request-form"' in page
    assert "principal-picker" not in page and "Local development only" not in page
    assert "<!--" not in page, "the picker's placeholder is removed too"


@pytest.mark.browser
def test_locally_the_page_has_the_picker_clearly_marked(stack: Stack) -> None:
    page = requests.get(stack.page_url, timeout=30).text
    assert page == page_html(local=True)
    assert 'id="principal-picker" class="local-only"' in page and "Local development only" in page


@pytest.mark.integration
@pytest.mark.parametrize(("asset", "content_type"), [("app.js", "text/javascript"), ("app.css", "text/css")])
def test_the_assets_are_served_from_the_app_itself_with_a_strict_policy(
    local_host: LocalHost, asset: str, content_type: str
) -> None:
    response = requests.get(f"{local_host.base_url}/page/{asset}", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == f"{content_type}; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "http://" not in response.text.replace("http://www.w3.org", "") and "https://" not in response.text


@pytest.mark.integration
@pytest.mark.parametrize("asset", ["index.html", "picker.html", "..%2Fhttp_page.py", "app.JS", "nothing"])
def test_anything_else_under_page_is_a_problem_404(local_host: LocalHost, asset: str) -> None:
    response = requests.get(f"{local_host.base_url}/page/{asset}", timeout=30)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "def " not in response.text and "<section" not in response.text


@pytest.mark.integration
def test_the_page_needs_no_identity_and_carries_none(local_host: LocalHost) -> None:
    with_principal = requests.get(
        f"{local_host.base_url}/page", headers={"X-MS-CLIENT-PRINCIPAL": "eyJ4IjogMX0="}, timeout=30
    )
    anonymous = requests.get(f"{local_host.base_url}/page", timeout=30)
    assert with_principal.status_code == anonymous.status_code == 200
    assert with_principal.content == anonymous.content
