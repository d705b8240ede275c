# Kansenkaart Flexwonen — `make` alone lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEB_STAMP := webmap/node_modules/.installed
PAGE := api/static/dist/index.html
DEMO_DIR := data/raw/demo
DEMO_RESULT := data/processed/kansenkaart.gpkg
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help setup demo sample scan serve test check lint format typecheck bench clean

help: ## List the targets
	@echo "Kansenkaart Flexwonen"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 …'" >&2; exit 2; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(WEB_STAMP): webmap/package.json webmap/package-lock.json
	cd webmap && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The built page, rebuilt (seconds) whenever its sources change: a stale bundle would be tested
# and served.
$(PAGE): $(WEB_STAMP) webmap/build.mjs pipeline/styles/palette.json $(shell find webmap/src -type f)
	cd webmap && npm run --silent build

setup: $(STAMP) $(PAGE) ## Install everything into .venv/ (and webmap/node_modules); nothing else

sample: setup ## Generate the synthetic demo province into data/raw/demo/
	$(BIN)/kansenkaart sample --preset demo --out $(DEMO_DIR) --seed 42

demo: setup ## Generate demo data, check it, scan it and serve the map at http://$(HOST):$(PORT)/
	$(BIN)/kansenkaart sample --preset demo --out $(DEMO_DIR) --seed 42
	$(BIN)/kansenkaart check --sources $(DEMO_DIR)/sources.yaml
	$(BIN)/kansenkaart scan --sources $(DEMO_DIR)/sources.yaml --out $(DEMO_RESULT)
	$(BIN)/kansenkaart demo-serve --result $(DEMO_RESULT) --host $(HOST) --port $(PORT)

test: setup ## Install and run the whole test suite
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

lint: setup ## ruff lint and format check
	$(BIN)/ruff check pipeline api tests benchmarks
	$(BIN)/ruff format --check pipeline api tests benchmarks

format: setup ## Apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix pipeline api tests benchmarks
	$(BIN)/ruff format pipeline api tests benchmarks

typecheck: setup ## mypy on pipeline/ and api/
	$(BIN)/mypy

check: lint typecheck test ## Lint, types and tests

bench: setup ## Run the benchmarks on the province preset (minutes; prints figures and ratios)
	$(BIN)/python benchmarks/run_all.py

clean: ## Remove generated data, caches and the virtual environment
	rm -rf $(VENV) webmap/node_modules .pytest_cache .mypy_cache .ruff_cache data/processed/*.gpkg $(DEMO_DIR) tests/screenshots
