# The two commands a newcomer needs: `make up` (set up and run the pipeline) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

up:  ## set up everything (venv, database, Airflow) and run the collector and Airflow in the background
	@bash scripts/up.sh

down:  ## stop the collector and Airflow
	@bash scripts/down.sh

test:  ## install what is missing, then run ruff and the full test suite against real PostgreSQL and Redis
	@bash scripts/test.sh

faults:  ## the fault suite: kills, outages, poison and bad requests against a private stack (a few minutes)
	@bash scripts/faults.sh

lint:  ## ruff check and format check
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .

lock:  ## re-pin requirements.txt / requirements-dev.txt from the .in files
	@.venv/bin/uv pip compile -q --python-version 3.11 requirements.in -o requirements.txt
	@.venv/bin/uv pip compile -q --python-version 3.11 requirements-dev.in -o requirements-dev.txt

bench:  ## run every benchmark under bench/ (figures go to BENCHMARKS.md by hand)
	@bash scripts/bench.sh

.PHONY: help up down test faults lint lock bench
