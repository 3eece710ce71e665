"""The compliance case dataset (seed 000): core, investigation, disclosure, tagged and overflow columns.

Two entity sets, both in key order: `cases`, and `case_records` (the case's investigations (INV), RIUs
(RIU), disclosures (DIS) and interview responses (IRS), each row keyed by its case). One read of each,
merged on the key, gives every case with its records: no query per case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exports.datasets.columns import CellWarnings, DataType, RowChecker, whole_days
from exports.datasets.tags import CONTAINER_EXPECTED, Malformed, json_text, raw_value, read_container, typed_value
from exports.dates import zone_named
from exports.models import ColumnSpec, CreateExportRequest, ExportType, ReportFieldTag
from exports.ports import KEY, Predicate, RowQuery, RowSource
from shared.errors import ExportFailed, ValidationFailed

RECORD_KINDS = ("INV", "RIU", "DIS", "IRS")
OVERFLOW_COLUMN = "custom_fields_overflow"
# Where a cell notes, in its bundle, a custom-field container it could not read: the row builder turns
# each one into a single warning, however many columns read it.
MALFORMED = "malformed"

Bundle = dict[str, Any]
Cell = Callable[[Bundle, dict[str, Any] | None, datetime], Any]


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    data_type: DataType
    cell: Cell
    properties: tuple[str, ...] = ()
    # Set when the column is exactly one case property: the row builder then reads it without a call.
    case_property: str | None = None

    def spec(self, name: str | None = None, label: str | None = None) -> ColumnSpec:
        return ColumnSpec(name=name or self.name, label=label or self.label, data_type=self.data_type.value)


def _case(prop: str) -> Cell:
    return lambda bundle, _item, _as_of: bundle["case"].get(prop)


def _days_open(bundle: Bundle, _item: Any, as_of: datetime) -> int | None:
    case = bundle["case"]
    closed = case.get("ClosedAt")
    return whole_days(case.get("CreatedAt"), closed if isinstance(closed, datetime) else as_of)


def _sla_breached(bundle: Bundle, _item: Any, as_of: datetime) -> bool | None:
    case = bundle["case"]
    due = case.get("SlaDueAt")
    if not isinstance(due, datetime):
        return None
    closed = case.get("ClosedAt")
    return (closed if isinstance(closed, datetime) else as_of) > due


def _count(kind: str) -> Cell:
    return lambda bundle, _item, _as_of: len(bundle["records"].get(kind, ()))


def core(name: str, label: str, data_type: DataType, prop: str) -> Field:
    return Field(name, label, data_type, _case(prop), (prop,), case_property=prop)


CORE_FIELDS: tuple[Field, ...] = (
    core("case_id", "Case ID", DataType.TEXT, "CaseId"),
    core("case_number", "Case Number", DataType.TEXT, "CaseNumber"),
    core("case_status", "Case Status", DataType.TEXT, "Status"),
    core("case_priority", "Case Priority", DataType.TEXT, "Priority"),
    core("case_created_at", "Created At", DataType.DATETIME, "CreatedAt"),
    core("case_closed_at", "Closed At", DataType.DATETIME, "ClosedAt"),
    Field("case_days_open", "Days Open", DataType.INTEGER, _days_open, ("CreatedAt", "ClosedAt")),
    Field("case_sla_breached", "SLA Breached", DataType.BOOLEAN, _sla_breached, ("SlaDueAt", "ClosedAt")),
    core("category_name", "Category", DataType.TEXT, "CategoryName"),
    core("category_code", "Category Code", DataType.TEXT, "CategoryCode"),
    core("subcategory_name", "Subcategory", DataType.TEXT, "SubcategoryName"),
    core("source_channel", "Source Channel", DataType.TEXT, "SourceChannel"),
    core("is_anonymous", "Anonymous", DataType.BOOLEAN, "IsAnonymous"),
    core("reporter_relationship", "Reporter Relationship", DataType.TEXT, "ReporterRelationship"),
    core("assigned_to_name", "Assigned To", DataType.TEXT, "AssignedToName"),
    core("assigned_to_email", "Assigned To Email", DataType.TEXT, "AssignedToEmail"),
    core("business_unit_name", "Business Unit", DataType.TEXT, "BusinessUnitName"),
    core("business_unit_code", "Business Unit Code", DataType.TEXT, "BusinessUnitCode"),
    core("location_name", "Location", DataType.TEXT, "LocationName"),
    core("location_country", "Country", DataType.TEXT, "LocationCountry"),
    core("location_region", "Region", DataType.TEXT, "LocationRegion"),
    core("outcome", "Outcome", DataType.TEXT, "Outcome"),
    core("outcome_reason", "Outcome Reason", DataType.TEXT, "OutcomeReason"),
    core("has_remediation", "Has Remediation", DataType.BOOLEAN, "HasRemediation"),
    core("remediation_status", "Remediation Status", DataType.TEXT, "RemediationStatus"),
    Field("riu_count", "RIU Count", DataType.INTEGER, _count("RIU")),
    Field("investigation_count", "Investigation Count", DataType.INTEGER, _count("INV")),
    core("subject_count", "Subject Count", DataType.INTEGER, "SubjectCount"),
    core("attachment_count", "Attachment Count", DataType.INTEGER, "AttachmentCount"),
)
CORE_BY_NAME = {field.name: field for field in CORE_FIELDS}

# The stored type of every case field an export reads. The row source still types every value as it
# is stored (a CreatedAt stored as text stays text, exported as text with a warning); the schema tells it
# which fields are doubles, whose whole values some sources send without a type.
_STORED = {DataType.DATETIME: "datetime", DataType.INTEGER: "int64", DataType.BOOLEAN: "bool", DataType.TEXT: "string"}
CASE_PROPERTY_TYPES: dict[str, str] = {
    **{f.properties[0]: _STORED[f.data_type] for f in CORE_FIELDS if len(f.properties) == 1 and f.data_type in _STORED},
    "SlaDueAt": "datetime",
    # Read when a source evaluates a filter list itself (too long for one query of its own).
    "CategoryId": "string",
    "BusinessUnitId": "string",
    "LocationId": "string",
    "TemplateId": "string",
    "CustomFieldsJson": "string",
}


# Every property a case record may carry, by its stored type (one name never has two types).
RECORD_PROPERTY_TYPES: dict[str, str] = {
    "Kind": "string",
    "TemplateId": "string",
    "CustomFieldsJson": "string",
    "ResponsesJson": "string",
    "InvestigationId": "string",
    "Type": "string",
    "Status": "string",
    "Outcome": "string",
    "InvestigatorName": "string",
    "StartedAt": "datetime",
    "CompletedAt": "datetime",
    "InterviewCount": "int64",
    "FindingSummary": "string",
    "RiuId": "string",
    "ReceivedAt": "datetime",
    "DisclosureId": "string",
    "SubmittedAt": "datetime",
    "DiscloserName": "string",
    "Amount": "double",
    "ResponseId": "string",
    "RespondentName": "string",
}


def case_schema(select: tuple[str, ...] | None) -> tuple[tuple[str, str], ...] | None:
    """The selected properties' types; None (the row source reads type annotations) if one is unknown."""
    if select is None or any(prop not in CASE_PROPERTY_TYPES for prop in select if prop != KEY):
        return None
    return tuple((prop, CASE_PROPERTY_TYPES[prop]) for prop in select if prop != KEY)


