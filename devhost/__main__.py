"""`python -m devhost`: run function_app.py like `func start` would."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from azure.core.exceptions import AzureError

from devhost.app_loader import TRIGGER_KINDS, ConfigError, TriggerKind
from devhost.host import Host, HostOptions


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _kinds(value: str) -> frozenset[TriggerKind]:
    kinds: set[TriggerKind] = set()
    for part in _csv(value):
        match = next((k for k in TRIGGER_KINDS if k == part.lower()), None)
        if match is None:
            raise argparse.ArgumentTypeError(f"unknown trigger kind {part!r}; use {', '.join(TRIGGER_KINDS)}")
        kinds.add(match)
    if not kinds:
        raise argparse.ArgumentTypeError("--only needs at least one of " + ", ".join(TRIGGER_KINDS))
    return frozenset(kinds)


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return number


def parse_args(argv: list[str] | None = None) -> HostOptions:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--app-dir", type=Path, default=Path("."), help="folder holding function_app.py")
    parser.add_argument("--host", default="127.0.0.1", help="address the HTTP server binds")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument(
        "--settings", type=Path, help="local settings file (default: APP_DIR/local.settings.json)"
    )
    parser.add_argument(
        "--only",
        type=_kinds,
        default=frozenset(TRIGGER_KINDS),
        help="trigger kinds to run, comma-separated: http,queue,timer",
    )
    parser.add_argument("--functions", type=_csv, help="function names to load, comma-separated")
    parser.add_argument(
        "--message-lease-seconds",
        type=_positive_int,
        default=600,
        help="how long a received queue message stays invisible; renewed every half of it",
    )
    args = parser.parse_args(argv)
    return HostOptions(
        app_dir=args.app_dir.resolve(),
        bind=args.host,
        port=args.port,
        settings=args.settings,
        only=args.only,
        functions=frozenset(args.functions) if args.functions is not None else None,
        lease_seconds=args.message_lease_seconds,
    )


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s [%(threadName)s] %(name)s: %(message)s",
    )
    # The storage SDK logs every request at INFO; host.json's default has Azure.Core at Warning too.
    logging.getLogger("azure").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    configure_logging()
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("devhost").info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    host = Host(options)
    try:
        host.start()
    except (ConfigError, OSError, AzureError) as exc:
        print(f"devhost: cannot start: {exc}", file=sys.stderr, flush=True)
        host.shutdown(grace=0)
        return 1
    while not stop.wait(1.0):
        pass
    drained = host.shutdown()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    if not drained:
        # Worker threads still stuck in user code would keep the interpreter from exiting.
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
