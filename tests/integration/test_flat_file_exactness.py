"""A FLAT_FILE export with 3 investigation slots and 20 tags, checked value by value against the source."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime

import pytest
import requests
from azure.data.tables import TableServiceClient

from tests.conftest import Api
from tests.support.flat_file_oracle import TWENTY_TAGS, expected_rows

pytestmark = pytest.mark.integration


def export_and_check(
    admin_api: Api,
    org: str,
    tables: TableServiceClient,
    load_cases: Callable[..., int],
    rows: int,
    capsys: pytest.CaptureFixture[str] | None = None,
) -> None:
    load_cases(org, rows)
    for tag in TWENTY_TAGS:
        assert admin_api.post("/export-fields/tags", json=tag).status_code == 201
    started = time.monotonic()
    job = admin_api.post("/exports", json={"format": "JSONL", "maxInvestigations": 3}).json()
    done = admin_api.wait_for(job["jobId"], "completed", "failed", timeout=max(120, rows / 100))
    elapsed = time.monotonic() - started
    assert done["status"] == "completed", done
    link = admin_api.get(f"/exports/{job['jobId']}/download").headers["Location"]
    exported = [json.loads(line) for line in requests.get(link, timeout=300).content.splitlines()]

    cases = list(tables.get_table_client("cases").query_entities("PartitionKey eq @o", parameters={"o": org}))
    records = list(tables.get_table_client("caserecords").query_entities("PartitionKey eq @o", parameters={"o": org}))
    as_of = datetime.fromisoformat(done["createdAt"].replace("Z", "+00:00"))
    expected = expected_rows([dict(c) for c in cases], [dict(r) for r in records], TWENTY_TAGS, as_of, 3)
    assert len(exported) == len(expected) == rows
    columns = list(exported[0])
    assert len(columns) == 29 + 30 + 20
    mismatches = [
        (row["case_id"], name, row[name], want[name])
        for row, want in zip(exported, expected, strict=True)
        for name in columns
        if row[name] != want[name] and not (isinstance(want[name], float) and row[name] == pytest.approx(want[name]))
    ]
    assert mismatches[:10] == []
    if capsys is not None:
        with capsys.disabled():
            print(
                f"\nFLAT_FILE {rows} cases, {len(columns)} columns, 20 tags: {elapsed:.1f}s "
                f"({rows / elapsed:.0f} rows/s), {done['fileSizeBytes']} bytes, every value checked"
            )


def test_every_value_of_a_flat_file_with_twenty_tags_matches_the_source(
    admin_api: Api, org: str, tables: TableServiceClient, load_cases: Callable[..., int]
) -> None:
    export_and_check(admin_api, org, tables, load_cases, 1_500)


@pytest.mark.slow
def test_a_hundred_thousand_case_flat_file_matches_the_source(
    admin_api: Api,
    org: str,
    tables: TableServiceClient,
    load_cases: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    export_and_check(admin_api, org, tables, load_cases, 100_000, capsys)