def _investigation_fields() -> tuple[tuple[str, str, DataType, Callable[[dict[str, Any], datetime], Any]], ...]:
    def get(prop: str) -> Callable[[dict[str, Any], datetime], Any]:
        return lambda record, _as_of: record.get(prop)

    return (
        ("id", "ID", DataType.TEXT, get("InvestigationId")),
        ("type", "Type", DataType.TEXT, get("Type")),
        ("status", "Status", DataType.TEXT, get("Status")),
        ("outcome", "Outcome", DataType.TEXT, get("Outcome")),
        ("started_at", "Started At", DataType.DATETIME, get("StartedAt")),
        ("completed_at", "Completed At", DataType.DATETIME, get("CompletedAt")),
        (
            "days_to_complete",
            "Days to Complete",
            DataType.INTEGER,
            lambda record, _as_of: whole_days(record.get("StartedAt"), record.get("CompletedAt")),
        ),
        ("investigator_name", "Investigator", DataType.TEXT, get("InvestigatorName")),
        ("interview_count", "Interview Count", DataType.INTEGER, get("InterviewCount")),
        ("finding_summary", "Finding Summary", DataType.TEXT, get("FindingSummary")),
    )


INVESTIGATION_FIELDS = _investigation_fields()
INVESTIGATION_BY_SUFFIX = {suffix: (label, dtype, fn) for suffix, label, dtype, fn in INVESTIGATION_FIELDS}
SLOT_COLUMN = re.compile(r"^inv_(\d{1,2})_([a-z_]+)$")

