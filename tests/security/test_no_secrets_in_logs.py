"""A full export and download through the local host: its log holds no account key and no SAS signature,
and no API answer but the download link carries a signature."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.conftest import Api, LocalHost
from tests.support.azurite import DEV_KEY

pytestmark = pytest.mark.integration

UNMASKED_SECRET = re.compile(r"(AccountKey|SharedAccessSignature|[?&]sig)=(?!\*\*\*)", re.IGNORECASE)


def test_a_full_export_and_download_logs_no_secret(
    api_as: Callable[..., Api], org: str, load_cases: Callable[..., int], local_host: LocalHost
) -> None:
    # The organization id is logged with every job; this one looks like a secret, so the log line that names
    # it proves the redaction runs inside the host process, on the app's own log records.
    planted = f"planted{uuid.uuid4().hex}"
    org = f"{org};AccountKey={planted}=="
    api = api_as(org, "analyst", "access_reports")
    first_line = len(local_host.log_lines)
    load_cases(org, 50)
    job = api.post("/exports", json={"format": "CSV"}).json()
    done = api.wait_for(job["jobId"], "completed", "failed")
    assert done["status"] == "completed" and done["totalRows"] == 50, done
    redirect = api.get(f"/exports/{job['jobId']}/download")
    assert redirect.status_code == 302
    assert requests.get(redirect.headers["Location"], timeout=30).status_code == 200
    listed = api.get("/exports")
    signatures = [
        parse_qs(urlsplit(url).query)["sig"][0] for url in (done["downloadUrl"], redirect.headers["Location"])
    ]

    # Only the job view (downloadUrl) and the redirect (Location) carry a link; the listing does not.
    assert "sig=" not in listed.text and all(item["downloadUrl"] is None for item in listed.json()["items"])
    log = "\n".join(local_host.log_lines[first_line:])
    assert "Executed 'Functions.run_export_step'" in log, "the worker's log was captured"
    assert f"queued for org {org.split(';')[0]};AccountKey=***" in log
    for secret in (DEV_KEY, planted, *signatures):
        assert secret not in log
    # The whole session's log so far, whatever other tests did through this host.
    everything = "\n".join(local_host.log_lines)
    assert DEV_KEY not in everything
    assert not UNMASKED_SECRET.search(everything), UNMASKED_SECRET.search(everything)
