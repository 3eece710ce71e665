# Quick start: `make run` (serve the API with demo data) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
# apt-get needs root: CI runs as root; elsewhere `make test-compat SUDO=sudo`.
SUDO ?=

.PHONY: install run test test-busy lint openapi-lint unit integration clean test-compat security test-fuzz test-faults test-scale bench bench-large infra-check chromium postgresql test-browser

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: install postgresql
	./scripts/run.sh

lint: install security infra-check openapi-lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

# Spectral's OpenAPI rules (.spectral.yaml: spectral:oas, nothing turned off) over the document the app serves,
# written to a git-ignored file first. Any warning fails, so the contract stays fit for client generators.
openapi-lint: install
	$(PY) -m exports.openapi > .openapi.json
	node_modules/.bin/spectral lint --ruleset .spectral.yaml --fail-severity=warn .openapi.json

# Bandit over the app code: fails on any finding of medium severity or above (see README, "Security").
security: install
	$(VENV)/bin/bandit -q -r exports shared devhost tools function_app.py --severity-level medium

# checkov over the Bicep, in its own venv: its dependency tree pins its own pydantic, packaging, boto3 and more,
# which clash with the app's pins. Fails on any failed check: each is fixed or skipped in the file with a reason.
# A Bicep file checkov cannot parse is skipped with only a count in its summary, so that count fails too.
infra-check: $(CHECKOV_VENV)/.installed
	set -o pipefail; $(CHECKOV_VENV)/bin/checkov -d infra --framework bicep --skip-download --compact --quiet \
	  | tee .checkov.out; ! grep -q 'Parsing errors: [1-9]' .checkov.out || { echo 'checkov could not parse a Bicep file'; exit 1; }

$(CHECKOV_VENV)/.installed: infra/requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-checkov.txt
	touch $@

# The long schemathesis run against the contract (make test runs a bounded one).
test-fuzz: install
	SECURITY_FUZZ_EXAMPLES=$${SECURITY_FUZZ_EXAMPLES:-400} $(VENV)/bin/pytest tests/security/test_api_fuzz.py

test: install lint chromium postgresql
	$(VENV)/bin/pytest -m "not compat and not slow" --durations=20

# make test three times in a row while another process keeps one core fully busy: no test may depend on
# timing luck (see README, "The local host"). The busy loop is killed however the runs end.
test-busy: install
	$(PYTHON) -c 'while True: pass' & hog=$$!; trap 'kill $$hog' EXIT; \
	for run in 1 2 3; do echo "make test-busy: run $$run of 3"; $(MAKE) test || exit 1; done

# The browser tests (tests/browser) drive Debian's Chromium through Playwright from PyPI, which never downloads
# a browser of its own here. Installs the Debian package when it is missing (about 30 s with apt).
chromium:
	test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; }

# The tests' private PostgreSQL (tests/support/postgres.py) and `EXPORTS_SOURCE=postgres make run` need the server
# binaries: installs Debian's postgresql package when they are missing (its own cluster is not used).
postgresql:
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends postgresql; }

# Only the browser tests (the exports page); UPDATE_DOCS_SCREENSHOT=1 also refreshes docs/exports-page.png.
test-browser: install chromium
	$(VENV)/bin/pytest tests/browser

# Real consumers open the exported files (LibreOffice headless converts an XLSX of every data type).
# Installs LibreOffice Calc (Debian package, about 20 s with apt) when it is missing.
test-compat: install
	command -v soffice >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends libreoffice-calc; }
	$(VENV)/bin/pytest -m compat tests/compat

# The fault-injection suite in its long mode: 20 exports per fault (make test runs it with 3).
test-faults: install postgresql
	$(VENV)/bin/pytest tests/faults --fault-runs=$${FAULT_RUNS:-20}

# Scale checks: a 100,000-case FLAT_FILE with 20 tags, every value checked against the source.
test-scale: install
	$(VENV)/bin/pytest -m slow -s

# Benchmarks (not tests): a private Azurite, its own data, a table on stdout and JSON in bench/results/.
# bench: 10k and 100k rows (about 30 minutes here). bench-large adds 1M rows: Azurite needs ~12 GB and
# about 1.5 h to load them, and its partition queries slow down as a partition grows (see README, Performance).
bench: install $(VENV)/.bench-installed
	$(PY) -m bench

bench-large: install $(VENV)/.bench-installed
	$(PY) -m bench --sizes 10000,100000,1000000 --naive-max-rows 100000 --load-processes 2 --label bench-large

$(VENV)/.bench-installed: bench/requirements.txt requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

unit: install
	$(VENV)/bin/pytest tests/unit

integration: install postgresql
	$(VENV)/bin/pytest tests/integration

clean:
	rm -rf .azurite .postgres .run .mypy_cache .ruff_cache
