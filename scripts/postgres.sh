#!/usr/bin/env bash
# The local PostgreSQL of `EXPORTS_SOURCE=postgres make run`: a cluster in .postgres/ (made once, kept across
# runs like .azurite/) on 127.0.0.1:${EXPORTS_POSTGRES_PORT:-5433}, with the database `exports`.
#
# scripts/run.sh sources this file and calls postgres_start / postgres_stop. Run by hand:
#   scripts/postgres.sh start    start it (or use the server already on the port) and print its DSN
#   scripts/postgres.sh stop     stop the server of .postgres/ if it runs
# Port 5433 by default: Debian's own cluster, when it runs, has 5432.

PG_PORT="${EXPORTS_POSTGRES_PORT:-5433}"
PG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_HOME="$PG_ROOT/.postgres"
PG_DATA="$PG_HOME/data"
PG_LOG="$PG_HOME/postgres.log"
PG_DATABASE=exports
PG_BIN=""
PG_USER=""
# Set when postgres_start started the server, so postgres_stop leaves a server it found running alone.
PG_STARTED=""
DSN="host=127.0.0.1 port=$PG_PORT user=postgres dbname=$PG_DATABASE"

pg_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; }

pg_find_bin() {
  local initdb
  initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)"
  if [ -z "$initdb" ] || [ ! -x "$(dirname "$initdb")/pg_ctl" ]; then
    echo "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb, pg_ctl) are missing:" \
      "\`make postgresql\` installs them" >&2
    return 1
  fi
  PG_BIN="$(dirname "$initdb")"
}

# initdb and postgres refuse to run as root: then they run as Debian's `postgres` account, or one of our own.
pg_find_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  local name
  for name in postgres exportspg; do
    if getent passwd "$name" >/dev/null; then PG_USER="$name"; return 0; fi
  done
  useradd --system --no-create-home --shell /usr/sbin/nologin exportspg 2>/dev/null || true
  getent passwd exportspg >/dev/null || { echo "cannot create the user exportspg for PostgreSQL" >&2; return 1; }
  PG_USER=exportspg
}

as_pg() {
  if [ -n "$PG_USER" ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

pg_init() {
  # Called in an `||` list, where `set -e` does not apply: every step checks its own exit.
  mkdir -p "$PG_HOME" || return 1
  [ -z "$PG_USER" ] || chown -R "$PG_USER:" "$PG_HOME" || return 1
  as_pg test -w "$PG_HOME" || { echo "user $PG_USER cannot write $PG_HOME (a parent folder shut to it?)" >&2; return 1; }
  if [ -f "$PG_DATA/PG_VERSION" ]; then return 0; fi
  echo "make run: creating the PostgreSQL cluster in .postgres/"
  # C.UTF-8 as in the tests (tests/support/postgres.py): code-point collation, upper()/lower() beyond ASCII.
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$PG_HOME/initdb.log" 2>&1 \
    || { cat "$PG_HOME/initdb.log" >&2; rm -rf "$PG_DATA"; return 1; }
  # Loopback only (trust authentication), and no unix socket: its default folder may not exist or be shared.
  printf "\n# scripts/postgres.sh\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n" \
    >>"$PG_DATA/postgresql.conf" || return 1
}

postgres_start() {
  if pg_listening; then
    echo "make run: using the PostgreSQL already listening on $PG_PORT"
  else
    pg_find_bin || return 1
    pg_find_user || return 1
    pg_init || return 1
    if ! as_pg "$PG_BIN/pg_ctl" start -w -t 60 -D "$PG_DATA" -l "$PG_LOG" -o "-p $PG_PORT" >/dev/null; then
      echo "PostgreSQL did not start on $PG_PORT; the end of $PG_LOG:" >&2
      tail -n 30 "$PG_LOG" >&2
      return 1
    fi
    PG_STARTED=1
    echo "make run: PostgreSQL started on $PG_PORT (data in .postgres/)"
  fi
  "$PG_ROOT/.venv/bin/python" - "host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres" "$PG_DATABASE" <<'EOF'
import sys

import psycopg
from psycopg import sql

with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (sys.argv[2],)).fetchone() is None:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(sys.argv[2])))
EOF
}

# A fast stop: sessions end and every commit is on disk before it returns.
postgres_stop() {
  [ -n "$PG_STARTED" ] || return 0
  as_pg "$PG_BIN/pg_ctl" stop -w -m fast -D "$PG_DATA" >/dev/null 2>&1 || true
  PG_STARTED=""
  echo "make run: PostgreSQL stopped"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    start)
      postgres_start
      echo "$DSN"
      ;;
    stop)
      pg_find_bin
      pg_find_user
      if [ -f "$PG_DATA/postmaster.pid" ]; then PG_STARTED=1; postgres_stop; else echo "not running"; fi
      ;;
    *)
      echo "usage: $0 start|stop" >&2
      exit 2
      ;;
  esac
fi
