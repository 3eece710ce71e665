"""Malformed work messages: each ends in the poison queue; the job it names fails readably; nothing else moves."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import orjson

from tests.faults.harness import LEDGER, Exports, FaultHost, Storage, new_org, start_worker


def encoded(document: object) -> str:
    text = document if isinstance(document, str) else orjson.dumps(document).decode()
    return base64.b64encode(text.encode()).decode()


def test_ten_kinds_of_malformed_message_end_in_the_poison_queue_and_fail_only_the_job_they_name(
    front: FaultHost, storage: Storage, loaded_org: str, host_env: dict[str, str], app_dir: Path
) -> None:
    org = loaded_org
    exports = Exports(front, storage, org)
    named = {kind: exports.create("CSV") for kind in ("version", "types", "negative", "bool")}
    elsewhere = exports.create("CSV")  # named by a message claiming another organization
    storage.drain()  # their own first steps are lost, so only the bad messages touch them
    healthy = exports.create("JSONL")  # runs beside the bad messages, undisturbed

    bad = {
        "not JSON": encoded("this is {not json"),
        "empty": encoded(""),
        "not an object": encoded([1, 2, 3]),
        "unknown schema version": encoded({"v": 2, "orgId": org, "jobId": named["version"], "seq": 0}),
        "missing fields": encoded({"v": 1, "orgId": org}),
        "wrong types": encoded({"v": 1, "orgId": org, "jobId": named["types"], "seq": "zero"}),
        "boolean step": encoded({"v": 1, "orgId": org, "jobId": named["bool"], "seq": True}),
        "negative seq": encoded({"v": 1, "orgId": org, "jobId": named["negative"], "seq": -1}),
        "unknown job": encoded({"v": 1, "orgId": org, "jobId": "0000000000000-" + "0" * 32, "seq": 0}),
        "another organization's job": encoded({"v": 1, "orgId": new_org(), "jobId": elsewhere, "seq": 0}),
        "huge": encoded({"v": 1, "orgId": org, "jobId": "x" * 40_000, "seq": 0}),
        "invalid base64": "this is not base64!",
    }
    raw = storage.raw_queue()
    for text in bad.values():
        raw.send_message(text)
    LEDGER.fault("malformed work message", len(bad))

    worker = start_worker(host_env, app_dir)
    try:
        poison = storage.raw_queue("export-work-poison")
        deadline = time.monotonic() + 90
        while (poison.get_queue_properties().approximate_message_count or 0) < len(bad):
            assert time.monotonic() < deadline, f"poison queue has {poison.get_queue_properties()}"
            time.sleep(0.5)
        exports.settle([healthy])
    finally:
        worker.stop()  # SIGTERM: the host lets what it runs end and settles those messages before it exits

    poisoned = sorted(m.content for m in poison.receive_messages(max_messages=32, messages_per_page=32))
    assert poisoned == sorted(bad.values())
    assert storage.raw_queue().get_queue_properties().approximate_message_count == 0
    for kind, job_id in named.items():
        view = exports.view(job_id)
        assert view["status"] == "failed", (kind, view)
        assert view["errorMessage"].startswith("The export stopped: one of its work messages could not be read")
        assert "Traceback" not in view["errorMessage"]
        LEDGER.outcome(completed=False)
    assert exports.view(elsewhere)["status"] == "queued"  # another organization's message cannot touch it
    assert exports.judge(healthy) == "completed"
