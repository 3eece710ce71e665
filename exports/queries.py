"""Queries: a job, a page of jobs, a download link, the audit trail — what a caller may see of its exports."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from exports.models import (
    AuditTrail,
    Dataset,
    ExportJob,
    JobPage,
    JobStatus,
    JobView,
    manifest_blob_name,
    manifest_file_name,
)
from exports.outbox import Outbox
from exports.ports import AuditLog, Clock, IdempotencyRecord, IdempotencyStore, JobStore, LinkSigner
from shared.auth import ACCESS_REPORTS, IMPORT_EXPORT_TICKETS, MANAGE_SYSTEM_SETTINGS, Principal
from shared.errors import Conflict, Forbidden, Gone, NotFound
from shared.settings import Settings

log = logging.getLogger("exports.service")


def require_dataset_permission(principal: Principal, job: ExportJob, action: str) -> None:
    """The permission to export the job's dataset, checked at the moment of each use of the file: a user
    whose permission was removed, or an administrator without it, cannot take or drop someone's data."""
    needed = dataset_permission(job.dataset)
    if not principal.has(needed):
        raise Forbidden(f"{action} a {job.dataset.value} export needs the {needed} permission.")


def dataset_permission(dataset: Dataset) -> str:
    return IMPORT_EXPORT_TICKETS if dataset is Dataset.TICKETS else ACCESS_REPORTS


def _plausible_job_id(job_id: str) -> bool:
    return 0 < len(job_id) <= 100 and all(ch.isalnum() or ch == "-" for ch in job_id)


@dataclass
class Queries:
    settings: Settings
    jobs: JobStore
    signer: LinkSigner
    idempotency: IdempotencyStore
    audit: AuditLog
    clock: Clock
    outbox: Outbox

    def get(self, principal: Principal, job_id: str, *, client: str | None = None) -> JobView:
        job = self.visible_job(principal, job_id)
        # An administrator sees every job's metadata; a link only with the dataset's permission, held now.
        linkable = self._downloadable(job) and principal.has(dataset_permission(job.dataset))
        url = self._link(job, principal, client, via="job status") if linkable else None
        manifest_url = None
        if linkable and job.manifest_sha256 is not None:
            manifest_url = self._link(job, principal, client, via="job status", manifest=True)
        return JobView.of(job, url, manifest_url)

    def list(
        self,
        principal: Principal,
        *,
        status: JobStatus | None,
        page_size: int | None,
        continuation_token: str | None,
        whole_organization: bool,
    ) -> JobPage:
        if whole_organization and not principal.has(MANAGE_SYSTEM_SETTINGS):
            raise Forbidden("Listing the whole organization's exports needs the manage_system_settings permission.")
        listing = self.jobs.list(
            principal.organization_id,
            created_by_id=None if whole_organization else principal.user_id,
            status=status,
            page_size=page_size or self.settings.list_page_size,
            continuation_token=continuation_token,
        )
        return JobPage(items=[JobView.of(job) for job in listing.jobs], continuation_token=listing.continuation_token)

    def download_link(self, principal: Principal, job_id: str, *, client: str | None = None) -> str:
        job = self._downloadable_job(principal, job_id)
        return self._link(job, principal, client, via="download redirect")

    def manifest_link(self, principal: Principal, job_id: str, *, client: str | None = None) -> str:
        """A link to the manifest file: the same permission, states and lifetime as the file it describes."""
        job = self._downloadable_job(principal, job_id)
        if job.manifest_sha256 is None:
            raise Gone("This export completed before exports had manifests; its job view shows what it holds.")
        return self._link(job, principal, client, via="manifest redirect", manifest=True)

    def _downloadable_job(self, principal: Principal, job_id: str) -> ExportJob:
        job = self.visible_job(principal, job_id)
        require_dataset_permission(principal, job, "Downloading")
        if job.deleted_at is not None:
            raise Gone("The export was deleted; request a new export.")
        if job.status is not JobStatus.COMPLETED:
            raise Conflict(f"The export is {job.status.value}; it can be downloaded once it has completed.")
        if not self._downloadable(job):
            raise Gone("The export's file has expired and was deleted; request a new export.")
        return job

    def audit_trail(self, principal: Principal, job_id: str) -> AuditTrail:
        if not principal.has(MANAGE_SYSTEM_SETTINGS):
            raise Forbidden("The audit trail needs the manage_system_settings permission.")
        job = self.visible_job(principal, job_id)
        return AuditTrail(items=self.audit.list_for_job(job.organization_id, job.job_id))

    def visible_job(self, principal: Principal, job_id: str) -> ExportJob:
        job = self.jobs.get(principal.organization_id, job_id) if _plausible_job_id(job_id) else None
        if job is None or (job.created_by_id != principal.user_id and not principal.has(MANAGE_SYSTEM_SETTINGS)):
            # Another user's or organization's job looks exactly like a missing one.
            raise NotFound(f"No export {job_id} was found.")
        return job

    def _downloadable(self, job: ExportJob) -> bool:
        return (
            job.status is JobStatus.COMPLETED
            and not job.is_cleaned_up
            and job.expires_at is not None
            and job.expires_at > self.clock.now()
        )

    def _link(
        self, job: ExportJob, principal: Principal, client: str | None, *, via: str, manifest: bool = False
    ) -> str:
        assert job.expires_at is not None
        # Never valid past the file's expiry, so clean-up can never leave a live link to a deleted blob.
        valid_for = min(timedelta(minutes=self.settings.download_link_minutes), job.expires_at - self.clock.now())
        if manifest:
            # The manifest holds no row of data, only what the job view shows the same callers: its link is
            # not a download of the data, and the audit's "downloaded" rows stay about the file.
            return self.signer.sign(manifest_blob_name(job), file_name=manifest_file_name(job), valid_for=valid_for)
        url = self.signer.sign(job.blob_name, file_name=job.file_name, valid_for=valid_for)
        # Storage cannot tell us about the download itself: issuing the link is what the audit can see. A page
        # polling a completed job gets a fresh link each time; one row per user, job and link lifetime says it.
        lifetime = 60 * self.settings.download_link_minutes
        user = hashlib.sha256(principal.user_id.encode()).hexdigest()[:32]
        mark = f"link-issued:{job.job_id}:{user}:{int(self.clock.now().timestamp()) // lifetime}"
        if self.idempotency.get(job.organization_id, mark) is None:
            # Recorded before the mark: a crash in between repeats the row rather than losing it.
            self.outbox.record(job, "downloaded", actor_id=principal.user_id, actor_name=principal.name, client=client,
                         detail=f"download link issued ({via}); valid {self.settings.download_link_minutes} minutes")
            self.idempotency.claim(job.organization_id, mark, IdempotencyRecord(job_id=job.job_id, request_hash=""))
        return url
