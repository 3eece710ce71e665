"""The fault-injection suite: its own Azurite, hosts it may kill, and the closing table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError

from shared.settings import Settings
from shared.storage.clients import StorageClients
from tests.faults.harness import (
    FAULT_ENV,
    LEDGER,
    ROWS,
    FaultHost,
    Storage,
    fast_app_dir,
    new_org,
    remove_app_dir,
    start_front,
)
from tests.support.azurite import Azurite
from tools.load_cases import load

SHORT_RUNS = 3


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fault-runs",
        type=int,
        default=SHORT_RUNS,
        help=f"exports per fault in tests/faults (default {SHORT_RUNS}; make test-faults uses 20)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.faults)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not LEDGER.faults and not LEDGER.completed and not LEDGER.failed_clearly:
        return
    terminalreporter.section("fault injection")
    for line in LEDGER.table():
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def fault_runs(request: pytest.FixtureRequest) -> int:
    runs = int(request.config.getoption("--fault-runs", default=SHORT_RUNS))
    assert runs >= 1
    return runs


@pytest.fixture(scope="package")
def fault_azurite() -> Iterator[Azurite]:
    """Not the session Azurite: the session's local host would take this suite's work messages."""
    emulator = Azurite().start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="package")
def storage(fault_azurite: Azurite) -> Storage:
    StorageClients(Settings(storage_connection_string=fault_azurite.connection_string)).ensure_resources()
    return Storage(fault_azurite.connection_string)


@pytest.fixture(scope="package")
def host_env(fault_azurite: Azurite) -> dict[str, str]:
    return {"AzureWebJobsStorage": fault_azurite.connection_string, **FAULT_ENV}


@pytest.fixture(scope="package")
def app_dir() -> Iterator[Path]:
    folder = fast_app_dir()
    yield folder
    remove_app_dir(folder)


@pytest.fixture(scope="package")
def front(host_env: dict[str, str], app_dir: Path) -> Iterator[FaultHost]:
    """HTTP and timer only: the workers run in separate processes the tests may SIGKILL."""
    host = start_front(host_env, app_dir)
    yield host
    host.stop()


@pytest.fixture(scope="package")
def loaded_org(storage: Storage) -> str:
    org = new_org()
    load(storage.tables, "cases", org, ROWS)
    return org


@pytest.fixture(autouse=True)
def empty_work_queues(storage: Storage, front: FaultHost) -> None:
    """Each test starts with no leftover work (stale copies from the previous test are harmless, but noisy)."""
    for name in ("export-work", "export-work-poison"):
        queue = storage.queue(name)
        with contextlib.suppress(ResourceExistsError):
            queue.create_queue()
        queue.clear_messages()
