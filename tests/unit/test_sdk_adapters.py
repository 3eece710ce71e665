"""What the two adapters over private SDK members rely on: an SDK upgrade that changes it fails here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import azure.functions as func

from devhost.functions_sdk import RetryContext, TraceContext
from devhost.invocation import _Context
from shared.storage.sdk_filter import substitute


def test_filter_parameters_become_odata_literals_as_query_entities_writes_them() -> None:
    parameters = {
        "text": "O'Brien",
        "small": 5,
        "large": 2**40,
        "flag": True,
        "moment": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "guid": uuid.UUID(int=1),
        "number": 1.5,
        "bytes": b"hi",
    }
    text = " and ".join(f"{name} eq @{name}" for name in parameters)
    assert substitute(parameters, text) == (
        "text eq 'O''Brien' and small eq 5 and large eq 1099511627776L and flag eq true and "
        "moment eq datetime'2026-03-01T12:00:00.000000Z' and guid eq guid'00000000-0000-0000-0000-000000000001' "
        "and number eq 1.5 and bytes eq X'6869'"
    )


def test_parameters_are_substituted_only_between_spaces() -> None:
    assert substitute({"a": "x", "a_0": "y"}, "( P eq @a_0 or P eq @a )") == "( P eq 'y' or P eq 'x' )"


def test_the_local_hosts_context_implements_every_abstract_member_the_sdk_declares() -> None:
    assert {"trace_state", "trace_parent", "attributes"} <= TraceContext.__abstractmethods__
    assert {"retry_count", "max_retry_count", "exception"} <= RetryContext.__abstractmethods__
    context = _Context("invocation", "function", "/")
    assert isinstance(context, func.Context)
    assert isinstance(context.trace_context, TraceContext)
    assert isinstance(context.retry_context, RetryContext)
    assert context.retry_context.retry_count == 0 and context.trace_context.trace_parent == ""