# Per-record exports: the case it belongs to, then the record's own columns.
CASE_CONTEXT = ("case_id", "case_number", "case_status", "category_name", "business_unit_name", "location_name")
DISCLOSURE_FIELDS: tuple[tuple[str, str, DataType, str], ...] = (
    ("disclosure_id", "Disclosure ID", DataType.TEXT, "DisclosureId"),
    ("disclosure_type", "Disclosure Type", DataType.TEXT, "Type"),
    ("disclosure_status", "Disclosure Status", DataType.TEXT, "Status"),
    ("disclosure_submitted_at", "Submitted At", DataType.DATETIME, "SubmittedAt"),
    ("discloser_name", "Discloser", DataType.TEXT, "DiscloserName"),
    ("disclosure_amount", "Amount", DataType.CURRENCY, "Amount"),
)
DISCLOSURE_BY_NAME = {name: (label, dtype, prop) for name, label, dtype, prop in DISCLOSURE_FIELDS}


def investigation_columns(max_investigations: int) -> list[ColumnSpec]:
    return [
        ColumnSpec(name=f"inv_{n}_{suffix}", label=f"Investigation {n} {label}", data_type=dtype.value)
        for n in range(1, max_investigations + 1)
        for suffix, label, dtype, _ in INVESTIGATION_FIELDS
    ]


def record_columns(export_type: ExportType) -> list[ColumnSpec]:
    context = [CORE_BY_NAME[name].spec() for name in CASE_CONTEXT]
    if export_type is ExportType.INVESTIGATIONS_ONLY:
        own = [
            ColumnSpec(name=f"investigation_{suffix}", label=f"Investigation {label}", data_type=dtype.value)
            for suffix, label, dtype, _ in INVESTIGATION_FIELDS
        ]
    else:
        own = [ColumnSpec(name=name, label=label, data_type=dtype.value) for name, label, dtype, _ in DISCLOSURE_FIELDS]
    return context + own


def overflow_column(columns: Sequence[ColumnSpec]) -> ColumnSpec:
    """The overflow column of an export with these columns: it leaves out exactly the custom fields
    that the export's CASE tag columns hold, so every custom field is in the file once."""
    return ColumnSpec(
        name=OVERFLOW_COLUMN, label="Other Custom Fields", data_type="TEXT", excluded_fields=excluded_fields(columns)
    )


def excluded_fields(columns: Sequence[ColumnSpec]) -> list[str]:
    """The case custom fields these columns export: "path" or "path@templateId" ("a.b" for a nested key)."""
    return sorted(
        {
            spec.source_field_path.split(".", 1)[1] + (f"@{spec.template_id}" if spec.template_id else "")
            for spec in columns
            if spec.source_entity_type == "CASE" and spec.source_field_path
        }
    )


def catalog(
    export_type: ExportType,
    *,
    max_investigations: int,
    include_investigations: bool,
    include_tagged_fields: bool,
    include_overflow: bool,
    tags: Sequence[ReportFieldTag],
) -> list[ColumnSpec]:
    """The ordered columns of an export type with these options (CUSTOM: every column it may pick)."""
    if export_type in (ExportType.INVESTIGATIONS_ONLY, ExportType.DISCLOSURES_ONLY):
        kind = "INVESTIGATION" if export_type is ExportType.INVESTIGATIONS_ONLY else "DISCLOSURE"
        columns = record_columns(export_type)
        if include_tagged_fields:
            columns += [tag.column() for tag in tags if tag.source_entity_type.value in (kind, "CASE")]
        return columns
    columns = [field.spec() for field in CORE_FIELDS]
    everything = export_type is ExportType.CUSTOM
    if (export_type is ExportType.FLAT_FILE and include_investigations) or everything:
        columns += investigation_columns(max_investigations)
    if include_tagged_fields or everything:
        columns += [tag.column() for tag in sorted(tags, key=lambda t: t.tag_slot)]
    if include_overflow or everything:
        columns.append(overflow_column(columns))
    return columns


