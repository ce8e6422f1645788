# The two commands a new user needs: `make run` (the main job on the embedded default)
# and `make test` (every test, plus ruff, pyright and the docs site's strict build).
VENV ?= .venv
BIN := $(VENV)/bin
STATE_DIR := $(CURDIR)/.pm_state
export PM_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
# Test processes: most end-to-end tests wait on subprocesses (pm-pipeline, dagster-daemon,
# dagster dev), so more workers than cores keeps the cores busy. pm_pipeline_tests/conftest.py
# keeps each module on one worker (module-scoped fixtures are built once) but the long
# end-to-end ones.
PYTEST_WORKERS ?= 4

.PHONY: env run dev fleet-demo test lint docs docs-reference format clean

# Python keeps each module's compiled bytecode in __pycache__. Where the environment turns
# that off (PYTHONDONTWRITEBYTECODE), every process compiles every module it imports again:
# loading the code location takes about twice the CPU, and a test run starts about
# 300 processes (commands, daemons, code servers, run workers). So the installed packages are
# compiled once, as pip does, and our own modules are cached as they are first imported.
unexport PYTHONDONTWRITEBYTECODE

# uv installs what pip would from the same pyproject.toml, in under half the time (20 s, not
# 48 s, on a fresh clone).
$(BIN)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $@

env: $(BIN)/.installed

# Both bring our tables to the newest revision first (PM_DATABASE_URL, or the embedded file).
run: env
	$(BIN)/pm-pipeline db upgrade
	$(BIN)/pm-pipeline run

dev: env
	$(BIN)/pm-pipeline db upgrade
	$(BIN)/pm-pipeline dev

# Three robots (the real Kawasaki and UR3 exports in ../shared/data, and a simulated one) in a
# state folder of their own, then the UI and daemon, which score each robot's waiting files.
FLEET_DEMO := $(CURDIR)/.pm_fleet_demo
fleet-demo: export PM_STATE_DIR = $(FLEET_DEMO)/state
fleet-demo: export PM_DROP_DIR = $(FLEET_DEMO)/incoming
fleet-demo: export PM_ROBOTS_FILE = $(FLEET_DEMO)/robots.yaml
fleet-demo: env
	mkdir -p $(FLEET_DEMO)
	test -f $(FLEET_DEMO)/robots.yaml || $(BIN)/python -c "from pm_pipeline.cli.fleet_demo import ROBOTS_FILE; print(ROBOTS_FILE, end='')" > $(FLEET_DEMO)/robots.yaml
	$(BIN)/pm-pipeline db upgrade
	$(BIN)/pm-pipeline fleet-demo
	$(BIN)/pm-pipeline dev

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pyright
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The docs site (mkdocs.yml, docs/) in site/, git-ignored; `$(BIN)/mkdocs serve` previews it.
docs: env
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The pages written from the code: .env.example, and the settings and CLI reference pages.
# A test fails while the committed ones differ from what this writes.
docs-reference: env
	$(BIN)/python -m pm_pipeline.config.reference
	$(BIN)/python -m pm_pipeline.cli.reference

test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS)

format: env
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(STATE_DIR) $(FLEET_DEMO) data/*.csv data/incoming
