"""Table storage allows at most 15 comparisons in one query's $filter; no query the service sends has more.

Azurite does not enforce the limit, so the adapter counts every $filter before it is sent and refuses a
longer one as a bug; the datasets keep their queries within it and evaluate the rest in the worker.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from azure.core.credentials import AccessToken

from shared.settings import Settings
from shared.storage import table_query as pushdown
from shared.storage.clients import StorageClients
from shared.storage.row_source import filter_text
from shared.storage.table_filter import FilterTooLong, check_filter, comparisons, refuse_long_filters
from shared.storage.table_query import CONDITION_BUDGET, MAX_FILTER_COMPARISONS, Condition
from shared.storage.table_query import TableQuery as SourceQuery
from tests.support.fakes import FakeRowSource

UNREACHABLE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
)


def chain(count: int) -> str:
    return " or ".join(f"Status eq 'S{n}'" for n in range(count))


class TestCountingComparisons:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("", 0),
            ("PartitionKey eq 'org'", 1),
            ("PartitionKey eq 'org' and RowKey gt '0000000001'", 2),
            ("PartitionKey eq 'a and b eq c' and Name eq 'x or y ne z'", 2),
            ("Name eq 'it''s eq ''lt'' or le'", 1),
            ("Name eq '''' and Other eq 'eq'", 2),
            ("Name eq '' and Other ne ''", 2),
            ("( Status eq 'OPEN' or Status eq 'NEW' ) and Kind ne 'X'", 3),
            ("(Status eq 'OPEN')and(CreatedAt ge datetime'2024-06-01T00:00:00Z')", 2),
            ("Status_eq eq 'x' and geo lt 5 and neat gt 1 and Equal le 2", 4),
            ("not (IsCleanedUp eq true) and Amount ge 1.5 and Id eq guid'00000000-0000-0000-0000-000000000000'", 3),
            ("Blob eq X'0A0B' and Number le 10L", 2),
            ("Name eq 'déjà eq vu' and Größe gt 3", 2),
        ],
    )
    def test_quoted_values_and_names_that_look_like_operators_never_count(self, text: str, expected: int) -> None:
        assert comparisons(text) == expected

    def test_fifteen_comparisons_pass_and_sixteen_are_refused_as_a_bug(self) -> None:
        check_filter(chain(MAX_FILTER_COMPARISONS))
        with pytest.raises(FilterTooLong, match=r"16 comparisons.*at most 15.*bug") as refused:
            check_filter(chain(16))
        assert refused.value.details == {"comparisons": 16, "limit": 15}

    def test_the_request_hook_reads_the_percent_encoded_filter_of_the_url(self) -> None:
        def request(text: str) -> Any:
            url = f"http://host/acct/cases()?%24filter={quote(text, safe='')}&%24top=1000"
            return SimpleNamespace(http_request=SimpleNamespace(url=url))

        refuse_long_filters(request(chain(15)))
        refuse_long_filters(
            SimpleNamespace(http_request=SimpleNamespace(url="http://host/acct/cases(PartitionKey='a')"))
        )
        with pytest.raises(FilterTooLong):
            refuse_long_filters(request(chain(16)))
        with pytest.raises(FilterTooLong):
            refuse_long_filters(request(chain(16).replace(" ", "+")))


class TestEveryTableClientChecksBeforeSending:
    """The clients the app builds run the check on every request, before anything leaves the process."""

    def test_with_a_connection_string(self) -> None:
        tables = StorageClients(Settings(storage_connection_string=UNREACHABLE)).tables
        with pytest.raises(FilterTooLong):
            list(tables.get_table_client("cases").query_entities(chain(16)))

    def test_with_a_managed_identity(self, monkeypatch: pytest.MonkeyPatch) -> None:
        class Credential:
            def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
                return AccessToken("token", 4_102_444_800)

        monkeypatch.setattr("azure.identity.DefaultAzureCredential", lambda **_: Credential())
        for name in ("AzureWebJobsStorage", "EXPORTS_STORAGE_CONNECTION_STRING"):
            monkeypatch.delenv(name, raising=False)
        tables = StorageClients(Settings(storage_account_name="prodacct")).tables
        with pytest.raises(FilterTooLong):
            list(tables.get_table_client("cases").query_entities(chain(16)))


class TestKeepingQueriesWithinTheLimit:
    def test_the_row_source_spends_two_comparisons_of_its_own(self) -> None:
        conditions = tuple(Condition("Status", "eq", f"S{n}") for n in range(CONDITION_BUDGET))
        assert comparisons(filter_text(SourceQuery("cases", "org", conditions), "0000000042")) == 15

    def test_lists_go_to_the_query_while_they_fit_and_the_rest_to_the_worker(self) -> None:
        date_range = (
            Condition("CreatedAt", "ge", datetime(2024, 1, 1, tzinfo=UTC)),
            Condition("CreatedAt", "lt", datetime(2025, 1, 1, tzinfo=UTC)),
        )
        statuses = Condition("Status", "in", tuple(f"S{n}" for n in range(50)))
        categories = Condition("CategoryId", "in", ("a", "b", "c"))
        units = Condition("BusinessUnitId", "in", tuple("defghijk"))
        locations = Condition("LocationId", "in", ("l",))
        pushed, left = pushdown.split(date_range, [statuses, categories, units, locations])
        assert pushed == (*date_range, categories, units) and left == (statuses, locations)
        assert sum(condition.comparisons for condition in pushed) <= CONDITION_BUDGET

    def test_the_worker_compares_values_as_table_storage_does(self) -> None:
        matches = pushdown.matcher([Condition("Status", "in", ("OPEN", "1")), Condition("Flag", "eq", 1)])
        assert matches({"Status": "OPEN", "Flag": 1})
        assert not matches({"Status": "open", "Flag": 1})  # ordinal, case-sensitive
        assert not matches({"Status": 1, "Flag": 1})  # a number never equals text
        assert not matches({"Status": "OPEN", "Flag": True})  # nor true 1
        assert not matches({"Flag": 1})  # a missing property matches nothing

    def test_the_fake_row_source_refuses_what_table_storage_would(self) -> None:
        query = SourceQuery("cases", "org", (Condition("Status", "in", tuple(f"S{n}" for n in range(15))),))
        with pytest.raises(FilterTooLong):
            list(FakeRowSource().read_table(query, None))
