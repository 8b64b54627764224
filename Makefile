# The commands a newcomer needs: `make up` and `make test`. Everything else is a helper.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
# The stamp's name changed when installs began compiling bytecode, so a checkout installed before
# that syncs (and compiles) once more.
VENV_STAMP := .venv/.synced-compiled
# Downloads stay in the checkout's git-ignored .cache/ (uv here, npm, apt and Kafka's jars in
# scripts/), so setting a machine up again reuses them.
export UV_CACHE_DIR ?= $(CURDIR)/.cache/uv

.PHONY: up up-full test test-fast lint fmt bench install web clean help

help:
	@echo "make up      install, load demo data, materialize every asset, serve Dagster UI (:3000) + API (:8000)"
	@echo "make up-full the same in full mode on real services (PostgreSQL, Redis, Kafka, MLflow"
	@echo "             server on S3, Prometheus) that scripts/ install and start; no Docker needed"
	@echo "make test    the whole test suite (what CI runs)"
	@echo "make lint    ruff + mypy      make fmt   format the code"
	@echo "make bench   run the benchmarks in bench/ and print their tables"
	@echo "make web     build the web page (dashboards/web: npm ci + npm run build) that the API serves at /"
	@echo "make clean   delete var/ (all embedded state)"
	@echo "make dashboards  regenerate the Grafana dashboards (dashboards/grafana/*.json)"

install: $(VENV_STAMP)

# uv is bootstrapped with pip when the machine lacks it; the lock pins every package.
# --compile-bytecode: every package compiled once, here (about 20 s on 2 cores). Python then never
# compiles them again, even where PYTHONDONTWRITEBYTECODE=1 (as on our CI machines) stops it
# caching what it compiles: there each process compiled every module it imported, 4 s of CPU
# for dagster, mlflow, pandas and scikit-learn, in every one of the suite's many processes.
$(VENV_STAMP): pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || { echo "Installing uv with pip ..."; python3 -m pip install --quiet uv; }
	@echo "Installing Python packages from uv.lock ..."
	@$(UV) sync --frozen --compile-bytecode
	@touch $@

# npm ci and the build run only when node_modules or dist/ is missing or older than its
# sources (scripts/web.sh), npm's cache in .cache/npm. Without Node.js, `up` still starts and
# the API shows its docs at / instead of the page.
web:
	@if command -v npm >/dev/null 2>&1; then scripts/web.sh build >/dev/null; \
	else echo "npm not found (Node.js 20.19+): the web page is not built; / shows the API docs" >&2; fi

up: install web
	@.venv/bin/tickerpulse up

# Full mode without Docker (scripts/up-full.sh); with Docker: docker compose -f docker/compose.yaml up.
up-full: install web
	@scripts/up-full.sh

# Tests run in random order (pytest-randomly) on PYTEST_WORKERS processes (pytest-xdist), a
# file's tests on one worker so its module fixtures are built once; PYTEST_WORKERS=0 runs them
# in this process. The session's services are shared by the workers (tests/conftest.py).
# Three on a 2-core machine: with two, the CPU idled 39 % of the run while tests waited on
# servers, brokers and timeouts.
PYTEST_WORKERS ?= 3
test: install
	@$(UV) run --frozen pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25

test-fast: install
	@$(UV) run --frozen pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow and not integration and not e2e"

lint: install
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy

fmt: install
	@$(UV) run --frozen ruff format .
	@$(UV) run --frozen ruff check --fix .

bench: install
	@$(UV) run --frozen python -m bench

clean:
	rm -rf var

# Grafana dashboards as code: dashboards/grafana/*.json from build.py (commit the JSON;
# tests/unit/test_dashboards.py fails when it is stale).
.PHONY: dashboards
dashboards: install
	@$(UV) run --frozen python dashboards/grafana/build.py
