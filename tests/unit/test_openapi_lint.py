"""What a client generator needs from the OpenAPI document, checked without node: every operation is tagged,
summarized, described and named, and the names stay put. `make lint` runs Spectral itself over the same document."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from exports import openapi
from exports.openapi import openapi_document

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
CAMEL_CASE = re.compile(r"[a-z][a-zA-Z0-9]*")

# A generated client names its methods after these: renaming one breaks every client built from an older document.
OPERATION_IDS = {
    ("post", "/exports"): "createExport",
    ("get", "/exports"): "listExports",
    ("get", "/exports/{jobId}"): "getExport",
    ("delete", "/exports/{jobId}"): "deleteExport",
    ("get", "/exports/{jobId}/audit"): "getExportAudit",
    ("post", "/exports/{jobId}/cancel"): "cancelExport",
    ("get", "/exports/{jobId}/download"): "downloadExport",
    ("get", "/exports/{jobId}/manifest"): "downloadExportManifest",
    ("get", "/export-fields/columns"): "listColumns",
    ("get", "/export-fields/tags"): "listTags",
    ("post", "/export-fields/tags"): "createTag",
    ("get", "/export-fields/tags/preview"): "previewTags",
    ("get", "/export-fields/tags/audit"): "getTagAudit",
    ("get", "/export-fields/tags/{slot}"): "getTag",
    ("put", "/export-fields/tags/{slot}"): "putTag",
    ("patch", "/export-fields/tags/{slot}"): "updateTag",
    ("delete", "/export-fields/tags/{slot}"): "deleteTag",
    ("get", "/page"): "exportsPage",
    ("get", "/page/{asset}"): "exportsPageAsset",
    ("get", "/health"): "health",
    ("get", "/openapi.json"): "openapi",
    # Scheduled exports.
    ("post", "/export-schedules"): "createExportSchedule",
    ("get", "/export-schedules"): "listExportSchedules",
    ("get", "/export-schedules/{scheduleId}"): "getExportSchedule",
    ("delete", "/export-schedules/{scheduleId}"): "deleteExportSchedule",
    ("post", "/export-schedules/{scheduleId}/pause"): "pauseExportSchedule",
    ("post", "/export-schedules/{scheduleId}/resume"): "resumeExportSchedule",
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert method in METHODS, (path, method)
            yield method, path, operation


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_every_operation_has_tags_a_summary_a_description_and_an_operation_id(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        where = (method, path)
        assert operation.get("tags") and all(isinstance(tag, str) and tag for tag in operation["tags"]), where
        for field in ("summary", "description", "operationId"):
            assert isinstance(operation.get(field), str) and operation[field].strip(), (where, field)
        assert CAMEL_CASE.fullmatch(operation["operationId"]), (where, operation["operationId"])


def test_operation_ids_are_unique_and_stable(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids)), sorted(ids)
    assert {(method, path): operation["operationId"] for method, path, operation in operations(document)} == (
        OPERATION_IDS
    )


def test_every_tag_is_declared_with_a_description_and_used(document: dict[str, Any]) -> None:
    declared = [tag["name"] for tag in document["tags"]]
    assert len(declared) == len(set(declared)), declared
    assert all(isinstance(tag.get("description"), str) and tag["description"] for tag in document["tags"])
    used = {tag for _, _, operation in operations(document) for tag in operation["tags"]}
    assert used == set(declared)


def test_info_names_a_contact(document: dict[str, Any]) -> None:
    assert document["info"]["contact"]["name"]


def test_every_component_schema_is_referred_to(document: dict[str, Any]) -> None:
    # Reachable from the paths, directly or through another schema that is.
    schemas = document["components"]["schemas"]
    reached: set[str] = set()
    pending = list(refs(document["paths"]))
    while pending:
        name = pending.pop().removeprefix("#/components/schemas/")
        if name not in reached:
            reached.add(name)
            pending.extend(refs(schemas[name]))
    assert set(schemas) == reached, sorted(set(schemas) - reached)


def test_the_module_prints_the_document_make_lint_checks(capsys: pytest.CaptureFixture[str]) -> None:
    openapi.main()
    assert json.loads(capsys.readouterr().out) == openapi_document()
