"""Reading the caller from X-MS-CLIENT-PRINCIPAL."""

from __future__ import annotations

import base64

import orjson
import pytest

from shared.auth import OBJECT_ID_CLAIM_LONG, encode_principal, parse_principal, principal_from_headers
from shared.errors import Unauthenticated


def encoded(document: object) -> str:
    return base64.b64encode(orjson.dumps(document)).decode()


def test_the_principal_carries_organization_user_name_and_roles() -> None:
    principal = parse_principal(encode_principal("org-1", "user-1", "Zoë", ["access_reports", "manage_users"]))
    assert (principal.organization_id, principal.user_id, principal.name) == ("org-1", "user-1", "Zoë")
    assert principal.has("access_reports") and not principal.has("import_export_tickets")


def test_the_long_object_id_claim_is_accepted() -> None:
    document = {
        "auth_typ": "aad",
        "name_typ": "name",
        "role_typ": "roles",
        "claims": [{"typ": "org_id", "val": "o"}, {"typ": OBJECT_ID_CLAIM_LONG, "val": "u"}],
    }
    assert parse_principal(encoded(document)).user_id == "u"


def test_roles_follow_the_role_type_the_header_names() -> None:
    document = {
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
        "claims": [
            {"typ": "org_id", "val": "o"},
            {"typ": "oid", "val": "u"},
            {"typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "val": "access_reports"},
        ],
    }
    assert parse_principal(encoded(document)).roles == frozenset({"access_reports"})


def test_header_lookup_ignores_case_and_a_missing_header_is_unauthenticated() -> None:
    value = encode_principal("o", "u", "n", [])
    assert principal_from_headers({"X-Ms-Client-Principal": value}).user_id == "u"
    with pytest.raises(Unauthenticated, match="no X-MS-CLIENT-PRINCIPAL"):
        principal_from_headers({})


@pytest.mark.parametrize(
    "raw",
    [
        "%%%",
        base64.b64encode(b"\xff\xfe").decode(),
        encoded([1, 2]),
        encoded({"claims": "all"}),
        encoded({"claims": [{"typ": "org_id", "val": "o"}]}),
        encoded({"claims": [{"typ": "oid", "val": "u"}]}),
        encoded({"claims": [{"typ": "org_id", "val": "o/../x"}, {"typ": "oid", "val": "u"}]}),
        encoded({"claims": [{"typ": "org_id", "val": 5}, {"typ": "oid", "val": "u"}]}),
        encoded({"claims": ["org_id"]}),
        "A" * 20_000,
    ],
)
def test_a_malformed_principal_is_unauthenticated(raw: str) -> None:
    with pytest.raises(Unauthenticated):
        parse_principal(raw)
