"""`python -m bench.formats`: one FLAT_FILE export per file format, end to end, timed and measured.

For each of CSV, XLSX, JSON, JSONL and gzip CSV: create the export over HTTP (a long-lived
`devhost --only http`), run it with a fresh worker process (`devhost --only queue`, so its VmHWM is
that one export's peak resident set), wait for `completed`, download the file through its SAS link
and check it opens (ZIP CRCs for XLSX, gzip for `.gz`, the whole document for JSON). Starts its own
private Azurite and loads the synthetic cases once (`tools.load_cases`). The machine is shared: every
figure is the median of `--repeat` runs (min and max shown too). Not part of any test run.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import time
import zipfile
from datetime import UTC, datetime
from typing import Any

import requests
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.data.tables import TableServiceClient

from bench.common import CASES_TABLE, LOAD_SEED, RESULTS_DIR, Stat, org_for, repeat
from bench.project import DevHost, headers_for, host_env
from tests.support.azurite import Azurite
from tools.load_cases import load

VARIANTS: dict[str, dict[str, Any]] = {
    "CSV": {"format": "CSV"},
    "XLSX": {"format": "XLSX"},
    "JSON": {"format": "JSON"},
    "JSONL": {"format": "JSONL"},
    "CSV+gzip": {"format": "CSV", "compression": "gzip"},
}


def load_in_slices(connection: str, rows: int, size: int = 5_000) -> float:
    """Loads the cases slice by slice, retrying a slice when a busy, shared machine drops a connection.

    Upserts are idempotent, so a retried slice loads the same entities again.
    """
    started = time.monotonic()
    service = TableServiceClient.from_connection_string(connection)
    for start in range(1, rows + 1, size):
        for attempt in range(1, 6):
            try:
                load(service, CASES_TABLE, org_for(rows), min(size, rows + 1 - start), seed=LOAD_SEED, start=start)
                break
            except (ServiceRequestError, ServiceResponseError):
                if attempt == 5:
                    raise
                time.sleep(2 * attempt)
    return time.monotonic() - started


def export_once(http: DevHost, env: dict[str, str], organization: str, options: dict[str, Any]) -> dict[str, float]:
    worker = DevHost(env, "--only", "queue")
    try:
        session = requests.Session()
        session.headers.update(headers_for(organization))
        body = {"dataset": "cases", "exportType": "FLAT_FILE", **options}
        started = time.perf_counter()
        created = session.post(f"{http.base_url}/exports", json=body, timeout=30)
        if created.status_code != 202:
            raise RuntimeError(f"create {options} answered {created.status_code}: {created.text}")
        job_id = created.json()["jobId"]
        while True:
            job = session.get(f"{http.base_url}/exports/{job_id}", timeout=30).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            if time.perf_counter() - started > 1800:
                raise RuntimeError(f"export {job_id} still {job['status']} after 30 minutes")
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        peak = worker.peak_rss_mb
    finally:
        worker.stop()
    if job["status"] != "completed":
        raise RuntimeError(f"export {options} ended {job['status']}: {job.get('errorMessage')}")
    link = session.get(f"{http.base_url}/exports/{job_id}/download", allow_redirects=False, timeout=30)
    content = requests.get(link.headers["Location"], timeout=300).content
    check_file(options, content, int(job["totalRows"]))
    return {
        "seconds": seconds,
        "rows": float(job["totalRows"]),
        "worker_peak_rss_mb": peak,
        "file_mb": len(content) / 1_000_000,
    }


def check_file(options: dict[str, Any], content: bytes, rows: int) -> None:
    """The downloaded file opens: a cheap check, not the tests' full read-back."""
    if options.get("compression") == "gzip":
        content = gzip.decompress(content)
    if options["format"] == "XLSX":
        assert zipfile.ZipFile(io.BytesIO(content)).testzip() is None
    elif options["format"] == "JSON":
        assert len(json.loads(content)) == rows
    elif options["format"] == "JSONL":
        assert content.count(b"\n") == rows
    else:
        assert content.startswith(b"\xef\xbb\xbf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.formats", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: " + ",".join(VARIANTS))
    parser.add_argument("--connection", help="an Azurite already loaded with --rows cases (skips loading)")
    args = parser.parse_args(argv)
    # In memory: on-disk Azurite rewrites its table file on every autosave and stalls a 100k-row load.
    azurite = None if args.connection else Azurite(in_memory=True).start()
    connection = args.connection or (azurite.connection_string if azurite else "")
    results: dict[str, dict[str, Stat]] = {}
    try:
        if azurite is not None:
            print(f"loading {args.rows:,} cases ...", flush=True)
            print(f"  loaded in {load_in_slices(connection, args.rows):.0f} s", flush=True)
        env = host_env(connection)
        http = DevHost(env, "--only", "http")
        try:
            for name in args.variants.split(","):
                options = VARIANTS[name]
                results[name] = repeat(
                    args.repeat,
                    lambda options=options: export_once(http, env, org_for(args.rows), options),  # type: ignore[misc]
                )
                stats = results[name]
                print(
                    f"{name:<9} {stats['seconds'].median:7.1f} s  (min {stats['seconds'].low:.1f}, max "
                    f"{stats['seconds'].high:.1f})  peak RSS {stats['worker_peak_rss_mb'].median:6.1f} MB  "
                    f"file {stats['file_mb'].median:7.2f} MB",
                    flush=True,
                )
        finally:
            http.stop()
    finally:
        if azurite is not None:
            azurite.stop()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"formats-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(
        json.dumps(
            {name: {key: stat.as_json() for key, stat in stats.items()} for name, stats in results.items()}, indent=2
        )
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
