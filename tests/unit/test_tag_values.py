"""How tagged values typed by people are read: exact numbers or the original text, never a scaled value."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import openpyxl
import orjson
import pytest

from exports.datasets.tags import json_property, typed_value
from exports.formats import FormatOptions, writer_for
from exports.models import ColumnSpec, CreateExportRequest, ExportFormat, TagCreate
from exports.tag_service import TagService
from shared.auth import Principal
from tests.unit.conftest import ORG_A, World


def same(value: Any, expected: Any) -> bool:
    """Equal and of the same type: 1234.5 is not Decimal("1234.5"), 0.25 is not "0.25"."""
    return type(value) is type(expected) and value == expected


class TestNumbers:
    @pytest.mark.parametrize(
        ("typed", "expected"),
        [
            ("1,234.50", 1234.5),
            ("1,234", 1234),
            ("-1,234,567.5", -1234567.5),
            ("  42 ", 42),
            ("+7", 7),
            ("-0", 0),
            (".5", 0.5),
            ("5.0", 5),
            ("0.1", 0.1),
            (40, 40),
            (2.5, 2.5),
        ],
    )
    def test_a_number_typed_plainly_or_with_valid_grouping_is_read_exactly(self, typed: Any, expected: Any) -> None:
        assert same(typed_value(typed, "NUMBER"), expected)

    @pytest.mark.parametrize(
        "typed",
        [
            "1,5",  # a decimal comma, or a thousands separator short of two digits: 1.5 or 15?
            "1.234,50",  # a decimal comma: 1234.5 or 1.2345?
            "12,34",
            "1,2345",
            "1,234.",
            "1 234",
            "1e3",  # more often a code than a number
            "1E-2",
            "(5)",  # accounting negative: text rather than a guess
            "NaN",
            "Infinity",
            "1_000",
            "٣",  # a digit, but not one people use in these fields
            "0x1F",
            "12 kg",
            "- 5",
            "",
        ],
    )
    def test_a_number_that_is_not_unambiguous_stays_the_original_text(self, typed: str) -> None:
        assert typed_value(typed, "NUMBER") == (typed or None)

    def test_an_integer_keeps_every_digit(self) -> None:
        assert same(typed_value("12345678901234567890", "NUMBER"), 12345678901234567890)
        assert same(typed_value("-12,345,678,901,234,567,890", "NUMBER"), -12345678901234567890)

    def test_a_fraction_a_float_cannot_hold_exactly_is_a_decimal(self) -> None:
        assert same(typed_value("1234567890.123456789", "NUMBER"), Decimal("1234567890.123456789"))
        assert same(typed_value("0.00001", "NUMBER"), Decimal("0.00001"))  # a float would print 1e-05

    def test_booleans_and_objects_are_not_numbers(self) -> None:
        assert typed_value(True, "NUMBER") == "true"
        assert typed_value({"a": 1}, "NUMBER") == '{"a":1}'
        assert typed_value([1, 2], "CURRENCY") == "[1,2]"


class TestCurrency:
    @pytest.mark.parametrize(
        ("typed", "expected"),
        [
            ("$1,234.50", 1234.5),
            ("1,234.50 USD", 1234.5),
            ("EUR 12", 12),
            ("€12", 12),
            ("12 €", 12),
            ("-$5", -5),
            ("$-5", -5),
            ("+$5", 5),
            ("US$ 7.25", 7.25),
            ("1234.5", 1234.5),
            (99.99, 99.99),
        ],
    )
    def test_a_currency_symbol_or_iso_code_around_an_amount_is_accepted(self, typed: Any, expected: Any) -> None:
        assert same(typed_value(typed, "CURRENCY"), expected)

    @pytest.mark.parametrize(
        "typed",
        [
            "€12,00",
            "€1.234,50",
            "-$-5",
            "- $5",
            "- 5",
            "$5 USD",
            "ABC 5",
            "ZZ$5",
            "5 lbs",
            "usd 5",
            "$",
            "USD",
            "(1,234.50)",
            "1e3 USD",
        ],
    )
    def test_an_amount_that_is_not_unambiguous_stays_the_original_text(self, typed: str) -> None:
        assert typed_value(typed, "CURRENCY") == typed

    def test_a_currency_mark_must_be_the_one_the_tags_pattern_shows(self) -> None:
        assert typed_value("€12", "CURRENCY", "$#,##0.00") == "€12"  # would show as $12.00
        assert typed_value("12 EUR", "CURRENCY", "$#,##0.00") == "12 EUR"
        assert same(typed_value("$12", "CURRENCY", "$#,##0.00"), 12)
        assert same(typed_value("12 EUR", "CURRENCY", '#,##0.00 "EUR"'), 12)
        assert same(typed_value("€12", "CURRENCY", '#,##0.00 "EUR"'), 12)  # € names the euro only
        assert same(typed_value("12 EUR", "CURRENCY", "[$€-407] #,##0.00"), 12)
        assert same(typed_value("GBP 3", "CURRENCY", "#,##0.00"), 3)  # the pattern shows no currency

    def test_other_tag_types_take_no_currency_mark(self) -> None:
        assert typed_value("$5", "NUMBER") == "$5"
        assert typed_value("$5", "PERCENTAGE") == "$5"


class TestPercentages:
    @pytest.mark.parametrize("typed", [25, 25.0, "25", "25%", " 25 % ", "+25%"])
    def test_25_and_25_percent_are_the_same_fraction(self, typed: Any) -> None:
        assert same(typed_value(typed, "PERCENTAGE"), 0.25)

    @pytest.mark.parametrize(
        ("typed", "expected"),
        [
            ("12.5%", 0.125),
            (12.3, 0.123),  # exact: 12.3 / 100 in floats is 0.12300000000000001
            ("12.3%", 0.123),
            ("100%", 1),
            ("0.25", 0.0025),  # a percentage is a number of percent, with or without the sign
            ("1,250%", 12.5),
            ("-5%", -0.05),
            ("0.001%", Decimal("0.00001")),
            ("12345678901234567890%", Decimal("123456789012345678.90")),
        ],
    )
    def test_a_percentage_is_exported_as_its_exact_fraction(self, typed: Any, expected: Any) -> None:
        assert same(typed_value(typed, "PERCENTAGE"), expected)

    @pytest.mark.parametrize("typed", ["25%%", "%25", "25 percent", "1,5%", "abc%", "%"])
    def test_a_percentage_that_is_not_unambiguous_stays_the_original_text(self, typed: str) -> None:
        assert typed_value(typed, "PERCENTAGE") == typed

    def test_a_boolean_is_not_a_percentage(self) -> None:
        assert typed_value(False, "PERCENTAGE") == "false"


class TestDates:
    """DATE tags follow the strict ISO 8601 rules of request dates (exports/dates.py), never a guess."""

    @pytest.mark.parametrize(
        ("typed", "expected"),
        [
            ("2024-02-29", date(2024, 2, 29)),
            ("20240229", date(2024, 2, 29)),  # the basic form is a date, not midnight UTC
            (" 2024-02-29 ", date(2024, 2, 29)),
            ("2024-06-01T09:30:00Z", datetime(2024, 6, 1, 9, 30, tzinfo=UTC)),
            ("2024-06-01t09:30z", datetime(2024, 6, 1, 9, 30, tzinfo=UTC)),
            ("2024-06-01 09:30:00.5+02:00", datetime(2024, 6, 1, 7, 30, 0, 500000, tzinfo=UTC)),
            ("20240601T093000-0500", datetime(2024, 6, 1, 14, 30, tzinfo=UTC)),
        ],
    )
    def test_a_calendar_date_or_a_time_with_its_offset_is_read(self, typed: str, expected: date) -> None:
        assert same(typed_value(typed, "DATE"), expected)

    @pytest.mark.parametrize(
        "typed",
        [
            "2024-W01-1",  # a week date: Python reads it, people rarely mean it
            "2024W011",
            "2024-060",  # an ordinal date
            "2024060",
            "2024-02-30",
            "2023-02-29",
            "01/02/2024",  # 1 February or January 2?
            "2024/02/01",
            "2024-2-1",
            "24-02-01",
            "1717200000",  # never Unix seconds
            "2024-06-01T09:30:00",  # no offset: its instant would be a guess
            "20240601T093000",
            "2024-06-01T09:30:00-00:00",  # RFC 3339's "offset unknown"
            "2024-06-01T09:30:00.1234567Z",  # a digit would be dropped
            "2024-06-01T24:00:00Z",
            "2024-06-01T093000Z",  # extended date, basic time
            "tomorrow",
        ],
    )
    def test_anything_that_is_not_a_clear_iso_date_stays_the_original_text(self, typed: str) -> None:
        assert typed_value(typed, "DATE") == typed

    def test_a_value_that_is_not_text_stays_its_json_text(self) -> None:
        assert typed_value(20240229, "DATE") == "20240229"
        assert typed_value(True, "DATE") == "true"


class TestOtherTypes:
    def test_booleans_read_the_usual_words_and_keep_anything_else_as_text(self) -> None:
        assert typed_value(" Yes ", "BOOLEAN") is True and typed_value("0", "BOOLEAN") is False
        assert typed_value(1, "BOOLEAN") is True
        assert typed_value("maybe", "BOOLEAN") == "maybe"
        assert typed_value({"a": 1}, "BOOLEAN") == '{"a":1}'  # JSON text, not a Python repr

    def test_text_is_the_value_as_typed_or_its_json(self) -> None:
        assert typed_value(" 1,5 ", "TEXT") == " 1,5 "
        assert typed_value(1.0, "TEXT") == "1.0"
        assert typed_value({"big": 123456789012345678901234}, "TEXT") == '{"big":123456789012345678901234}'


def test_a_json_integer_beyond_64_bits_in_the_source_keeps_every_digit() -> None:
    entity = {"CustomFieldsJson": '{"big": 123456789012345678901234, "n": "x"}'}
    assert json_property(entity, "CustomFieldsJson") == {"big": 123456789012345678901234, "n": "x"}
    assert json_property({"CustomFieldsJson": '{"a": NaN, "b": "1234567890123456789"}'}, "CustomFieldsJson") == {}


# ---- the values in each file format ---------------------------------------------------------------

COLUMNS = [
    ColumnSpec(name="n", label="N", data_type="NUMBER"),
    ColumnSpec(name="amount", label="Amount", data_type="CURRENCY", format_pattern="$#,##0.00"),
    ColumnSpec(name="share", label="Share", data_type="PERCENTAGE", format_pattern="0.0%"),
]
VALUES: list[list[Any]] = [
    [12345678901234567890, 12345678901234567890, Decimal("123456789012345678.90")],
    [Decimal("0.0000001"), Decimal("1234567890.123456789"), Decimal("0.00001").scaleb(-2)],
    [123456789012345, 1234.5, 0.125],
]


def write(fmt: ExportFormat) -> bytes:
    request = CreateExportRequest.model_validate(
        {"format": fmt.value, "csvBom": False} if fmt is ExportFormat.CSV else {"format": fmt.value}
    )
    writer = writer_for(fmt, COLUMNS, {}, FormatOptions.of(request))
    return writer.begin() + writer.write(VALUES) + writer.end()


def test_csv_writes_every_digit_and_never_an_exponent() -> None:
    rows = list(csv.reader(io.StringIO(write(ExportFormat.CSV).decode())))
    assert rows[1] == ["12345678901234567890", "12345678901234567890.00", "123456789012345678.90"]
    assert rows[2] == ["0.0000001", "1234567890.12", "0.0000001"]  # CURRENCY: the pattern's 2 decimals
    assert rows[3] == ["123456789012345", "1234.50", "0.125"]


def test_json_writes_exact_numbers_with_every_digit() -> None:
    lines = write(ExportFormat.JSONL).splitlines()
    assert lines[0] == b'{"n":12345678901234567890,"amount":12345678901234567890,"share":123456789012345678.90}'
    assert lines[1] == b'{"n":0.0000001,"amount":1234567890.123456789,"share":0.0000001}'
    assert json.loads(lines[1], parse_float=Decimal)["amount"] == Decimal("1234567890.123456789")


def test_xlsx_writes_a_number_excel_would_round_as_text_with_every_digit() -> None:
    data = write(ExportFormat.XLSX)
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Sheet1"]
    first, second, third = ([cell.value for cell in row] for row in sheet.iter_rows(min_row=2))
    assert first == ["12345678901234567890", "12345678901234567890", "123456789012345678.90"]
    assert second[0] == pytest.approx(1e-7) and isinstance(second[0], float)  # 1 digit: a number
    assert second[1] == "1234567890.123456789"
    assert third == [123456789012345, 1234.5, 0.125]  # 15 digits: still numbers
    xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert "<t>12345678901234567890</t>" in xml and "'1234" not in xml  # no formula quote on digits


# ---- through an export ----------------------------------------------------------------------------

PEOPLE_TYPED = {
    "grouped": "1,234.50",
    "decimalComma": "1,5",
    "longId": "12345678901234567890",
    "rate": 25,
    "rateText": "25%",
    "price": "$1,234.50",
    "euros": "€12,00",
}
TAGS = [
    ("grouped", "NUMBER", None),
    ("decimalComma", "NUMBER", None),
    ("longId", "NUMBER", None),
    ("rate", "PERCENTAGE", "0.0%"),
    ("rateText", "PERCENTAGE", "0.0%"),
    ("price", "CURRENCY", "$#,##0.00"),
    ("euros", "CURRENCY", None),
]


@pytest.fixture
def typed_world(world: World, admin: Principal) -> World:
    tags = TagService(
        settings=world.service.settings, tags=world.tags, source=world.source, audit=world.audit, clock=world.clock
    )
    for slot, (key, data_type, pattern) in enumerate(TAGS, start=1):
        body = {
            "sourceEntityType": "CASE",
            "sourceFieldPath": f"customFields.{key}",
            "tagSlot": slot,
            "columnName": key.lower(),
            "displayLabel": key,
            "dataType": data_type,
            **({"formatPattern": pattern} if pattern else {}),
        }
        tags.create(admin, TagCreate.model_validate(body))
    case = {
        "PartitionKey": ORG_A,
        "RowKey": "0000000001",
        "CaseId": "case-1",
        "CustomFieldsJson": orjson.dumps(PEOPLE_TYPED).decode(),
    }
    world.source.add("cases", [case])
    return world


def exported(world: World, admin: Principal, fmt: str) -> bytes:
    body = {"format": fmt, "exportType": "CUSTOM", "columns": [key.lower() for key, _, _ in TAGS]}
    job, _ = world.service.create(admin, CreateExportRequest.model_validate(body))
    world.drain()
    return world.sink.blobs[job.blob_name]


def test_a_csv_export_holds_the_values_people_typed_exactly_or_as_typed(typed_world: World, admin: Principal) -> None:
    (row,) = csv.DictReader(io.StringIO(exported(typed_world, admin, "CSV").decode("utf-8-sig")))
    assert row == {
        "grouped": "1234.5",
        "decimalcomma": "1,5",
        "longid": "12345678901234567890",
        "rate": "0.25",
        "ratetext": "0.25",
        "price": "1234.50",
        "euros": "€12,00",
    }


def test_a_json_export_holds_numbers_with_every_digit(typed_world: World, admin: Principal) -> None:
    (row,) = [json.loads(line) for line in exported(typed_world, admin, "JSONL").splitlines()]
    assert row == {
        "grouped": 1234.5,
        "decimalcomma": "1,5",
        "longid": 12345678901234567890,
        "rate": 0.25,
        "ratetext": 0.25,
        "price": 1234.5,
        "euros": "€12,00",
    }


def test_a_date_tag_exports_a_clear_date_and_keeps_any_other_text_as_typed(world: World, admin: Principal) -> None:
    tags = TagService(
        settings=world.service.settings, tags=world.tags, source=world.source, audit=world.audit, clock=world.clock
    )
    body = {"sourceEntityType": "CASE", "sourceFieldPath": "customFields.day", "tagSlot": 1, "columnName": "day",
            "displayLabel": "Day", "dataType": "DATE"}  # fmt: skip
    tags.create(admin, TagCreate.model_validate(body))
    typed = ["20240229", "2024-W01-1", "2024-060", "2024-06-01T09:30:00", "2024-06-01T23:30:00-05:00", "01/02/2024"]
    world.source.add(
        "cases",
        [
            {"PartitionKey": ORG_A, "RowKey": f"{n:010d}", "CustomFieldsJson": orjson.dumps({"day": day}).decode()}
            for n, day in enumerate(typed, start=1)
        ],
    )
    job, _ = world.service.create(admin, CreateExportRequest.model_validate(
        {"format": "CSV", "csvBom": False, "exportType": "CUSTOM", "columns": ["day"]}
    ))  # fmt: skip
    world.drain()
    rows = list(csv.reader(io.StringIO(world.sink.blobs[job.blob_name].decode())))
    assert [row[0] for row in rows[1:]] == [
        "2024-02-29",
        "2024-W01-1",
        "2024-060",
        "2024-06-01T09:30:00",
        "2024-06-02T04:30:00Z",  # the same instant, in UTC like every time in a file
        "01/02/2024",
    ]
