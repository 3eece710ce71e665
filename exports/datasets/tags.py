"""Tagged fields: resolving a tag's value from a case bundle, typed by the tag's data type.

Custom fields are typed by people, so a value is converted only when the conversion is unambiguous
and exact; anything else is exported as the original text, never dropped and never scaled. The rules
are stated in the README ("How values are read") and tested with the awkward cases.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from exports import dates
from exports.datasets.columns import as_text, type_name
from exports.models import ColumnSpec
from exports.ports import KEY, RECORD

CONTAINER_PROPERTY = {"customFields": "CustomFieldsJson", "responses": "ResponsesJson"}
RECORD_KIND = {"INVESTIGATION": "INV", "DISCLOSURE": "DIS", "INTERVIEW_RESPONSE": "IRS", "RIU": "RIU"}
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}

# A number as people type it: ASCII digits, an optional sign, `.` as the decimal point, and commas only
# as thousands separators in groups of three (`1,234.50`). `1,5` or `1.234,50` (a decimal comma) could
# mean two numbers a thousand times apart, and `1e3` is more often a code than a number: both stay text.
_NUMBER = re.compile(r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# A decimal of up to 15 significant digits reads back unchanged from a double; Excel keeps no more.
_FLOAT_DIGITS = 15
# orjson reads a JSON integer beyond 64 bits as a float; a run of 19 digits may be one.
_LONG_INTEGER = re.compile(r"[0-9]{19}")

# Currency marks accepted around a CURRENCY amount: a symbol (`$`, `US$`, `€`, ...) or an ISO 4217 code.
_SYMBOLS = "$€£¥₹₩₽₺₪₫₱₦₴₸₼₾¢฿"
_ISO_4217 = frozenset(
    re.findall(
        "[A-Z]{3}",
        """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
    GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK
    LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR
    PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC
    SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER
    ZAR ZMW ZWG ZWL""",
    )
)
# Symbols that name one currency only, so `€12` fits a column whose pattern shows `EUR` (`$` does not:
# it is the dollar of a dozen countries).
_SYMBOL_CODES = {
    "US$": "USD", "€": "EUR", "£": "GBP", "₹": "INR", "₩": "KRW", "₽": "RUB", "₺": "TRY", "₪": "ILS",
    "₫": "VND", "₱": "PHP", "₦": "NGN", "₴": "UAH", "₸": "KZT", "₼": "AZN", "₾": "GEL", "฿": "THB",
}  # fmt: skip
_DOLLARS = r"(?:US|A|C|NZ|HK|S|R|MX|NT)\$"  # US$, A$, ..., R$ (the real): `$` with a country prefix
_MARK = rf"{_DOLLARS}|[{_SYMBOLS}]|[A-Z]{{3}}"
_AMOUNT = re.compile(
    rf"(?P<sign>[+-]?)(?:(?P<before>{_MARK})\s*)?(?P<number>[^\s{_SYMBOLS}A-Z]+)\s*(?P<after>{_MARK})?"
)
# The currency an Excel number format shows: `[$€-407]`, `[$USD]`, a quoted `"EUR"`, a bare `$`.
_PATTERN_BRACKET = re.compile(r"\[\$([^\]-]*)(?:-[^\]]*)?\]|\[[^\]]*\]")


# What a custom-field container (`CustomFieldsJson`, `ResponsesJson`) must hold.
CONTAINER_EXPECTED = "JSON object"


@dataclass(frozen=True, slots=True)
class Malformed:
    """A custom-field container that is not a JSON object: none of its fields can be read.

    The overflow column exports `text` (the stored value, exactly) and the job counts a warning, so a
    broken container is never lost silently.
    """

    record: str  # the key of the case or record that holds it
    prop: str  # CustomFieldsJson or ResponsesJson
    found: str  # "malformed JSON", "not an object", or the stored type when it is not text
    text: str


def read_container(entity: dict[str, Any], name: str) -> dict[str, Any] | Malformed:
    """The custom fields in an entity's JSON property; no property, `""` or JSON `null` is no fields."""
    raw = entity.get(name)
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        return Malformed(str(entity.get(RECORD) or entity.get(KEY)), name, type_name(raw), as_text(raw))
    try:
        # orjson would read an integer beyond 64 bits as a float: such text is read with every digit.
        value = json.loads(raw, parse_constant=_no_constant) if _LONG_INTEGER.search(raw) else orjson.loads(raw)
    except (ValueError, RecursionError):  # orjson.JSONDecodeError is a ValueError
        return Malformed(str(entity.get(RECORD) or entity.get(KEY)), name, "malformed JSON", raw)
    if isinstance(value, dict):
        return value
    if value is None:
        return {}
    return Malformed(str(entity.get(RECORD) or entity.get(KEY)), name, "not an object", raw)


def json_property(entity: dict[str, Any], name: str) -> dict[str, Any]:
    """The custom fields in an entity's JSON property; none when it is not a JSON object."""
    found = read_container(entity, name)
    return found if isinstance(found, dict) else {}


