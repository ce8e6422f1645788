# The two commands a new user needs: `make run` (the main job on the embedded default)
# and `make test` (every test, plus ruff and pyright).
VENV ?= .venv
BIN := $(VENV)/bin
STATE_DIR := $(CURDIR)/.pm_state
export PM_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
# Test processes: most end-to-end tests wait on subprocesses (pm-pipeline, dagster-daemon,
# dagster dev), so more workers than cores keeps the cores busy. pm_pipeline_tests/conftest.py
# keeps each module on one worker (module-scoped fixtures are built once) but the long
# end-to-end ones.
PYTEST_WORKERS ?= 4

.PHONY: env run dev test lint format clean

$(BIN)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

env: $(BIN)/.installed

# Both bring our tables to the newest revision first (PM_DATABASE_URL, or the embedded file).
run: env
	$(BIN)/pm-pipeline db upgrade
	$(BIN)/pm-pipeline run

dev: env
	$(BIN)/pm-pipeline db upgrade
	$(BIN)/pm-pipeline dev

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pyright

test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS)

format: env
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(STATE_DIR) data/*.csv data/incoming
