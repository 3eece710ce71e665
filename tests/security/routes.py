"""The HTTP routes function_app.py registers, read once from the app itself."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from devhost.app_loader import describe_functions


@cache
def registered_http_routes() -> frozenset[tuple[str, str]]:
    """(METHOD, route template) for every HTTP function; `{slot:int}` is reported as `{slot}`."""
    import function_app

    routes: set[tuple[str, str]] = set()
    # describe_functions indexes the app once and remembers it: the SDK's indexing may run only once.
    for function in describe_functions(function_app.app):
        trigger: Any = function.trigger
        if function.kind == "http":
            route = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", str(trigger["route"]))
            routes.update((str(method).upper(), route) for method in trigger.get("methods") or [])
    return frozenset(routes)
