"""`python -m bench`: `make bench` (10k and 100k rows) and `make bench-large` (adds 1M rows).

Starts its own private Azurite on free loopback ports and, for the PostgreSQL source, its own private
PostgreSQL; loads the same synthetic cases into one organization per size in each source (once; every
repetition reads the same rows), then measures each source and prints a table and writes it as JSON
to bench/results/. Each figure is the median of `--repeat` runs with min and max.
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
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from bench import postgres
from bench.ceilings import file_hash, raw_scan, raw_upload
from bench.common import RESULTS_DIR, Stat, add_run, load_rows, load_ticket_rows, org_for, repeat
from bench.latency import open_loop_latency, post_latency
from bench.project import TICKET_EXPORTS, DevHost, headers_for, host_env, run_export
from tests.support.azurite import Azurite

FORMATS = ("CSV", "JSONL", "JSON", "XLSX", "CSV+inv")
NAIVE_FORMATS = ("CSV", "XLSX")
# The shard speed-up: these formats of the largest size, cut into this many shards.
SHARD_FORMATS = ("CSV", "XLSX")
SPEEDUP_SHARDS = 4
SOURCES = ("tables", "postgres")
DATASETS = ("cases", "tickets")
# The PostgreSQL ceiling and naive peer read what this export reads (its queries, see bench/postgres.py).
CEILING_EXPORT = "CSV"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="row counts, comma-separated")
    parser.add_argument(
        "--sources",
        default=",".join(SOURCES),
        help="where the cases are read from, comma-separated: tables (Azurite), postgres (a private PostgreSQL)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of every measurement (at least 3)")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help="cases (every part above) and/or tickets (only the ticket exports: tickets, tickets/title)",
    )
    parser.add_argument(
        "--ticket-exports",
        default=",".join(TICKET_EXPORTS),
        help="the ticket exports to run: tickets (unsorted CSV) and/or tickets/title (sorted by title)",
    )
    parser.add_argument("--naive-max-rows", type=int, default=100_000, help="run the naive peer up to this size")
    parser.add_argument(
        "--latency-seconds",
        type=float,
        default=20.0,
        help="length of each job creation measurement (every rate, and saturation); 0 skips them",
    )
    parser.add_argument(
        "--latency-rates",
        default="10,30",
        help="job creation latency at these fixed arrival rates (creates/s, open loop), comma-separated",
    )
    parser.add_argument("--latency-clients", type=int, default=50, help="closed-loop clients (saturation)")
    parser.add_argument(
        "--latency-orgs",
        type=int,
        default=50,
        help="job creation is measured in one organization and spread over this many",
    )
    parser.add_argument(
        "--only-latency",
        action="store_true",
        help="measure job creation only (no rows loaded, no exports; the first source's host)",
    )
    parser.add_argument("--load-processes", type=int, default=2, help="processes loading the largest size")
    parser.add_argument(
        "--shard-speedup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the largest CSV and XLSX exports in 4 shards with 1 and then 2 worker processes, side by side",
    )
    parser.add_argument(
        "--shard-rows",
        type=int,
        help="EXPORTS_SHARD_ROWS for the hosts (default: the app's, 250,000): shard smaller exports too",
    )
    parser.add_argument("--connection", help="use this (already loaded) Azurite instead of a private one")
    parser.add_argument(
        "--postgres-url",
        help="use this (already loaded) PostgreSQL database, a libpq conninfo, instead of a private server",
    )
    parser.add_argument("--label", default="bench", help="name of the results file")
    args = parser.parse_args(argv)
    if args.repeat < 3:
        parser.error("--repeat must be at least 3 (median with min and max)")
    args.latency_rates = [float(rate) for rate in args.latency_rates.split(",") if rate.strip()]
    if any(rate <= 0 for rate in args.latency_rates):
        parser.error("--latency-rates are creates per second, each above 0")
    args.sources = list(dict.fromkeys(name.strip() for name in args.sources.split(",") if name.strip()))
    args.datasets = list(dict.fromkeys(name.strip() for name in args.datasets.split(",") if name.strip()))
    args.ticket_exports = [name.strip() for name in args.ticket_exports.split(",") if name.strip()]
    if not args.datasets or any(name not in DATASETS for name in args.datasets):
        parser.error(f"--datasets takes {' and/or '.join(DATASETS)}, comma-separated")
    if any(name not in TICKET_EXPORTS for name in args.ticket_exports):
        parser.error(f"--ticket-exports takes {' and/or '.join(TICKET_EXPORTS)}, comma-separated")
    unknown = [name for name in args.sources if name not in SOURCES]
    if unknown or not args.sources:
        parser.error(f"--sources takes {' and/or '.join(SOURCES)}, comma-separated; not {unknown or 'nothing'}")
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


def naive(
    connection: str,
    organization: str,
    fmt: str,
    postgres_url: str = "",
    queries: dict[str, postgres.SourceQuery] | None = None,
) -> dict[str, float]:
    """The naive peer in its own process; with `queries`, it reads cases and records from PostgreSQL."""
    command = [sys.executable, "-m", "bench.naive", connection, organization, fmt.lower()]
    if queries is not None:
        statements = {name: [query.text, list(query.params)] for name, query in queries.items()}
        command += [postgres_url, json.dumps(statements, default=str)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [] if args.only_latency else [int(size) for size in args.sizes.split(",")]
    cases = "cases" in args.datasets and not args.only_latency
    formats = [fmt.strip() for fmt in args.formats.split(",") if fmt.strip()] if cases else []
    ticket_exports: list[str] = args.ticket_exports if "tickets" in args.datasets and not args.only_latency else []
    sources: list[str] = args.sources[:1] if args.only_latency else args.sources
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "repeat": args.repeat,
        "sizes": sizes,
        "sources": sources,
        # Each of these is keyed by source, then size.
        "datasets": args.datasets,
        "load": {source: {} for source in sources},
        "load_tickets": {source: {} for source in sources},
        "ceiling": {source: {} for source in sources},
        "naive": {source: {} for source in sources},
        "project": {source: {} for source in sources},
        # The raw upload does not depend on the source: by size.
        "upload": {},
        "queries": {},
        "unavailable": {},
    }
    # In memory: on disk, Azurite rewrites its whole table file on every autosave and stalls on large loads.
    # Every source needs it: the jobs, queues and files are in Azure Storage whatever the cases are read from.
    azurite = None if args.connection else Azurite(in_memory=True).start()
    connection = args.connection or (azurite.connection_string if azurite else "")
    server = None
    postgres_url: str = args.postgres_url or ""
    hosts: dict[str, DevHost] = {}
    queries: dict[int, dict[str, postgres.SourceQuery]] = {}

    def postgres_queries(size: int) -> dict[str, postgres.SourceQuery]:
        if size not in queries:
            queries[size] = postgres.export_queries(postgres_url, org_for(size), CEILING_EXPORT)
            results["queries"][str(size)] = {name: [query.text, query.params] for name, query in queries[size].items()}
        return queries[size]

    if args.connection:
        _clear_queues(args.connection)  # left-over jobs (an earlier latency run) would share the worker
    try:
        if "postgres" in sources and not postgres_url:
            server, postgres_url = postgres.start_server()
        if azurite is not None and "tables" in sources and cases:
            for size in sizes:
                processes = args.load_processes if size == max(sizes) else 1
                seconds = load_rows(connection, size, processes=processes)
                results["load"]["tables"][str(size)] = {"seconds": seconds, "rows_per_s": size / seconds}
                _say(f"tables: loaded {size:,} rows in {seconds:.0f}s")
        if server is not None and cases:
            for size in sizes:
                seconds = postgres.load_rows(postgres_url, size)
                results["load"]["postgres"][str(size)] = {"seconds": seconds, "rows_per_s": size / seconds}
                _say(f"postgres: loaded {size:,} rows in {seconds:.0f}s")
        for size in sizes if ticket_exports else []:
            if azurite is not None and "tables" in sources:
                processes = args.load_processes if size == max(sizes) else 1
                seconds = load_ticket_rows(connection, size, processes=processes)
                results["load_tickets"]["tables"][str(size)] = {"seconds": seconds, "rows_per_s": size / seconds}
                _say(f"tables: loaded {size:,} tickets in {seconds:.0f}s")
            if server is not None:
                seconds = postgres.load_ticket_rows(postgres_url, size)
                results["load_tickets"]["postgres"][str(size)] = {"seconds": seconds, "rows_per_s": size / seconds}
                _say(f"postgres: loaded {size:,} tickets in {seconds:.0f}s")

        for source in sources if cases else []:
            for size in sizes:
                try:
                    if source == "tables":
                        measure = partial(raw_scan, connection, org_for(size))
                    else:
                        measure = partial(postgres.raw_copy, postgres_url, postgres_queries(size))
                    stats = repeat(args.repeat, measure)
                except Exception as error:  # one failed measurement must not lose the whole run
                    results["unavailable"][f"{source} ceiling {size}"] = f"{type(error).__name__}: {error}"
                    continue
                results["ceiling"][source].setdefault(str(size), {})["scan"] = _stats_json(stats)
                _say(
                    f"{source} ceiling {size:,}: {stats['rows_per_s'].median:,.0f} rows/s, with records "
                    f"{stats['with_records_rows_per_s'].median:,.0f} case rows/s"
                )
                if "records_plain_scan_seconds" in stats:
                    _say(
                        f"{source} records {size:,}: the Kind filter {stats['records_filtered_seconds'].median:.2f} s "
                        f"for {stats['records'].median:,.0f} rows, a plain partition scan "
                        f"{stats['records_plain_scan_seconds'].median:.2f} s for "
                        f"{stats['records_every_kind'].median:,.0f} rows"
                    )

        # The daily quota (100 a day per organization) would refuse most of the job creation test's requests.
        extra = {"EXPORTS_DAILY_QUOTA_PER_ORG": "100000"}
        if args.shard_rows:
            extra["EXPORTS_SHARD_ROWS"] = str(args.shard_rows)
        envs = {source: host_env(connection, extra, source=source, postgres_url=postgres_url) for source in sources}
        missing_xlsx = xlsx_available()
        for source in sources:
            env = envs[source]
            http = hosts[source] = DevHost(env, "--only", "http")
            for size in sizes:
                for fmt in [*formats, *ticket_exports]:
                    if fmt.startswith("XLSX") and missing_xlsx:
                        results["unavailable"][f"{source} project {fmt}"] = missing_xlsx
                        continue
                    try:
                        stats = repeat(args.repeat, partial(run_export, http, env, connection, org_for(size), fmt))
                    except Exception as error:
                        results["unavailable"][f"{source} project {fmt} {size}"] = f"{type(error).__name__}: {error}"
                        _say(f"{source} project {fmt} {size:,}: not available ({error})")
                        continue
                    results["project"][source].setdefault(str(size), {})[fmt] = _stats_json(stats)
                    _say(
                        f"{source} project {fmt} {size:,}: {stats['rows_per_s'].median:,.0f} rows/s "
                        f"({stats['busy_rows_per_s'].median:,.0f} while busy), worker "
                        f"{stats['worker_peak_rss_mb'].median:.0f} MB, {stats['batches'].median:.0f} batches"
                    )

            if args.shard_speedup and cases:
                size = max(sizes)
                for fmt in SHARD_FORMATS:
                    if fmt not in formats:
                        continue
                    try:
                        entry = shard_speedup(args.repeat, http, env, connection, size, fmt)
                    except Exception as error:
                        results["unavailable"][f"{source} shards {fmt} {size}"] = f"{type(error).__name__}: {error}"
                        continue
                    results.setdefault("shards", {}).setdefault(source, {}).setdefault(str(size), {})[fmt] = entry
                    _say(
                        f"{source} {fmt} {size:,} in {entry['shards']} shards: 1 worker "
                        f"{entry['1 worker']['rows_per_s']['median']:,.0f} rows/s, 2 workers "
                        f"{entry['2 workers']['rows_per_s']['median']:,.0f} rows/s, "
                        f"{entry['speedup']['median']:.2f}x"
                    )

        for size in sizes if cases else []:
            csv_bytes = None
            for source in sources:
                csv_entry = results["project"][source].get(str(size), {}).get("CSV")
                if csv_entry and not csv_bytes:
                    csv_bytes = csv_entry["bytes"]["median"]
            for source in sources:
                for fmt in NAIVE_FORMATS:
                    if fmt not in formats or size > args.naive_max_rows:
                        continue
                    try:
                        statements = postgres_queries(size) if source == "postgres" else None
                        stats = repeat(
                            args.repeat, partial(naive, connection, org_for(size), fmt, postgres_url, statements)
                        )
                    except Exception as error:
                        results["unavailable"][f"{source} naive {fmt} {size}"] = f"{type(error).__name__}: {error}"
                        continue
                    results["naive"][source].setdefault(str(size), {})[fmt] = _stats_json(stats)
                    _say(
                        f"{source} naive {fmt} {size:,}: {stats['seconds'].median:.1f}s, "
                        f"{stats['peak_rss_mb'].median:.0f} MB"
                    )
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
                results["upload"][str(size)] = entry
                _say(f"raw upload {csv_bytes / 1e6:.1f} MB: {stats['mb_per_s'].median:.0f} MB/s")
                # The manifest's SHA-256 at this size and, from the largest under 1M, at ten times it (1M rows
                # from 100k).
                hashed = [(str(size), int(csv_bytes))]
                if size == max(sizes) and size < 1_000_000:
                    hashed.append((f"{size * 10} (10x the {size} file)", int(csv_bytes) * 10))
                for label, hashed_bytes in hashed:
                    hash_stats = repeat(args.repeat, partial(file_hash, connection, hashed_bytes))
                    hash_entry = _stats_json(hash_stats)
                    hash_entry["bytes"] = hashed_bytes
                    results.setdefault("file_hash", {})[label] = hash_entry
                    writing, plain, back = (
                        hash_stats[key].median for key in ("hash_while_writing_s", "hashlib_s", "read_back_s")
                    )
                    _say(
                        f"file hash {hashed_bytes / 1e6:.0f} MB: while writing {writing:.2f} s "
                        f"(hashlib {plain:.2f} s), read back {back:.2f} s"
                    )

        if args.latency_seconds > 0:
            try:
                if azurite is not None and not args.only_latency:
                    # A fresh Azurite of its own: the one above holds every file the exports wrote in its
                    # memory (GBs at 100k rows), and its garbage collection pauses would be in every create.
                    for host in hosts.values():
                        host.stop()
                    hosts.clear()
                    azurite.stop()
                    azurite = Azurite(in_memory=True).start()
                    fresh = host_env(azurite.connection_string, extra, source=sources[0], postgres_url=postgres_url)
                    envs[sources[0]] = fresh
                    hosts[sources[0]] = DevHost(fresh, "--only", "http")
                results["latency"] = job_creation(args, hosts[sources[0]], envs[sources[0]])
                results["latency"]["source"] = sources[0]
            except Exception as error:
                results["unavailable"]["job creation latency"] = f"{type(error).__name__}: {error}"
    finally:
        for host in hosts.values():
            host.stop()
        if server is not None:
            server.stop()
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


def shard_speedup(
    times: int, http: DevHost, env: dict[str, str], connection: str, size: int, fmt: str
) -> dict[str, Any]:
    """One worker process against two on the same export cut into `SPEEDUP_SHARDS` shards, the two
    alternating run by run so both see the same machine; the speed-up is the median of each pair's ratio."""
    shard_rows = max(1_000, -(-size // SPEEDUP_SHARDS))
    sharded = {**env, "EXPORTS_SHARD_ROWS": str(shard_rows)}
    one: dict[str, Stat] = {}
    two: dict[str, Stat] = {}
    ratios = Stat()
    for _ in range(times):
        pair = []
        for workers, stats in ((1, one), (2, two)):
            found = run_export(http, sharded, connection, org_for(size), fmt, workers=workers)
            add_run(stats, found)
            pair.append(found["rows_per_s"])
        ratios.values.append(pair[1] / pair[0])
    return {
        "shards": SPEEDUP_SHARDS,
        "shard_rows": shard_rows,
        "1 worker": _stats_json(one),
        "2 workers": _stats_json(two),
        "speedup": ratios.as_json(),
    }


def job_creation(args: argparse.Namespace, http: DevHost, env: dict[str, str]) -> dict[str, Any]:
    """Open-loop latency at each rate, then closed-loop saturation; in one organization and across
    `--latency-orgs`, each run in organizations of its own (the quota counts an organization's jobs of the
    day), with a queue worker running the created jobs as it would."""
    run = datetime.now(UTC).strftime("%H%M%S")
    spreads = list(dict.fromkeys([1, max(1, args.latency_orgs)]))
    found: dict[str, Any] = {"open_loop": [], "closed_loop": []}
    worker = DevHost(env, "--only", "queue")
    try:
        for rate in args.latency_rates:
            for orgs in spreads:
                backlog = _settle_work_queue(env["AzureWebJobsStorage"])
                _say(f"job creation: {rate:g}/s for {args.latency_seconds:.0f}s in {orgs} organization(s), open loop")
                identities = [headers_for(f"bench-open-{run}-{rate:g}-{orgs}-{n}") for n in range(orgs)]
                entry = open_loop_latency(http.base_url, identities, rate=rate, seconds=args.latency_seconds)
                entry["work_backlog_at_start"] = backlog
                found["open_loop"].append(entry)
                _say(
                    f"  p50 {entry['p50_ms']:.0f} ms, p99 {entry['p99_ms']:.0f} ms, {entry['errors']} errors, "
                    f"{entry['late_sends']} late sends"
                )
        for orgs in spreads:
            _settle_work_queue(env["AzureWebJobsStorage"])
            _say(f"job creation: {args.latency_clients} clients in {orgs} organization(s), closed loop (saturation)")
            identities = [headers_for(f"bench-closed-{run}-{orgs}-{n}") for n in range(orgs)]
            entry = post_latency(http.base_url, identities, clients=args.latency_clients, seconds=args.latency_seconds)
            found["closed_loop"].append(entry)
            _say(f"  {entry['requests_per_s']:.0f} creates/s, {entry['errors']} errors")
    finally:
        worker.stop()
    found["worker_invocations"] = worker.busy_seconds()[1]
    return found


def _settle_work_queue(connection: str, *, timeout: float = 60.0) -> int:
    """Waits (at most `timeout`) for the worker to take the work an earlier run left; returns what is left.

    One organization's jobs run at most EXPORTS_MAX_RUNNING_PER_ORG at once and the others wait in the
    queue, so an earlier run's jobs can keep the worker busy well after it."""
    from azure.storage.queue import QueueClient

    from shared.settings import WORK_QUEUE

    work = QueueClient.from_connection_string(connection, WORK_QUEUE)
    deadline = time.monotonic() + timeout
    while (left := work.get_queue_properties().approximate_message_count) and time.monotonic() < deadline:
        time.sleep(1)
    return int(left or 0)


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


def _render_ceilings_and_naive(results: dict[str, Any], add: Callable[[str], None]) -> None:
    sources: list[str] = results["sources"]
    add("")
    add("1. Ceilings, in case rows/s; scan: the cases alone; scan+records: then the records a FLAT_FILE export reads")
    if "tables" in sources:
        add("   tables: Azurite on loopback, plain HTTP with a table SAS, JSON nometadata, all columns;")
        add("           records: its INV/RIU records, as a FLAT_FILE export reads them")
    if "postgres" in sources:
        add(
            f"   postgres: COPY (the {CEILING_EXPORT} export's first-page query, no LIMIT) TO STDOUT via psycopg into"
            " /dev/null;"
        )
        add("             records: a second COPY of export_case_records (INV/RIU, as that export reads them), after it")
    add(f"   {'source':<8} {'rows':>9}  {'scan rows/s':<28} {'scan+records case rows/s':<28}")
    for source in sources:
        for size in results["sizes"]:
            scan = results["ceiling"][source].get(str(size), {}).get("scan")
            add(
                f"   {source:<8} {size:>9,}  {_fmt(scan, 'rows_per_s'):<28} {_fmt(scan, 'with_records_rows_per_s'):<28}"
            )
    for size in results["sizes"]:
        upload = results["upload"].get(str(size))
        if upload:
            add(
                f"   raw upload to Azurite, {size:,} rows' CSV export ({upload['bytes'] / 1e6:.1f} MB): "
                f"{_fmt(upload, 'mb_per_s', ',.1f')} MB/s"
            )
    add("")
    add(
        "2. Fair naive peer (bench/naive.py): the FLAT_FILE export's 29 columns from the same source: cases and"
        " their INV/RIU"
    )
    add("   records -> pandas (join, record counts, days open, SLA) -> to_csv/to_excel -> upload_blob to Azurite")
    if "tables" in sources:
        add("   tables: azure-data-tables query_entities of the cases partition and of the records (Kind filter)")
    if "postgres" in sources:
        add(f"   postgres: pandas.read_sql of the {CEILING_EXPORT} export's cases and records queries over psycopg")
    add(f"   {'source':<8} {'rows':>9}  {'fmt':<7} {'seconds':<24} {'rows/s':<24} peak RSS MB")
    for source in sources:
        for size in results["sizes"]:
            for fmt, entry in results["naive"][source].get(str(size), {}).items():
                add(
                    f"   {source:<8} {size:>9,}  {fmt:<7} {_fmt(entry, 'seconds', ',.2f'):<24} "
                    f"{_fmt(_rows_per_second(size, entry), 'rps'):<24} {_fmt(entry, 'peak_rss_mb')}"
                )


def _render_ratios(results: dict[str, Any], add: Callable[[str], None]) -> None:
    sources: list[str] = results["sources"]
    add("")
    add("4. Ratios of medians, each against its own source's ceilings and naive peer. /scan: project rows/s /")
    add("   scan rows/s (busy: worker busy rows/s); /scan+rec: the same against cases+records; x naive: naive")
    add("   seconds / project seconds; RSS: worker peak / naive peak")
    add(
        f"   {'source':<8} {'rows':>9}  {'fmt':<7} {'/scan':>6} {'busy/scan':>10} {'/scan+rec':>10} "
        f"{'busy/scan+rec':>14} {'x naive':>8} {'RSS/naive':>10}"
    )
    for source in sources:
        for size in results["sizes"]:
            scan = results["ceiling"][source].get(str(size), {}).get("scan")
            ceiling = _median(scan, "rows_per_s")
            with_records = _median(scan, "with_records_rows_per_s")
            for fmt, entry in results["project"][source].get(str(size), {}).items():
                if fmt in TICKET_EXPORTS:  # no ceiling or naive peer of its own
                    continue
                naive_entry = results["naive"][source].get(str(size), {}).get(fmt)
                add(
                    f"   {source:<8} {size:>9,}  {fmt:<7} {_ratio(_median(entry, 'rows_per_s'), ceiling):>6} "
                    f"{_ratio(_median(entry, 'busy_rows_per_s'), ceiling):>10} "
                    f"{_ratio(_median(entry, 'rows_per_s'), with_records):>10} "
                    f"{_ratio(_median(entry, 'busy_rows_per_s'), with_records):>14} "
                    f"{_ratio(_median(naive_entry, 'seconds'), _median(entry, 'seconds')):>8} "
                    f"{_ratio(_median(entry, 'worker_peak_rss_mb'), _median(naive_entry, 'peak_rss_mb')):>10}"
                )
    add("   targets at 100k: x naive >= 3 for CSV and >= 10 for XLSX; worker peak RSS <= 200 MB")


def _percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{fraction:.0%}"


def _render_shards(results: dict[str, Any], add: Callable[[str], None]) -> None:
    shards: dict[str, Any] = results.get("shards") or {}
    if not shards:
        return
    add("")
    add(
        f"5. Shard speed-up: the largest export in {SPEEDUP_SHARDS} shards, 1 worker process then 2, alternating;"
        " speed-up: the median of each pair's ratio of rows/s (target >= 1.6)"
    )
    add(
        f"   {'source':<8} {'rows':>9}  {'fmt':<5} {'1 worker rows/s':<24} {'2 workers rows/s':<24} "
        f"{'speed-up':<18} {'worker RSS MB 1 / 2':<20} {'machine busy 1 / 2':<19} busiest of 2 workers"
    )
    for source, by_size in shards.items():
        for size, by_format in by_size.items():
            for fmt, entry in by_format.items():
                one, two = entry["1 worker"], entry["2 workers"]
                add(
                    f"   {source:<8} {int(size):>9,}  {fmt:<5} {_fmt(one, 'rows_per_s'):<24} "
                    f"{_fmt(two, 'rows_per_s'):<24} {_fmt(entry, 'speedup', '.2f'):<18} "
                    f"{_median(one, 'worker_peak_rss_mb') or 0:.0f} / {_median(two, 'worker_peak_rss_mb') or 0:<14.0f} "
                    f"{_percent(_median(one, 'machine_busy'))} / {_percent(_median(two, 'machine_busy')):<13} "
                    f"{_percent(_median(two, 'busiest_worker_share'))} of the busy time"
                )


def render(results: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    sources: list[str] = results["sources"]
    add(
        f"make bench, {results['started_at'][:16]} UTC, {results['machine']['cpus']} CPUs, Python "
        f"{results['machine']['python']}; every figure: median [min-max] of {results['repeat']} runs"
    )
    if "cases" in results.get("datasets", DATASETS):
        _render_ceilings_and_naive(results, add)
    add("")
    add("3. This project end to end: POST -> completed through the local host (HTTP process + worker process)")
    add("   seconds and rows/s: the job's createdAt -> completedAt; busy: summed worker invocation time")
    if "tickets" in results.get("datasets", DATASETS):
        add("   tickets: the ticket dataset, every catalog column as CSV; tickets/title: the same sorted by title")
    add(
        f"   {'source':<8} {'rows':>9}  {'fmt':<13} {'seconds':<22} {'rows/s':<24} {'busy rows/s':<24} "
        f"{'worker RSS MB':<16} {'batches':>7}"
    )
    for source in sources:
        for size in results["sizes"]:
            for fmt, entry in results["project"][source].get(str(size), {}).items():
                add(
                    f"   {source:<8} {size:>9,}  {fmt:<13} {_fmt(entry, 'seconds', ',.2f'):<22} "
                    f"{_fmt(entry, 'rows_per_s'):<24} {_fmt(entry, 'busy_rows_per_s'):<24} "
                    f"{_fmt(entry, 'worker_peak_rss_mb'):<16} {_median(entry, 'batches') or 0:>7.0f}"
                )
    for source in sources:
        for size in results["sizes"]:
            entries = results["project"][source].get(str(size), {})
            plain, ordered = entries.get("tickets"), entries.get("tickets/title")
            if plain and ordered:
                speed = _ratio(_median(ordered, "rows_per_s"), _median(plain, "rows_per_s"))
                add(
                    f"   {source} {size:,} tickets sorted by title: {speed}x the unsorted rows/s, worker peak "
                    f"{_median(ordered, 'worker_peak_rss_mb') or 0:.0f} MB against "
                    f"{_median(plain, 'worker_peak_rss_mb') or 0:.0f} MB"
                )
    for what, why in results["unavailable"].items():
        add(f"   {what}: not available ({why.splitlines()[0][:100]})")
    if "cases" in results.get("datasets", DATASETS):
        _render_ratios(results, add)
    _render_shards(results, add)
    latency = results.get("latency")
    if latency and "open_loop" in latency:
        add("")
        add(
            "6. Job creation, open loop: POST /api/exports sent at a fixed rate whatever the answers, latency from "
            f"the planned send time; a worker runs the jobs; host of the {latency.get('source', 'tables')} source, "
            "on an Azurite of its own"
        )
        add(
            f"   {'rate/s':>6} {'orgs':>5} {'sent':>6} {'errors':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
            f"{'max ms':>7} {'late sends':>10}"
        )
        for entry in latency["open_loop"]:
            add(
                f"   {entry['rate']:>6g} {entry['organizations']:>5} {entry['planned']:>6} {entry['errors']:>7} "
                f"{entry['p50_ms']:>7.0f} {entry['p90_ms']:>7.0f} {entry['p99_ms']:>7.0f} {entry['max_ms']:>7.0f} "
                f"{entry['late_sends']:>10}  {entry['error_kinds'] or ''}"
            )
        add("   target at 30/s: p99 <= 250 ms and no errors, in one organization as across many")
        add("7. Job creation at saturation: closed loop (each client sends when answered): throughput, not latency")
        for entry in latency["closed_loop"]:
            add(
                f"   {entry['clients']} clients, {entry['organizations']} organization(s), {entry['seconds']:.0f} s: "
                f"{entry['requests_per_s']:.0f} creates/s, {entry['errors']} errors {entry['error_kinds'] or ''}"
            )
    return "\n".join(line.rstrip() for line in lines)


if __name__ == "__main__":
    sys.exit(main())
