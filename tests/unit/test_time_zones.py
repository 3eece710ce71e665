"""A time zone per export: how it is checked, how times are written in it, and what a bare date means in it."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import orjson
import pytest
from pydantic import ValidationError

from exports import dates
from exports.formats import FormatOptions
from exports.formats.base import iso_datetime
from exports.intake import request_fingerprint
from exports.models import ColumnSpec, CreateExportRequest, ExportFormat, JobStatus
from exports.models.request import request_from_snapshot
from shared.auth import ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, Principal
from shared.errors import ValidationFailed
from shared.http import validate
from tests.support.format_cases import write_file
from tests.unit.conftest import ORG_A, World, make_world

PARIS = dates.zone_named("Europe/Paris")
NEW_YORK = dates.zone_named("America/New_York")
KOLKATA = dates.zone_named("Asia/Kolkata")
LONDON = dates.zone_named("Europe/London")
HOUR = timedelta(hours=1)
TICK = timedelta(microseconds=1)


def parse(**fields: Any) -> CreateExportRequest:
    return CreateExportRequest.model_validate({"format": "CSV", **fields})


class TestTheZoneOfARequest:
    def test_it_is_utc_unless_the_request_names_one(self) -> None:
        assert parse().time_zone == "UTC"
        assert FormatOptions.of(parse()).time_zone == "UTC"

    @pytest.mark.parametrize(
        "name", ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Etc/GMT+2"]
    )
    def test_an_iana_name_is_kept_as_given(self, name: str) -> None:
        request = parse(timeZone=name)
        assert request.time_zone == name and FormatOptions.of(request).time_zone == name

    @pytest.mark.parametrize(
        ("name", "said"),
        [
            ("Mars/Olympus_Mons", "expected an IANA time zone name such as Europe/Paris"),
            ("", "expected an IANA time zone name such as Europe/Paris"),
            ("+02:00", "expected an IANA time zone name such as Europe/Paris"),
            ("UTC+2", "expected an IANA time zone name such as Europe/Paris"),
            ("../../etc/passwd", "expected an IANA time zone name such as Europe/Paris"),
            ("/usr/share/zoneinfo/Europe/Paris", "expected an IANA time zone name such as Europe/Paris"),
            ("posixrules", "expected an IANA time zone name such as Europe/Paris"),  # a host file, not a zone
            ("Europe/paris", "zone names are case-sensitive, did you mean 'Europe/Paris'?"),
            ("europe/paris", "zone names are case-sensitive, did you mean 'Europe/Paris'?"),
        ],
    )
    def test_anything_else_is_a_422_naming_the_value(self, name: str, said: str) -> None:
        with pytest.raises(ValidationFailed) as refused:
            validate(CreateExportRequest, {"format": "CSV", "timeZone": name})
        assert refused.value.status == 422 and refused.value.errors is not None
        [error] = refused.value.errors
        assert error["field"] == "timeZone" and f"unknown time zone {name!r}: {said}" in error["message"]
        assert f"timeZone: Value error, unknown time zone {name!r}: {said}" in refused.value.detail

    def test_the_zone_rules_come_from_the_tzdata_package(self) -> None:
        assert isinstance(PARIS, ZoneInfo) and str(PARIS) == "Europe/Paris"
        assert dates.zone_named("Europe/Paris") is PARIS  # loaded once
        assert dates.zone_named("UTC") is UTC

    def test_a_stored_job_from_before_the_zone_existed_reads_as_utc(self) -> None:
        stored = orjson.dumps({"format": "CSV", "dateRange": {"start": "2024-01-01", "end": "2024-01-31T10:00:00Z"}})
        request = request_from_snapshot(stored)
        assert request.time_zone == "UTC" and "time_zone" not in request.model_fields_set
        assert request_from_snapshot(request.model_dump_json(by_alias=True)) == request

    def test_the_zone_travels_with_the_stored_request(self) -> None:
        request = parse(timeZone="Europe/Paris", dateRange={"start": "2024-03-31", "end": "2024-03-31T10:00:00"})
        again = request_from_snapshot(request.model_dump_json(by_alias=True))
        assert again.time_zone == "Europe/Paris" and again == request

    def test_utc_keeps_the_idempotency_fingerprint_of_requests_from_before_the_zone(self) -> None:
        # Worked out before the field existed: a retried request keeps matching its stored key after an upgrade.
        before = "15f569fff1b99b4df4614d36bda7a9b9c0866580459a0474d1b4da9cfbd46bc6"
        body = {"format": "CSV", "dateRange": {"start": "2024-01-01", "end": "2024-01-31T10:00:00"}}
        assert request_fingerprint(CreateExportRequest.model_validate(body)) == before
        assert request_fingerprint(CreateExportRequest.model_validate({**body, "timeZone": "UTC"})) == before
        paris = request_fingerprint(CreateExportRequest.model_validate({**body, "timeZone": "Europe/Paris"}))
        assert paris != before


class TestWritingATime:
    @pytest.mark.parametrize(
        ("value", "zone", "text"),
        [
            (datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC), UTC, "2024-02-29T23:59:59Z"),
            (datetime(2024, 2, 29, 23, 59, 59), UTC, "2024-02-29T23:59:59Z"),  # naive is UTC, as before
            (datetime(2024, 6, 1, 9, 30, 0, 500000, tzinfo=UTC), UTC, "2024-06-01T09:30:00.500000Z"),
            (datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC), PARIS, "2024-03-01T00:59:59+01:00"),
            (datetime(2024, 7, 1, 12, tzinfo=UTC), PARIS, "2024-07-01T14:00:00+02:00"),
            (datetime(2024, 1, 15, 12, tzinfo=UTC), LONDON, "2024-01-15T12:00:00+00:00"),  # not Z: London's offset
            (datetime(2024, 1, 15, 12, 0, 0, 123456, tzinfo=UTC), KOLKATA, "2024-01-15T17:30:00.123456+05:30"),
            (datetime(2024, 1, 15, 20, 45, tzinfo=UTC), KOLKATA, "2024-01-16T02:15:00+05:30"),
            (datetime(2024, 1, 15, 12, tzinfo=timezone(timedelta(hours=-5))), PARIS, "2024-01-15T18:00:00+01:00"),
            # Exactly at Paris's spring change (01:00 UTC) and the last microsecond before it.
            (datetime(2024, 3, 31, 1, tzinfo=UTC), PARIS, "2024-03-31T03:00:00+02:00"),
            (datetime(2024, 3, 31, 1, tzinfo=UTC) - TICK, PARIS, "2024-03-31T01:59:59.999999+01:00"),
            # The autumn overlap: the same wall time twice, told apart by the offset.
            (datetime(2024, 10, 27, 0, 30, tzinfo=UTC), PARIS, "2024-10-27T02:30:00+02:00"),
            (datetime(2024, 10, 27, 1, 30, tzinfo=UTC), PARIS, "2024-10-27T02:30:00+01:00"),
            (datetime(2024, 11, 3, 6, tzinfo=UTC), NEW_YORK, "2024-11-03T01:00:00-05:00"),
        ],
    )
    def test_iso_8601_with_the_zones_offset_at_that_instant(self, value: datetime, zone: Any, text: str) -> None:
        assert iso_datetime(value, zone) == text
        assert datetime.fromisoformat(text) == (value if value.tzinfo else value.replace(tzinfo=UTC))

    def test_utc_is_written_exactly_as_before(self) -> None:
        value = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=2)))
        assert iso_datetime(value) == iso_datetime(value, UTC) == "2024-02-29T21:59:59.999999Z"


COLUMNS = [
    ColumnSpec(name="id", label="ID", data_type="TEXT"),
    ColumnSpec(name="at", label="At", data_type="DATETIME"),
    ColumnSpec(name="day", label="Day", data_type="DATE"),
]
# Around Paris's spring change: before it, at it, in summer, and a bare date (no time, no zone).
ROWS: list[list[Any]] = [
    ["before", datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC), date(2024, 3, 31)],
    ["at", datetime(2024, 3, 31, 1, tzinfo=UTC), date(2024, 3, 31)],
    ["summer", datetime(2024, 7, 1, 22, 30, tzinfo=UTC), date(2024, 7, 1)],
    ["early", datetime(1899, 12, 31, 23, 30, tzinfo=UTC), None],
]
PARIS_TEXT = [
    ("before", "2024-03-31T01:59:59+01:00", "2024-03-31"),
    ("at", "2024-03-31T03:00:00+02:00", "2024-03-31"),
    ("summer", "2024-07-02T00:30:00+02:00", "2024-07-01"),
    ("early", "1899-12-31T23:39:21+00:09:21", None),  # Paris mean time, as the tz database has it
]
IN_PARIS = FormatOptions(time_zone="Europe/Paris")


class TestTheWriters:
    def test_csv_writes_each_time_with_the_offset_of_its_instant(self) -> None:
        data = write_file(ExportFormat.CSV, ROWS, columns=COLUMNS, options=IN_PARIS, cuts=[1])
        found = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert [tuple(row) for row in found[1:]] == [(i, at, day or "") for i, at, day in PARIS_TEXT]

    @pytest.mark.parametrize("fmt", [ExportFormat.JSON, ExportFormat.JSONL])
    def test_json_writes_each_time_with_the_offset_of_its_instant(self, fmt: ExportFormat) -> None:
        data = write_file(fmt, ROWS, columns=COLUMNS, options=IN_PARIS, cuts=[1])
        objects = json.loads(data) if fmt is ExportFormat.JSON else [json.loads(line) for line in data.splitlines()]
        assert [(o["id"], o["at"], o["day"]) for o in objects] == PARIS_TEXT

    def test_xlsx_serials_are_the_wall_clock_time_in_the_zone(self) -> None:
        data = write_file(ExportFormat.XLSX, ROWS, columns=COLUMNS, options=IN_PARIS, cuts=[1])
        sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
        values = [tuple(cell.value for cell in row) for row in sheet.iter_rows(min_row=2)]
        assert values == [
            ("before", datetime(2024, 3, 31, 1, 59, 59), datetime(2024, 3, 31)),
            ("at", datetime(2024, 3, 31, 3, 0), datetime(2024, 3, 31)),
            ("summer", datetime(2024, 7, 2, 0, 30), datetime(2024, 7, 1)),
            ("early", "1899-12-31T23:39:21+00:09:21", None),  # before 1900-03-01: text, in the zone too
        ]

    def test_xlsx_in_utc_is_unchanged(self) -> None:
        data = write_file(ExportFormat.XLSX, ROWS[:3], columns=COLUMNS)
        sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
        assert [row[1].value for row in sheet.iter_rows(min_row=2)] == [
            datetime(2024, 3, 31, 0, 59, 59),
            datetime(2024, 3, 31, 1, 0),
            datetime(2024, 7, 1, 22, 30),
        ]

    @pytest.mark.parametrize("fmt", list(ExportFormat))
    def test_the_zone_utc_writes_the_very_bytes_of_no_zone(self, fmt: ExportFormat) -> None:
        utc = FormatOptions.of(parse(format=fmt.value, timeZone="UTC"))
        assert write_file(fmt, ROWS, columns=COLUMNS, options=utc) == write_file(fmt, ROWS, columns=COLUMNS)

    @pytest.mark.parametrize("fmt", list(ExportFormat))
    def test_a_resumed_file_keeps_its_zone(self, fmt: ExportFormat) -> None:
        whole = write_file(fmt, ROWS, columns=COLUMNS, options=IN_PARIS, chunk_rows=1)
        assert write_file(fmt, ROWS, columns=COLUMNS, options=IN_PARIS, chunk_rows=1, cuts=[1, 2, 3]) == whole


def day_span(day: date, zone: Any) -> tuple[datetime, datetime]:
    span = dates.Span.of(day, zone)
    assert span.whole_day and span.end is not None
    return span.start, span.end


class TestABareDateIsTheZonesDay:
    @pytest.mark.parametrize(
        ("day", "zone", "start", "hours"),
        [
            (date(2024, 3, 31), PARIS, datetime(2024, 3, 30, 23, tzinfo=UTC), 23),
            (date(2024, 10, 27), PARIS, datetime(2024, 10, 26, 22, tzinfo=UTC), 25),
            (date(2024, 6, 1), PARIS, datetime(2024, 5, 31, 22, tzinfo=UTC), 24),
            (date(2024, 3, 10), NEW_YORK, datetime(2024, 3, 10, 5, tzinfo=UTC), 23),
            (date(2024, 11, 3), NEW_YORK, datetime(2024, 11, 3, 4, tzinfo=UTC), 25),
            (date(2024, 1, 15), KOLKATA, datetime(2024, 1, 14, 18, 30, tzinfo=UTC), 24),
            (date(2024, 6, 1), UTC, datetime(2024, 6, 1, tzinfo=UTC), 24),
        ],
    )
    def test_from_local_midnight_to_the_next_one(self, day: date, zone: Any, start: datetime, hours: int) -> None:
        assert day_span(day, zone) == (start, start + hours * HOUR)

    def test_a_day_whose_midnight_the_clocks_skip_starts_when_they_skip_it(self) -> None:
        # Santiago's clocks went from 2024-09-08 00:00 (-04:00) to 01:00 (-03:00): the day starts at 04:00 UTC.
        santiago = dates.zone_named("America/Santiago")
        assert day_span(date(2024, 9, 8), santiago) == (
            datetime(2024, 9, 8, 4, tzinfo=UTC),
            datetime(2024, 9, 9, 3, tzinfo=UTC),
        )

    @pytest.mark.parametrize(
        ("operator", "expected"),
        [
            ("equals", [False, True, True, False]),
            ("notEquals", [True, False, False, True]),
            ("before", [True, False, False, False]),
            ("lessThan", [True, False, False, False]),
            ("after", [False, False, False, True]),
            ("greaterThan", [False, False, False, True]),
            ("lessThanOrEqual", [True, True, True, False]),
            ("greaterThanOrEqual", [False, True, True, True]),
        ],
    )
    @pytest.mark.parametrize(("day", "zone"), [(date(2024, 3, 31), PARIS), (date(2024, 11, 3), NEW_YORK)])
    def test_every_operator_reads_the_days_edges(
        self, day: date, zone: Any, operator: str, expected: list[bool]
    ) -> None:
        start, end = day_span(day, zone)
        edges = [start - TICK, start, end - TICK, end]
        assert [dates.holds(operator, day, edge, zone) for edge in edges] == expected
        found = dates.comparisons(operator, day, zone)
        if found is not None:  # what storage is sent selects exactly what the rule selects
            compare = {"eq": "__eq__", "gt": "__gt__", "ge": "__ge__", "lt": "__lt__", "le": "__le__"}
            selected = [all(getattr(edge, compare[op])(bound) for op, bound in found) for edge in edges]
            assert selected == expected

    @pytest.mark.parametrize(
        "zone", [PARIS, NEW_YORK, KOLKATA, dates.zone_named("Asia/Tokyo"), dates.zone_named("Pacific/Kiritimati")]
    )
    def test_the_first_and_last_days_there_are_still_work(self, zone: Any) -> None:
        first, last = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
        offset = zone.utcoffset(datetime(1, 1, 1))
        # East of UTC the first local day starts before the first instant there is: from that instant, then.
        start = dates.Span.of(date(1, 1, 1), zone).start
        assert start == (first if offset > timedelta(0) else first - offset)
        assert dates.holds("greaterThanOrEqual", date(1, 1, 1), start, zone)
        assert not dates.holds("before", date(1, 1, 1), start, zone)
        # West of UTC the last local day ends after the last instant there is: it has no end, then.
        last_day = dates.Span.of(date(9999, 12, 31), zone)
        offset = zone.utcoffset(datetime(9999, 12, 31))
        assert last_day.start == datetime(9999, 12, 31, tzinfo=UTC) - offset
        end = last_day.end
        assert end == (last_day.start + timedelta(days=1) if offset > timedelta(0) else None)
        assert dates.holds("lessThanOrEqual", date(9999, 12, 31), last, zone) == (end is None)
        for operator in ("greaterThanOrEqual", "lessThanOrEqual", "equals", "before", "after"):
            for day in (date(1, 1, 1), date(9999, 12, 31)):
                found = dates.comparisons(operator, day, zone)
                for moment in (first, start, last):
                    if found is not None:
                        assert (
                            all(_compare(moment, op, bound) for op, bound in found)
                            == dates.holds(operator, day, moment, zone)
                            or moment < dates.STORED_TIMES_START
                        )


def _compare(moment: datetime, op: str, bound: datetime) -> bool:
    return {
        "eq": moment == bound,
        "gt": moment > bound,
        "ge": moment >= bound,
        "lt": moment < bound,
        "le": moment <= bound,
    }[op]


class TestAWallClockTimeWithoutAnOffset:
    def test_is_read_in_the_zone(self) -> None:
        assert dates.parse_moment("2024-07-01T09:30:00", zone=PARIS) == datetime(2024, 7, 1, 7, 30, tzinfo=UTC)
        assert dates.parse_moment("2024-01-15T09:30:00", zone=KOLKATA) == datetime(2024, 1, 15, 4, tzinfo=UTC)
        assert dates.parse_moment("2024-07-01T09:30:00") == datetime(2024, 7, 1, 9, 30, tzinfo=UTC)
        assert dates.parse_moment("2024-07-01T09:30:00+00:00", zone=PARIS) == datetime(2024, 7, 1, 9, 30, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("text", "zone", "happens", "choices"),
        [
            ("2024-03-31T02:30:00", PARIS, "does not exist", "2024-03-31T02:30:00+02:00 or 2024-03-31T02:30:00+01:00"),
            ("2024-10-27T02:30:00", PARIS, "happens twice", "2024-10-27T02:30:00+02:00 or 2024-10-27T02:30:00+01:00"),
            ("2024-03-10T02:00:00", NEW_YORK, "does not exist", "-04:00 or 2024-03-10T02:00:00-05:00"),
            ("2024-11-03T01:59:59.5", NEW_YORK, "happens twice", "2024-11-03T01:59:59.500000-04:00 or"),
        ],
    )
    def test_is_refused_in_the_gap_and_in_the_overlap(self, text: str, zone: Any, happens: str, choices: str) -> None:
        with pytest.raises(dates.LocalTimeError, match=happens) as refused:
            dates.parse_moment(text, zone=zone)
        assert choices in str(refused.value) and str(zone) in str(refused.value) and "offset" in str(refused.value)

    def test_just_outside_the_gap_and_the_overlap_is_read(self) -> None:
        assert (
            dates.parse_moment("2024-03-31T01:59:59.999999", zone=PARIS) == datetime(2024, 3, 31, 1, tzinfo=UTC) - TICK
        )
        assert dates.parse_moment("2024-03-31T03:00:00", zone=PARIS) == datetime(2024, 3, 31, 1, tzinfo=UTC)
        assert dates.parse_moment("2024-10-27T01:59:59", zone=PARIS) == datetime(2024, 10, 26, 23, 59, 59, tzinfo=UTC)
        assert dates.parse_moment("2024-10-27T03:00:00", zone=PARIS) == datetime(2024, 10, 27, 2, tzinfo=UTC)

    @pytest.mark.parametrize("where", ["start", "end"])
    @pytest.mark.parametrize("text", ["2024-03-31T02:30:00", "2024-10-27T02:30:00"])
    def test_a_date_range_bound_in_the_gap_or_overlap_is_a_422(self, where: str, text: str) -> None:
        bounds = {"start": "2024-01-01", "end": "2024-12-31", where: text}
        with pytest.raises(ValidationFailed) as refused:
            validate(CreateExportRequest, {"format": "CSV", "timeZone": "Europe/Paris", "dateRange": bounds})
        assert refused.value.errors is not None and refused.value.errors[0]["field"] == "dateRange"
        assert f"dateRange.{where}: {text!r} has no offset" in refused.value.detail
        # The same bound with its offset, or in UTC, is accepted.
        parse(timeZone="Europe/Paris", dateRange={**bounds, where: text + "+01:00"})
        parse(dateRange=bounds)

    def test_a_date_range_is_in_order_in_its_zone(self) -> None:
        # 23:30 UTC on 31 May is already 1 June in Paris: in order there, not in UTC.
        bounds = {"start": "2024-06-01", "end": "2024-05-31T23:30:00Z"}
        with pytest.raises(ValidationError, match="must not be after"):
            parse(dateRange=bounds)
        assert parse(timeZone="Europe/Paris", dateRange=bounds).date_range is not None
        local = parse(timeZone="Europe/Paris", dateRange={"start": "2024-06-01", "end": "2024-06-01T01:30:00"})
        assert local.date_range is not None and local.date_range.end == datetime(2024, 5, 31, 23, 30, tzinfo=UTC)


# ---- through the service: the case date range and ticket filters ------------------------------------------

PRINCIPAL = Principal(ORG_A, "user-1", "Ana Lyst", frozenset({ACCESS_REPORTS, IMPORT_EXPORT_TICKETS}))
# Rows at the edges of Paris's 2024-03-31 (23 hours: 2024-03-30T23:00Z to 2024-03-31T22:00Z) and of its
# 2024-10-27 (25 hours: 2024-10-26T22:00Z to 2024-10-27T23:00Z).
TIMES = {
    1: datetime(2024, 3, 30, 23, tzinfo=UTC) - TICK,
    2: datetime(2024, 3, 30, 23, tzinfo=UTC),
    3: datetime(2024, 3, 31, 22, tzinfo=UTC) - TICK,
    4: datetime(2024, 3, 31, 22, tzinfo=UTC),
    5: datetime(2024, 10, 26, 22, tzinfo=UTC) - TICK,
    6: datetime(2024, 10, 26, 22, tzinfo=UTC),
    7: datetime(2024, 10, 27, 23, tzinfo=UTC) - TICK,
    8: datetime(2024, 10, 27, 23, tzinfo=UTC),
}


@pytest.fixture
def world() -> World:
    world = make_world()
    for entity_set, number_prop in (("tickets", "Number"), ("cases", "CaseNumber")):
        world.source.add(
            entity_set,
            [
                {
                    "PartitionKey": ORG_A,
                    "RowKey": f"{n:010d}",
                    "CreatedAt": at,
                    number_prop: n if number_prop == "Number" else str(n),
                }
                for n, at in TIMES.items()
            ],
        )
    return world


def exported(world: World, body: dict[str, Any]) -> list[dict[str, Any]]:
    job, _ = world.service.create(PRINCIPAL, CreateExportRequest.model_validate({"format": "JSONL", **body}))
    world.drain()
    stored = world.service.get(PRINCIPAL, job.job_id)
    assert stored.status is JobStatus.COMPLETED, stored.error_message
    return [orjson.loads(line) for line in world.sink.blobs[job.blob_name].splitlines()]


def tickets(world: World, zone: str, *filters: tuple[str, str]) -> list[int]:
    body = {
        "dataset": "tickets",
        "timeZone": zone,
        "columns": ["ticket_number", "created_at"],
        "filters": [{"field": "created_at", "operator": op, "value": value} for op, value in filters],
    }
    return [row["ticket_number"] for row in exported(world, body)]


def cases(world: World, zone: str, start: str, end: str) -> list[int]:
    body = {
        "timeZone": zone,
        "exportType": "CUSTOM",
        "columns": ["case_number"],
        "dateRange": {"start": start, "end": end},
    }
    return [int(row["case_number"]) for row in exported(world, body)]


class TestThroughTheService:
    @pytest.mark.parametrize(
        ("day", "zone", "expected"),
        [
            ("2024-03-31", "Europe/Paris", [2, 3]),
            ("2024-10-27", "Europe/Paris", [6, 7]),
            ("2024-03-31", "UTC", [3, 4]),
            ("2024-10-27", "UTC", [7, 8]),
        ],
    )
    def test_a_bare_date_is_the_zones_day_in_tickets_and_cases(
        self, world: World, day: str, zone: str, expected: list[int]
    ) -> None:
        assert tickets(world, zone, ("equals", day)) == expected
        assert tickets(world, zone, ("greaterThanOrEqual", day), ("lessThanOrEqual", day)) == expected
        assert cases(world, zone, day, day) == expected

    @pytest.mark.parametrize(
        ("operator", "expected"),
        [
            ("notEquals", [1, 4, 5, 6, 7, 8]),
            ("before", [1]),
            ("after", [4, 5, 6, 7, 8]),
            ("lessThanOrEqual", [1, 2, 3]),
            ("greaterThan", [4, 5, 6, 7, 8]),
        ],
    )
    def test_every_ticket_operator_uses_the_zones_day(self, world: World, operator: str, expected: list[int]) -> None:
        assert tickets(world, "Europe/Paris", (operator, "2024-03-31")) == expected

    def test_a_wall_clock_time_in_a_ticket_filter_is_read_in_the_zone(self, world: World) -> None:
        # 2024-03-31T00:00:00 in Paris is 2024-03-30T23:00Z: row 2 exactly.
        assert tickets(world, "Europe/Paris", ("equals", "2024-03-31T00:00:00")) == [2]
        assert tickets(world, "UTC", ("equals", "2024-03-30T23:00:00")) == [2]

    @pytest.mark.parametrize("text", ["2024-03-31T02:30:00", "2024-10-27T02:30:00"])
    def test_a_ticket_filter_in_the_gap_or_overlap_is_a_422(self, world: World, text: str) -> None:
        body = {
            "format": "CSV",
            "dataset": "tickets",
            "timeZone": "Europe/Paris",
            "filters": [{"field": "created_at", "operator": "after", "value": text}],
        }
        with pytest.raises(ValidationFailed) as refused:
            world.service.create(PRINCIPAL, CreateExportRequest.model_validate(body))
        assert refused.value.status == 422 and refused.value.errors is not None
        assert refused.value.errors[0]["field"] == "filters.0"
        assert (
            f"'created_at': {text!r} has no offset" in refused.value.detail and "Europe/Paris" in refused.value.detail
        )

    def test_times_are_written_in_the_zone_and_sorting_still_orders_instants(self, world: World) -> None:
        body = {
            "dataset": "tickets",
            "timeZone": "Europe/Paris",
            "columns": ["ticket_number", "created_at"],
            "sortField": "created_at",
            "sortDirection": "desc",
            "filters": [{"field": "created_at", "operator": "equals", "value": "2024-10-27"}],
        }
        assert [(row["ticket_number"], row["created_at"]) for row in exported(world, body)] == [
            (7, "2024-10-27T23:59:59.999999+01:00"),
            (6, "2024-10-27T00:00:00+02:00"),
        ]


def test_the_command_line_sends_the_zone_it_is_given() -> None:
    from exports.cli import _request_body, build_parser

    paris = build_parser().parse_args(["request", "--format", "CSV", "--time-zone", "Europe/Paris"])
    assert _request_body(paris)["timeZone"] == "Europe/Paris"
    assert "timeZone" not in _request_body(build_parser().parse_args(["request", "--format", "CSV"]))
