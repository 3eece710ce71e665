"""A tiny app for devhost's integration tests. Queue and timer runs append JSON lines to $DEVHOST_TEST_OUT."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _record(**entry: object) -> None:
    with Path(os.environ["DEVHOST_TEST_OUT"]).open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


def _hold(token: str) -> None:
    """Blocks until the test releases `token` (a file of that name appears), so a test can keep an invocation
    running for as long as it needs and end it when it chooses."""
    release = Path(os.environ["DEVHOST_TEST_OUT"]).parent / "release" / token
    deadline = time.monotonic() + 120
    while not release.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{token} was never released")
        time.sleep(0.02)


def _work(msg: func.QueueMessage, queue: str) -> None:
    body = msg.get_body().decode("utf-8")
    _record(kind="queue", body=body, dequeue_count=msg.dequeue_count, id=msg.id, queue=queue)
    if body.startswith("fail"):
        raise ValueError("asked to fail")
    if body.startswith("sleep:"):
        time.sleep(float(body.split(":", 1)[1]))
    if body.startswith("hold:"):
        _hold(body.split(":", 1)[1])
    if body.startswith("hang-once:") and msg.dequeue_count == 1:
        time.sleep(600)  # past any functionTimeout a test sets: only a worker restart ends it
    _record(kind="queue-done", body=body, dequeue_count=msg.dequeue_count, queue=queue)


@app.route(route="echo/{id:int}", methods=["GET", "POST"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    doc = {
        "method": req.method,
        "url": req.url,
        "route": dict(req.route_params),
        "query": dict(req.params),
        "principal": req.headers.get("x-ms-client-principal"),
        "custom": req.headers.get("X-Custom"),
        "body": req.get_body().decode("utf-8"),
    }
    response = func.HttpResponse(json.dumps(doc), mimetype="application/json", headers={"X-Echo": "1"})
    response.headers.add_header("Set-Cookie", "a=1")
    response.headers.add_header("Set-Cookie", "b=2")
    return response


@app.route(route="echo/preview", methods=["GET"])
def preview(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("preview", status_code=200)


@app.route(route="files/{*rest}")
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params.get("rest", ""))


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret-token-should-not-leak")


@app.route(route="slow")
async def slow(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(float(req.params.get("seconds", "1")))
    return func.HttpResponse("done", status_code=201)


@app.route(route="hold/{token}", methods=["GET"])
def hold(req: func.HttpRequest) -> func.HttpResponse:
    token = req.route_params["token"]
    _record(kind="http", body=token)
    _hold(token)
    return func.HttpResponse(token)


@app.route(route="hang", methods=["GET"])
def hang(req: func.HttpRequest) -> func.HttpResponse:
    time.sleep(600)  # past any functionTimeout a test sets
    return func.HttpResponse("never")


# Three queue triggers, as function_app.py has, each taking as many messages as host.json lets it.
@app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
def worker(msg: func.QueueMessage) -> None:
    _work(msg, "work")


@app.queue_trigger(arg_name="msg", queue_name="%SECOND_QUEUE%", connection="AzureWebJobsStorage")
def second(msg: func.QueueMessage) -> None:
    _work(msg, "second")


@app.queue_trigger(arg_name="msg", queue_name="%THIRD_QUEUE%", connection="AzureWebJobsStorage")
def third(msg: func.QueueMessage) -> None:
    _work(msg, "third")


@app.timer_trigger(schedule="%YEARLY_SCHEDULE%", arg_name="timer", run_on_startup=False)
def yearly(timer: func.TimerRequest) -> None:
    _record(kind="timer", past_due=timer.past_due)
