#!/usr/bin/env bash
# `make run`: Azurite on its standard ports (data in .azurite/), demo rows, then the local host.
# `EXPORTS_SOURCE=postgres make run`: the rows come from a local PostgreSQL instead (data in .postgres/, port
# ${EXPORTS_POSTGRES_PORT:-5433}; see scripts/postgres.sh). Azurite runs in both: jobs, queues and files live there.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
mkdir -p .azurite
[ -f local.settings.json ] || cp local.settings.json.example local.settings.json
export AzureWebJobsStorage="${AzureWebJobsStorage:-UseDevelopmentStorage=true}"
export EXPORTS_CLEANUP_SCHEDULE="${EXPORTS_CLEANUP_SCHEDULE:-0 0 * * * *}"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

AZURITE_PID=""
USE_POSTGRES=""
if [ "${EXPORTS_SOURCE:-}" = postgres ]; then
  USE_POSTGRES=1
  # shellcheck source=scripts/postgres.sh
  source scripts/postgres.sh
fi
# Only what this run started is stopped; servers found running are left alone.
cleanup() {
  if [ -n "$USE_POSTGRES" ]; then postgres_stop; fi
  if [ -n "$AZURITE_PID" ]; then kill "$AZURITE_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

if listening 10000 && listening 10001 && listening 10002; then
  echo "make run: using the storage emulator already listening on 10000-10002"
else
  node_modules/.bin/azurite --silent --skipApiVersionCheck --loose --disableTelemetry \
    --location .azurite --debug .azurite/debug.log >.azurite/azurite.log 2>&1 &
  AZURITE_PID=$!
  for _ in $(seq 1 100); do
    if listening 10000 && listening 10001 && listening 10002; then break; fi
    sleep 0.1
  done
  listening 10002 || { echo "Azurite did not start; see .azurite/azurite.log" >&2; exit 1; }
  echo "make run: Azurite started (pid $AZURITE_PID, data in .azurite/)"
fi

if [ -n "$USE_POSTGRES" ]; then
  postgres_start
  "$PY" -m tools.load_postgres --dsn "$DSN" --org demo-org --rows "${DEMO_ROWS:-5000}" --if-empty
  "$PY" -m tools.load_postgres --dsn "$DSN" --org demo-org --rows "${DEMO_ROWS:-5000}" --dataset tickets --if-empty
  export EXPORTS_POSTGRES_URL="$DSN"
else
  "$PY" -m tools.load_cases --org demo-org --rows "${DEMO_ROWS:-5000}" --if-empty
  "$PY" -m tools.load_cases --org demo-org --rows "${DEMO_ROWS:-5000}" --dataset tickets --if-empty
fi
"$PY" -m tools.demo "http://127.0.0.1:${PORT:-7071}/api"
"$PY" -m devhost --app-dir . --port "${PORT:-7071}"
