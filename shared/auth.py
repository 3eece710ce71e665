"""The caller, as App Service Authentication describes it in X-MS-CLIENT-PRINCIPAL."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from shared.errors import Unauthenticated

PRINCIPAL_HEADER = "x-ms-client-principal"
OBJECT_ID_CLAIM_LONG = "http://schemas.microsoft.com/identity/claims/objectidentifier"
MAX_HEADER_BYTES = 16 * 1024
# The display name is copied into job records; anything longer is cut, never refused.
MAX_NAME_LENGTH = 200

ACCESS_REPORTS = "access_reports"
IMPORT_EXPORT_TICKETS = "import_export_tickets"
MANAGE_SYSTEM_SETTINGS = "manage_system_settings"


@dataclass(frozen=True)
class Principal:
    organization_id: str
    user_id: str
    name: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def has(self, permission: str) -> bool:
        return permission in self.roles


def principal_from_headers(headers: Mapping[str, str]) -> Principal:
    raw = next((value for key, value in headers.items() if key.lower() == PRINCIPAL_HEADER), None)
    if not raw:
        raise Unauthenticated("Sign in first: the request carries no X-MS-CLIENT-PRINCIPAL.")
    return parse_principal(raw)


def parse_principal(raw: str) -> Principal:
    if len(raw) > MAX_HEADER_BYTES:
        raise Unauthenticated("X-MS-CLIENT-PRINCIPAL is too long.")
    try:
        decoded = base64.b64decode(raw.strip() + "=" * (-len(raw.strip()) % 4), validate=True)
        document = orjson.loads(decoded)
    except (binascii.Error, ValueError):
        raise Unauthenticated("X-MS-CLIENT-PRINCIPAL is not base64-encoded JSON.") from None
    if not isinstance(document, dict) or not isinstance(document.get("claims"), list):
        raise Unauthenticated("X-MS-CLIENT-PRINCIPAL has no claims list.")
    role_type = _claim_type(document.get("role_typ"), "roles")
    name_type = _claim_type(document.get("name_typ"), "name")
    claims: dict[str, str] = {}
    roles: set[str] = set()
    for claim in document["claims"]:
        if not isinstance(claim, dict):
            raise Unauthenticated("X-MS-CLIENT-PRINCIPAL has a claim that is not an object.")
        typ, val = claim.get("typ"), claim.get("val")
        if not isinstance(typ, str) or not isinstance(val, str):
            raise Unauthenticated("X-MS-CLIENT-PRINCIPAL has a claim without a string typ and val.")
        if typ in (role_type, "roles"):
            roles.add(val)
        else:
            claims.setdefault(typ, val)
    organization_id = claims.get("org_id", "").strip()
    user_id = (claims.get("oid") or claims.get(OBJECT_ID_CLAIM_LONG) or "").strip()
    if not organization_id or not user_id:
        raise Unauthenticated("X-MS-CLIENT-PRINCIPAL lacks the org_id or oid claim.")
    if len(organization_id) > 128 or len(user_id) > 128 or not _is_key_safe(organization_id):
        raise Unauthenticated("X-MS-CLIENT-PRINCIPAL has an org_id or oid that is not a valid identifier.")
    name = (claims.get(name_type) or claims.get("name") or user_id).strip() or user_id
    return Principal(
        organization_id=organization_id,
        user_id=user_id,
        name=name[:MAX_NAME_LENGTH],
        roles=frozenset(roles),
    )


def encode_principal(organization_id: str, user_id: str, name: str, roles: list[str]) -> str:
    """The header value App Service would send; used by tests, demos and the queue intake docs."""
    claims = [{"typ": "org_id", "val": organization_id}, {"typ": "oid", "val": user_id}]
    claims.append({"typ": "name", "val": name})
    claims.extend({"typ": "roles", "val": role} for role in roles)
    document = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"}
    return base64.b64encode(orjson.dumps(document)).decode("ascii")


def _claim_type(value: object, default: str) -> str:
    # role_typ / name_typ come from the header too: only a non-empty string names a claim type.
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise Unauthenticated("X-MS-CLIENT-PRINCIPAL has a role_typ or name_typ that is not a string.")
    return value


def _is_key_safe(value: str) -> bool:
    # The organization id becomes a Table storage PartitionKey: these characters are not allowed there.
    return not any(ch in value for ch in "/\\#?'") and all(ord(ch) >= 0x20 and ord(ch) != 0x7F for ch in value)
