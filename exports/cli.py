"""`python -m exports`: the export API from a terminal (request, watch, download, list, cancel, tags).

Every command but `load-demo` talks only to the public HTTP API, exactly as the exports page does. The
identity is the X-MS-CLIENT-PRINCIPAL header the local host passes through (`--org/--user/--roles`, or a
ready-made `--principal`); Azure sets that header itself from App Service Authentication.

Exit codes: 0 done; 1 the export failed or was cancelled; 2 bad usage; 3 the API refused the request (4xx,
its problem detail is printed); 4 the API cannot be reached (bad URL, nothing listening, timeout); 5 the API
failed (5xx).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import requests

from shared.auth import encode_principal
from shared.redaction import redact_telemetry

DEFAULT_URL = "http://127.0.0.1:7071/api"
DEMO_ROLES = "access_reports,import_export_tickets,manage_system_settings"
FINAL = {"completed", "failed", "cancelled"}
EXIT_JOB_FAILED, EXIT_USAGE, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_SERVER = 1, 2, 3, 4, 5
TIMEOUT_SECONDS = 30
BAR_WIDTH = 30


class CliError(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Client:
    """The HTTP API with one identity; turns every failure into a CliError with a readable message."""

    def __init__(self, base_url: str, principal: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["X-MS-CLIENT-PRINCIPAL"] = principal
        self.session.headers["Accept"] = "application/json"
        # Body-less POSTs and DELETEs need it; bodies go as json=, i.e. Content-Type: application/json.
        self.session.headers["X-Requested-With"] = "exports-cli"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.base_url}/{path.lstrip('/')}"
        try:
            response = self.session.request(method, url, timeout=TIMEOUT_SECONDS, allow_redirects=False, **kwargs)
        except (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL):
            raise CliError(f"{self.base_url} is not a valid http(s) URL for --url", EXIT_UNREACHABLE) from None
        except requests.exceptions.Timeout:
            raise CliError(f"the export API at {self.base_url} did not answer in time", EXIT_UNREACHABLE) from None
        except requests.exceptions.ConnectionError:
            raise CliError(
                f"cannot reach the export API at {self.base_url} (is the local host running? see --url)",
                EXIT_UNREACHABLE,
            ) from None
        if response.status_code >= 400:
            raise CliError(_problem_text(response), EXIT_SERVER if response.status_code >= 500 else EXIT_REFUSED)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(f"{self.base_url} answered something that is not the export API", EXIT_UNREACHABLE) from None


def _problem_text(response: requests.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if isinstance(problem, dict) and problem.get("detail"):
        text = f"{response.status_code} {problem.get('title') or response.reason}: {problem['detail']}"
        for error in problem.get("errors") or []:
            text += f"\n  {error.get('field')}: {error.get('message')}"
        return text
    return f"{response.status_code} {response.reason} from {response.url}"


# --- commands --------------------------------------------------------------------------------------


def cmd_request(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    body = json.loads(args.body) if args.body else _request_body(args)
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    job = client.json("POST", "exports", json=body, headers=headers)
    print(job["jobId"], file=out)
    if not (args.wait or args.output):
        return 0
    code = watch(client, job["jobId"], err, interval=args.interval, timeout=args.timeout)
    if code == 0 and args.output:
        print(download(client, job["jobId"], args.output), file=out)
    return code


def _request_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"dataset": args.dataset, "format": args.format}
    if args.time_zone != "UTC":  # the API's default: a request without it is the same request
        body["timeZone"] = args.time_zone
    if args.compression:
        body["compression"] = args.compression
    if args.columns:
        body["columns"] = [name.strip() for name in args.columns.split(",") if name.strip()]
    if args.dataset == "cases":
        body["exportType"] = args.type
        if args.max_investigations is not None:
            body["maxInvestigations"] = args.max_investigations
        if args.no_investigations:
            body["includeInvestigations"] = False
        if args.no_tagged_fields:
            body["includeTaggedFields"] = False
        if args.overflow:
            body["includeOverflow"] = True
        if args.status:
            body["statuses"] = args.status
        if args.created_from or args.created_to:
            body["dateRange"] = {"start": args.created_from or "1900-01-01", "end": args.created_to or "9999-12-31"}
    else:
        if args.search:
            body["searchTerm"] = args.search
        if args.sort:
            field, _, direction = args.sort.partition(":")
            body["sortField"], body["sortDirection"] = field, direction or "asc"
        body["filters"] = [_view_filter(text) for text in args.filter or []]
    return body


def _view_filter(text: str) -> dict[str, str]:
    field, _, rest = text.partition(":")
    operator, has_value, value = rest.partition(":")
    if not field or not operator:
        raise CliError(f"--filter {text!r} is not FIELD:OPERATOR[:VALUE]", EXIT_USAGE)
    return {"field": field, "operator": operator, **({"value": value} if has_value else {})}


def cmd_watch(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return watch(client, args.job_id, err, interval=args.interval, timeout=args.timeout)


def watch(client: Client, job_id: str, err: TextIO, *, interval: float, timeout: float) -> int:
    """Polls the job, drawing a progress bar on stderr, until it ends; the exit code says how it ended."""
    deadline = time.monotonic() + timeout
    bar = ProgressBar(err)
    while True:
        job = client.json("GET", f"exports/{job_id}")
        bar.show(job)
        if job["status"] in FINAL:
            bar.close()
            break
        if time.monotonic() > deadline:
            bar.close()
            raise CliError(f"export {job_id} is still {job['status']} after {timeout:g} s", EXIT_JOB_FAILED)
        time.sleep(interval)
    if job["status"] == "completed":
        size = job.get("fileSizeBytes")
        print(f"export {job_id} completed: {job['fileName']}, {job['processedRows']} rows, {size} bytes", file=err)
        if job.get("warnings"):
            print(warnings_line(job), file=err)
        return 0
    if job["status"] == "failed":
        print(f"export {job_id} failed: {job.get('errorMessage') or 'no reason given'}", file=err)
    else:
        print(f"export {job_id} was cancelled", file=err)
    return EXIT_JOB_FAILED


def warnings_line(job: dict[str, Any]) -> str:
    """Source values of the wrong type were exported as their text: how many, and where the first one is."""
    count = int(job["warnings"])
    line = f"warning: {count} value{'' if count == 1 else 's'} of the wrong type exported as text"
    first = (job.get("warningSamples") or [None])[0]
    if first:
        where = f"record {first['record']}, column {first['column']}"
        line += f" (first: {where}: {first['found']}, expected {first['expected']})"
    return line


class ProgressBar:
    """A one-line bar redrawn in place on a terminal; a new line per change when the output is a file or pipe."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.last = ""

    def show(self, job: dict[str, Any]) -> None:
        percent = 100 if job["status"] == "completed" else int(job.get("progress") or 0)
        filled = BAR_WIDTH * percent // 100
        total = job.get("totalRows")
        rows = f"{job['processedRows']}/{total}" if total is not None else str(job["processedRows"])
        stage = job.get("stage") or job["status"]
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent:3d} % {stage:<10} {rows} rows"
        if line == self.last:
            return
        self.last = line
        if self.live:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live and self.last:
            self.stream.write("\n")
            self.stream.flush()


