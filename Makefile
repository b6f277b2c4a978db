# Every target is re-runnable. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INGESTION := $(BIN)/ingestion
INSTALLED := $(VENV)/.installed
# Users created by `make demo`; the benchmark uses its own million.
SCALE ?= 5000
# Status histories that production does not keep are recorded after each sync.
SNAPSHOT := $(INGESTION) dbt snapshot --quiet
DOCS := $(CURDIR)/dbt_project/target/static_index.html
REPORT := $(CURDIR)/.local/report/launch_report.html

.PHONY: help install server demo sync profile build docs report browser test lint bench soak clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "} {printf "  make %-8s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(INSTALLED) ## create .venv and install the package with its dev tools

server: install ## start the embedded server and its standby; write .env if there is none
	$(INGESTION) local start
	$(INGESTION) local setup
	$(INGESTION) local standby-start

demo: server ## run the whole job on the embedded server: the launch, synced step by step
	$(INGESTION) demo init --scale $(SCALE)
	$(INGESTION) dbt run-operation drop_snapshots --quiet
	$(INGESTION) local standby-wait
	$(INGESTION) sync --full-refresh
	$(SNAPSHOT)
	@for hours in 8 16 24; do \
		$(INGESTION) demo advance --hours $$hours \
		&& $(INGESTION) local standby-wait \
		&& $(INGESTION) sync \
		&& $(SNAPSHOT) || exit 1; \
	done
	$(INGESTION) status
	@# The simulation started over: incremental models are rebuilt, not merged.
	$(INGESTION) dbt build --full-refresh
	$(INGESTION) dbt docs generate --static
	$(INGESTION) report --output $(REPORT)
	@echo "marts: schema marts of the warehouse (.env); docs: $(DOCS); report: $(REPORT)"

sync: install ## replicate every source once, reconcile, then record the snapshots
	$(INGESTION) sync
	$(SNAPSHOT)

profile: install ## profile the sources into .local/profile (reports, JSON, dbt sources proposal)
	$(INGESTION) profile

build: install ## dbt build: run and test every model, snapshot and seed
	$(INGESTION) dbt build

docs: install ## write the static dbt docs site
	$(INGESTION) dbt docs generate --static
	@echo "docs: $(DOCS)"

report: install ## write the launch report from the marts (.local/report/launch_report.html)
	$(INGESTION) report --output $(REPORT)

# Debian's packages; apt-get needs root, so others go through sudo.
SUDO = $(if $(filter 0,$(shell id -u)),,sudo)
browser: ## install headless Chromium and its driver for the browser tests, when missing
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		|| { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

test: install browser ## run the tests; they start a PostgreSQL server of their own
	$(BIN)/pytest

lint: install ## ruff and sqlfluff (sqlfluff's dbt templater reads the settings)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(INGESTION) sqlfluff lint dbt_project

bench: install ## print speed figures against references measured in the same run
	$(BIN)/python -m tests.bench.bench_demo
	$(BIN)/python -m tests.bench.bench_sync
	$(BIN)/python -m tests.bench.bench_profile
	$(BIN)/python -m tests.bench.bench_dataset
	$(BIN)/python -m tests.bench.bench_dbt

soak: install ## 10 minutes of demo writes while syncs run in a loop; then zero differences
	$(BIN)/python -m tests.faults.soak --seconds $(or $(SOAK_SECONDS),600)

clean: ## stop the embedded server and delete it, dbt's output and caches (keeps .env, .venv)
	-[ -x $(INGESTION) ] && $(INGESTION) local standby-stop
	-[ -x $(INGESTION) ] && $(INGESTION) local stop
	rm -rf .local dbt_project/target dbt_project/logs .pytest_cache .ruff_cache
