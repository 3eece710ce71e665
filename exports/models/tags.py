"""Report field tags: the tag records, their create and update bodies, previews and audit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    Field,
    StringConstraints,
    model_validator,
)

from exports.models.base import CamelModel
from exports.models.request import ColumnSpec, ExportDataType, ExportSourceType

TagSlot = Annotated[int, Field(ge=1, le=20)]
TagColumnName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=50)]
SourceFieldPath = Annotated[
    str, StringConstraints(pattern=r"^(customFields|responses)(\.[A-Za-z0-9_]{1,50}){1,5}$", max_length=100)
]


class TagCreate(CamelModel):
    """Seed 000's CreateTagDto: an admin promotes one custom field to a named column."""

    source_entity_type: ExportSourceType
    source_field_path: SourceFieldPath
    template_id: UUID | None = None
    tag_slot: TagSlot
    column_name: TagColumnName
    display_label: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    data_type: ExportDataType
    format_pattern: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None

    @model_validator(mode="after")
    def _path_fits_entity(self) -> TagCreate:
        is_response = self.source_field_path.startswith("responses.")
        if is_response != (self.source_entity_type is ExportSourceType.INTERVIEW_RESPONSE):
            raise ValueError(
                "sourceFieldPath must start with 'responses.' for INTERVIEW_RESPONSE and "
                "with 'customFields.' for every other sourceEntityType"
            )
        return self


class TagUpdate(CamelModel):
    """Seed 000's UpdateTagDto: any subset of the create fields."""

    source_entity_type: ExportSourceType | None = None
    source_field_path: SourceFieldPath | None = None
    template_id: UUID | None = None
    tag_slot: TagSlot | None = None
    column_name: TagColumnName | None = None
    display_label: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)] | None = None
    data_type: ExportDataType | None = None
    format_pattern: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None


class ReportFieldTag(TagCreate):
    """Seed 000's ReportFieldTag as stored: the create fields plus audit fields."""

    organization_id: str = Field(exclude=True)
    created_at: datetime
    updated_at: datetime
    created_by_id: str
    etag: str | None = Field(default=None, exclude=True)

    def column(self) -> ColumnSpec:
        return ColumnSpec(
            name=self.column_name,
            label=self.display_label,
            data_type=self.data_type.value,
            format_pattern=self.format_pattern,
            source_entity_type=self.source_entity_type.value,
            source_field_path=self.source_field_path,
            template_id=str(self.template_id) if self.template_id else None,
        )


class TagList(CamelModel):
    items: list[ReportFieldTag]


class TagPreviewValue(CamelModel):
    tag_slot: int
    column_name: str
    display_label: str
    data_type: ExportDataType
    source_entity_type: ExportSourceType
    source_field_path: str
    raw_value: Any
    value: Any
    # Why there is no value when the field cannot be read (its custom-field container is not a JSON object).
    problem: str | None = None


class TagAuditEntry(CamelModel):
    """One append-only row of the tag admin: who changed or previewed which tag, when, before and after.

    Never a cell value: a change holds the tag definitions, a preview only the case id.
    """

    action: Literal["created", "replaced", "updated", "deleted", "previewed"]
    at: datetime
    actor_id: str
    actor_name: str = ""
    # The caller's address as the front end saw it (the last X-Forwarded-For entry), if known.
    client_address: str | None = None
    # The slot the request named (a PATCH may move the tag: `after` has its new slot); None for a preview.
    tag_slot: int | None = None
    before: TagCreate | None = None
    after: TagCreate | None = None
    case_id: str | None = None


class TagAuditPage(CamelModel):
    items: list[TagAuditEntry]
    continuation_token: str | None
