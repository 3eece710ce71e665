"""LibreOffice (headless) opens an XLSX with every data type and converts it to CSV without error.

Run by `make test-compat`, which installs LibreOffice when it is missing; `make test` leaves it out.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from exports.formats.xlsx_writer import MAX_CELL_CHARS, TRUNCATED
from exports.models import ExportFormat
from tests.support.format_cases import COLUMNS, NAMES, ROWS, utc, write_file

pytestmark = pytest.mark.compat

FIRST_EXCEL_SERIAL = datetime(1900, 3, 1)
# CSV filter options: comma, double quote, UTF-8, from line 1, default cell format, en-US, and
# (last) "save cell contents as shown", so the number formats show in the output.
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1,,1033,false,true,true"


def convert_to_csv(xlsx: bytes, directory: Path) -> list[list[str]]:
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.fail("LibreOffice is not installed: run `make test-compat`, which installs it")
    source = directory / "every-type.xlsx"
    source.write_bytes(xlsx)
    done = subprocess.run(
        [
            soffice,
            "--headless",
            "--norestore",
            f"-env:UserInstallation=file://{directory / 'profile'}",
            "--convert-to",
            CSV_FILTER,
            "--outdir",
            str(directory / "out"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Error" not in done.stderr, done.stderr
    output = directory / "out" / "every-type.csv"
    assert output.exists(), done.stdout + done.stderr
    return list(csv.reader(io.StringIO(output.read_text("utf-8"), newline="")))


def shown(name: str, value: Any) -> str:
    """What LibreOffice shows for a source value in the export's number formats."""
    if value is None:
        return ""
    if name == "text":
        text = str(value).replace("\r\n", "\n")
        return text[: MAX_CELL_CHARS - len(TRUNCATED)] + TRUNCATED if len(text) > MAX_CELL_CHARS else text
    if name == "at":
        moment = utc(value)
        return (
            value.isoformat().replace("+00:00", "Z") if moment < FIRST_EXCEL_SERIAL else f"{moment:%Y-%m-%d %H:%M:%S}"
        )
    if name == "day":
        return str(value.isoformat())
    if name == "ok":
        return "TRUE" if value else "FALSE"
    if name == "amount":
        number = float(value)
        return f"{'-' if number < 0 else ''}${abs(number):,.2f}"
    if name == "share":
        return f"{value * 100:.1f}%"
    return str(value)


def test_libreoffice_converts_a_workbook_of_every_type_and_shows_the_values(tmp_path: Path) -> None:
    header, *rows = convert_to_csv(write_file(ExportFormat.XLSX, cuts=[1, 3]), tmp_path)
    assert header == [col.label for col in COLUMNS]
    expected = [[shown(name, value) for name, value in zip(NAMES, row, strict=True)] for row in ROWS]
    # LibreOffice leaves out a trailing row without values.
    expected = expected[: len(rows)] if not any(expected[-1]) else expected
    assert len(rows) == len(expected)
    for read, wanted in zip(rows, expected, strict=True):
        read_row = dict(zip(NAMES, read, strict=True))
        wanted_row = dict(zip(NAMES, wanted, strict=True))
        # General-format numbers: compare as numbers (LibreOffice writes 1e20 as 1E+020).
        for name in ("count", "score"):
            got, want = read_row.pop(name), wanted_row.pop(name)
            assert (float(got) if got else None) == (float(want) if want else None)
        assert read_row == wanted_row
