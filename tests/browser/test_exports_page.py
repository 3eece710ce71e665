"""A person uses the exports page in Chromium: requests an XLSX and watches it finish, downloads and opens it,
cancels a running export, reads why one failed, administers tagged fields; someone of another organization
sees none of it. Keyboard only, labelled, and readable at 320 px."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import (
    ANALYST,
    CASES,
    Stack,
    act_as,
    publish_screenshot,
    screenshot,
    wait_for_job,
)

pytestmark = pytest.mark.browser

ADMIN_ROLES = ("access_reports", "import_export_tickets", "manage_system_settings")


def open_page(page: Page, stack: Stack, roles: tuple[str, ...] = ANALYST[2], org: str | None = None) -> None:
    page.goto(stack.page_url)
    act_as(page, org or stack.org, ANALYST[0], roles, name=ANALYST[1])


def job_card(page: Page, file_name_part: str) -> Locator:
    return page.locator("li.job").filter(has_text=file_name_part)


def newest_card(page: Page) -> Locator:
    return page.locator("li.job").first


def tab_to(page: Page, accessible_name: str, limit: int = 200) -> None:
    """Presses Tab until the focused control is the one named; fails if it is not reachable by keyboard."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement; return e && (e.getAttribute('aria-label') || e.textContent) }"
        )
        if focused and focused.strip() == accessible_name:
            return
    raise AssertionError(f"{accessible_name!r} cannot be reached with the Tab key")


def test_an_xlsx_export_requested_with_the_keyboard_reaches_100_percent_and_opens_in_openpyxl(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    # A browser in Kolkata: the form's time zone starts as the browser's own, and the request sends it.
    page.context.new_cdp_session(page).send("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Kolkata"})
    open_page(page, stack)
    browser_zone = page.evaluate("() => Intl.DateTimeFormat().resolvedOptions().timeZone")
    assert browser_zone in ("Asia/Kolkata", "Asia/Calcutta")  # Chromium's ICU may name it by its old link
    expect(page.get_by_label("Time zone", exact=True)).to_have_value(browser_zone)
    page.get_by_label("Format", exact=True).focus()
    page.keyboard.type("Excel")  # type-ahead picks "Excel (XLSX)" in a focused select
    expect(page.get_by_label("Format", exact=True)).to_have_value("XLSX")
    tab_to(page, "Request export")
    with page.expect_request(lambda request: request.method == "POST" and request.url.endswith("/exports")) as sent:
        page.keyboard.press("Enter")
    assert (sent.value.post_data_json or {}).get("timeZone") == browser_zone
    expect(page.get_by_role("status")).to_contain_text("requested")

    card = newest_card(page)
    bar = card.get_by_role("progressbar")
    seen: list[int] = []
    for _ in range(600):
        value = bar.get_attribute("aria-valuenow")
        if value is not None and (not seen or seen[-1] != int(value)):
            seen.append(int(value))
        if seen and seen[-1] == 100 and card.get_attribute("data-status") == "completed":
            break
        page.wait_for_timeout(100)
    assert seen[-1] == 100, seen
    assert seen == sorted(seen), f"the progress bar went backwards: {seen}"
    expect(card.locator(".badge")).to_have_text("completed")
    expect(card).to_contain_text(f"{CASES} of {CASES}")
    expect(card).to_contain_text("KB")
    expect(card.get_by_role("button", name=re.compile("^Cancel"))).to_be_hidden()
    screenshot(page, "xlsx-completed.png")

    file_name = card.locator(".job-title").inner_text().split(" · ")[0]
    with page.expect_download() as download_info:
        tab_to(page, f"Download {file_name}")
        page.keyboard.press("Enter")
    download = download_info.value
    assert download.suggested_filename == file_name and file_name.endswith(".xlsx")
    saved = tmp_path / file_name
    download.save_as(saved)
    workbook = openpyxl.load_workbook(saved, read_only=True)
    rows = list(workbook["Sheet1"].iter_rows(values_only=True))
    assert len(rows) == CASES + 1
    catalog = stack.api().get("/export-fields/columns", params={"exportType": "FLAT_FILE"}).json()["columns"]
    assert rows[0] == tuple(column["label"] for column in catalog)
    assert all(row[0] for row in rows[1:]), "every case has its id"

    # The card shows what `sha256sum` prints for the file, and the manifest downloads beside it.
    digest = hashlib.sha256(saved.read_bytes()).hexdigest()
    expect(card).to_contain_text(digest)
    with page.expect_download() as manifest_info:
        card.get_by_role("button", name=f"Download the manifest of {file_name}").click()
    manifest_path = tmp_path / manifest_info.value.suggested_filename
    manifest_info.value.save_as(manifest_path)
    assert manifest_path.name == file_name.removesuffix(".xlsx") + ".manifest.json"
    assert json.loads(manifest_path.read_bytes())["file"]["sha256"] == digest


