"""Completion events: stable ids, HMAC signatures a receiver can verify, and where callbacks may go."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from exports.events import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ExportEvent,
    backoff_seconds,
    check_callback_url,
    event_id,
    organization_secret,
    signed_headers,
    verify,
)
from exports.models import CreateExportRequest, JobStatus
from shared.errors import ValidationFailed

NOW = 1_790_000_000.0


def an_event(**fields: object) -> ExportEvent:
    return ExportEvent.model_validate(
        {
            "id": event_id("job-1", JobStatus.COMPLETED),
            "type": "export.completed",
            "jobId": "job-1",
            "organizationId": "org-a",
            "status": "completed",
            "rowCount": 10,
            "fileSizeBytes": 1234,
            "errorMessage": None,
            "occurredAt": datetime(2026, 3, 1, 12, tzinfo=UTC),
            **fields,
        }
    )


# ---- event ids ----------------------------------------------------------------------------------


def test_an_event_id_is_the_same_every_time_for_one_job_and_status() -> None:
    assert event_id("job-1", JobStatus.COMPLETED) == event_id("job-1", JobStatus.COMPLETED)


def test_event_ids_differ_between_jobs_and_between_final_statuses() -> None:
    ids = {event_id(job, status) for job in ("job-1", "job-2") for status in (JobStatus.COMPLETED, JobStatus.FAILED)}
    assert len(ids) == 4


def test_an_event_body_is_the_same_bytes_each_time_it_is_built() -> None:
    assert an_event().body() == an_event().body()
    assert b'"jobId":"job-1"' in an_event().body()


# ---- signatures ---------------------------------------------------------------------------------


def test_a_receiver_with_the_secret_verifies_the_signature() -> None:
    event = an_event()
    headers = signed_headers("s3cret", event, now=NOW)
    assert verify("s3cret", headers, event.body(), now=NOW + 5)


def test_a_changed_body_wrong_secret_or_changed_timestamp_fails_verification() -> None:
    event = an_event()
    headers = signed_headers("s3cret", event, now=NOW)
    assert not verify("other", headers, event.body(), now=NOW)
    assert not verify("s3cret", headers, event.body().replace(b"1234", b"9999"), now=NOW)
    forged = {**headers, SIGNATURE_HEADER: headers[SIGNATURE_HEADER].replace(f"t={int(NOW)}", f"t={int(NOW) + 1}")}
    assert not verify("s3cret", forged, event.body(), now=NOW)


def test_a_replayed_request_is_refused_once_its_timestamp_is_old() -> None:
    event = an_event()
    headers = signed_headers("s3cret", event, now=NOW)
    assert headers[TIMESTAMP_HEADER] == str(int(NOW))
    assert not verify("s3cret", headers, event.body(), now=NOW + 301)


def test_an_unreadable_signature_header_fails_verification() -> None:
    assert not verify("s3cret", {SIGNATURE_HEADER: "garbage"}, b"{}", now=NOW)
    assert not verify("s3cret", {}, b"{}", now=NOW)


def test_organizations_get_their_own_secret_or_one_derived_from_the_master_key() -> None:
    assert organization_secret("org-a", {"org-a": "explicit"}, "master") == "explicit"
    derived_b = organization_secret("org-b", {}, "master")
    assert derived_b and derived_b != organization_secret("org-c", {}, "master")
    assert organization_secret("org-b", {}, None) is None


def test_retries_back_off_exponentially_up_to_an_hour() -> None:
    assert [backoff_seconds(n, 30) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff_seconds(30, 30) == 3600


# ---- callback URL policy --------------------------------------------------------------------------


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "::1", "fe80::1", "fd00::1",
     "100.64.0.1", "0.0.0.0", "::ffff:10.0.0.1", "224.0.0.1"],
)
def test_in_azure_a_callback_to_a_non_public_address_is_refused(address: str) -> None:
    with pytest.raises(ValidationFailed, match="public address"):
        check_callback_url("https://hooks.example.com/x", local=False, resolve=resolver(address))


def test_in_azure_a_name_with_one_private_address_among_public_ones_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="public address"):
        check_callback_url("https://hooks.example.com/x", local=False, resolve=resolver("20.1.2.3", "10.0.0.5"))


def test_in_azure_a_public_https_callback_is_accepted() -> None:
    check_callback_url("https://hooks.example.com/x", local=False, resolve=resolver("20.1.2.3", "2603:1000::1"))


def test_in_azure_plain_http_and_unresolvable_names_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="https"):
        check_callback_url("http://hooks.example.com/x", local=False, resolve=resolver("20.1.2.3"))
    with pytest.raises(ValidationFailed, match="does not resolve"):
        check_callback_url("https://nowhere.invalid/x", local=False, resolve=resolver())


def test_an_ip_literal_host_is_checked_as_it_resolves() -> None:
    with pytest.raises(ValidationFailed, match="public address"):
        check_callback_url("https://127.0.0.1:8443/x", local=False)


def test_in_local_development_http_to_loopback_is_allowed() -> None:
    check_callback_url("http://127.0.0.1:9999/hook", local=True, resolve=resolver())


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "https://user:pw@example.com/x", "example.com/x", "https://", "https://h:99999/"]
)
def test_a_callback_url_that_is_not_a_plain_absolute_http_url_is_a_validation_error(url: str) -> None:
    with pytest.raises(ValueError, match=r"callbackUrl|absolute"):
        CreateExportRequest.model_validate({"format": "CSV", "callbackUrl": url})


def test_webhook_secrets_come_from_a_json_setting_and_azure_rules_are_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.settings import Settings

    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("EXPORTS_WEBHOOK_SECRETS", '{"org-a": "secret-a"}')
    monkeypatch.delenv("EXPORTS_ENVIRONMENT", raising=False)
    settings = Settings()
    assert settings.webhook_secrets["org-a"].get_secret_value() == "secret-a"
    assert "secret-a" not in repr(settings)
    assert settings.environment == "azure"
