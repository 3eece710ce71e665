"""A private Azurite for one test session: free ports, on-disk data in a temp folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AZURITE_BIN = PROJECT_ROOT / "node_modules" / ".bin" / "azurite"

# The well-known development account; it is public and only ever valid on the emulator.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connection_string(blob_port: int, queue_port: int, table_port: int) -> str:
    base = "http://127.0.0.1"
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint={base}:{blob_port}/{DEV_ACCOUNT};"
        f"QueueEndpoint={base}:{queue_port}/{DEV_ACCOUNT};"
        f"TableEndpoint={base}:{table_port}/{DEV_ACCOUNT};"
    )


IN_MEMORY_HEAP_MB = 16_384


@dataclass
class Azurite:
    """Runs `azurite` on three free loopback ports until `stop()`."""

    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="azurite-")))
    blob_port: int = field(default_factory=free_port)
    queue_port: int = field(default_factory=free_port)
    table_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # In-memory keeps large tables fast (on-disk mode rewrites its whole table file on every autosave,
    # which stalls a 100k-row load); on-disk is for tests that restart the emulator and keep the data.
    in_memory: bool = False

    @property
    def connection_string(self) -> str:
        return connection_string(self.blob_port, self.queue_port, self.table_port)

    def start(self, timeout: float = 30.0) -> Azurite:
        if not AZURITE_BIN.exists():
            raise RuntimeError(f"{AZURITE_BIN} is missing: run `npm ci` (make install does)")
        log = open(self.data_dir / "azurite.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [
                str(AZURITE_BIN),
                "--silent",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
                *(["--inMemoryPersistence"] if self.in_memory else ["--location", str(self.data_dir)]),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.blob_port),
                "--queueHost",
                "127.0.0.1",
                "--queuePort",
                str(self.queue_port),
                "--tableHost",
                "127.0.0.1",
                "--tablePort",
                str(self.table_port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # In memory, a million cases with their records outgrow Node's default heap (about 4 GB).
            env={**os.environ, "NODE_OPTIONS": f"--max-old-space-size={IN_MEMORY_HEAP_MB}"}
            if self.in_memory
            else None,
        )
        deadline = time.monotonic() + timeout
        for port in (self.blob_port, self.queue_port, self.table_port):
            while not _listening(port):
                if self.process.poll() is not None:
                    raise RuntimeError(f"azurite exited: {(self.data_dir / 'azurite.log').read_text()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"azurite did not listen on {port} within {timeout}s")
                time.sleep(0.05)
        return self

    def stop(self, *, keep_data: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if not keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start again on the same ports and data (on-disk persistence)."""
        self.stop(keep_data=True)
        self.start()


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