def test_a_running_export_shows_its_progress_and_stage_and_can_be_cancelled_and_a_failed_one_says_why(
    page: Page, stack: Stack
) -> None:
    api = stack.api()
    open_page(page, stack)

    # A ticket export: one ticket's creation time is not a time; it is exported as that text, and the card says so.
    page.get_by_label("Data", exact=True).select_option("tickets")
    page.get_by_label("Format", exact=True).select_option("CSV")
    before = page.locator("li.job").count()
    page.get_by_role("button", name="Request export").click()
    # The new card first, then that card by its job id: the previous test's completed card is not taken for it.
    expect(page.locator("li.job")).to_have_count(before + 1)
    warned_id = newest_card(page).get_attribute("data-job-id")
    assert warned_id
    warned = page.locator(f'li.job[data-job-id="{warned_id}"]')
    expect(warned).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(warned).to_contain_text(
        "1 value exported as text (first: record 0000000007, created_at: text, expected datetime)"
    )
    expect(warned.get_by_role("alert")).to_be_hidden()

    stack.worker.pause()
    try:
        # A ticket export that stops moving (no worker takes it): the clean-up timer fails it, the card says why.
        before = page.locator("li.job").count()
        page.get_by_role("button", name="Request export").click()
        expect(page.locator("li.job")).to_have_count(before + 1)
        failed_id = newest_card(page).get_attribute("data-job-id")
        assert failed_id
        failed = page.locator(f'li.job[data-job-id="{failed_id}"]')
        expect(failed).to_have_attribute("data-status", "queued")
        expect(failed.locator(".percent")).to_have_text("0 % · queued")  # seed 001's first stage, Queued
        deadline = time.monotonic() + 30
        while api.get(f"/exports/{failed_id}").json()["status"] != "failed":  # idle for a second, then failed
            assert time.monotonic() < deadline, "the timer did not fail the stalled export"
            time.sleep(0.5)
            stack.run_timer()
        expect(failed).to_have_attribute("data-status", "failed", timeout=15_000)
        expect(failed.get_by_role("alert")).to_have_text(
            "Failed: The export stopped making progress and was retried 0 times; please request it again."
        )
        expect(failed.get_by_role("button", name=re.compile("^(Download|Cancel)"))).to_have_count(0)

        # With the worker paused, a case export is driven one step (count and first batch) and stays running.
        before = page.locator("li.job").count()
        page.get_by_label("Data", exact=True).select_option("cases")
        page.get_by_role("button", name="Request export").click()
        expect(page.locator("li.job")).to_have_count(before + 1)
        running = newest_card(page)
        running_id = running.get_attribute("data-job-id")
        assert running_id and running_id != failed_id
        running = page.locator(f'li.job[data-job-id="{running_id}"]')  # stays on it when newer jobs appear
        stack.run_worker_step(running_id, 0)  # counting, and the first batch in the same invocation
        wait_for_job(
            api,
            running_id,
            lambda job: job["stage"] == "exporting" and job["totalRows"] == CASES and job["processedRows"] == 1_000,
        )
        bar = running.get_by_role("progressbar")
        expect(bar).to_have_attribute("aria-valuenow", "50", timeout=10_000)
        expect(running.locator(".percent")).to_have_text("50 % · exporting")
        expect(running).to_contain_text(f"1000 of {CASES}")
        expect(running.get_by_role("button", name=re.compile("^Download"))).to_be_hidden()

        expect(page.locator("li.job[data-status=completed]").first).to_be_visible(timeout=15_000)
        page.get_by_role("heading", name="Your exports").scroll_into_view_if_needed()
        publish_screenshot(screenshot(page, "exports-page.png"))

        running.get_by_role("button", name=re.compile("^Cancel")).click()
        expect(running).to_have_attribute("data-status", "cancelled")
        expect(running.locator(".badge")).to_have_text("cancelled")
        expect(running.get_by_role("button", name=re.compile("^(Download|Cancel)"))).to_have_count(0)
        assert api.get(f"/exports/{running_id}").json()["status"] == "cancelled"
    finally:
        stack.worker.resume()
    screenshot(page, "after-cancel.png")