def cmd_download(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    print(download(client, args.job_id, args.output), file=out)
    return 0


def cmd_manifest(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    content = download_manifest(client, args.job_id, args.output)
    if args.output is None:
        out.write(content.decode("utf-8"))
    return 0


def _not_negative(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: a number of `kind` that is 0 or more (argparse reports anything else as usage)."""

    def parse(text: str) -> float:
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"{text} is negative")
        return value

    return parse


def download(client: Client, job_id: str, output: str | None) -> Path:
    """Follows the API's redirect to the short-lived file link and saves the file; returns where.

    The file goes where the user said: `-o FILE`, or into `-o FOLDER` (default: the current folder) under the
    export's file name reduced to a plain base name (`safe_file_name`), so a name from the server can never
    climb out of the folder. The link's signature is never printed: errors mask every query value of a URL.
    """
    job = client.json("GET", f"exports/{job_id}")
    link = client.call("GET", f"exports/{job_id}/download").headers.get("Location")
    if not link:
        raise CliError(f"the API gave no download link for export {job_id}", EXIT_SERVER)
    target = Path(output) if output else Path.cwd()
    if target.is_dir():
        target = target / safe_file_name(job.get("fileName"), job_id)
        if target.is_symlink():
            raise CliError(f"{target} is a symbolic link; choose another folder or a file name with -o", EXIT_USAGE)
    _save(link, target, job_id, expected_sha256=_manifest_sha256(job))
    return target


def _manifest_sha256(job: Any) -> str | None:
    manifest = job.get("manifest") if isinstance(job, dict) else None
    file = manifest.get("file") if isinstance(manifest, dict) else None
    sha256 = file.get("sha256") if isinstance(file, dict) else None
    return sha256 if isinstance(sha256, str) else None


def download_manifest(client: Client, job_id: str, output: str | None) -> bytes:
    """The export's manifest file, checked against the `manifestSha256` the job view gives; saved to `output`."""
    job = client.json("GET", f"exports/{job_id}")
    link = client.call("GET", f"exports/{job_id}/manifest").headers.get("Location")
    if not link:
        raise CliError(f"the API gave no manifest link for export {job_id}", EXIT_SERVER)
    expected = job.get("manifestSha256") if isinstance(job, dict) else None
    if output is None:
        content = _fetch(link, job_id)
        if isinstance(expected, str) and hashlib.sha256(content).hexdigest() != expected:
            raise CliError(f"the manifest of export {job_id} does not have the SHA-256 its job gives", EXIT_SERVER)
        return content
    target = Path(output)
    if target.is_dir():
        target = target / safe_file_name(f"{str(job.get('fileName', '')).split('.', 1)[0]}.manifest.json", job_id)
    _save(link, target, job_id, expected_sha256=expected if isinstance(expected, str) else None)
    return target.read_bytes()


def _fetch(link: str, job_id: str) -> bytes:
    try:
        response = requests.get(link, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
    except requests.exceptions.HTTPError as error:
        status = error.response.status_code if error.response is not None else "an error"
        raise CliError(f"the manifest link of export {job_id} was refused ({status})", EXIT_REFUSED) from None
    except requests.exceptions.RequestException as error:
        reason = redact_telemetry(str(error))  # the link's query (its signature) masked
        raise CliError(f"downloading the manifest of export {job_id} failed: {reason}", EXIT_UNREACHABLE) from None
    return response.content


def _save(link: str, target: Path, job_id: str, *, expected_sha256: str | None) -> None:
    """Streams the link's content into `target`, hashing it on the way; a file whose SHA-256 is not the one
    its manifest gives is deleted, never left looking like the export."""
    writing = False
    digest = hashlib.sha256()
    try:
        # The link carries its own read-only signature: the identity header is not sent to storage.
        with requests.get(link, stream=True, timeout=TIMEOUT_SECONDS) as response:
            response.raise_for_status()
            with target.open("wb") as file:
                writing = True
                for chunk in response.iter_content(chunk_size=1024 * 1024):
                    file.write(chunk)
                    digest.update(chunk)
    except requests.exceptions.HTTPError as error:
        status = error.response.status_code if error.response is not None else "an error"
        raise CliError(f"the file link of export {job_id} was refused ({status})", EXIT_REFUSED) from None
    except requests.exceptions.RequestException as error:
        if writing:
            target.unlink(missing_ok=True)  # no half file left behind
        reason = redact_telemetry(str(error))  # the link's query (its signature) masked
        raise CliError(f"downloading export {job_id} failed: {reason}", EXIT_UNREACHABLE) from None
    except OSError as error:
        raise CliError(f"cannot write {target}: {error.strerror or error}", EXIT_USAGE) from None
    if expected_sha256 is not None and digest.hexdigest() != expected_sha256:
        target.unlink(missing_ok=True)
        raise CliError(
            f"the download of export {job_id} has SHA-256 {digest.hexdigest()}, not the manifest's {expected_sha256}; "
            "it was deleted. Try again.",
            EXIT_SERVER,
        )


# Characters no file name should carry: path separators, Windows' reserved ones, and control characters.
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')


def safe_file_name(name: object, job_id: str) -> str:
    """A file name from the server as a plain base name: no folder part, no `..`, no control characters.

    `exports-20261122.csv` stays as it is; `../../.bashrc` becomes `bashrc`; nothing usable becomes
    `export-<job id>`. Only the last path segment is kept (after `/` or `\\`), unsafe characters become `_`,
    and leading dots and spaces go, so the name can be neither a parent folder nor a hidden file.
    """
    text = name if isinstance(name, str) else ""
    last = re.split(r"[\\/]", text)[-1]
    cleaned = _UNSAFE_NAME.sub("_", last).strip(" .")[:200].strip(" .")
    return cleaned or f"export-{_UNSAFE_NAME.sub('_', job_id)[:100]}"


def cmd_list(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    params: dict[str, str] = {"pageSize": str(args.page_size)}
    if args.status:
        params["status"] = args.status
    if args.all:
        params["all"] = "true"
    page = client.json("GET", "exports", params=params)
    if not page["items"]:
        print("no exports", file=err)
    for job in page["items"]:
        progress = f"{job['progress']:3d} %" if job["status"] in ("queued", "running") else "     "
        print(
            f"{job['jobId']}  {job['status']:<9} {progress} {job['processedRows']:>8} rows  {job['fileName']}",
            file=out,
        )
    return 0


def cmd_cancel(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    job = client.json("POST", f"exports/{args.job_id}/cancel")
    print(f"export {job['jobId']} is {job['status']}", file=out)
    return 0


def cmd_tags(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.tags_command == "list":
        tags = {tag["tagSlot"]: tag for tag in client.json("GET", "export-fields/tags")["items"]}
        for slot in range(1, 21):
            tag = tags.get(slot)
            described = (
                f"{tag['columnName']:<24} {tag['dataType']:<10} {tag['sourceEntityType']} {tag['sourceFieldPath']}"
                if tag
                else "(free)"
            )
            print(f"{slot:>2}  {described}", file=out)
    elif args.tags_command == "get":
        print(json.dumps(client.json("GET", f"export-fields/tags/{args.slot}"), indent=2), file=out)
    elif args.tags_command == "set":
        body: dict[str, Any] = {
            "sourceEntityType": args.entity,
            "sourceFieldPath": args.path,
            "tagSlot": args.slot,
            "columnName": args.column,
            "displayLabel": args.label,
            "dataType": args.type,
        }
        if args.template:
            body["templateId"] = args.template
        if args.pattern:
            body["formatPattern"] = args.pattern
        tag = client.json("PUT", f"export-fields/tags/{args.slot}", json=body)
        print(f"slot {tag['tagSlot']}: {tag['columnName']}", file=out)
    elif args.tags_command == "delete":
        client.json("DELETE", f"export-fields/tags/{args.slot}")
        print(f"slot {args.slot} deleted", file=out)
    else:
        preview = client.json("GET", "export-fields/tags/preview", params={"caseId": args.case_id})
        for value in preview["values"]:
            raw, typed = json.dumps(value["rawValue"]), json.dumps(value["value"])
            print(f"{value['tagSlot']:>2}  {value['columnName']:<24} {raw} -> {typed}", file=out)
    return 0


# --- scheduled exports: `schedules list|get|create|pause|resume|delete` -----------------------------------


def recurrence_words(recurrence: dict[str, Any]) -> str:
    """A recurrence as a sentence: "weekly on monday, friday at 06:00 (Europe/Paris)"."""
    zone = recurrence.get("timeZone") or "UTC"
    frequency = recurrence.get("frequency")
    if frequency == "cron":
        return f"cron {recurrence.get('expression')} ({zone})"
    when = {
        "weekly": f"weekly on {', '.join(recurrence.get('daysOfWeek') or [])}",
        "monthly": f"monthly on day {recurrence.get('dayOfMonth')}",
    }.get(str(frequency), str(frequency))
    return f"{when} at {recurrence.get('time')} ({zone})"


def _schedule_line(schedule: dict[str, Any]) -> str:
    last = schedule.get("lastRun")
    last_text = f"last {last['outcome']} {last.get('jobId') or last.get('detail') or ''}".strip() if last else ""
    return (f"{schedule['scheduleId']}  {schedule['status']:<6}  next {schedule.get('nextRunAt') or '-':<25}  "
            f"{recurrence_words(schedule['recurrence'])}  {schedule['name']}  {last_text}").rstrip()


def _recurrence_body(args: argparse.Namespace) -> dict[str, Any]:
    recurrence: dict[str, Any] = {"frequency": args.every, "timeZone": args.time_zone}
    if args.every == "cron":
        recurrence["expression"] = args.expression
    else:
        recurrence["time"] = args.time
    if args.every == "weekly":
        recurrence["daysOfWeek"] = [day.strip().lower() for day in (args.days or "").split(",") if day.strip()]
    if args.every == "monthly":
        recurrence["dayOfMonth"] = args.day_of_month
    return recurrence


def cmd_schedules(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    command = args.schedules_command
    if command == "list":
        params: dict[str, str] = {"pageSize": str(args.page_size)}
        if args.status:
            params["status"] = args.status
        if args.all:
            params["all"] = "true"
        page = client.json("GET", "export-schedules", params=params)
        if not page["items"]:
            print("no schedules", file=err)
        for schedule in page["items"]:
            print(_schedule_line(schedule), file=out)
    elif command == "get":
        print(json.dumps(client.json("GET", f"export-schedules/{args.schedule_id}"), indent=2), file=out)
    elif command == "create":
        export = json.loads(args.export_body) if args.export_body else {"dataset": args.dataset, "format": args.format}
        body = {"name": args.name, "export": export, "recurrence": _recurrence_body(args)}
        schedule = client.json("POST", "export-schedules", json=body)
        print(schedule["scheduleId"], file=out)
        print(f"next run {schedule['nextRunAt']}: {recurrence_words(schedule['recurrence'])}", file=err)
    elif command in ("pause", "resume"):
        schedule = client.json("POST", f"export-schedules/{args.schedule_id}/{command}")
        print(f"schedule {schedule['scheduleId']} is {schedule['status']}", file=out)
    else:
        client.json("DELETE", f"export-schedules/{args.schedule_id}")
        print(f"schedule {args.schedule_id} deleted", file=out)
    return 0


def _schedule_commands(commands: Any) -> None:
    schedules = commands.add_parser("schedules", help="scheduled exports: list, get, create, pause, resume, delete")
    sub = schedules.add_subparsers(dest="schedules_command", required=True, metavar="SCHEDULES_COMMAND")
    listing = sub.add_parser("list", help="your schedules, newest first")
    listing.add_argument("--status", choices=["active", "paused"])
    listing.add_argument("--all", action="store_true", help="the whole organization (manage_system_settings)")
    listing.add_argument("--page-size", type=int, default=20)
    for name, text in (("get", "one schedule as JSON"), ("pause", "stop its runs"),
                       ("resume", "run again from the next occurrence"), ("delete", "delete it (its jobs stay)")):
        sub.add_parser(name, help=text).add_argument("schedule_id")
    create = sub.add_parser("create", help="schedule an export; prints the schedule's id")
    create.add_argument("--name", required=True)
    create.add_argument("--every", required=True, choices=["daily", "weekly", "monthly", "cron"])
    create.add_argument("--time", help="local time HH:MM (daily, weekly, monthly)")
    create.add_argument("--days", help="weekly: comma-separated days, e.g. monday,friday")
    create.add_argument("--day-of-month", type=int, help="monthly: 1 to 28")
    create.add_argument("--expression", help="cron: six NCRONTAB fields, {second} {minute} {hour} {day} {month} {dow}")
    create.add_argument("--time-zone", default="UTC", help="IANA time zone (default UTC)")
    create.add_argument("--format", default="CSV", choices=["CSV", "XLSX", "JSON", "JSONL"])
    create.add_argument("--dataset", default="cases", choices=["cases", "tickets"])
    create.add_argument("--export-body", help="the whole export request as JSON (instead of --format/--dataset)")
    schedules.set_defaults(handler=cmd_schedules)


def cmd_load_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    # The one command that is not an API call: the API has no way to write source data, so the demo rows
    # go straight into Table storage (the local emulator by default), as `make run` loads them.
    from azure.core.exceptions import AzureError

    from tools.load_cases import load_dataset, loader_client

    try:
        loaded = load_dataset(
            loader_client(args.connection_string), args.dataset, args.org, args.rows, if_empty=args.if_empty
        )
    except (ValueError, AzureError) as error:
        raise CliError(f"cannot load demo data: {type(error).__name__}", EXIT_UNREACHABLE) from None
    if loaded is None:
        print(f"{args.org} already has {args.dataset}; nothing loaded", file=err)
        return 0
    print(f"loaded {loaded} {args.dataset} for {args.org}", file=out)
    return 0


# --- parsing ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m exports",
        description="Request, watch, download and manage exports through the export API.",
        epilog="Exit codes: 0 done, 1 export failed or cancelled, 2 bad usage, 3 refused by the API (4xx), "
        "4 API unreachable, 5 API error (5xx).",
    )
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the API's base URL (default {DEFAULT_URL})")
    who = parser.add_argument_group("identity (sent as X-MS-CLIENT-PRINCIPAL; the local host passes it through)")
    who.add_argument("--org", default="demo-org", help="organization id (default demo-org)")
    who.add_argument("--user", default="demo-user", help="user object id (default demo-user)")
    who.add_argument("--name", default="Demo User", help="display name")
    who.add_argument("--roles", default=DEMO_ROLES, help=f"comma-separated permissions (default {DEMO_ROLES})")
    who.add_argument("--principal", help="a ready-made base64 X-MS-CLIENT-PRINCIPAL (overrides the four above)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    request = commands.add_parser("request", help="request an export; prints its job id")
    request.add_argument("--format", required=True, choices=["CSV", "XLSX", "JSON", "JSONL"])
    request.add_argument("--dataset", default="cases", choices=["cases", "tickets"])
    request.add_argument(
        "--type",
        default="FLAT_FILE",
        choices=["FLAT_FILE", "CASES_ONLY", "INVESTIGATIONS_ONLY", "DISCLOSURES_ONLY", "CUSTOM"],
        help="cases: the export type (default FLAT_FILE)",
    )
    request.add_argument("--columns", help="comma-separated column names (CUSTOM cases, or tickets)")
    request.add_argument("--compression", choices=["none", "gzip"])
    request.add_argument(
        "--time-zone",
        default="UTC",
        help="IANA zone times are written in and dates in filters are read in, e.g. Europe/Paris (default UTC)",
    )
    request.add_argument("--max-investigations", type=int, help="cases: investigation column groups (1-10)")
    request.add_argument("--no-investigations", action="store_true", help="cases: no investigation columns")
    request.add_argument("--no-tagged-fields", action="store_true", help="cases: no tagged columns")
    request.add_argument("--overflow", action="store_true", help="cases: add the custom-fields overflow column")
    request.add_argument("--status", action="append", help="cases: a status to include (repeatable)")
    request.add_argument("--created-from", help="cases: created on or after (YYYY-MM-DD)")
    request.add_argument("--created-to", help="cases: created on or before (YYYY-MM-DD)")
    request.add_argument("--filter", action="append", help="tickets: FIELD:OPERATOR[:VALUE] (repeatable)")
    request.add_argument("--search", help="tickets: search term")
    request.add_argument("--sort", help="tickets: FIELD[:asc|desc]")
    request.add_argument("--body", help="the whole create request as JSON (instead of the options above)")
    request.add_argument("--idempotency-key", help="a repeat with the same key returns the same job")
    request.add_argument("--wait", action="store_true", help="watch the export until it ends")
    request.add_argument("--output", "-o", help="wait, then download the file here (a file or a folder)")
    _watch_options(request)
    request.set_defaults(handler=cmd_request)

    watch_parser = commands.add_parser("watch", help="show a progress bar until the export ends")
    watch_parser.add_argument("job_id")
    _watch_options(watch_parser)
    watch_parser.set_defaults(handler=cmd_watch)

    download_parser = commands.add_parser(
        "download", help="download a completed export's file, checked against its manifest's SHA-256"
    )
    download_parser.add_argument("job_id")
    download_parser.add_argument("--output", "-o", help="a file or a folder (default: the current folder)")
    download_parser.set_defaults(handler=cmd_download)

    manifest_parser = commands.add_parser(
        "manifest", help="a completed export's manifest (what it holds, its SHA-256); JSON on stdout or to -o"
    )
    manifest_parser.add_argument("job_id")
    manifest_parser.add_argument("--output", "-o", help="a file or a folder (default: print it)")
    manifest_parser.set_defaults(handler=cmd_manifest)

    list_parser = commands.add_parser("list", help="your exports, newest first")
    list_parser.add_argument("--status", choices=["queued", "running", "completed", "failed", "cancelled"])
    list_parser.add_argument("--all", action="store_true", help="the whole organization (manage_system_settings)")
    list_parser.add_argument("--page-size", type=int, default=20)
    list_parser.set_defaults(handler=cmd_list)

    cancel = commands.add_parser("cancel", help="cancel a queued or running export")
    cancel.add_argument("job_id")
    cancel.set_defaults(handler=cmd_cancel)

    tags = commands.add_parser("tags", help="tagged fields (manage_system_settings)")
    tag_commands = tags.add_subparsers(dest="tags_command", required=True, metavar="TAGS_COMMAND")
    tag_commands.add_parser("list", help="the 20 slots")
    tag_get = tag_commands.add_parser("get", help="one slot's tag as JSON")
    tag_get.add_argument("slot", type=int)
    tag_set = tag_commands.add_parser("set", help="create or replace the tag in a slot")
    tag_set.add_argument("slot", type=int)
    tag_set.add_argument(
        "--entity", default="CASE", choices=["CASE", "INVESTIGATION", "DISCLOSURE", "RIU", "INTERVIEW_RESPONSE"]
    )
    tag_set.add_argument("--path", required=True, help="customFields.<key> or responses.<question>")
    tag_set.add_argument("--column", required=True, help="column name (a-z, 0-9, _)")
    tag_set.add_argument("--label", required=True, help="display label")
    tag_set.add_argument(
        "--type", default="TEXT", choices=["TEXT", "NUMBER", "DATE", "BOOLEAN", "CURRENCY", "PERCENTAGE"]
    )
    tag_set.add_argument("--template", help="template id the source must match")
    tag_set.add_argument("--pattern", help="format pattern, e.g. $#,##0.00")
    tag_delete = tag_commands.add_parser("delete", help="delete the tag in a slot")
    tag_delete.add_argument("slot", type=int)
    tag_preview = tag_commands.add_parser("preview", help="every tag's value for one case")
    tag_preview.add_argument("case_id")
    tags.set_defaults(handler=cmd_tags)

    _schedule_commands(commands)

    demo = commands.add_parser("load-demo", help="load synthetic source rows into Table storage (not via the API)")
    demo.add_argument("--rows", type=_not_negative(int), default=5000)
    demo.add_argument("--dataset", default="cases", choices=["cases", "tickets"])
    demo.add_argument(
        "--connection-string", default="UseDevelopmentStorage=true", help="storage (default: the local emulator)"
    )
    demo.add_argument("--if-empty", action="store_true", help="load only when the organization has no rows yet")
    demo.set_defaults(handler=None)
    return parser


def _watch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interval", type=_not_negative(float), default=1.0, help="seconds between polls (default 1)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds")


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.handler is None:
            return cmd_load_demo(args, out, err)
        principal = args.principal or encode_principal(
            args.org, args.user, args.name, [role.strip() for role in args.roles.split(",") if role.strip()]
        )
        handler = args.handler
        code: int = handler(Client(args.url, principal), args, out, err)
        return code
    except CliError as error:
        print(f"error: {error}", file=err)
        return error.exit_code
    except json.JSONDecodeError as error:
        print(f"error: --body (or --export-body) is not JSON: {error}", file=err)
        return EXIT_USAGE


def run() -> NoReturn:
    sys.exit(main())