def columns_for(request: CreateExportRequest, tags: Sequence[ReportFieldTag]) -> list[ColumnSpec]:
    available = catalog(
        request.export_type,
        max_investigations=request.max_investigations,
        include_investigations=request.include_investigations,
        include_tagged_fields=request.include_tagged_fields,
        include_overflow=request.include_overflow,
        tags=tags,
    )
    if request.export_type is not ExportType.CUSTOM:
        return available
    return chosen_columns(available, request.columns)


def chosen_columns(available: Sequence[ColumnSpec], names: Sequence[str]) -> list[ColumnSpec]:
    """A CUSTOM export's columns, in the order named, out of its catalog."""
    by_name = {spec.name: spec for spec in available}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValidationFailed(
            f"unknown column(s): {', '.join(unknown)}; GET /api/export-fields/columns lists them",
            errors=[{"field": "columns", "message": f"unknown column {name!r}"} for name in unknown],
        )
    if len(set(names)) != len(names):
        raise ValidationFailed("columns lists a column more than once")
    chosen = [by_name[name] for name in names]
    # A tag whose column is not chosen leaves its field in the overflow.
    return [overflow_column(chosen) if spec.name == OVERFLOW_COLUMN else spec for spec in chosen]


def core_column_names() -> set[str]:
    names = {field.name for field in CORE_FIELDS} | {OVERFLOW_COLUMN}
    names |= {spec.name for spec in investigation_columns(10)}
    names |= {spec.name for spec in record_columns(ExportType.INVESTIGATIONS_ONLY)}
    names |= {spec.name for spec in record_columns(ExportType.DISCLOSURES_ONLY)}
    return names


# ---- reading and row building ------------------------------------------------------------------


