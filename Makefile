# cx-warehouse: `make demo` and `make test` are all a fresh clone needs (only python3 beforehand).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export CX_WAREHOUSE_DIR ?= $(CURDIR)/warehouse
export DAGSTER_HOME ?= $(CX_WAREHOUSE_DIR)/.dagster_home
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print)
DEMO_ARGS ?= --customers 2000 --days 365 --seed 42
SCALES ?= S
# Test modules run in parallel, whole: most of a test's time is single-threaded Python (dbt, Dagster).
TEST_WORKERS ?= 2

.PHONY: demo nightly backfill dev test lint format manifest clean install bench state ci-slim chromium

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

# The dbt manifest is prepared once here, not parsed each time Dagster loads the definitions.
manifest: $(MANIFEST)
$(MANIFEST): $(VENV)/.installed $(DBT_SOURCES)
	cd dbt_project && ../$(BIN)/dbt parse --profiles-dir . --quiet
	touch $@

$(DAGSTER_HOME)/dagster.yaml: orchestration/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp $< $@

demo: $(MANIFEST) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m ingestion.demo $(DEMO_ARGS) --out $(CX_WAREHOUSE_DIR)/extracts
	$(BIN)/python -m orchestration.run

nightly: $(MANIFEST) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m orchestration.run

# One run over a range of extract dates: `make backfill FROM=2025-01-01 TO=2025-01-31`.
backfill: $(MANIFEST) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m orchestration.run --from $(FROM) --to $(TO)

dev: $(MANIFEST) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -m orchestration.definitions -h 127.0.0.1 -p 3000

# sqlfluff compiles each model with dbt (.sqlfluff): against a scratch database and target folder.
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && \
	  CX_BUILD_DB=$$scratch/lint.duckdb CX_LAKE_DIR=$$scratch/lake DBT_TARGET_PATH=$$scratch/target \
	  $(BIN)/sqlfluff lint dbt_project/models

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# tests/test_report.py renders the report in headless Chromium: Debian's package, installed when
# missing and we may (root, as in CI); elsewhere that test is skipped with the reason.
chromium:
	@test -x /usr/bin/chromium || [ "$$(id -u)" != 0 ] || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Compiling connects to DuckDB: do it against a scratch database, never the warehouse's.
# The dbt unit tests run here, not in the nightly (they test SQL logic on fixed inputs): their
# models' parents must exist, so they are built first from an empty lake (zero-row schema files).
test: $(MANIFEST) lint chromium
	scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && \
	  CX_WAREHOUSE_DIR=$$scratch $(BIN)/python -c 'from ingestion.landing import ensure_schema_files; \
	    from ingestion.settings import Paths; ensure_schema_files(Paths.from_env())' && \
	  cd dbt_project && export CX_BUILD_DB=$$scratch/compile.duckdb CX_LAKE_DIR=$$scratch/lake && \
	  ../$(BIN)/dbt compile --profiles-dir . --target-path $$scratch/target --quiet && \
	  ../$(BIN)/dbt build --profiles-dir . --target-path $$scratch/target --quiet \
	    --select +test_type:unit --exclude-resource-type test
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Slim CI (docs/adding-a-model.md): `make state` saves the manifest of what is built (run it on main);
# `make ci-slim` then builds and tests only the models changed since (state:modified+), in a copy of
# the build database so that unchanged parents are read from it (--defer) and the real one is untouched.
STATE ?= dbt_project/state
SLIM_TARGET ?= dbt_project/target/ci-slim
BUILD_DB := $(or $(CX_BUILD_DB),$(CX_WAREHOUSE_DIR)/build/cx_build.duckdb)
state: $(MANIFEST)
	mkdir -p $(STATE) && cp $(MANIFEST) $(STATE)/manifest.json

ci-slim: $(MANIFEST)
	@test -f $(STATE)/manifest.json || { echo "no saved manifest $(STATE)/manifest.json: run 'make state' on main first" >&2; exit 1; }
	scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && db=$$scratch/$$(basename $(BUILD_DB)) && \
	  { test ! -f $(BUILD_DB) || cp $(BUILD_DB) $$db; } && cd dbt_project && \
	  CX_BUILD_DB=$$db ../$(BIN)/dbt build --profiles-dir . --select state:modified+ --defer \
	    --state $(abspath $(STATE)) --target-path $(abspath $(SLIM_TARGET))

# Benchmarks (bench/results.md): each scale in its own warehouse under /tmp/cx-bench, none of warehouse/.
# BENCH_ARGS passes more options, e.g. BENCH_ARGS="--work-dir /data/bench --keep".
bench: $(MANIFEST)
	$(BIN)/python -m bench.run --scale $(SCALES) $(BENCH_ARGS)

clean:
	rm -rf warehouse dbt_project/target dbt_project/logs
