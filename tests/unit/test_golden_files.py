"""Golden files: the exact bytes of each export type for a small fixed dataset with tags and overflow.

After an intended change of output, run `pytest tests/unit/test_golden_files.py --update-goldens` and
review the diff of tests/golden/ like any other change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exports.models import CreateExportRequest, TagCreate
from exports.tag_service import TagService
from shared.auth import Principal
from tests.support.fixed_data import GOLDEN_EXPORTS, fixed_cases, fixed_records, fixed_tags
from tests.unit.conftest import ORG_A, make_world

GOLDEN = Path(__file__).resolve().parents[1] / "golden"

CASES = GOLDEN_EXPORTS


def exported_file(admin: Principal, fields: dict[str, Any], fmt: str) -> bytes:
    world = make_world()
    world.source.add("cases", fixed_cases(ORG_A))
    world.source.add("caserecords", fixed_records(ORG_A))
    tags = TagService(
        settings=world.service.settings, tags=world.tags, source=world.source, audit=world.audit, clock=world.clock
    )
    for tag in fixed_tags():
        tags.create(admin, TagCreate.model_validate(tag))
    job, _ = world.service.create(admin, CreateExportRequest.model_validate({"format": fmt, **fields}))
    world.drain()
    return world.sink.blobs[job.blob_name]


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("fmt", ["CSV", "JSONL"])
def test_each_export_type_produces_exactly_the_golden_file(
    name: str, fmt: str, admin: Principal, request: pytest.FixtureRequest
) -> None:
    data = exported_file(admin, CASES[name], fmt)
    path = GOLDEN / f"{name}.{fmt.lower()}"
    if request.config.getoption("--update-goldens"):
        path.write_bytes(data)
    assert path.exists(), f"no golden file {path.name}: run with --update-goldens and review it"
    assert data == path.read_bytes()
