"""`python -m bench`: `make bench` (10k and 100k rows) and `make bench-large` (adds 1M rows).

Starts its own private Azurite on free loopback ports, loads synthetic cases into one organization
per size (once; every repetition reads the same rows), then measures and prints a table and writes
it as JSON to bench/results/. Each figure is the median of `--repeat` runs with min and max.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

from bench.ceilings import raw_scan, raw_upload
from bench.common import RESULTS_DIR, Stat, load_rows, org_for, repeat
from bench.latency import post_latency
from bench.project import DevHost, headers_for, host_env, run_export
from tests.support.azurite import Azurite

FORMATS = ("CSV", "JSONL", "JSON", "XLSX", "CSV+inv")
NAIVE_FORMATS = ("CSV", "XLSX")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="row counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of every measurement (at least 3)")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--naive-max-rows", type=int, default=100_000, help="run the naive peer up to this size")
    parser.add_argument("--latency-seconds", type=float, default=30.0, help="0 skips the job creation test")
    parser.add_argument("--latency-clients", type=int, default=50)
    parser.add_argument(
        "--latency-orgs",
        type=int,
        default=1,
        help="spread the job creation clients over this many organizations (1: all in one)",
    )
    parser.add_argument("--load-processes", type=int, default=2, help="processes loading the largest size")
    parser.add_argument(
        "--two-workers",
        action="store_true",
        help="also run the largest CSV export with 2 worker processes (the speed-up of a second worker)",
    )
    parser.add_argument(
        "--shard-rows",
        type=int,
        help="EXPORTS_SHARD_ROWS for the hosts (default: the app's, 250,000): shard smaller exports too",
    )
    parser.add_argument("--connection", help="use this (already loaded) Azurite instead of a private one")
    parser.add_argument("--label", default="bench", help="name of the results file")
    args = parser.parse_args(argv)
    if args.repeat < 3:
        parser.error("--repeat must be at least 3 (median with min and max)")
    return args


def xlsx_available() -> str | None:
    """None when the XLSX writer exists; otherwise why not."""
    from exports.formats import writer_for
    from exports.models import ColumnSpec, ExportFormat

    try:
        writer_for(ExportFormat.XLSX, [ColumnSpec(name="a", label="A", data_type="TEXT")], {})
    except Exception as error:  # any failure means: not available in this tree yet
        return f"{type(error).__name__}: {error}"
    return None


def naive(connection: str, organization: str, fmt: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.naive", connection, organization, fmt.lower()],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    formats = [fmt.strip() for fmt in args.formats.split(",") if fmt.strip()]
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "repeat": args.repeat,
        "sizes": sizes,
        "load": {},
        "ceiling": {},
        "naive": {},
        "project": {},
        "unavailable": {},
    }
    # In memory: on disk, Azurite rewrites its whole table file on every autosave and stalls on large loads.
    azurite = None if args.connection else Azurite(in_memory=True).start()
    connection = args.connection or (azurite.connection_string if azurite else "")
    http: DevHost | None = None
    if args.connection:
        _clear_queues(args.connection)  # left-over jobs (an earlier latency run) would share the worker
    try:
        if azurite is not None:
            for size in sizes:
                processes = args.load_processes if size == max(sizes) else 1
                seconds = load_rows(connection, size, processes=processes)
                results["load"][str(size)] = {"seconds": seconds, "rows_per_s": size / seconds}
                _say(f"loaded {size:,} rows in {seconds:.0f}s")

        for size in sizes:
            try:
                stats = repeat(args.repeat, partial(raw_scan, connection, org_for(size)))
            except Exception as error:  # one failed measurement must not lose the whole run
                results["unavailable"][f"raw scan {size}"] = f"{type(error).__name__}: {error}"
                continue
            results["ceiling"].setdefault(str(size), {})["scan"] = _stats_json(stats)
            _say(f"raw scan {size:,}: {stats['rows_per_s'].median:,.0f} rows/s")

        # The daily quota (100 a day per organization) would refuse most of the job creation test's requests.
        extra = {"EXPORTS_DAILY_QUOTA_PER_ORG": "100000"}
        if args.shard_rows:
            extra["EXPORTS_SHARD_ROWS"] = str(args.shard_rows)
        env = host_env(connection, extra)
        http = DevHost(env, "--only", "http")
        missing_xlsx = xlsx_available()
        for size in sizes:
            for fmt in formats:
                if fmt.startswith("XLSX") and missing_xlsx:
                    results["unavailable"][f"project {fmt}"] = missing_xlsx
                    continue
                try:
                    stats = repeat(args.repeat, partial(run_export, http, env, connection, org_for(size), fmt))
                except Exception as error:
                    results["unavailable"][f"project {fmt} {size}"] = f"{type(error).__name__}: {error}"
                    _say(f"project {fmt} {size:,}: not available ({error})")
                    continue
                results["project"].setdefault(str(size), {})[fmt] = _stats_json(stats)
                _say(
                    f"project {fmt} {size:,}: {stats['rows_per_s'].median:,.0f} rows/s "
                    f"({stats['busy_rows_per_s'].median:,.0f} while busy), worker "
                    f"{stats['worker_peak_rss_mb'].median:.0f} MB, {stats['batches'].median:.0f} batches"
                )

        if args.two_workers:
            size = max(sizes)
            stats = repeat(args.repeat, partial(run_export, http, env, connection, org_for(size), "CSV", workers=2))
            results["project"].setdefault(str(size), {})["CSV/2w"] = _stats_json(stats)
            _say(f"project CSV {size:,} with 2 workers: {stats['rows_per_s'].median:,.0f} rows/s")

        for size in sizes:
            csv_bytes = results["project"].get(str(size), {}).get("CSV", {}).get("bytes", {}).get("median")
            if size <= args.naive_max_rows:
                for fmt in NAIVE_FORMATS:
                    if fmt not in formats:
                        continue
                    try:
                        stats = repeat(args.repeat, partial(naive, connection, org_for(size), fmt))
                    except Exception as error:
                        results["unavailable"][f"naive {fmt} {size}"] = f"{type(error).__name__}: {error}"
                        continue
                    results["naive"].setdefault(str(size), {})[fmt] = _stats_json(stats)
                    _say(f"naive {fmt} {size:,}: {stats['seconds'].median:.1f}s, {stats['peak_rss_mb'].median:.0f} MB")
                    if fmt == "CSV" and not csv_bytes:
                        csv_bytes = stats["bytes"].median
            if csv_bytes:
                try:
                    stats = repeat(args.repeat, partial(raw_upload, connection, int(csv_bytes)))
                except Exception as error:
                    results["unavailable"][f"raw upload {size}"] = f"{type(error).__name__}: {error}"
                    continue
                entry = _stats_json(stats)
                entry["bytes"] = csv_bytes
                results["ceiling"].setdefault(str(size), {})["upload"] = entry
                _say(f"raw upload {csv_bytes / 1e6:.1f} MB: {stats['mb_per_s'].median:.0f} MB/s")

        if args.latency_seconds > 0:
            _say(
                f"job creation: {args.latency_clients} clients in {args.latency_orgs} organization(s) "
                f"for {args.latency_seconds:.0f}s"
            )
            try:
                results["latency"] = post_latency(
                    http.base_url,
                    [headers_for(f"bench-latency-{n}") for n in range(args.latency_orgs)],
                    clients=args.latency_clients,
                    seconds=args.latency_seconds,
                )
            except Exception as error:
                results["unavailable"]["job creation latency"] = f"{type(error).__name__}: {error}"
    finally:
        if http is not None:
            http.stop()
        if azurite is not None:
            azurite.stop()

    results["finished_at"] = datetime.now(UTC).isoformat()
    table = render(results)
    print(table)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{args.label}-{stamp}.json"
    results["table"] = table
    path.write_text(json.dumps(results, indent=2, default=str))
    (RESULTS_DIR / f"{args.label}-latest.json").write_text(path.read_text())
    print(f"\nresults: {path.relative_to(RESULTS_DIR.parent.parent)}")
    return 0


def _clear_queues(connection: str) -> None:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.queue import QueueServiceClient

    from shared.settings import REQUEST_QUEUE, WORK_QUEUE

    service = QueueServiceClient.from_connection_string(connection)
    for name in (WORK_QUEUE, REQUEST_QUEUE):
        with contextlib.suppress(ResourceNotFoundError):
            service.get_queue_client(name).clear_messages()


# ---- rendering -------------------------------------------------------------------------------------


def _stats_json(stats: dict[str, Stat]) -> dict[str, Any]:
    return {key: stat.as_json() for key, stat in stats.items()}


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _fmt(entry: dict[str, Any] | None, key: str, spec: str = ",.0f") -> str:
    if not entry or key not in entry:
        return "n/a"
    stat = entry[key]
    return f"{stat['median']:{spec}} [{stat['min']:{spec}}-{stat['max']:{spec}}]"


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator or math.isnan(numerator) or math.isnan(denominator):
        return "n/a"
    return f"{numerator / denominator:.2f}"


def _median(entry: dict[str, Any] | None, key: str) -> float | None:
    if not entry or key not in entry:
        return None
    return float(entry[key]["median"])


def _rows_per_second(size: int, entry: dict[str, Any]) -> dict[str, Any]:
    seconds = entry["seconds"]
    return {"rps": {"median": size / seconds["median"], "min": size / seconds["max"], "max": size / seconds["min"]}}


def render(results: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    add(
        f"make bench, {results['started_at'][:16]} UTC, {results['machine']['cpus']} CPUs, Python "
        f"{results['machine']['python']}; every figure: median [min-max] of {results['repeat']} runs"
    )
    add("")
    add("1. Ceilings (Azurite on loopback; plain HTTP with a table SAS, JSON nometadata, all columns)")
    add("   scan: the cases partition; +records: then its INV/RIU records, as a FLAT_FILE export reads them")
    add(f"   {'rows':>9}  {'scan rows/s':<26} {'scan+records case rows/s':<26} raw upload MB/s (CSV export's bytes)")
    for size in results["sizes"]:
        ceiling = results["ceiling"].get(str(size), {})
        upload = ceiling.get("upload")
        upload_text = _fmt(upload, "mb_per_s", ",.1f")
        if upload:
            upload_text += f" for {upload['bytes'] / 1e6:.1f} MB"
        scan = ceiling.get("scan")
        add(f"   {size:>9,}  {_fmt(scan, 'rows_per_s'):<26} {_fmt(scan, 'with_records_rows_per_s'):<26} {upload_text}")
    add("")
    add("2. Naive peer (azure-data-tables query_entities -> pandas DataFrame -> to_csv/to_excel -> upload_blob)")
    add(f"   {'rows':>9}  {'fmt':<7} {'seconds':<24} {'rows/s':<24} peak RSS MB")
    for size in results["sizes"]:
        for fmt, entry in results["naive"].get(str(size), {}).items():
            add(
                f"   {size:>9,}  {fmt:<7} {_fmt(entry, 'seconds', ',.2f'):<24} "
                f"{_fmt(_rows_per_second(size, entry), 'rps'):<24} {_fmt(entry, 'peak_rss_mb')}"
            )
    add("")
    add("3. This project end to end: POST -> completed through the local host (HTTP process + worker process)")
    add("   seconds and rows/s: the job's createdAt -> completedAt; busy: summed worker invocation time")
    add(
        f"   {'rows':>9}  {'fmt':<7} {'seconds':<22} {'rows/s':<24} {'busy rows/s':<24} "
        f"{'worker RSS MB':<16} {'batches':>7}"
    )
    for size in results["sizes"]:
        for fmt, entry in results["project"].get(str(size), {}).items():
            add(
                f"   {size:>9,}  {fmt:<7} {_fmt(entry, 'seconds', ',.2f'):<22} {_fmt(entry, 'rows_per_s'):<24} "
                f"{_fmt(entry, 'busy_rows_per_s'):<24} {_fmt(entry, 'worker_peak_rss_mb'):<16} "
                f"{_median(entry, 'batches') or 0:>7.0f}"
            )
    for what, why in results["unavailable"].items():
        add(f"   {what}: not available ({why.splitlines()[0][:100]})")
    add("")
    add("4. Ratios of medians. /scan: project rows/s / scan rows/s (busy: worker busy rows/s); /scan+rec: the same")
    add("   against cases+records; x naive: naive seconds / project seconds; RSS: worker peak / naive peak")
    add(
        f"   {'rows':>9}  {'fmt':<7} {'/scan':>6} {'busy/scan':>10} {'/scan+rec':>10} {'busy/scan+rec':>14} "
        f"{'x naive':>8} {'RSS/naive':>10}"
    )
    for size in results["sizes"]:
        scan = results["ceiling"].get(str(size), {}).get("scan")
        ceiling = _median(scan, "rows_per_s")
        with_records = _median(scan, "with_records_rows_per_s")
        for fmt, entry in results["project"].get(str(size), {}).items():
            naive_entry = results["naive"].get(str(size), {}).get(fmt)
            add(
                f"   {size:>9,}  {fmt:<7} {_ratio(_median(entry, 'rows_per_s'), ceiling):>6} "
                f"{_ratio(_median(entry, 'busy_rows_per_s'), ceiling):>10} "
                f"{_ratio(_median(entry, 'rows_per_s'), with_records):>10} "
                f"{_ratio(_median(entry, 'busy_rows_per_s'), with_records):>14} "
                f"{_ratio(_median(naive_entry, 'seconds'), _median(entry, 'seconds')):>8} "
                f"{_ratio(_median(entry, 'worker_peak_rss_mb'), _median(naive_entry, 'peak_rss_mb')):>10}"
            )
    latency = results.get("latency")
    if latency:
        add("")
        add(
            f"5. Job creation: POST /api/exports from {latency['clients']} concurrent clients in "
            f"{latency.get('organizations', 1)} organization(s) (closed loop), "
            f"{latency['seconds']:.0f} s"
        )
        add(
            f"   {latency['requests']:,} jobs created ({latency['requests_per_s']:.0f}/s), {latency['errors']} errors "
            f"{latency.get('error_kinds', {})}; "
            f"p50 {latency['p50_ms']:.0f} ms, p90 {latency['p90_ms']:.0f} ms, p99 {latency['p99_ms']:.0f} ms, "
            f"max {latency['max_ms']:.0f} ms (target p99 <= 50 ms)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
