"""The neutral row query in Table storage's terms: tables, RowKey ranges, the comparison limit."""

from __future__ import annotations

from exports.ports import KEY, RECORD, Predicate, RowQuery
from shared.storage.row_source import count_rows, rows_of
from shared.storage.table_query import CONDITION_BUDGET, Condition, TableLayout, translate

LAYOUT = TableLayout(cases="c", case_records="r", tickets="t")


def test_each_entity_set_reads_its_own_table_in_one_partition() -> None:
    for entity_set, table in (("cases", "c"), ("case_records", "r"), ("tickets", "t")):
        translated = translate(RowQuery(entity_set, "org-1"), None, LAYOUT)  # type: ignore[arg-type]
        assert (translated.table_query.table, translated.table_query.partition) == (table, "org-1")


def test_a_case_records_cursor_starts_after_every_record_of_that_case() -> None:
    assert translate(RowQuery("case_records", "o"), "0000000007", LAYOUT).after == "0000000007|~"
    assert translate(RowQuery("cases", "o"), "0000000007", LAYOUT).after == "0000000007"


def test_a_key_predicate_on_records_is_the_range_of_that_cases_records() -> None:
    def terms(op: str) -> list[tuple[str, str]]:
        query = RowQuery("case_records", "o", (Predicate(KEY, op, "0000000007"),))  # type: ignore[arg-type]
        return [(c.op, c.value) for c in translate(query, None, LAYOUT).table_query.conditions]

    assert terms("eq") == [("gt", "0000000007"), ("lt", "0000000007|~")]
    assert terms("gt") == [("gt", "0000000007|~")]
    assert terms("le") == [("lt", "0000000007|~")]
    assert terms("lt") == [("lt", "0000000007")]


def test_terms_follow_in_order_while_they_fit_and_the_rest_are_left_to_the_adapter() -> None:
    long = Predicate("Status", "in", tuple(f"S{n}" for n in range(CONDITION_BUDGET)))
    short = Predicate("Priority", "eq", "HIGH")
    translated = translate(RowQuery("cases", "o", (short, long), fields=(KEY, "CaseId")), None, LAYOUT)
    assert translated.table_query.conditions == (Condition("Priority", "eq", "HIGH"),)
    assert [term.prop for term in translated.left] == ["Status"]
    # A property read only to check a left-over term is read, checked and dropped again.
    assert translated.table_query.select == ("RowKey", "CaseId", "Status")
    assert translated.extra == ("Status",)


def test_rows_come_out_keyed_by_their_unit_with_left_over_terms_checked() -> None:
    query = RowQuery("case_records", "o", (Predicate("Kind", "in", tuple(f"K{n}" for n in range(20))),), ("Kind",))
    translated = translate(query, None, LAYOUT)
    entities = [
        {"RowKey": "0000000001|K1|0001", "Kind": "K1"},
        {"RowKey": "0000000001|ZZ|0001", "Kind": "ZZ"},
        {"RowKey": "0000000002|K3|0002", "Kind": "K3"},
    ]
    rows = list(rows_of(translated, iter(entities)))
    assert [(row[KEY], row[RECORD], row["Kind"]) for row in rows] == [
        ("0000000001", "0000000001|K1|0001", "K1"),
        ("0000000002", "0000000002|K3|0002", "K3"),
    ]


def test_counting_stops_at_the_limit_and_names_the_last_key() -> None:
    rows = [{KEY: f"{n:03d}"} for n in range(1, 6)]
    assert count_rows(iter(rows), 3) == (3, "003")
    assert count_rows(iter(rows), 10) == (5, None)
