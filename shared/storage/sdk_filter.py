"""The one adapter over the Azure Tables SDK's private filter substitution.

The row source sends its own requests (for read-ahead and no-metadata pages), yet its filters must read
exactly as `TableClient.query_entities(parameters=...)` would write them: the SDK has no public function
for that, so its private one is used here, and only here. tests/unit/test_sdk_adapters.py pins every
rendering the exports rely on, so an SDK upgrade that changes one fails there first.
"""

from __future__ import annotations

from typing import Any

from azure.data.tables._serialize import _parameter_filter_substitution


def substitute(parameters: dict[str, Any], text: str) -> str:
    """`text` with each `@name` replaced by its parameter as an OData literal (strings quoted and escaped)."""
    return str(_parameter_filter_substitution(parameters, text))
