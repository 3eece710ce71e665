"""Permissions are checked on every use of an export's data, not only when it is requested: a link, a download, a
cancel and a delete need the dataset's permission at that moment; an administrator without it sees metadata only;
a tag preview (a case's custom data) needs access_reports. Polling a completed job records one link row per
user, job and link lifetime, not one per poll."""

from __future__ import annotations

from datetime import timedelta

import pytest

from exports.models import CreateExportRequest, JobStatus
from exports.tag_service import TagService
from shared.auth import ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, MANAGE_SYSTEM_SETTINGS, Principal
from shared.errors import Forbidden
from tests.unit.conftest import ORG_A, World

SETTINGS_ONLY = Principal(ORG_A, "admin-2", "Set Tings", frozenset({MANAGE_SYSTEM_SETTINGS}))


def completed_export(world: World, owner: Principal, dataset: str = "cases") -> str:
    if dataset == "cases":
        world.load_cases(ORG_A, 5)
    else:
        world.load_tickets(ORG_A, 5)
    job, _ = world.service.create(owner, CreateExportRequest.model_validate({"format": "CSV", "dataset": dataset}))
    world.drain()
    return job.job_id


def downloaded_rows(world: World, job_id: str) -> list[str]:
    return [row.actor_id for row in world.audit.list_for_job(ORG_A, job_id) if row.action == "downloaded"]


def test_manage_system_settings_alone_sees_every_jobs_metadata_but_gets_no_link(
    world: World, analyst: Principal
) -> None:
    job_id = completed_export(world, analyst)

    view = world.service.get(SETTINGS_ONLY, job_id)

    assert view.status is JobStatus.COMPLETED and view.created_by_id == analyst.user_id
    assert view.download_url is None and view.file_size_bytes
    assert downloaded_rows(world, job_id) == [], "no link was issued, so none is recorded"
    assert [job.job_id for job in world.service.list(
        SETTINGS_ONLY, status=None, page_size=None, continuation_token=None, whole_organization=True
    ).items] == [job_id]


def test_manage_system_settings_alone_cannot_download_cancel_or_delete_someone_elses_export(
    world: World, analyst: Principal
) -> None:
    done = completed_export(world, analyst)
    world.load_cases(ORG_A, 3_000)
    running, _ = world.service.create(analyst, CreateExportRequest.model_validate({"format": "CSV"}))
    world.step()

    with pytest.raises(Forbidden, match="access_reports"):
        world.service.download_link(SETTINGS_ONLY, done)
    with pytest.raises(Forbidden, match="access_reports"):
        world.service.delete(SETTINGS_ONLY, done)
    with pytest.raises(Forbidden, match="access_reports"):
        world.service.cancel(SETTINGS_ONLY, running.job_id)
    with pytest.raises(Forbidden, match="access_reports"):
        world.service.delete(SETTINGS_ONLY, running.job_id)

    kept = world.jobs.get(ORG_A, done)
    assert kept is not None and kept.deleted_at is None and world.sink.exists(kept.blob_name)
    assert world.jobs.get(ORG_A, running.job_id).status is JobStatus.RUNNING  # type: ignore[union-attr]


def test_a_user_whose_permission_was_removed_can_no_longer_take_or_drop_their_own_export(
    world: World, analyst: Principal
) -> None:
    job_id = completed_export(world, analyst)
    removed = Principal(ORG_A, analyst.user_id, analyst.name, frozenset())

    assert world.service.get(removed, job_id).download_url is None
    for use in (world.service.download_link, world.service.delete, world.service.cancel):
        with pytest.raises(Forbidden):
            use(removed, job_id)
    assert world.service.download_link(analyst, job_id), "with the permission back, the file is there"


def test_the_permission_is_the_datasets_own(world: World) -> None:
    ticket_owner = Principal(ORG_A, "agent-1", "Agent", frozenset({IMPORT_EXPORT_TICKETS}))
    job_id = completed_export(world, ticket_owner, dataset="tickets")
    cases_admin = Principal(ORG_A, "admin-3", "Cases Admin", frozenset({ACCESS_REPORTS, MANAGE_SYSTEM_SETTINGS}))
    tickets_admin = Principal(ORG_A, "admin-4", "Desk", frozenset({IMPORT_EXPORT_TICKETS, MANAGE_SYSTEM_SETTINGS}))

    with pytest.raises(Forbidden, match="import_export_tickets"):
        world.service.download_link(cases_admin, job_id)
    assert world.service.get(cases_admin, job_id).download_url is None
    assert world.service.download_link(tickets_admin, job_id)
    assert world.service.download_link(ticket_owner, job_id)


def test_an_administrator_with_the_datasets_permission_still_downloads_and_deletes(
    world: World, analyst: Principal, admin: Principal
) -> None:
    job_id = completed_export(world, analyst)
    assert world.service.get(admin, job_id).download_url
    world.service.delete(admin, job_id)
    assert world.jobs.get(ORG_A, job_id).deleted_at is not None  # type: ignore[union-attr]


def test_a_tag_preview_needs_access_reports_besides_manage_system_settings(world: World, admin: Principal) -> None:
    case_id = str(world.load_cases(ORG_A, 1)[0]["CaseId"])
    tags = TagService(
        settings=world.service.settings, tags=world.tags, source=world.source, audit=world.audit, clock=world.clock
    )
    with pytest.raises(Forbidden, match="access_reports"):
        tags.preview(SETTINGS_ONLY, case_id)
    assert tags.preview(admin, case_id) == []


# ---- one "link issued" row per user, job and link lifetime ----------------------------------------


def test_polling_a_completed_job_records_one_link_row_per_user_and_link_lifetime(
    world: World, analyst: Principal, admin: Principal
) -> None:
    job_id = completed_export(world, analyst)
    for _ in range(30):  # the page polls
        world.service.get(analyst, job_id)
        world.clock.advance(timedelta(seconds=2))
    world.service.download_link(analyst, job_id)
    world.service.get(admin, job_id)

    assert downloaded_rows(world, job_id) == [analyst.user_id, admin.user_id]

    world.clock.advance(timedelta(minutes=world.service.settings.download_link_minutes))
    world.service.get(analyst, job_id)
    assert downloaded_rows(world, job_id) == [analyst.user_id, admin.user_id, analyst.user_id]
