"""Tagged fields in Table storage, with uniqueness guards in the same partition.

Each tag is an entity `slot:NN`; two guard entities, `path:<hash>` (entity type + source path +
template) and `column:<name>`, are written in the same entity-group transaction, so two admins racing
for the same path or column name cannot both win.
"""

from __future__ import annotations

import builtins
import hashlib
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, TransactionOperation, UpdateMode

from exports.models import ReportFieldTag
from shared.errors import ConcurrencyConflict, Conflict

SLOT_PREFIX = "slot:"


def _slot_key(slot: int) -> str:
    return f"{SLOT_PREFIX}{slot:02d}"


def _path_key(tag: ReportFieldTag) -> str:
    identity = f"{tag.source_entity_type.value}|{tag.source_field_path}|{tag.template_id or ''}"
    return "path:" + hashlib.sha256(identity.encode()).hexdigest()[:40]


def _column_key(tag: ReportFieldTag) -> str:
    return f"column:{tag.column_name}"


def _entity(tag: ReportFieldTag) -> dict[str, Any]:
    document = tag.model_dump(mode="json", by_alias=True)
    entity: dict[str, Any] = {"PartitionKey": tag.organization_id, "RowKey": _slot_key(tag.tag_slot)}
    entity.update({key[0].upper() + key[1:]: value for key, value in document.items() if value is not None})
    entity["CreatedAt"] = tag.created_at
    entity["UpdatedAt"] = tag.updated_at
    return entity


def _tag(entity: Any) -> ReportFieldTag:
    document = {
        key[0].lower() + key[1:]: value
        for key, value in entity.items()
        if key not in ("PartitionKey", "RowKey", "Timestamp")
    }
    return ReportFieldTag.model_validate(
        {**document, "organization_id": entity["PartitionKey"], "etag": entity.metadata.get("etag")}
    )


class TableTagStore:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def list(self, organization_id: str) -> list[ReportFieldTag]:
        entities = self._table.query_entities(
            "PartitionKey eq @org and RowKey ge @lo and RowKey lt @hi",
            parameters={"org": organization_id, "lo": SLOT_PREFIX, "hi": "slot;"},
        )
        return sorted((_tag(entity) for entity in entities), key=lambda tag: tag.tag_slot)

    def get(self, organization_id: str, slot: int) -> ReportFieldTag | None:
        try:
            return _tag(self._table.get_entity(organization_id, _slot_key(slot)))
        except ResourceNotFoundError:
            return None

    def insert(self, tag: ReportFieldTag) -> ReportFieldTag:
        operations: list[tuple[TransactionOperation, dict[str, Any]]] = [
            (TransactionOperation.CREATE, _entity(tag)),
            *self._guards(tag),
        ]
        self._submit(operations, tag)
        stored = self.get(tag.organization_id, tag.tag_slot)
        assert stored is not None
        return stored

    def replace(self, tag: ReportFieldTag, previous: ReportFieldTag) -> ReportFieldTag:
        operations: builtins.list[Any] = []
        if tag.tag_slot == previous.tag_slot:
            operations.append(
                (
                    TransactionOperation.UPDATE,
                    _entity(tag),
                    {
                        "mode": UpdateMode.REPLACE,
                        "etag": previous.etag,
                        "match_condition": MatchConditions.IfNotModified,
                    },
                )
            )
        else:
            operations.append(
                (
                    TransactionOperation.DELETE,
                    _entity(previous),
                    {"etag": previous.etag, "match_condition": MatchConditions.IfNotModified},
                )
            )
            operations.append((TransactionOperation.CREATE, _entity(tag)))
        if _path_key(tag) != _path_key(previous):
            operations.append((TransactionOperation.DELETE, self._guard_entity(previous, _path_key(previous))))
            operations.append((TransactionOperation.CREATE, self._guard_entity(tag, _path_key(tag))))
        if tag.column_name != previous.column_name:
            operations.append((TransactionOperation.DELETE, self._guard_entity(previous, _column_key(previous))))
            operations.append((TransactionOperation.CREATE, self._guard_entity(tag, _column_key(tag))))
        self._submit(operations, tag)
        stored = self.get(tag.organization_id, tag.tag_slot)
        assert stored is not None
        return stored

    def delete(self, tag: ReportFieldTag) -> None:
        operations = [
            (
                TransactionOperation.DELETE,
                _entity(tag),
                {"etag": tag.etag, "match_condition": MatchConditions.IfNotModified},
            ),
            (TransactionOperation.DELETE, self._guard_entity(tag, _path_key(tag))),
            (TransactionOperation.DELETE, self._guard_entity(tag, _column_key(tag))),
        ]
        self._submit(operations, tag)

    def _guards(self, tag: ReportFieldTag) -> builtins.list[tuple[TransactionOperation, dict[str, Any]]]:
        return [
            (TransactionOperation.CREATE, self._guard_entity(tag, _path_key(tag))),
            (TransactionOperation.CREATE, self._guard_entity(tag, _column_key(tag))),
        ]

    @staticmethod
    def _guard_entity(tag: ReportFieldTag, key: str) -> dict[str, Any]:
        return {"PartitionKey": tag.organization_id, "RowKey": key, "Slot": tag.tag_slot}

    def _submit(self, operations: Any, tag: ReportFieldTag) -> None:
        try:
            self._table.submit_transaction(operations)
        except TableTransactionError as error:
            self._explain(error, operations, tag)
        except HttpResponseError as error:
            if error.status_code in (404, 409, 412):
                self._explain(error, operations, tag)
            raise

    def _explain(self, error: HttpResponseError, operations: Any, tag: ReportFieldTag) -> None:
        if error.status_code in (404, 412) or getattr(error, "error_code", None) in (
            "UpdateConditionNotSatisfied",
            "ResourceNotFound",
        ):
            raise ConcurrencyConflict("the tag was changed by someone else") from error
        index = getattr(error, "index", None)
        failed_key = operations[index][1]["RowKey"] if isinstance(index, int) and index < len(operations) else None
        existing = self._holder(tag, failed_key)
        raise Conflict(existing) from error

    def _holder(self, tag: ReportFieldTag, failed_key: str | None) -> str:
        org = tag.organization_id
        for key, what in ((_slot_key(tag.tag_slot), "slot"), (_path_key(tag), "path"), (_column_key(tag), "column")):
            if failed_key is not None and key != failed_key:
                continue
            try:
                entity = self._table.get_entity(org, key)
            except ResourceNotFoundError:
                continue
            slot = entity.get("Slot", tag.tag_slot)
            if what == "slot":
                return f"Tag slot {tag.tag_slot} is already in use; choose a free slot (1-20) or update that tag."
            if what == "path":
                template = f" (template {tag.template_id})" if tag.template_id else ""
                return (
                    f"{tag.source_entity_type.value} field {tag.source_field_path}{template} is already "
                    f"tagged in slot {slot}."
                )
            return f"Column name {tag.column_name} is already used by the tag in slot {slot}."
        return "The tag conflicts with an existing tag."
