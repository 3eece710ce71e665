"""Security tests reuse the integration fixtures: a private Azurite and the local host over real sockets."""

from __future__ import annotations

import sys
from typing import Any

from tests.integration.conftest import (  # noqa: F401 - pytest finds fixtures by name
    anonymous,
    api,
    api_as,
    blobs,
    load_cases,
    org,
    queue,
    tables,
)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How many schemathesis cases were sent (the issue asks for the number)."""
    fuzz: Any = sys.modules.get("tests.security.test_api_fuzz")
    sent = getattr(fuzz, "SENT", None)
    if sent and any(sent.values()):
        total = sum(sent.values())
        detail = ", ".join(f"{count} {identity}" for identity, count in sent.items())
        terminalreporter.write_line(f"schemathesis: {total} cases sent ({detail}), {fuzz.EXAMPLES} examples per test")