def json_text(value: Any, *, sort_keys: bool = False) -> str:
    """The value as compact JSON text, integers beyond 64 bits with every digit."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None).decode()
    except orjson.JSONEncodeError:  # an integer orjson cannot hold; the standard library can
        return json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def raw_value(spec: ColumnSpec, case: dict[str, Any], records: dict[str, list[dict[str, Any]]]) -> Any:
    """The untyped value a tag points at: on the case, or on the case's first matching record.

    `Malformed` when that entity's container is not a JSON object: the value cannot be read.
    """
    assert spec.source_entity_type is not None and spec.source_field_path is not None
    kind = RECORD_KIND.get(spec.source_entity_type)
    candidates = records.get(kind, []) if kind else [case]
    container, *path = spec.source_field_path.split(".")
    for entity in candidates:
        if spec.template_id is not None and entity.get("TemplateId") != spec.template_id:
            continue
        value: Any = read_container(entity, CONTAINER_PROPERTY[container])
        if type(value) is Malformed:
            return value
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value
    return None


def typed_value(value: Any, data_type: str, pattern: str | None = None) -> Any:
    """The value as the tag's data type; a value that does not fit is kept as text, never lost.

    `pattern` is the tag's format pattern: a CURRENCY amount typed with a currency mark is read only
    when the pattern shows no currency or the same one.
    """
    if value is None or value == "":
        return None
    if data_type == "NUMBER":
        return _number(value)
    if data_type == "CURRENCY":
        return _currency(value, pattern)
    if data_type == "PERCENTAGE":
        return _percentage(value)
    if data_type == "BOOLEAN":
        if isinstance(value, bool):
            return value
        text = _text(value)
        return True if text.strip().lower() in _TRUE else False if text.strip().lower() in _FALSE else text
    if data_type == "DATE":
        return _date(value)
    return _text(value)


def _text(value: Any) -> str:
    """The value as exported text: a string as it is, anything else as its JSON."""
    return value if isinstance(value, str) else json_text(value)


def _number(value: Any) -> Any:
    if isinstance(value, bool):  # JSON true/false is not a number
        return _text(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        parsed = _parse(value.strip())
        if parsed is not None:
            return _exact(parsed)
    return _text(value)


def _currency(value: Any, pattern: str | None) -> Any:
    if not isinstance(value, str):
        return _number(value)
    match = _AMOUNT.fullmatch(value.strip())
    if match is None:
        return value
    sign, number = match["sign"], match["number"]
    marks = [mark for mark in (match["before"], match["after"]) if mark]
    if (sign and number[:1] in "+-") or len(marks) > 1:
        return value
    if marks:
        shown = _pattern_currencies(pattern)
        mark = marks[0]
        if mark.isalpha() and mark not in _ISO_4217:
            return value  # three capitals that are no currency: not an amount
        if shown and _SYMBOL_CODES.get(mark, mark) not in shown:
            return value  # `€12` in a `$#,##0.00` column would silently become dollars
    parsed = _parse(sign + number)
    return value if parsed is None else _exact(parsed)


def _percentage(value: Any) -> Any:
    """A percentage is exported as its fraction: 25, "25" and "25%" all become 0.25."""
    if isinstance(value, bool):
        return _text(value)
    if isinstance(value, int):
        return _exact(Decimal(value).scaleb(-2))
    if isinstance(value, float):
        if not math.isfinite(value):
            return _text(value)
        return _exact(Decimal(repr(value)).scaleb(-2))  # repr is the shortest text that reads back as it
    if isinstance(value, str):
        text = value.strip()
        parsed = _parse(text[:-1].rstrip() if text.endswith("%") else text)
        if parsed is not None:
            return _exact(parsed.scaleb(-2))
    return _text(value)


def _parse(text: str) -> Decimal | None:
    """The exact number in `text` by the rules of `_NUMBER`, or None."""
    if not _NUMBER.fullmatch(text):
        return None
    return Decimal(text.replace(",", ""))


def _exact(number: Decimal) -> int | float | Decimal:
    """An int for a whole number, a float when it holds the value exactly, else the Decimal itself."""
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # _parse reads only finite numbers
    if exponent >= 0 or not any(digits[exponent:]):
        return int(number)
    significant = len("".join(map(str, digits)).strip("0"))
    if significant <= _FLOAT_DIGITS:
        as_float = float(number)
        text = repr(as_float)
        if "e" not in text and Decimal(text) == number:
            return as_float
    return number


def _pattern_currencies(pattern: str | None) -> set[str]:
    """The currency marks a format pattern shows (`$#,##0.00` -> {"$"}, `#,##0.00 "EUR"` -> {"EUR"})."""
    if not pattern:
        return set()
    marks = {found for found in re.findall(r"\[\$([^\]-]*)", pattern) if found}
    rest = _PATTERN_BRACKET.sub(" ", pattern)
    marks.update(re.findall(rf"{_DOLLARS}|[{_SYMBOLS}]", rest))
    marks.update(code for code in re.findall(r"[A-Z]{3}", rest) if code in _ISO_4217)
    return {_SYMBOL_CODES.get(mark, mark) for mark in marks}


def _date(value: Any) -> Any:
    """A calendar date, or a date-time with its offset, by the strict rules requests follow (exports/dates.py).

    A date-time without an offset stays text: its zone, so its instant, would be a guess.
    """
    if not isinstance(value, str):
        return _text(value)
    try:
        return dates.parse_moment(value.strip(), offset_required=True)
    except ValueError:
        return value
