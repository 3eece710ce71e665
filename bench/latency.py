"""Job creation latency: `POST /api/exports` from N concurrent clients for a fixed time, loopback only.

A bounded, closed-loop load generator: N threads, each with its own keep-alive session, send one
request after the other until the time is up (and never more than `max_requests` in all). Latency
is measured per request from send to the end of the response body.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import urlparse

import requests

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
    body = {"dataset": "cases", "exportType": "FLAT_FILE", "format": "CSV"}
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    budget = threading.Semaphore(max_requests)
    stop_at = time.monotonic() + seconds

    identities = headers if isinstance(headers, list) else [headers]

    def client(number: int) -> None:
        own: list[float] = []
        with requests.Session() as session:
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
