"""Use cases of the tag admin: list, create, replace, update, delete, preview one case's values."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from exports.datasets import cases, tickets
from exports.datasets.cases import core_column_names
from exports.datasets.tags import CONTAINER_EXPECTED, Malformed, raw_value, typed_value
from exports.models import (
    ColumnSpec,
    Dataset,
    ExportType,
    ReportFieldTag,
    TagAuditEntry,
    TagAuditPage,
    TagCreate,
    TagPreviewValue,
    TagUpdate,
)
from exports.ports import KEY, AuditLog, Clock, Predicate, RowQuery, RowSource, SystemClock, TagStore
from shared.auth import ACCESS_REPORTS, MANAGE_SYSTEM_SETTINGS, Principal
from shared.errors import ConcurrencyConflict, Conflict, Forbidden, NotFound, ValidationFailed
from shared.settings import Settings

TagAuditAction = Literal["created", "replaced", "updated", "deleted", "previewed"]


@dataclass
class TagService:
    settings: Settings
    tags: TagStore
    source: RowSource
    audit: AuditLog
    clock: Clock = field(default_factory=SystemClock)

    def catalog(
        self,
        principal: Principal,
        dataset: Dataset,
        export_type: ExportType,
        max_investigations: int,
        include_investigations: bool,
        include_tagged_fields: bool,
        include_overflow: bool,
        columns: Sequence[str] = (),
    ) -> builtins.list[ColumnSpec]:
        """The ordered columns a column picker offers, with the organization's tagged columns.

        With `columns` (a CUSTOM case export's choice), exactly the columns that export would have,
        the overflow column leaving out the same tagged fields.
        """
        if columns and (dataset is Dataset.TICKETS or export_type is not ExportType.CUSTOM):
            raise ValidationFailed(
                "columns applies to the catalog of a CUSTOM cases export",
                errors=[{"field": "columns", "message": "only with dataset=cases and exportType=CUSTOM"}],
            )
        if dataset is Dataset.TICKETS:
            return tickets.catalog()
        tags = (
            self.tags.list(principal.organization_id)
            if include_tagged_fields or export_type is ExportType.CUSTOM
            else []
        )
        available = cases.catalog(
            export_type,
            max_investigations=max_investigations,
            include_investigations=include_investigations,
            include_tagged_fields=include_tagged_fields,
            include_overflow=include_overflow,
            tags=tags,
        )
        return cases.chosen_columns(available, columns) if columns else available

    def list(self, principal: Principal) -> list[ReportFieldTag]:
        self._require_admin(principal)
        return self.tags.list(principal.organization_id)

    def get(self, principal: Principal, slot: int) -> ReportFieldTag:
        self._require_admin(principal)
        return self._existing(principal, slot)

    def create(self, principal: Principal, body: TagCreate, *, client: str | None = None) -> ReportFieldTag:
        self._require_admin(principal)
        self._check_column_name(body.column_name)
        now = self.clock.now()
        tag = ReportFieldTag(
            **body.model_dump(),
            organization_id=principal.organization_id,
            created_at=now,
            updated_at=now,
            created_by_id=principal.user_id,
        )
        stored = self.tags.insert(tag)
        self._record(principal, "created", client, slot=stored.tag_slot, after=stored)
        return stored

    def put(
        self, principal: Principal, slot: int, body: TagCreate, *, client: str | None = None
    ) -> tuple[ReportFieldTag, bool]:
        """Creates or replaces the tag in `slot`. Returns (tag, created)."""
        self._require_admin(principal)
        if body.tag_slot != slot:
            raise ValidationFailed(f"tagSlot {body.tag_slot} in the body does not match slot {slot} in the path.")
        previous = self.tags.get(principal.organization_id, slot)
        if previous is None:
            return self.create(principal, body, client=client), True
        tag = self._replace(principal, previous, body.model_dump())
        self._record(principal, "replaced", client, slot=slot, before=previous, after=tag)
        return tag, False

    def update(
        self, principal: Principal, slot: int, body: TagUpdate, *, client: str | None = None
    ) -> ReportFieldTag:
        self._require_admin(principal)
        previous = self._existing(principal, slot)
        changes = body.model_dump(exclude_unset=True)
        merged = {**previous.model_dump(include=set(TagCreate.model_fields)), **changes}
        tag = self._replace(principal, previous, merged)
        self._record(principal, "updated", client, slot=slot, before=previous, after=tag)
        return tag

    def delete(self, principal: Principal, slot: int, *, client: str | None = None) -> None:
        self._require_admin(principal)
        previous = self._existing(principal, slot)
        try:
            self.tags.delete(previous)
        except ConcurrencyConflict:
            raise Conflict(f"The tag in slot {slot} was changed meanwhile; reload it and try again.") from None
        self._record(principal, "deleted", client, slot=slot, before=previous)

    def audit_trail(
        self, principal: Principal, *, page_size: int, continuation_token: str | None
    ) -> TagAuditPage:
        """Who created, changed, deleted or previewed tags, newest first."""
        self._require_admin(principal)
        items, token = self.audit.list_tag_events(
            principal.organization_id, continuation_token=continuation_token, limit=page_size
        )
        return TagAuditPage(items=items, continuation_token=token)

    def preview(
        self, principal: Principal, case_id: str, *, client: str | None = None
    ) -> builtins.list[TagPreviewValue]:
        """The values one case would export for each of the organization's tags."""
        self._require_admin(principal)
        # A case's custom data is report data: the tag admin alone does not show it.
        if not principal.has(ACCESS_REPORTS):
            raise Forbidden("Previewing a case's tagged values needs the access_reports permission too.")
        org = principal.organization_id
        found = self.source.read(RowQuery("cases", org, (Predicate("CaseId", "eq", case_id),)), None)
        case = next(iter(found), None)
        if case is None:
            raise NotFound(f"No case {case_id} was found.")
        # Recorded before any value is read out: no row, no values.
        self._record(principal, "previewed", client, case_id=case_id)
        records: dict[str, builtins.list[dict[str, Any]]] = {}
        query = RowQuery("case_records", org, (Predicate(KEY, "eq", case[KEY]),))
        for record in self.source.read(query, None):
            records.setdefault(str(record.get("Kind")), []).append(record)
        values = []
        for tag in self.tags.list(org):
            raw = raw_value(tag.column(), case, records)
            broken = raw if type(raw) is Malformed else None
            values.append(
                TagPreviewValue(
                    tag_slot=tag.tag_slot,
                    column_name=tag.column_name,
                    display_label=tag.display_label,
                    data_type=tag.data_type,
                    source_entity_type=tag.source_entity_type,
                    source_field_path=tag.source_field_path,
                    raw_value=None if broken else raw,
                    value=None if broken else typed_value(raw, tag.data_type.value, tag.format_pattern),
                    problem=_unreadable(broken) if broken else None,
                )
            )
        return values

    def _replace(self, principal: Principal, previous: ReportFieldTag, fields: dict[str, Any]) -> ReportFieldTag:
        try:
            body = TagCreate.model_validate(fields)
        except ValidationError as error:
            # A PATCH can make a tag that breaks a rule spanning fields (path vs. entity type): a 422, not a 500.
            first = error.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValidationFailed(f"{where + ': ' if where else ''}{first['msg']}") from None
        self._check_column_name(body.column_name)
        tag = ReportFieldTag(
            **body.model_dump(),
            organization_id=principal.organization_id,
            created_at=previous.created_at,
            updated_at=self.clock.now(),
            created_by_id=previous.created_by_id,
        )
        if tag.tag_slot != previous.tag_slot and self.tags.get(principal.organization_id, tag.tag_slot):
            raise Conflict(f"Tag slot {tag.tag_slot} is already in use; choose a free slot (1-20).")
        try:
            return self.tags.replace(tag, previous)
        except ConcurrencyConflict:
            raise Conflict(
                f"The tag in slot {previous.tag_slot} was changed meanwhile; reload it and try again."
            ) from None

    def _record(
        self,
        principal: Principal,
        action: TagAuditAction,
        client: str | None,
        *,
        slot: int | None = None,
        before: ReportFieldTag | None = None,
        after: ReportFieldTag | None = None,
        case_id: str | None = None,
    ) -> None:
        """One audit row, written only once the change happened: a refused change (409, 422) leaves none."""

        def definition(tag: ReportFieldTag | None) -> TagCreate | None:
            return TagCreate.model_validate(tag.model_dump(include=set(TagCreate.model_fields))) if tag else None

        self.audit.append_tag_event(
            principal.organization_id,
            TagAuditEntry(
                action=action,
                at=self.clock.now(),
                actor_id=principal.user_id,
                actor_name=principal.name,
                client_address=client,
                tag_slot=slot,
                before=definition(before),
                after=definition(after),
                case_id=case_id,
            ),
        )

    def _existing(self, principal: Principal, slot: int) -> ReportFieldTag:
        tag = self.tags.get(principal.organization_id, slot)
        if tag is None:
            raise NotFound(f"No tag in slot {slot}.")
        return tag

    @staticmethod
    def _check_column_name(name: str) -> None:
        if name in core_column_names():
            raise ValidationFailed(f"columnName {name} is the name of a core column; choose another name.")

    @staticmethod
    def _require_admin(principal: Principal) -> None:
        if not principal.has(MANAGE_SYSTEM_SETTINGS):
            raise Forbidden("Managing tagged fields needs the manage_system_settings permission.")


def _unreadable(broken: Malformed) -> str:
    """What the preview says instead of a value: the export leaves the cell empty and counts a warning."""
    return (
        f"{broken.prop} of record {broken.record} is not a {CONTAINER_EXPECTED} ({broken.found}): none of its "
        "fields can be read; an export leaves this column empty and records a warning"
    )
