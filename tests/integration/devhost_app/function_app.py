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


@app.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
def worker(msg: func.QueueMessage) -> None:
    body = msg.get_body().decode("utf-8")
    _record(kind="queue", body=body, dequeue_count=msg.dequeue_count, id=msg.id)
    if body.startswith("fail"):
        raise ValueError("asked to fail")
    if body.startswith("sleep:"):
        time.sleep(float(body.split(":", 1)[1]))
        _record(kind="queue-done", body=body)


@app.timer_trigger(schedule="%YEARLY_SCHEDULE%", arg_name="timer", run_on_startup=False)
def yearly(timer: func.TimerRequest) -> None:
    _record(kind="timer", past_due=timer.past_due)
