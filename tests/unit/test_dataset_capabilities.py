"""What a dataset tells the worker about an export: sorted first, and split into shards by key or not."""

from __future__ import annotations

from exports import datasets
from exports.models import CreateExportRequest, Dataset
from shared.settings import Settings
from tests.unit.test_export_job import a_job

SETTINGS = Settings(storage_connection_string="UseDevelopmentStorage=true")


def plan(dataset: Dataset, **fields: object) -> datasets.ExportPlan:
    job = a_job(dataset)
    job.request = CreateExportRequest.model_validate({"format": "CSV", "dataset": dataset.value, **fields})
    job.export_type = job.request.export_type
    return datasets.plan_for(job)


def test_a_ticket_export_with_a_sort_field_is_sorted_and_not_split_by_key() -> None:
    sorted_tickets = plan(Dataset.TICKETS, sortField="subject")
    assert datasets.sorting_for(sorted_tickets) is not None
    assert not datasets.counts_keys(sorted_tickets)


def test_a_ticket_export_in_key_order_shards_by_key() -> None:
    tickets = plan(Dataset.TICKETS)
    assert datasets.sorting_for(tickets) is None
    assert datasets.counts_keys(tickets)


def test_a_case_export_shards_by_key_unless_it_has_a_row_per_record() -> None:
    assert datasets.sorting_for(plan(Dataset.CASES)) is None
    assert datasets.counts_keys(plan(Dataset.CASES))
    assert not datasets.counts_keys(plan(Dataset.CASES, exportType="INVESTIGATIONS_ONLY"))
