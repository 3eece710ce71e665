"""A private PostgreSQL for one test session: a throw-away cluster in a temp folder on a free loopback port."""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.support.azurite import free_port

SUPERUSER = "postgres"
# Used only when the machine has no `postgres` account (the Debian package creates one).
FALLBACK_OS_USER = "exportspg"
INSTALL_HINT = "`make postgresql` installs them (Debian's postgresql package)"

# A throw-away cluster: losing it on a machine crash costs nothing, and skipping the disk flushes makes
# every commit and CREATE DATABASE much faster. Committed data still survives a clean (fast) stop.
SPEED_SETTINGS = {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off"}


def server_bin_dir() -> Path:
    """The bin folder of the highest PostgreSQL installed the Debian way (/usr/lib/postgresql/<major>/bin)."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found = [d for d in found if (d / "pg_ctl").is_file()]
    if not found:
        raise RuntimeError(
            f"PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb, pg_ctl) are missing: {INSTALL_HINT}"
        )
    return max(found, key=lambda d: _version_key(d.parent.name))


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


def server_os_user() -> str | None:
    """The account initdb and postgres run as: None to run as ourselves, which they allow unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in (SUPERUSER, FALLBACK_OS_USER):
        if _user_exists(name):
            return name
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_OS_USER],
        capture_output=True,
        text=True,
        check=False,
    )
    # Another session may have created it at the same moment: the account existing is what counts.
    if not _user_exists(FALLBACK_OS_USER):
        raise RuntimeError(f"cannot create the unprivileged user {FALLBACK_OS_USER} for PostgreSQL: {result.stderr}")
    return FALLBACK_OS_USER


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log: {error})"


@dataclass
class PrivatePostgres:
    """Runs a throw-away PostgreSQL cluster on a free loopback port until `stop()`."""

    base_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="postgres-")))
    port: int = field(default_factory=free_port)
    bin_dir: Path = field(default_factory=server_bin_dir)
    os_user: str | None = field(default_factory=server_os_user)
    running: bool = field(default=False, init=False)
    _started_once: bool = field(default=False, init=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "postgres.log"

    @property
    def dsn(self) -> str:
        """The libpq conninfo of the `postgres` database."""
        return self.conninfo("postgres")

    def conninfo(self, dbname: str) -> str:
        return make_conninfo(host="127.0.0.1", port=str(self.port), user=SUPERUSER, dbname=dbname)

    def start(self, timeout: int = 60) -> PrivatePostgres:
        if not (self.data_dir / "PG_VERSION").exists():
            self._init_cluster()
        # A free port can be taken by someone else between free_port() and the bind: only a first start may
        # move to another port, since a restart must come back where its clients expect it.
        attempts = 3 if not self.running and not self._started_once else 1
        for attempt in range(attempts):
            result = self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    str(timeout),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_path),
                    "-o",
                    f"-p {self.port}",
                ]
            )
            if result.returncode == 0:
                self.running = True
                self._started_once = True
                return self
            # pg_ctl gives up after its timeout but leaves a slow server running: never leave one behind.
            self._run([str(self.bin_dir / "pg_ctl"), "stop", "-w", "-m", "immediate", "-D", str(self.data_dir)])
            log = _tail(self.log_path)
            if attempt + 1 < attempts and "could not bind" in log:
                self.port = free_port()
                continue
            raise RuntimeError(
                f"PostgreSQL did not start on 127.0.0.1:{self.port} (pg_ctl exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}\n--- {self.log_path} ---\n{log}"
            )
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stops the server at once and removes the cluster: its data is never needed again."""
        try:
            self._pg_ctl_stop("immediate")
        finally:
            # Even if the stop failed: a postmaster whose data folder is gone shuts itself down.
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def restart(self) -> None:
        """Stops the server and starts it again on the same port with the same data.

        A fast stop: open sessions are terminated (their clients see the connection drop, as in a real server
        restart) and every committed transaction is kept. An immediate stop would drop commits still in the WAL
        buffers under synchronous_commit=off, so what a test finds after the restart would depend on timing.
        """
        self._pg_ctl_stop("fast")
        self.start()

    def create_database(self, name: str) -> str:
        """Creates database `name` and returns its libpq conninfo."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.conninfo(name)

    def _init_cluster(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.os_user is not None:
            account = pwd.getpwnam(self.os_user)
            for folder in (self.base_dir, self.data_dir):
                os.chown(folder, account.pw_uid, account.pw_gid)
            # A temp folder under an unreadable home (TMPDIR=/root/...) would fail later with a vaguer error.
            if self._run(["test", "-w", str(self.data_dir)]).returncode != 0:
                raise RuntimeError(
                    f"user {self.os_user} cannot write {self.data_dir}: set TMPDIR to a folder it can reach"
                )
        result = self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                # C.UTF-8: code-point collation on every machine, and upper()/lower() beyond ASCII.
                "--locale=C.UTF-8",
            ]
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            # Short path in our own folder: never clashes with a system server's /var/run/postgresql.
            "unix_socket_directories": "'" + str(self.base_dir).replace("'", "''") + "'",
            **SPEED_SETTINGS,
        }
        # Appending as root keeps initdb's owner and mode on the file.
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# tests/support/postgres.py\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _pg_ctl_stop(self, mode: str) -> None:
        if not self.running:
            return
        result = self._run([str(self.bin_dir / "pg_ctl"), "stop", "-w", "-m", mode, "-D", str(self.data_dir)])
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl stop -m {mode} failed:\n{result.stdout}{result.stderr}\n{_tail(self.log_path)}")
        self.running = False

    def _run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.os_user, "--"] if self.os_user is not None else []
        # cwd: the server's user may not be allowed into ours (initdb warns when it cannot return there).
        return subprocess.run([*prefix, *command], cwd=self.base_dir, capture_output=True, text=True, check=False)
