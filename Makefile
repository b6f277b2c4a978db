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

.PHONY: help install server demo sync build docs test lint bench clean

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
	$(INGESTION) local standby-wait
	$(INGESTION) sync --full-refresh
	$(INGESTION) demo advance --hours 8
	$(INGESTION) local standby-wait
	$(INGESTION) sync
	$(INGESTION) demo advance --hours 16
	$(INGESTION) local standby-wait
	$(INGESTION) sync
	$(INGESTION) demo advance --hours 24
	$(INGESTION) local standby-wait
	$(INGESTION) sync
	$(INGESTION) status
	$(INGESTION) dbt debug --quiet

sync: install ## replicate every source into the warehouse once, then reconcile
	$(INGESTION) sync

build: install ## dbt build: run and test every model, snapshot and seed
	$(INGESTION) dbt build

docs: install ## write the static dbt docs site
	$(INGESTION) dbt docs generate --static
	@echo "docs: $(CURDIR)/dbt_project/target/static_index.html"

test: install ## run the tests; they start a PostgreSQL server of their own
	$(BIN)/pytest

lint: install ## ruff and sqlfluff (sqlfluff's dbt templater reads the settings)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(INGESTION) sqlfluff lint dbt_project

bench: install ## print speed figures against references measured in the same run
	$(BIN)/python -m tests.bench.bench_demo
	$(BIN)/python -m tests.bench.bench_sync
	$(BIN)/python -m tests.bench.bench_dataset

clean: ## stop the embedded server and delete it, dbt's output and caches (keeps .env, .venv)
	-[ -x $(INGESTION) ] && $(INGESTION) local standby-stop
	-[ -x $(INGESTION) ] && $(INGESTION) local stop
	rm -rf .local dbt_project/target dbt_project/logs .pytest_cache .ruff_cache
