import subprocess
import sys
from pathlib import Path

import dagster as dg

from pm_pipeline import YOUNG_COLLECTION_THRESHOLD
from pm_pipeline.definitions import defs
from pm_pipeline.defs.assets.training import AXIS_MODEL_KEYS, THRESHOLD_KEYS
from pm_pipeline_tests.commands import BIN, clean_env, run

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).parent / "dagster"


def test_definitions_load() -> None:
    definitions = defs()
    dg.Definitions.validate_loadable(definitions)
    graph = definitions.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {
        "raw_readings",
        "minmax_scaler",
        "synthetic_test_data",
        "synthetic_events",
        "file_events",
    } <= keys
    assert {k.to_user_string() for k in AXIS_MODEL_KEYS.values()} <= keys
    assert {k.to_user_string() for k in THRESHOLD_KEYS.values()} <= keys
    groups = {graph.get(k).group_name for k in AXIS_MODEL_KEYS.values()}
    assert groups == {"training"}
    assert graph.get(dg.AssetKey("synthetic_events")).group_name == "validation"


def test_a_process_that_loads_the_code_location_collects_cycles_less_often() -> None:
    # A new process, as a code server, a run worker or a command is: the threshold is set
    # by the package, and what loading the code location made is frozen, not walked again.
    probe = (
        "import gc, pm_pipeline.definitions; print(gc.get_threshold()[0], gc.get_freeze_count())"
    )
    printed = run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=clean_env()).stdout
    threshold, frozen = printed.split()
    assert int(threshold) == YOUNG_COLLECTION_THRESHOLD
    assert int(frozen) > 100_000, "Dagster, pandas and our modules make hundreds of thousands"


def test_the_daemon_and_webserver_load_our_instance_classes_without_pandas() -> None:
    # dagster.yaml's storage and run launcher are all the daemon and the webserver load of
    # ours: settings and storage. The numeric stack would add half a second of CPU to each
    # start (and to every command that reads only the settings).
    probe = (
        "import sys, pm_pipeline.defs.instance, pm_pipeline.defs.run_launcher;"
        "print(sorted({'numpy', 'pandas', 'pyarrow', 'scipy', 'sklearn'} & set(sys.modules)))"
    )
    printed = run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=clean_env()).stdout
    assert printed.strip() == "[]"


def test_dagster_cli_validates_the_workspace(tmp_path: Path) -> None:
    # A DAGSTER_HOME of the user's own, with no dagster.yaml in it: Dagster's defaults.
    env = clean_env({"DAGSTER_HOME": str(tmp_path), "PM_STATE_DIR": str(tmp_path / "state")})
    completed = run(
        [BIN / "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert (tmp_path / "history" / "runs.db").is_file()


def test_core_and_db_never_import_dagster() -> None:
    probe = (
        "import importlib, pkgutil, sys\n"
        "import pm_pipeline.core, pm_pipeline.db\n"
        "for package in (pm_pipeline.core, pm_pipeline.db):\n"
        "    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'dagster' or m.startswith('dagster.'))\n"
        "print(leaked)\n"
        "sys.exit(1 if leaked else 0)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_loading_the_code_location_leaves_the_numerics_to_the_runs_that_fit_or_score() -> None:
    # Every code server (dagster-daemon starts one a minute), webserver and run loads the
    # code location; SciPy and scikit-learn were a second of CPU in each.
    probe = (
        "import sys\n"
        "import pm_pipeline.definitions\n"
        "heavy = {'scipy', 'sklearn', 'matplotlib', 'pyod'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


def test_scoring_runs_from_the_ui_carry_a_max_runtime() -> None:
    # Run monitoring fails a run lost with the daemon only past its max runtime tag.
    job = defs().resolve_job_def("landed_files_job")
    assert int(job.tags["dagster/max_runtime"]) > 0


def test_dagster_cli_names_a_bad_setting(tmp_path: Path) -> None:
    env = clean_env({"PM_STATE_DIR": str(tmp_path), "PM_TIMEZONE": "Mars/Olympus"})
    completed = run(
        [DAGSTER, "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        expect=1,
        timeout=300,
    )
    assert "PM_TIMEZONE='Mars/Olympus': not a time zone" in completed.stdout + completed.stderr
