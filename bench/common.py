"""Shared pieces of the benchmark: the private Azurite, data loading, repetitions and statistics."""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.data.tables import TableServiceClient

from tests.support.azurite import DEV_ACCOUNT, DEV_KEY, PROJECT_ROOT

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
CASES_TABLE = "cases"
RECORDS_TABLE = "caserecords"
LOAD_SEED = 7


def org_for(rows: int) -> str:
    """One organization (= one partition of the cases table) per data size."""
    return f"bench-{rows}"


@dataclass
class Stat:
    """The median of at least three repetitions, with their min and max."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def low(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def high(self) -> float:
        return max(self.values) if self.values else float("nan")

    def as_json(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.low, "max": self.high, "values": self.values}


def repeat(times: int, measure: Callable[[], dict[str, float]]) -> dict[str, Stat]:
    stats: dict[str, Stat] = {}
    for _ in range(times):
        add_run(stats, measure())
    return stats


def add_run(stats: dict[str, Stat], found: dict[str, Any]) -> None:
    """Adds one run's figures to the repetitions of each."""
    for key, value in found.items():
        stats.setdefault(key, Stat()).values.append(value)


# ---- loading ---------------------------------------------------------------------------------------


def _load_range(args: tuple[str, str, int, int, int]) -> int:
    from tools.load_cases import load

    connection, organization, rows, start, seed = args
    service = TableServiceClient.from_connection_string(connection)
    return load(service, CASES_TABLE, organization, rows, seed=seed, start=start, threads=4)


def load_rows(connection: str, rows: int, *, processes: int = 1) -> float:
    """Loads `rows` synthetic cases into the size's organization; returns the seconds it took.

    Large loads are split into row ranges loaded by separate processes (the synthetic generator and
    the SDK's serialization are CPU-bound in Python; Azurite is one Node process).
    """
    started = time.monotonic()
    organization = org_for(rows)
    TableServiceClient.from_connection_string(connection).create_table_if_not_exists(CASES_TABLE)
    if processes <= 1:
        _load_range((connection, organization, rows, 1, LOAD_SEED))
    else:
        per = -(-rows // processes)
        ranges = [
            (connection, organization, min(per, rows - start), start + 1, LOAD_SEED) for start in range(0, rows, per)
        ]
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            loaded = sum(pool.map(_load_range, ranges))
        assert loaded == rows, (loaded, rows)
    return time.monotonic() - started


TICKETS_TABLE = "tickets"


def _load_ticket_range(args: tuple[str, str, int, int, int]) -> int:
    from tools.load_cases import load_tickets

    connection, organization, rows, start, seed = args
    service = TableServiceClient.from_connection_string(connection)
    return load_tickets(service, TICKETS_TABLE, organization, rows, seed=seed, start=start, threads=4)


def load_ticket_rows(connection: str, rows: int, *, processes: int = 1) -> float:
    """Loads `rows` synthetic tickets into the size's organization (table `tickets`); returns the seconds."""
    started = time.monotonic()
    organization = org_for(rows)
    TableServiceClient.from_connection_string(connection).create_table_if_not_exists(TICKETS_TABLE)
    per = -(-rows // max(1, processes))
    ranges = [(connection, organization, min(per, rows - start), start + 1, LOAD_SEED) for start in range(0, rows, per)]
    if len(ranges) == 1:
        loaded = _load_ticket_range(ranges[0])
    else:
        with multiprocessing.get_context("spawn").Pool(len(ranges)) as pool:
            loaded = sum(pool.map(_load_ticket_range, ranges))
    assert loaded == rows, (loaded, rows)
    return time.monotonic() - started


def account_key() -> tuple[str, str]:
    return DEV_ACCOUNT, DEV_KEY


def vm_hwm_mb(pid: int) -> float:
    """A process's peak resident set size (VmHWM) in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


_TICK = os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> tuple[float, float]:
    """The machine's busy and total CPU seconds since boot, over all cores, from /proc/stat."""
    values = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]  # idle and waiting for I/O
    return (sum(values) - idle) / _TICK, sum(values) / _TICK


def process_cpu_seconds(pid: int) -> float:
    """A process's user and system CPU seconds, from /proc (its threads included, not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK
