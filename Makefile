# The two commands a new user needs: `make run` (the main job on the embedded default)
# and `make test` (every test, plus ruff and pyright).
VENV ?= .venv
BIN := $(VENV)/bin
STATE_DIR := $(CURDIR)/.pm_state
export DAGSTER_HOME ?= $(STATE_DIR)/dagster_home
export PM_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: env run dev test lint format clean

$(BIN)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

env: $(BIN)/.installed

run: env
	$(BIN)/pm-pipeline run

dev: env
	$(BIN)/pm-pipeline dev

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pyright

test: lint
	$(BIN)/pytest

format: env
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(STATE_DIR) data/*.csv data/incoming
