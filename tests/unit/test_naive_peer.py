"""The benchmark's naive peer writes what the project writes: the same columns, and the same values."""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime
from typing import Any

import pandas as pd

from bench.naive import COLUMNS, flat_file
from exports import datasets
from exports.formats.base import iso_datetime
from exports.models import CreateExportRequest, JobStatus
from shared.auth import Principal
from tests.unit.conftest import ORG_A, make_world
from tools.synthetic_cases import synthetic_case_records


def project_csv(cases: int, analyst: Principal) -> tuple[list[list[str]], datetime, list[dict[str, Any]]]:
    world = make_world()
    entities = world.load_cases(ORG_A, cases)
    body = {"format": "CSV", "csvBom": False, "includeInvestigations": False, "neutralizeFormulas": False}
    # The peer, like a typical implementation, neither neutralizes formulas nor writes a BOM.
    job, _ = world.service.create(analyst, CreateExportRequest.model_validate(body))
    world.drain()
    stored = world.jobs.get(ORG_A, job.job_id)
    assert stored is not None and stored.status is JobStatus.COMPLETED
    text = world.sink.blobs[stored.blob_name].decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline=""))), stored.created_at, entities


def as_csv_text(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, datetime):
        return iso_datetime(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_the_peer_has_the_flat_files_columns_in_order() -> None:
    request = CreateExportRequest.model_validate({"format": "CSV", "includeInvestigations": False})
    assert [name for name, _ in COLUMNS] == [column.name for column in datasets.columns_for(request, [])]


def test_the_peer_computes_the_same_values_as_the_project_from_cases_and_records(analyst: Principal) -> None:
    rows, as_of, entities = project_csv(300, analyst)
    cases = pd.DataFrame(entities)
    cases["key"] = cases["RowKey"]
    records = pd.DataFrame(
        [
            {"key": record["RowKey"].split("|")[0], "Kind": record["Kind"]}
            for case in entities
            for record in synthetic_case_records(case)
            if record["Kind"] in ("INV", "RIU")
        ]
    )
    peer = flat_file(cases, records, as_of)
    assert list(peer.columns) == rows[0]
    peer_rows = [[as_csv_text(value) for value in row] for row in peer.astype(object).itertuples(index=False)]
    assert peer_rows == rows[1:]
    assert peer["investigation_count"].sum() > 0 and peer["riu_count"].sum() > 0
