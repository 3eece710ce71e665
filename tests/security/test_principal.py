"""X-MS-CLIENT-PRINCIPAL: whatever the header holds, the caller is a principal or a clear 401, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.auth import MAX_NAME_LENGTH, Principal, encode_principal, parse_principal, principal_from_headers
from shared.errors import Unauthenticated

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
claim = st.fixed_dictionaries(
    {"typ": st.sampled_from(["org_id", "oid", "name", "roles", "x"]) | json_values, "val": st.text() | json_values}
)
principal_documents = st.fixed_dictionaries(
    {"claims": st.lists(claim | json_values, max_size=6) | json_values},
    optional={"role_typ": json_values | st.just("roles"), "name_typ": json_values, "auth_typ": json_values},
)


def encoded(document: Any) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def outcome(raw: str) -> Principal | Unauthenticated:
    try:
        return parse_principal(raw)
    except Unauthenticated as error:
        assert error.status == 401 and "X-MS-CLIENT-PRINCIPAL" in error.detail
        return error


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_any_text_is_a_principal_or_a_401(raw: str) -> None:
    outcome(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_any_base64_payload_is_a_principal_or_a_401(payload: bytes) -> None:
    outcome(base64.b64encode(payload).decode())


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(principal_documents)
def test_any_json_document_is_a_principal_or_a_401(document: Any) -> None:
    result = outcome(encoded(document))
    if isinstance(result, Principal):
        assert result.organization_id and result.user_id and len(result.name) <= MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (encode_principal("org", "user", "n", [])[:-7], "not base64-encoded JSON"),  # truncated
        (encode_principal("org", "user", "n", [])[:10], "not base64-encoded JSON"),
        ("eyJjbGFpbXMiOiBbXX0=" + "!", "not base64-encoded JSON"),
        ("ünïcödé", "not base64-encoded JSON"),
        (encoded({"claims": []}), "lacks the org_id or oid"),
        (encoded({"name_typ": [1], "claims": [{"typ": "org_id", "val": "o"}, {"typ": "oid", "val": "u"}]}), "name_typ"),
        (encoded({"role_typ": {}, "claims": [{"typ": "org_id", "val": "o"}, {"typ": "oid", "val": "u"}]}), "role_typ"),
        (encoded({"claims": [{"typ": "org_id", "val": "a#b"}, {"typ": "oid", "val": "u"}]}), "not a valid identifier"),
        (encoded({"claims": [{"typ": "org_id", "val": "o" * 129}, {"typ": "oid", "val": "u"}]}), "not a valid"),
        (encoded({"claims": [{"typ": "org_id", "val": "o\x00"}, {"typ": "oid", "val": "u"}]}), "not a valid"),
        ("A" * 20_000, "too long"),
    ],
)
def test_a_malformed_or_truncated_header_is_401_with_a_clear_message(raw: str, reason: str) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        principal_from_headers({"X-MS-CLIENT-PRINCIPAL": raw})


def test_a_very_long_display_name_is_cut_not_refused() -> None:
    principal = parse_principal(encode_principal("org", "user", "N" * 5_000, ["access_reports"]))
    assert principal.name == "N" * MAX_NAME_LENGTH
