"""The tag admin's audit trail: every change to a tag and every preview of a case leaves a row, listed for
administrators newest first; a refused change leaves none, and no row holds a cell value."""

from __future__ import annotations

from datetime import timedelta

import pytest

from exports.models import TagCreate, TagUpdate
from exports.tag_service import TagService
from shared.auth import Principal
from shared.errors import Conflict, Forbidden, MalformedRequest, ValidationFailed
from tests.support.fixed_data import fixed_cases, fixed_records, fixed_tags
from tests.unit.conftest import ORG_A, World


@pytest.fixture
def tags(world: World) -> TagService:
    return TagService(
        settings=world.service.settings, tags=world.tags, source=world.source, audit=world.audit, clock=world.clock
    )


def tag_body(index: int = 0, **changes: object) -> TagCreate:
    return TagCreate.model_validate({**fixed_tags()[index], **changes})


def a_minute_later(world: World) -> None:
    world.clock.advance(timedelta(minutes=1))


def test_each_change_and_a_preview_leave_a_row_with_the_tag_before_and_after_newest_first(
    world: World, tags: TagService, admin: Principal
) -> None:
    world.source.add("cases", fixed_cases(ORG_A))
    world.source.add("caserecords", fixed_records(ORG_A))
    tags.create(admin, tag_body(), client="203.0.113.7")
    a_minute_later(world)
    tags.put(admin, 1, tag_body(displayLabel="Total $"), client="203.0.113.7")
    a_minute_later(world)
    tags.update(admin, 1, TagUpdate(tag_slot=4), client="203.0.113.8")
    a_minute_later(world)
    tags.put(admin, 2, tag_body(1), client="203.0.113.7")  # PUT into a free slot creates
    a_minute_later(world)
    tags.preview(admin, "case-1", client="198.51.100.2")
    a_minute_later(world)
    tags.delete(admin, 4, client="203.0.113.7")

    rows = tags.audit_trail(admin, page_size=50, continuation_token=None).items

    assert [(row.action, row.tag_slot) for row in rows] == [
        ("deleted", 4), ("previewed", None), ("created", 2), ("updated", 1), ("replaced", 1), ("created", 1)]
    assert [row.at for row in rows] == sorted((row.at for row in rows), reverse=True)
    assert {(row.actor_id, row.actor_name) for row in rows} == {(admin.user_id, admin.name)}
    deleted, previewed, _, updated, replaced, created = rows
    assert created.before is None and created.after == tag_body()
    assert replaced.before == tag_body() and replaced.after == tag_body(displayLabel="Total $")
    assert updated.before == tag_body(displayLabel="Total $")
    assert updated.after == tag_body(displayLabel="Total $", tagSlot=4)
    assert deleted.before == tag_body(displayLabel="Total $", tagSlot=4) and deleted.after is None
    assert (previewed.case_id, previewed.before, previewed.after) == ("case-1", None, None)
    assert previewed.client_address == "198.51.100.2" and updated.client_address == "203.0.113.8"


def test_a_preview_row_holds_the_case_id_and_no_value_of_the_case(
    world: World, tags: TagService, admin: Principal
) -> None:
    world.source.add("cases", fixed_cases(ORG_A))
    world.source.add("caserecords", fixed_records(ORG_A))
    for index in range(len(fixed_tags())):
        tags.create(admin, tag_body(index))
    a_minute_later(world)
    values = tags.preview(admin, "case-1")
    shown = [value.raw_value for value in values if value.raw_value is not None]
    assert shown  # the preview did read values of the case

    [row, *_] = tags.audit_trail(admin, page_size=50, continuation_token=None).items

    assert row.action == "previewed"
    stored = row.model_dump_json(by_alias=True)
    assert "case-1" in stored and not [value for value in shown if str(value) in stored]


def test_a_refused_change_leaves_no_row(world: World, tags: TagService, admin: Principal) -> None:
    tags.create(admin, tag_body(0))
    a_minute_later(world)
    tags.create(admin, tag_body(2))
    a_minute_later(world)

    with pytest.raises(Conflict):
        tags.create(admin, tag_body(1, columnName="total_dollar_amount"))
    with pytest.raises(Conflict):
        tags.update(admin, 3, TagUpdate(tag_slot=1))
    with pytest.raises(ValidationFailed):
        tags.put(admin, 3, tag_body(2, columnName="case_id"))

    rows = tags.audit_trail(admin, page_size=50, continuation_token=None).items
    assert [(row.action, row.tag_slot) for row in rows] == [("created", 3), ("created", 1)]


def test_the_tag_audit_is_for_administrators_of_the_organization(
    world: World, tags: TagService, admin: Principal, analyst: Principal, outsider: Principal
) -> None:
    tags.create(admin, tag_body())

    with pytest.raises(Forbidden):
        tags.audit_trail(analyst, page_size=50, continuation_token=None)
    assert tags.audit_trail(outsider, page_size=50, continuation_token=None).items == []
    assert len(tags.audit_trail(admin, page_size=50, continuation_token=None).items) == 1


def test_the_tag_audit_pages_newest_first_with_a_continuation_token(
    world: World, tags: TagService, admin: Principal
) -> None:
    for label in ("one", "two", "three", "four", "five"):
        tags.put(admin, 1, tag_body(displayLabel=label))
        a_minute_later(world)

    first = tags.audit_trail(admin, page_size=2, continuation_token=None)
    second = tags.audit_trail(admin, page_size=2, continuation_token=first.continuation_token)
    third = tags.audit_trail(admin, page_size=2, continuation_token=second.continuation_token)

    labels = [row.after.display_label for page in (first, second, third) for row in page.items if row.after]
    assert labels == ["five", "four", "three", "two", "one"]
    assert third.continuation_token is None
    with pytest.raises(MalformedRequest):
        tags.audit_trail(admin, page_size=2, continuation_token="not-a-token")
