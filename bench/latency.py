"""Job creation: `POST /api/exports` at a fixed arrival rate (open loop), and the saturation throughput
(closed loop), loopback only.

`open_loop_latency` is the latency measurement: requests go out on a fixed schedule, R a second, whatever the
answers; a scheduler thread hands each request at its planned time to a pool of senders (each with its own
keep-alive connection, opened before the schedule starts) large enough that a send never waits for a free
sender, and latency is measured from the planned send time, so any queueing (in the generator or the host)
counts. `post_latency` is the closed loop: N clients, each sending its next request when the last answered;
it measures throughput at saturation, not latency (its latencies are N / throughput, Little's law).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import urlparse

import requests

BODY = {"dataset": "cases", "exportType": "FLAT_FILE", "format": "CSV"}

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def post_latency(
    base_url: str,
    headers: dict[str, str] | list[dict[str, str]],
    *,
    clients: int = 50,
    seconds: float = 30.0,
    max_requests: int = 200_000,
    pace_seconds: float = 0.0,
) -> dict[str, Any]:
    """p50/p99 of job creation; `pace_seconds` > 0 makes each client wait that long between requests."""
    if urlparse(base_url).hostname not in LOOPBACK:
        raise ValueError("the load generator only targets loopback addresses")
    body = BODY
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    budget = threading.Semaphore(max_requests)
    identities = headers if isinstance(headers, list) else [headers]
    sessions = []
    for _ in range(clients):
        # Connected one at a time before the clock starts: 50 connects at once overflow the local host's
        # listen backlog (the standard library's 5) and were counted as the service's connection errors.
        session = requests.Session()
        session.get(f"{base_url}/health", timeout=30)
        sessions.append(session)
    stop_at = time.monotonic() + seconds

    def client(number: int) -> None:
        own: list[float] = []
        with sessions[number] as session:
            session.headers.update(identities[number % len(identities)])
            while time.monotonic() < stop_at and budget.acquire(blocking=False):
                started = time.perf_counter()
                try:
                    response = session.post(f"{base_url}/exports", json=body, timeout=30)
                    elapsed = time.perf_counter() - started
                    if response.status_code == 202:
                        own.append(elapsed)
                    else:
                        with lock:
                            errors.append(str(response.status_code))
                except requests.RequestException as error:
                    with lock:
                        errors.append(type(error).__name__)
                if pace_seconds:
                    time.sleep(max(0.0, pace_seconds - (time.perf_counter() - started)))
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=client, args=(n,), name=f"client-{n}") for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "clients": clients,
        "organizations": len(identities),
        "seconds": elapsed,
        "requests": len(latencies),
        "errors": len(errors),
        "error_kinds": dict(Counter(errors)),
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
    }


def open_loop_latency(
    base_url: str,
    headers: list[dict[str, str]],
    *,
    rate: float,
    seconds: float,
    senders: int | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """p50/p90/p99 of job creation at `rate` requests a second for `seconds`, request i to organization i mod N.

    `senders` defaults to what `rate` needs for answers up to 5 s without a send waiting (at least 16).
    `late_sends` counts requests sent more than 10 ms after their planned time: if it is not 0, the
    generator itself fell behind (their wait is still in their latency).
    """
    if urlparse(base_url).hostname not in LOOPBACK:
        raise ValueError("the load generator only targets loopback addresses")
    if rate <= 0 or seconds <= 0:
        raise ValueError("rate and seconds must be positive")
    planned_count = int(rate * seconds)
    pool_size = senders or max(16, math.ceil(rate * 5))
    sessions = []
    for _ in range(pool_size):
        # One connection at a time before the schedule starts: the local host's listen backlog is small.
        session = requests.Session()
        session.get(f"{base_url}/health", timeout=timeout)
        sessions.append(session)
    work: queue.SimpleQueue[tuple[int, float] | None] = queue.SimpleQueue()
    latencies: list[float] = []
    lags: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def sender(session: requests.Session) -> None:
        while (item := work.get()) is not None:
            number, planned = item
            lag = time.perf_counter() - planned
            try:
                response = session.post(
                    f"{base_url}/exports", json=BODY, headers=headers[number % len(headers)], timeout=timeout
                )
                outcome = None if response.status_code == 202 else str(response.status_code)
            except requests.RequestException as error:
                outcome = type(error).__name__
            latency = time.perf_counter() - planned
            with lock:
                lags.append(lag)
                if outcome is None:
                    latencies.append(latency)
                else:
                    errors.append(outcome)

    threads = [threading.Thread(target=sender, args=(s,), name=f"sender-{n}") for n, s in enumerate(sessions)]
    for thread in threads:
        thread.start()
    start = time.perf_counter() + 0.1
    for number in range(planned_count):
        planned = start + number / rate
        delay = planned - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        work.put((number, planned))
    scheduled = time.perf_counter() - start
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.join()
    for session in sessions:
        session.close()
    latencies.sort()
    lags.sort()

    def pct(values: list[float], p: float) -> float:
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000

    return {
        "mode": "open",
        "rate": rate,
        "organizations": len(headers),
        "seconds": seconds,
        "senders": pool_size,
        "planned": planned_count,
        "sent_per_s": planned_count / (scheduled + 1 / rate),
        "requests": len(latencies),
        "errors": len(errors),
        "error_kinds": dict(Counter(errors)),
        "p50_ms": pct(latencies, 50),
        "p90_ms": pct(latencies, 90),
        "p99_ms": pct(latencies, 99),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "late_sends": sum(1 for lag in lags if lag > 0.010),
        "send_lag_p99_ms": pct(lags, 99),
    }
