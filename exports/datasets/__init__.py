"""The datasets an export can read: compliance cases (seed 000) and ticket views (seed 001)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from exports.datasets import cases, tickets
from exports.datasets.columns import CellWarnings
from exports.models import ColumnSpec, CreateExportRequest, Dataset, ExportJob, ReportFieldTag
from exports.ports import RowSource


class ExportPlan(Protocol):
    """How one job reads its source and builds its rows, from nothing but the job's snapshot."""

    def units(self, source: RowSource, after: str | None) -> Iterator[dict[str, Any]]:
        """Source units (a case with its records, a ticket) in key order, each with its `key`."""

    def row_builder(self, warnings: CellWarnings | None = None) -> Callable[[dict[str, Any]], list[list[Any]]]:
        """Builds a unit's rows; values of the wrong type become their text and are counted in `warnings`."""

    def count(self, source: RowSource, after: str | None, limit: int) -> tuple[int, str | None]:
        """Output rows of up to `limit` units after `after`; the last unit's key, or None when done."""


class SortedPlan(ExportPlan, Protocol):
    """A plan whose units must be sorted before they are written: sorted runs, then a merge."""

    def sort_lines(self) -> Callable[[dict[str, Any]], bytes]:
        """Turns a unit into its line of a sorted run (exports/sorting.py): lines compare as the units' places
        in the file, and hold only what the unit's rows need."""

    def split_line(self, line: bytes) -> tuple[bytes, bytes]:
        """A run line's key (lines compare by it) and its payload, which `decode_unit` reads back."""

    def decode_unit(self, payload: bytes) -> dict[str, Any]: ...


def sorting_for(plan: ExportPlan) -> SortedPlan | None:
    """The plan, if its units are written in an order other than their keys' (a sorted ticket export)."""
    if isinstance(plan, tickets.TicketPlan) and plan.request.sort_field:
        return plan
    return None


def counts_keys(plan: ExportPlan) -> bool:
    """Whether the plan's count of rows is a count of source keys, so key ranges can split it into shards.

    A sorted export is written in another order than its keys; a case export with one row per record
    (investigations or disclosures only) counts records, not cases.
    """
    if isinstance(plan, tickets.TicketPlan):
        return not plan.request.sort_field
    return isinstance(plan, cases.CasePlan) and plan.per_record_kind is None


def columns_for(request: CreateExportRequest, tags: Sequence[ReportFieldTag]) -> list[ColumnSpec]:
    if request.dataset is Dataset.TICKETS:
        return tickets.columns_for(request)
    return cases.columns_for(request, tags)


def plan_for(job: ExportJob) -> ExportPlan:
    if job.dataset is Dataset.CASES:
        return cases.CasePlan(
            organization_id=job.organization_id,
            request=job.request,
            columns=job.columns,
            as_of=job.created_at,
        )
    return tickets.TicketPlan(organization_id=job.organization_id, request=job.request, columns=job.columns)
