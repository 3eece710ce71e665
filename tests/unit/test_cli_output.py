"""What `python -m exports watch` prints and exits with once an export has ended, for each way it can end."""

from __future__ import annotations

import io
from typing import Any

from exports.cli import EXIT_JOB_FAILED, Client, watch


class OneAnswer(Client):
    """The API's answer for one job, already final."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = {"jobId": "job-1", "fileName": "cases.csv", "processedRows": 30, "fileSizeBytes": 900,
                    "progress": 100, "totalRows": 30, "stage": None, **job}

    def json(self, method: str, path: str, **_: Any) -> Any:
        assert (method, path) == ("GET", "exports/job-1")
        return self.job


def watched(job: dict[str, Any]) -> tuple[int, list[str]]:
    err = io.StringIO()
    code = watch(OneAnswer(job), "job-1", err, interval=0, timeout=1)
    return code, err.getvalue().splitlines()


def test_a_completed_export_exits_0() -> None:
    code, lines = watched({"status": "completed", "warnings": 0, "warningSamples": []})
    assert code == 0 and lines[-1] == "export job-1 completed: cases.csv, 30 rows, 900 bytes"


def test_a_completed_export_with_values_exported_as_text_says_how_many_and_where_the_first_is() -> None:
    sample = {"record": "0000000017", "column": "case_created_at", "found": "text", "expected": "datetime"}
    code, lines = watched({"status": "completed", "warnings": 3, "warningSamples": [sample]})
    assert code == 0
    assert lines[-2:] == [
        "export job-1 completed: cases.csv, 30 rows, 900 bytes",
        "warning: 3 values of the wrong type exported as text "
        "(first: record 0000000017, column case_created_at: text, expected datetime)",
    ]


def test_a_failed_export_exits_1_with_the_reason() -> None:
    reason = "The export stopped making progress and was retried 3 times; please request it again."
    code, lines = watched({"status": "failed", "errorMessage": reason})
    assert code == EXIT_JOB_FAILED == 1
    assert lines[-1] == f"export job-1 failed: {reason}"