@dataclass(frozen=True)
class CasePlan:
    """How one job reads and builds its rows, from nothing but the job's snapshot."""

    organization_id: str
    request: CreateExportRequest
    columns: Sequence[ColumnSpec]
    as_of: datetime

    @property
    def per_record_kind(self) -> str | None:
        return {ExportType.INVESTIGATIONS_ONLY: "INV", ExportType.DISCLOSURES_ONLY: "DIS"}.get(self.request.export_type)

    def record_kinds(self) -> tuple[str, ...]:
        kinds = (
            {"INV", "RIU"} if any(spec.name in ("riu_count", "investigation_count") for spec in self.columns) else set()
        )
        if any(SLOT_COLUMN.match(spec.name) for spec in self.columns):
            kinds.add("INV")
        if self.per_record_kind:
            kinds.add(self.per_record_kind)
        for spec in self.columns:
            if spec.source_entity_type and spec.source_entity_type != "CASE":
                kinds.add(
                    {"INVESTIGATION": "INV", "DISCLOSURE": "DIS", "INTERVIEW_RESPONSE": "IRS", "RIU": "RIU"}[
                        spec.source_entity_type
                    ]
                )
        return tuple(kind for kind in RECORD_KINDS if kind in kinds)

    def case_predicates(self) -> tuple[Predicate, ...]:
        """The request's filters on cases: the date range, then each list."""
        request = self.request
        predicates: list[Predicate] = []
        if request.date_range:
            # Instants, with a bare date as the export zone's day: every source compares them the same way.
            zone = zone_named(request.time_zone)
            predicates += [Predicate("CreatedAt", op, bound) for op, bound in request.date_range.comparisons(zone)]
        if request.statuses:
            predicates.append(Predicate("Status", "in", tuple(request.statuses)))
        if request.categories:
            predicates.append(Predicate("CategoryId", "in", tuple(str(c) for c in request.categories)))
        if request.business_units:
            predicates.append(Predicate("BusinessUnitId", "in", tuple(str(b) for b in request.business_units)))
        if request.locations:
            predicates.append(Predicate("LocationId", "in", tuple(str(loc) for loc in request.locations)))
        return tuple(predicates)

    def case_query(self, select: tuple[str, ...] | None) -> RowQuery:
        return RowQuery("cases", self.organization_id, self.case_predicates(), select, case_schema(select))

    def case_select(self) -> tuple[str, ...]:
        props: dict[str, None] = {KEY: None}
        for spec in self.columns:
            field = CORE_BY_NAME.get(spec.name)
            if field is not None:
                props.update(dict.fromkeys(field.properties))
            elif spec.source_entity_type == "CASE" or spec.name == OVERFLOW_COLUMN:
                props.update({"TemplateId": None, "CustomFieldsJson": None})
        return tuple(props)

    def _counts_only(self) -> bool:
        """Records are needed only to be counted: no slot, per-record or record-tag column reads them."""
        return not self.per_record_kind and not any(
            SLOT_COLUMN.match(spec.name) or (spec.source_entity_type or "CASE") != "CASE" for spec in self.columns
        )

    def units(self, source: RowSource, after: str | None, *, counting: bool = False) -> Iterator[Bundle]:
        """Every matching case with its records, in key order, after the cursor `after`."""
        kinds = self.record_kinds()
        if counting and not self.per_record_kind:
            kinds = ()
        cases = source.read(self.case_query((KEY,) if counting else self.case_select()), after)
        records: Iterator[dict[str, Any]] = iter(())
        if kinds:
            select = (KEY, "Kind") if counting or self._counts_only() else (KEY, *RECORD_PROPERTY_TYPES)
            schema = tuple((prop, RECORD_PROPERTY_TYPES[prop]) for prop in select if prop != KEY)
            query = RowQuery("case_records", self.organization_id, (Predicate("Kind", "in", kinds),), select, schema)
            records = source.read(query, after)
        pending = next(records, None)
        for case in cases:
            key = case[KEY]
            grouped: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
            while pending is not None and pending[KEY] < key:
                pending = next(records, None)  # a record of a case the filters left out
            while pending is not None and pending[KEY] == key:
                grouped.setdefault(str(pending.get("Kind")), []).append(pending)
                pending = next(records, None)
            yield {KEY: key, "case": case, "records": grouped}

    def rows_in(self, bundle: Bundle) -> int:
        kind = self.per_record_kind
        return len(bundle["records"].get(kind, ())) if kind else 1

    def count(self, source: RowSource, after: str | None, limit: int) -> tuple[int, str | None]:
        if not self.per_record_kind:
            return source.count(self.case_query(None), after, limit)
        rows = 0
        last: str | None = None
        for units, bundle in enumerate(self.units(source, after, counting=True), start=1):
            rows += self.rows_in(bundle)
            last = bundle[KEY]
            if units >= limit:
                return rows, last
        return rows, None

    def row_builder(self, warnings: CellWarnings | None = None) -> Callable[[Bundle], list[list[Any]]]:
        """Builds a unit's rows; a core value of the wrong type becomes its text, noted in `warnings`."""
        # A plain case property is read with dict.get; other columns call their cell function.
        getters = [(self._case_property(spec), self._cell(spec)) for spec in self.columns]
        # Tag values that do not fit their type are kept as text on purpose: only other columns are checked.
        check = RowChecker(
            [
                (index, DataType(spec.data_type), spec.name)
                for index, spec in enumerate(self.columns)
                if spec.source_entity_type is None
            ],
            warnings=warnings,
        )
        per_record = self.per_record_kind
        as_of = self.as_of

        notes = check.warnings

        def build(bundle: Bundle) -> list[list[Any]]:
            items: Sequence[dict[str, Any] | None] = bundle["records"].get(per_record, []) if per_record else [None]
            get = bundle["case"].get
            rows = []
            for item in items:
                row = [get(prop) if prop is not None else cell(bundle, item, as_of) for prop, cell in getters]
                check(row, bundle[KEY])
                rows.append(row)
            if MALFORMED in bundle:  # only a unit with a broken container pays for this
                for broken in bundle.pop(MALFORMED).values():
                    notes.note(broken.record, broken.prop, broken.found, CONTAINER_EXPECTED)
            return rows

        return build

    @staticmethod
    def _case_property(spec: ColumnSpec) -> str | None:
        field = CORE_BY_NAME.get(spec.name) if spec.source_entity_type is None else None
        return field.case_property if field is not None else None

    def _cell(self, spec: ColumnSpec) -> Cell:
        if spec.source_entity_type is not None:
            return _tag_cell(spec)
        if spec.name == OVERFLOW_COLUMN:
            # Jobs recorded before the overflow followed the chosen columns list every CASE tag: leave
            # out only the fields whose tag column this export holds, so none is lost.
            exported = set(excluded_fields(self.columns))
            return _overflow_cell([entry for entry in spec.excluded_fields or [] if entry in exported])
        field = CORE_BY_NAME.get(spec.name)
        if field is not None:
            return field.cell
        slot = SLOT_COLUMN.match(spec.name)
        if slot is not None:
            return _slot_cell(int(slot.group(1)), INVESTIGATION_BY_SUFFIX[slot.group(2)][2])
        if spec.name in DISCLOSURE_BY_NAME:
            prop = DISCLOSURE_BY_NAME[spec.name][2]
            return lambda _bundle, item, _as_of: item.get(prop) if item else None
        suffix = spec.name.removeprefix("investigation_")
        if suffix in INVESTIGATION_BY_SUFFIX:
            fn = INVESTIGATION_BY_SUFFIX[suffix][2]
            return lambda _bundle, item, as_of: fn(item, as_of) if item else None
        raise ExportFailed(f"The export names a column this version cannot produce: {spec.name}.")


