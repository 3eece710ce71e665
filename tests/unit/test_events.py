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


HOOK = "https://hooks.example.com/exports"


def test_a_receiver_with_the_secret_verifies_the_signature() -> None:
    event = an_event()
    headers = signed_headers("s3cret", event, destination=HOOK, now=NOW)
    assert verify("s3cret", headers, event.body(), destination=HOOK, now=NOW + 5)
    lowercase = {name.lower(): value for name, value in headers.items()}
    assert verify("s3cret", lowercase, event.body(), destination=HOOK, now=NOW + 5)


def test_a_changed_body_wrong_secret_or_changed_timestamp_fails_verification() -> None:
    event = an_event()
    headers = signed_headers("s3cret", event, destination=HOOK, now=NOW)
    assert not verify("other", headers, event.body(), destination=HOOK, now=NOW)
    assert not verify("s3cret", headers, event.body().replace(b"1234", b"9999"), destination=HOOK, now=NOW)
    forged = {**headers, SIGNATURE_HEADER: headers[SIGNATURE_HEADER].replace(f"t={int(NOW)}", f"t={int(NOW) + 1}")}
    assert not verify("s3cret", forged, event.body(), destination=HOOK, now=NOW)


def test_a_signed_event_replayed_to_another_receiver_of_the_organization_fails_verification() -> None:
    # A receiver that got a signed event cannot pass it on to another receiver within the five minutes.
    event = an_event()
    headers = signed_headers("s3cret", event, destination=HOOK, now=NOW)
    for elsewhere in ("https://payroll.example.com/exports", HOOK + "/", "https://hooks.example.com/exports?x=1"):
        assert not verify("s3cret", headers, event.body(), destination=elsewhere, now=NOW + 1), elsewhere


def test_the_signature_names_the_scheme_that_signs_the_destination() -> None:
    header = signed_headers("s3cret", an_event(), destination=HOOK, now=NOW)[SIGNATURE_HEADER]
    assert header.startswith(f"t={int(NOW)},v2=") and len(header.rpartition("=")[2]) == 64


def test_a_replayed_request_is_refused_once_its_timestamp_is_old() -> None:
    event = an_event()
    headers = signed_headers("s3cret", event, destination=HOOK, now=NOW)
    assert headers[TIMESTAMP_HEADER] == str(int(NOW))
    assert not verify("s3cret", headers, event.body(), destination=HOOK, now=NOW + 301)


@pytest.mark.parametrize(
    "headers",
    [
        {SIGNATURE_HEADER: "garbage"},
        {},
        {SIGNATURE_HEADER: None},
        {SIGNATURE_HEADER: b"t=1790000000,v2=00"},
        {SIGNATURE_HEADER: 1790000000},
        {SIGNATURE_HEADER: "t=1790000000,v2=\u00e9\u00e9"},  # non-ASCII: compare_digest would raise on str
        {SIGNATURE_HEADER: "t=" + "9" * 400 + ",v2=00"},  # a float overflow in the age check
        {SIGNATURE_HEADER: "t=-1790000000,v2=00"},
        {SIGNATURE_HEADER: "t=1.79e9,v2=00"},
        {SIGNATURE_HEADER: "t=\u0661\u0667\u0669,v2=00"},  # Arabic-Indic digits: str.isdigit says yes
        {SIGNATURE_HEADER: "t=1790000000,v2=\ud800"},  # a lone surrogate cannot even be encoded
        {SIGNATURE_HEADER: "=,=,,t,v2"},
        {SIGNATURE_HEADER: "t=1790000000,v2=" + "0" * 100_000},
        None,
        "not a mapping",
        {1: 2},
    ],
)
def test_a_malformed_signature_header_is_false_and_never_raises(headers: object) -> None:
    assert verify("s3cret", headers, b"{}", destination=HOOK, now=NOW) is False


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


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254\\.x.example/",  # read as a path by a client that then connects to the first part
        "https://169.254.169.254%2f.x.example/",
        "https://hooks_example.com/x",
        "https://hooks.exa mple.com/x",
        "https://-hooks.example.com/x",
        "https://hooks..example.com/x",
        "https://h\u00f6oks.example.com/x",  # a Unicode name: its xn-- form is accepted
        "https://user@hooks.example.com/x",
    ],
)
@pytest.mark.parametrize("local", [False, True])
def test_a_callback_host_with_characters_a_host_name_cannot_have_is_refused(url: str, local: bool) -> None:
    # The resolver would say "public": the name itself is what is refused, before any lookup.
    with pytest.raises(ValidationFailed, match="host"):
        check_callback_url(url, local=local, resolve=resolver("20.1.2.3"))


def test_the_checked_target_carries_the_addresses_to_connect_to_and_the_name_for_host_and_tls() -> None:
    target = check_callback_url(
        "https://Hooks.Example.com:8443/in?x=1", local=False, resolve=resolver("20.1.2.3", "2603:1000::1")
    )
    assert (target.scheme, target.host, target.port, target.path) == ("https", "hooks.example.com", 8443, "/in?x=1")
    assert target.addresses == ("20.1.2.3", "2603:1000::1") and target.host_header == "hooks.example.com:8443"
    literal = check_callback_url("https://[2603:1000::1]/", local=False, resolve=resolver())
    assert literal.addresses == ("2603:1000::1",) and literal.host_header == "[2603:1000::1]"
    assert check_callback_url("https://xn--hoks-6qa.example.com/", local=False, resolve=resolver("20.1.2.3")).host


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
