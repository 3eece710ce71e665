"""`python -m bench.profile`: where a worker's CPU goes in one export, sampled by py-spy.

Starts a private Azurite (and a private PostgreSQL for `--source postgres`), loads `--rows` cases, starts
the HTTP host and one queue worker, attaches `py-spy record` to the worker, runs one export (`--format`,
as `make bench` names them: CSV, XLSX, CSV+inv, ...) to `completed`, and prints where the samples are:
by part of the code (own time), then the functions with the most samples of their own and with their
callees. Waiting threads are not sampled (py-spy leaves idle threads out), so the shares are of the
worker's CPU. The raw stacks stay in bench/results/profile-<source>-<format>-<rows>.txt (flamegraph.pl
and speedscope read them).

    .venv/bin/python -m bench.profile --source postgres --rows 100000 --format CSV+inv
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench import postgres
from bench.common import RESULTS_DIR, load_rows, org_for
from bench.project import DevHost, host_env, run_export
from tests.support.azurite import PROJECT_ROOT, Azurite

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
# Parts of the code, by the path of the file a sample's innermost frame is in: the first that matches.
PARTS = (
    ("source: PostgreSQL driver (psycopg)", ("psycopg",)),
    ("source: row source (shared/postgres, shared/storage/row_source)", ("shared/postgres/", "row_source.py")),
    ("rows: dataset (exports/datasets)", ("exports/datasets/",)),
    ("format: writers (exports/formats)", ("exports/formats/",)),
    ("format: csv, zlib, hashing (C)", ("<built-in", "csv", "zlib", "resumablesha256", "hashlib")),
    ("engine and steps (exports/)", ("exports/",)),
    ("storage: Azure SDK, HTTP", ("azure/", "requests", "urllib3", "http/", "ssl", "socket")),
)
# Inclusive figures are shown for these files only.
OWN_CODE = ("exports/", "shared/", "psycopg/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--source", choices=("tables", "postgres"), default="postgres")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--format", default="CSV+inv", help="CSV, JSONL, JSON, XLSX, CSV+inv or XLSX+inv")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    raw = RESULTS_DIR / f"profile-{args.source}-{args.format.replace('+', '_')}-{args.rows}.txt"
    organization = org_for(args.rows)
    azurite = Azurite(in_memory=True).start()
    server = None
    hosts: list[DevHost] = []
    try:
        postgres_url = ""
        if args.source == "postgres":
            server, postgres_url = postgres.start_server()
            postgres.load_rows(postgres_url, args.rows)
        else:
            load_rows(azurite.connection_string, args.rows)
        env = host_env(azurite.connection_string, source=args.source, postgres_url=postgres_url)
        http = DevHost(env, "--only", "http")
        hosts.append(http)
        spies: list[subprocess.Popen[str]] = []

        def attach(workers: list[DevHost]) -> None:
            command = [py_spy, "record", "--pid", str(workers[0].process.pid), "--rate", str(args.rate)]
            command += ["--format", "raw", "--output", str(raw), "--nonblocking"]
            spies.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
            time.sleep(1)  # py-spy attaches before the export begins

        try:
            seconds = run_export(http, env, azurite.connection_string, organization, args.format, on_workers=attach)[
                "seconds"
            ]
        finally:
            # py-spy writes its file when the worker it samples stops (run_export stops it) or when interrupted.
            errors = ""
            for spy in spies:
                if spy.poll() is None:
                    spy.send_signal(signal.SIGINT)
                errors += spy.communicate(timeout=120)[1]
        if not raw.exists():
            raise RuntimeError(f"py-spy wrote no profile: {errors.strip()}")
    finally:
        for host in hosts:
            host.stop()
        if server is not None:
            server.stop()
        azurite.stop()
    print(f"{args.source} {args.format} {args.rows:,} rows: {seconds:.1f} s (createdAt to completedAt); {raw}")
    print(report(raw.read_text(), args.top))
    return 0


def report(raw: str, top: int) -> str:
    """Own samples by part of the code, then the functions with the most own and inclusive samples."""
    own: collections.Counter[tuple[str, str]] = collections.Counter()
    inclusive: collections.Counter[tuple[str, str]] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for text in stack.split(";") if (frame := _frame(text)) is not None]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples"
    parts: collections.Counter[str] = collections.Counter()
    for (_, path), count in own.items():
        parts[next((name for name, marks in PARTS if any(mark in path for mark in marks)), "other")] += count
    lines = [f"{total:,} samples of the worker's running threads", "", "own samples by part of the code:"]
    lines += [f"  {count / total:6.1%}  {name}" for name, count in parts.most_common()]
    # With their callees: the project's functions and the driver's (the threads' and the host's frames hold
    # everything and say nothing).
    ours = collections.Counter(
        {frame: n for frame, n in inclusive.items() if any(mark in frame[1] for mark in OWN_CODE)}
    )
    for title, counter in (("by own samples", own), ("with their callees (the project's code)", ours)):
        lines += ["", f"top {top} functions {title}:"]
        lines += [f"  {n / total:6.1%}  {name}  ({_short(path)})" for (name, path), n in counter.most_common(top)]
    return "\n".join(lines)


def _frame(text: str) -> tuple[str, str] | None:
    match = _FRAME.match(text.strip())
    if match is None:
        return None  # the process and thread labels py-spy puts first
    return match.group("function"), match.group("file")


def _short(path: str) -> str:
    for mark in ("site-packages/", f"{PROJECT_ROOT}/", "lib/python3.11/"):
        if mark in path:
            return path.split(mark, 1)[1]
    return path


if __name__ == "__main__":
    sys.exit(main())