def test_a_user_of_another_organization_sees_none_of_it(page: Page, stack: Stack) -> None:
    mine = stack.api().get("/exports").json()["items"]
    assert mine, "the tests above made exports in the organization"
    open_page(page, stack, roles=ADMIN_ROLES, org=f"{stack.org}-elsewhere")
    expect(page.get_by_text("No exports yet.")).to_be_visible()
    expect(page.locator("li.job")).to_have_count(0)
    expect(page.get_by_role("heading", name="Tagged fields (administrators)")).to_be_visible()
    content = page.content()
    assert stack.org + "-elsewhere" in page.get_by_label("Organization").input_value()
    leaked = [job["jobId"] for job in mine if job["jobId"] in content] + [
        job["fileName"] for job in mine if job["fileName"] in content
    ]
    assert not leaked, leaked
    screenshot(page, "other-organization.png")


def test_an_admin_creates_previews_and_deletes_a_tagged_field(page: Page, stack: Stack) -> None:
    open_page(page, stack, roles=ADMIN_ROLES)
    table = page.get_by_role("table", name="Tag slots")
    expect(table.locator("tbody tr")).to_have_count(20)
    page.get_by_role("button", name="Create slot 3").click()
    expect(page.get_by_label("Source field path")).to_be_focused()
    page.get_by_label("Source field path").fill("customFields.employeeId")
    page.get_by_label("Column name").fill("employee_id")
    page.get_by_label("Display label").fill("Employee ID")
    page.get_by_role("button", name="Save tag").click()
    expect(page.get_by_role("status")).to_have_text("Slot 3 saved as employee_id.")
    row = table.locator("tbody tr").nth(2)
    expect(row).to_contain_text("employee_id")
    expect(row).to_contain_text("CASE customFields.employeeId")
    expect(page.locator("#columns")).to_contain_text("employee_id")

    page.get_by_label("Case id", exact=True).fill(stack.case_id)
    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_role("table", name="Tag values for the case")
    expect(preview.locator("tbody tr")).to_have_count(1)
    expect(preview.locator("tbody tr td").nth(1)).to_have_text("employee_id")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete slot 3").click()
    expect(page.get_by_role("status")).to_have_text("Slot 3 deleted.")
    expect(row).to_contain_text("(free)")
    assert stack.api(stack.org, "admin", *ADMIN_ROLES).get("/export-fields/tags").json()["items"] == []


def test_an_analyst_without_the_admin_permission_gets_no_tag_panel(page: Page, stack: Stack) -> None:
    open_page(page, stack)
    expect(page.locator("#request-form")).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_role("heading", name="Tagged fields (administrators)")).to_be_hidden()


def test_every_control_is_labelled_and_the_page_reads_at_320_px(page: Page, stack: Stack) -> None:
    page.set_viewport_size({"width": 320, "height": 900})
    open_page(page, stack, roles=ADMIN_ROLES)
    page.get_by_label("Data", exact=True).select_option("tickets")
    page.get_by_role("button", name="Add a filter").click()
    expect(page.get_by_label("Filter 1 field")).to_be_focused()
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
            .map((e) => e.outerHTML)"""
    )
    assert unlabelled == []
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 320, f"the page scrolls sideways at 320 px ({width} px wide)"
    screenshot(page, "narrow-320px.png")