def _slot_cell(n: int, fn: Callable[[dict[str, Any], datetime], Any]) -> Cell:
    def cell(bundle: Bundle, _item: Any, as_of: datetime) -> Any:
        investigations = bundle["records"].get("INV", ())
        return fn(investigations[n - 1], as_of) if len(investigations) >= n else None

    return cell


def _tag_cell(spec: ColumnSpec) -> Cell:
    record_kind = {"INVESTIGATION": "INV", "DISCLOSURE": "DIS"}.get(spec.source_entity_type or "")

    def cell(bundle: Bundle, item: dict[str, Any] | None, _as_of: datetime) -> Any:
        records = bundle["records"]
        if item is not None and record_kind is not None and item.get("Kind") == record_kind:
            records = {**records, record_kind: [item]}  # a per-record export tags its own record
        raw = raw_value(spec, bundle["case"], records)
        if type(raw) is Malformed:
            _note_malformed(bundle, raw)
            return None
        return typed_value(raw, spec.data_type, spec.format_pattern)

    return cell


def _note_malformed(bundle: Bundle, broken: Malformed) -> None:
    """Notes a container no field could be read from, once per unit however many columns read it."""
    bundle.setdefault(MALFORMED, {})[(broken.record, broken.prop)] = broken


def _overflow_cell(excluded: list[str]) -> Cell:
    # (key path, template or None): "a.b@t" leaves out b inside a, for cases of template t only.
    paths = [(tuple(path.split(".")), template or None) for path, _, template in (e.partition("@") for e in excluded)]

    def cell(bundle: Bundle, _item: Any, _as_of: datetime) -> str | None:
        case = bundle["case"]
        template = case.get("TemplateId")
        fields = read_container(case, "CustomFieldsJson")
        if isinstance(fields, Malformed):
            # Its fields cannot be told apart: the whole stored text, exactly, so nothing is lost.
            _note_malformed(bundle, fields)
            return fields.text
        tagged = [path for path, only in paths if only is None or only == template]
        left = _without(fields, tagged) if tagged else fields
        return json_text(left, sort_keys=True) if left else None

    return cell


def _without(fields: dict[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    """`fields` without the values at `paths`; an object left empty by that is left out too."""
    here = {path[0] for path in paths if len(path) == 1}
    deeper: dict[str, list[tuple[str, ...]]] = {}
    for path in paths:
        if len(path) > 1:
            deeper.setdefault(path[0], []).append(path[1:])
    left: dict[str, Any] = {}
    for key, value in fields.items():
        if key in here:
            continue
        if key in deeper and isinstance(value, dict):
            rest = _without(value, deeper[key])
            if value and not rest:
                continue
            value = rest
        left[key] = value
    return left
