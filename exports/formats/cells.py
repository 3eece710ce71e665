"""Cell-level rules every format shares: formula neutralisation, number patterns, times in the export's zone."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

# OWASP "CSV injection": a spreadsheet treats a cell starting with one of these as a formula (tab and
# carriage return because some importers strip them and then see the next character; NUL, as OWASP ASVS
# 5.0 (V1.2.10) lists it, because a reader may drop it the same way).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\x00")
# Leading characters an importer may trim before it decides (LibreOffice's "trim spaces", a NUL dropped as
# XLSX drops it): a trigger after a run of them is still a trigger.
FORMULA_PADDING = " \x00"


def is_formula_like(text: str) -> bool:
    """True when a spreadsheet could take the text for a formula: a trigger first, or after spaces or NULs."""
    return text.startswith(FORMULA_TRIGGERS) or (
        text[:1] == " " and text.lstrip(FORMULA_PADDING).startswith(FORMULA_TRIGGERS)
    )


def neutralize(text: str) -> str:
    """Prefix a single quote to text a spreadsheet would run as a formula."""
    return "'" + text if is_formula_like(text) else text


def wall_time(value: datetime, zone: tzinfo = UTC) -> datetime:
    """The instant as `zone`'s wall-clock time, without a zone (naive values are taken to be UTC already).

    Spreadsheet serials have no zone: this is the time a reader in `zone` expects to see.
    """
    if value.tzinfo is None:
        if zone is UTC:
            return value
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone).replace(tzinfo=None)


def is_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Decimal):
        return value.is_finite()
    return True


def pattern_decimals(pattern: str | None) -> int | None:
    """Decimal places a numeric pattern shows (`$#,##0.00` -> 2, `0%` -> 0); None when there is no pattern."""
    if not pattern:
        return None
    section = _strip_literals(pattern.split(";", 1)[0])
    if "." not in section:
        return 0
    fraction = section.split(".", 1)[1]
    count = 0
    for char in fraction:
        if char not in "0#?":
            break
        count += 1
    return count


def fixed_point(value: int | float | Decimal, decimals: int) -> str:
    """`value` rounded half away from zero to `decimals` places, with '.' and no grouping: `1234.50`."""
    exact = Decimal(value) if isinstance(value, int | Decimal) else Decimal(repr(value))
    try:
        rounded = exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than the context holds: keep the value as it is
        rounded = exact
    text = format(rounded, "f")
    return "0" + text[2:] if text.startswith("-0") and not rounded else text


def plain_number(value: int | float | Decimal) -> str:
    """The shortest text that reads back as the same number; a Decimal with all its digits, never `1E+3`."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


# Excel keeps 15 significant digits of a number; a value with more is written as text holding them all.
EXCEL_DIGITS = 15


def excel_loses_digits(value: int | Decimal) -> bool:
    """True when Excel, which keeps 15 significant digits, would change this number."""
    if isinstance(value, int):
        if -(10**EXCEL_DIGITS) < value < 10**EXCEL_DIGITS:
            return False
        return len(str(abs(value)).rstrip("0")) > EXCEL_DIGITS
    digits = value.as_tuple().digits
    return len("".join(map(str, digits)).strip("0")) > EXCEL_DIGITS


def _strip_literals(pattern: str) -> str:
    """A number pattern without its quoted text, escaped characters and [bracketed] parts."""
    return re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", pattern)


# ---- Excel number formats ------------------------------------------------------------------------

_NUMBER_CHARS = set("0#?.,%+-$/():!^&'~{}<>= ")
_DATE_LETTERS = {"y": "y", "m": "m", "d": "d", "h": "h", "s": "s"}


def excel_number_format(pattern: str) -> str:
    """A numeric pattern as an Excel format code: literal text other than Excel's own is quoted."""

    def keep(char: str, following: str) -> str | None:
        if char in _NUMBER_CHARS or char.isdigit() or (char in "Ee" and following in "+-"):
            return char
        return None

    return _excel_format(pattern, keep)


def excel_date_format(pattern: str) -> str:
    """A date pattern (`YYYY-MM-DD HH:mm`) as an Excel format code (`yyyy-mm-dd hh:mm`)."""

    def keep(char: str, _following: str) -> str | None:
        if char.lower() in _DATE_LETTERS:
            return char.lower()
        return char if char in "-/:., 0" else None

    code = pattern.replace("AM/PM", "\x00").replace("am/pm", "\x00")
    return _excel_format(code, keep).replace("\x00", "AM/PM")


def _excel_format(pattern: str, keep: Callable[[str, str], str | None]) -> str:
    out: list[str] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            out.append('"' + "".join(literal).replace('"', "") + '"')
            literal.clear()

    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char in '"[':
            closing = pattern.find('"' if char == '"' else "]", index + 1)
            end = len(pattern) if closing < 0 else closing + 1
            flush()
            out.append(pattern[index:end] if closing >= 0 else pattern[index:] + ('"' if char == '"' else "]"))
            index = end
            continue
        if char == "\\" and index + 1 < len(pattern):
            flush()
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if char in ";@" or char == "\x00":
            flush()
            out.append(char)
        else:
            kept = keep(char, pattern[index + 1 : index + 2])
            if kept is None:
                literal.append(char)
            else:
                flush()
                out.append(kept)
        index += 1
    flush()
    return "".join(out)
