# Quick start: `make run` (serve the API with demo data) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# apt-get needs root: CI runs as root; elsewhere `make test-compat SUDO=sudo`.
SUDO ?=

.PHONY: install run test lint unit integration clean test-compat security test-fuzz test-faults

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: install
	./scripts/run.sh

lint: install security
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

# Bandit over the app code: fails on any finding of medium severity or above (see README, "Security").
security: install
	$(VENV)/bin/bandit -q -r exports shared devhost tools function_app.py --severity-level medium

# The long schemathesis run against the contract (make test runs a bounded one).
test-fuzz: install
	SECURITY_FUZZ_EXAMPLES=$${SECURITY_FUZZ_EXAMPLES:-400} $(VENV)/bin/pytest tests/security/test_api_fuzz.py

test: install lint
	$(VENV)/bin/pytest -m "not compat"

# Real consumers open the exported files (LibreOffice headless converts an XLSX of every data type).
# Installs LibreOffice Calc (Debian package, about 20 s with apt) when it is missing.
test-compat: install
	command -v soffice >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends libreoffice-calc; }
	$(VENV)/bin/pytest -m compat tests/compat

# The fault-injection suite in its long mode: 20 exports per fault (make test runs it with 3).
test-faults: install
	$(VENV)/bin/pytest tests/faults --fault-runs=$${FAULT_RUNS:-20}

unit: install
	$(VENV)/bin/pytest tests/unit

integration: install
	$(VENV)/bin/pytest tests/integration

clean:
	rm -rf .azurite .run .mypy_cache .ruff_cache
