# One task runner for people and CI. `make run` and `make test` create the
# environment on first use; nothing needs to be installed by hand beforehand.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced

HOST ?= 127.0.0.1
PORT ?= 8700

.PHONY: help env run test test-fast check lint format typecheck imports openapi bench clean

help:
	@echo "make run        start the server on http://$(HOST):$(PORT) (SQLite + ./var/)"
	@echo "make test       lint, type-check and run the whole test suite"
	@echo "make check      ruff, mypy (strict) and import-linter"
	@echo "make openapi    regenerate docs/openapi.json from the server"
	@echo "make bench      run the benchmarks in bench/"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --extra dev --python $(PYTHON)
	@touch $(STAMP)

env: $(STAMP)

run: $(STAMP)
	FLEETYARD_DEV=1 $(BIN)/yard serve --host $(HOST) --port $(PORT) --data-dir ./var

check: $(STAMP) lint typecheck imports

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

test: check
	$(BIN)/pytest -n 2 --dist loadfile

test-fast: $(STAMP)
	$(BIN)/pytest -x -q

openapi: $(STAMP)
	$(BIN)/python -m fleetyard.server.openapi > docs/openapi.json

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
