# The README's commands. Everything installs into .venv/ and node_modules/, nothing system-wide
# except the browser the end-to-end tests need (scripts/system-deps.sh, only as root).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
COLLECTOR_PORT ?= 5100
HTMX := webapp/static/vendor/htmx.min.js

# `make run` talks to the local collector with a local key unless told otherwise.
export SEGMENT_HOST ?= http://127.0.0.1:$(COLLECTOR_PORT)
export SEGMENT_WRITE_KEY ?= local-development

# The checkout is installed editable in setuptools' compat mode: a plain path entry, which mypy run from an
# application's own project follows (the default mode's import hook is invisible to it). setuptools warns
# on every install that the mode is transitional; pyproject.toml keeps the build below any release that
# could drop it.
EDITABLE = PYTHONWARNINGS="ignore:Compat editable installs" $(BIN)/pip install --quiet \
	--config-settings editable_mode=compat -e

.PHONY: run first-run-hint test lint bench install clean screenshots

$(BIN)/event-catalog: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(EDITABLE) '.[test]'
	touch $@

$(HTMX): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	mkdir -p $(dir $@)
	cp node_modules/htmx.org/dist/htmx.min.js $@

install: $(BIN)/event-catalog $(HTMX)

run: install
	$(BIN)/event-catalog db upgrade
	@echo "Dashboard: http://127.0.0.1:$(PORT)   Collector: http://127.0.0.1:$(COLLECTOR_PORT)/messages"
	@$(MAKE) --no-print-directory first-run-hint
	$(BIN)/event-catalog collector --port $(COLLECTOR_PORT) & collector=$$!; \
	trap 'kill $$collector 2>/dev/null' EXIT INT TERM; \
	$(BIN)/event-catalog run --host 127.0.0.1 --port $(PORT)

# While no account exists, the first visit creates the admin: say where (there is no such page behind a proxy).
first-run-hint:
	@if [ "$${AUTH_MODE:-accounts}" = accounts ] && $(BIN)/event-catalog users list | grep -q '^no accounts yet'; then \
		echo "First run? Open http://127.0.0.1:$(PORT)/setup to create the admin account."; fi

test: install
	bash scripts/system-deps.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/event-catalog lint
	$(BIN)/pytest

# The README's screenshots, taken by the catalog's browser test in real Chromium.
screenshots: install
	SCREENSHOT_DIR=docs/screenshots $(BIN)/pytest -q -p no:cacheprovider \
		tests/e2e/test_catalog_browser.py::test_search_filter_open_an_event_and_download_its_schema

$(BIN)/locust: pyproject.toml
	$(EDITABLE) '.[test,bench]'
	touch $@

bench: install $(BIN)/locust
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules webapp/static/vendor .pytest_cache .mypy_cache .ruff_cache
