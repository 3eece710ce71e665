"""Driving exports one step at a time, so a test makes the state it looks at instead of hoping to catch it.

The local host is put in drain mode (`POST /admin/host/drain`, as the platform does before it recycles an
instance): its queue listeners take nothing more, while HTTP and the admin API still answer. The test then
plays the worker: it takes its own work messages off the queue and runs each through the admin API
(`POST /admin/functions/run_export_step`), waiting until the host has no invocation outstanding
(`GET /admin/host/drain/status`). After `resume` the host takes whatever is left in the queue.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests
from azure.storage.queue import QueueClient

from tests.conftest import ADMIN_HEADERS

STEP_FUNCTION = "run_export_step"
TIMEOUT = 120.0


@dataclass
class DrainedHost:
    """A local host in drain mode, by the root of its URLs (`http://127.0.0.1:PORT`)."""

    root: str

    def _status(self) -> dict[str, Any]:
        response = requests.get(f"{self.root}/admin/host/drain/status", timeout=30)
        assert response.status_code == 200, response.text
        status: dict[str, Any] = response.json()
        return status

    def wait_idle(self) -> None:
        """Until every invocation the host holds (listener-started or admin-started) has ended."""
        deadline = time.monotonic() + TIMEOUT
        while (status := self._status())["state"] != "Completed":
            assert time.monotonic() < deadline, f"the host still has work after {TIMEOUT}s: {status}"
            time.sleep(0.05)

    def run(self, message: dict[str, Any], function: str = STEP_FUNCTION) -> None:
        """Runs one work message through the admin API and returns once it has ended."""
        body = {"input": orjson.dumps(message).decode()}
        url = f"{self.root}/admin/functions/{function}"
        response = requests.post(url, json=body, headers=ADMIN_HEADERS, timeout=30)
        assert response.status_code == 202, response.text
        self.wait_idle()


@contextmanager
def drained(base_url: str) -> Iterator[DrainedHost]:
    """The host at `base_url` (its `/api` URL) in drain mode for the block; it resumes whatever happens."""
    host = DrainedHost(base_url.removesuffix("/api"))
    assert requests.post(f"{host.root}/admin/host/drain", headers=ADMIN_HEADERS, timeout=30).status_code == 202
    try:
        host.wait_idle()
        yield host
    finally:
        assert requests.post(f"{host.root}/admin/host/resume", headers=ADMIN_HEADERS, timeout=30).status_code == 200


@dataclass
class WorkMessages:
    """One organization's work messages, taken off the work queue (a base64-decoding client) in arrival order."""

    queue: QueueClient
    org: str
    taken: list[dict[str, Any]] = field(default_factory=list)

    def take(self) -> list[dict[str, Any]]:
        """Every visible message of the organization, removed from the queue; others' are left as they were."""
        mine: list[dict[str, Any]] = []
        others = []
        while batch := list(self.queue.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=60)):
            for message in batch:
                doc = orjson.loads(message.content)
                if isinstance(doc, dict) and doc.get("orgId") == self.org:
                    mine.append(doc)
                    self.queue.delete_message(message)
                else:
                    others.append(message)
        for message in others:
            self.queue.update_message(message, visibility_timeout=0)
        self.taken.extend(mine)
        return mine

    def give_back(self, messages: list[dict[str, Any]]) -> None:
        """Puts messages not run back on the queue, for the host to take once it resumes."""
        for message in messages:
            self.queue.send_message(orjson.dumps(message).decode())
