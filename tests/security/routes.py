"""The HTTP routes function_app.py registers, read once from the app itself."""

from __future__ import annotations

import re
from functools import cache
from typing import Any


@cache
def registered_http_routes() -> frozenset[tuple[str, str]]:
    """(METHOD, route template) for every HTTP function; `{slot:int}` is reported as `{slot}`."""
    import function_app

    routes: set[tuple[str, str]] = set()
    # get_functions() indexes the app and may run only once per FunctionApp, hence the cache.
    for function in function_app.app.get_functions():
        trigger: Any = function.get_trigger()
        if trigger is not None and trigger.get_binding_name() == "httpTrigger":
            route = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", str(trigger.route))
            routes.update((str(method.value), route) for method in trigger.methods or [])
    return frozenset(routes)
