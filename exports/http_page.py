"""Blueprint: the exports page, a static page and its two assets from exports/web/. Thin.

The page holds no data: it calls the public API from the browser with the caller's own identity, so
it needs no authentication itself. In local development (EXPORTS_ENVIRONMENT=local) the page gets a
principal picker that builds X-MS-CLIENT-PRINCIPAL; in Azure the picker is not in the page at all,
because there App Service Authentication sets that header and a page must never forge it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import azure.functions as func

from shared.http import handles_errors, problem
from shared.settings import get_settings

bp = func.Blueprint()

WEB_DIR = Path(__file__).parent / "web"
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
PICKER_SLOT = "<!-- local-principal-picker -->"
# Everything comes from this origin; the only other place the page goes is the download link (a
# navigation, which connect-src does not govern).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Short: a deployment's new page is picked up within a minute, and no identity is ever in it.
    "Cache-Control": "public, max-age=60",
}


@cache
def _read(name: str) -> str:
    return (WEB_DIR / name).read_text(encoding="utf-8")


def page_html(local: bool) -> str:
    picker = _read("picker.html") if local else ""
    return _read("index.html").replace(PICKER_SLOT, picker)


@bp.route(route="page", methods=["GET"])
@handles_errors
def exports_page(req: func.HttpRequest) -> func.HttpResponse:
    html = page_html(get_settings().environment == "local")
    return func.HttpResponse(html, headers=SECURITY_HEADERS, mimetype="text/html", charset="utf-8")


@bp.route(route="page/{asset}", methods=["GET"])
@handles_errors
def exports_page_asset(req: func.HttpRequest) -> func.HttpResponse:
    asset = req.route_params.get("asset", "")
    mimetype = ASSETS.get(asset)
    if mimetype is None:
        return problem(404, "Not Found", "The page has no such asset.")
    return func.HttpResponse(_read(asset), headers=SECURITY_HEADERS, mimetype=mimetype, charset="utf-8")
