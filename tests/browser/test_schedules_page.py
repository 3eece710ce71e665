"""A person schedules an export on the exports page in Chromium: creates a weekly schedule from the export
form's values, reads why a time a DST change skips is refused, pauses, resumes and deletes it."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Stack, screenshot
from tests.browser.test_exports_page import open_page

pytestmark = pytest.mark.browser


def test_a_schedule_is_created_from_the_form_paused_resumed_and_deleted(page: Page, stack: Stack) -> None:
    org = f"org-sched-{uuid.uuid4().hex[:10]}"
    open_page(page, stack, org=org)
    expect(page.locator("#schedules-empty")).to_be_visible()
    page.get_by_label("Format", exact=True).select_option("JSONL")
    page.get_by_label("Schedule name").fill("Weekly cases")
    page.get_by_label("Repeat").select_option("weekly")
    page.get_by_label("Friday").check()
    page.get_by_label("Run at (local time)").fill("07:30")
    page.get_by_label("Schedule time zone").fill("Europe/Paris")
    page.get_by_role("button", name="Schedule this export").click()
    expect(page.get_by_role("status")).to_contain_text("Schedule Weekly cases created; first run")

    card = page.locator("li.schedule").filter(has_text="Weekly cases")
    expect(card).to_contain_text("Every monday, friday at 07:30 (Europe/Paris)")
    expect(card).to_contain_text("cases JSONL")
    expect(card.locator(".badge")).to_have_text("active")
    screenshot(page, "schedules.png")
    [schedule] = stack.api(org).get("/export-schedules").json()["items"]
    assert schedule["export"]["format"] == "JSONL" and schedule["createdById"] == "analyst-1"

    # A time the spring change skips is refused, and the page says why.
    page.get_by_label("Schedule name").fill("Night run")
    page.get_by_label("Repeat").select_option("daily")
    expect(page.get_by_label("Friday")).to_be_hidden()
    page.get_by_label("Run at (local time)").fill("02:30")
    page.get_by_role("button", name="Schedule this export").click()
    expect(page.get_by_role("status")).to_contain_text("does not exist in Europe/Paris on")
    expect(page.locator("li.schedule")).to_have_count(1)

    card.get_by_role("button", name="Pause Weekly cases").click()
    expect(card.locator(".badge")).to_have_text("paused")
    expect(card).to_contain_text("Next runpaused")
    card.get_by_role("button", name="Resume Weekly cases").click()
    expect(card.locator(".badge")).to_have_text("active")
    card.get_by_role("button", name="Delete schedule Weekly cases").click()
    expect(page.locator("li.schedule")).to_have_count(0)
    expect(page.locator("#schedules-empty")).to_be_visible()
    assert stack.api(org).get("/export-schedules").json()["items"] == []
