"""XLSX and gzip CSV end to end: created over HTTP, written in several batches, downloaded through the SAS link."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
import requests

from tests.conftest import Api
from tools.synthetic_cases import synthetic_cases

pytestmark = pytest.mark.integration

ROWS = 1_500  # two batches with the test host's EXPORTS_ROWS_PER_BATCH=1000


def export_and_download(api: Api, body: dict[str, Any]) -> tuple[dict[str, Any], requests.Response]:
    created = api.post("/exports", json=body)
    assert created.status_code == 202, created.text
    done = api.wait_for(created.json()["jobId"], "completed", "failed")
    assert done["status"] == "completed", done
    redirect = api.get(f"/exports/{done['jobId']}/download")
    assert redirect.status_code == 302
    file = requests.get(redirect.headers["Location"], timeout=30)
    assert file.status_code == 200
    assert len(file.content) == done["fileSizeBytes"]
    return done, file


def test_an_xlsx_export_downloads_as_a_typed_workbook(api: Api, org: str, load_cases: Callable[..., int]) -> None:
    load_cases(org, ROWS)

    done, file = export_and_download(api, {"format": "XLSX", "exportType": "FLAT_FILE"})

    assert done["fileName"].endswith(".xlsx")
    assert file.headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(file.content)).active
    header = [cell.value for cell in sheet[1]]
    assert header[:2] == ["Case ID", "Case Number"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.endswith(str(ROWS + 1))
    column = {label: index for index, label in enumerate(header)}
    expected = list(synthetic_cases(org, ROWS))
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [row[column["Case ID"]] for row in rows] == [entity["CaseId"] for entity in expected]
    first, source = rows[0], expected[0]
    assert first[column["Created At"]] == source["CreatedAt"].replace(tzinfo=None)
    assert first[column["Anonymous"]] is source["IsAnonymous"]


def test_a_gzip_csv_export_downloads_as_a_gzip_of_the_csv(api: Api, org: str, load_cases: Callable[..., int]) -> None:
    load_cases(org, ROWS)

    done, file = export_and_download(api, {"format": "CSV", "compression": "gzip", "csvDelimiter": ";"})

    assert done["fileName"].endswith(".csv.gz")
    assert file.headers["Content-Type"] == "application/gzip"
    text = gzip.decompress(file.content).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:], newline=""), delimiter=";"))
    expected = list(synthetic_cases(org, ROWS))
    assert [row["case_id"] for row in rows] == [entity["CaseId"] for entity in expected]
    assert rows[0]["case_created_at"] == expected[0]["CreatedAt"].strftime("%Y-%m-%dT%H:%M:%SZ")
