"""The robots file: the documented shape reads, a bad entry is one line naming robot and key,
and `pm-pipeline robots` lists the fleet with what is stored for each robot."""

import os
from pathlib import Path

import pytest
import yaml

from pm_pipeline.config import robots
from pm_pipeline.config.robots import RobotsFileError, load_fleet
from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline_tests.commands import clean_env, run_cli
from pm_pipeline_tests.conftest import skip_or_fail
from pm_pipeline_tests.in_process import run_main

ISSUE_EXAMPLE = """\
robots:
  kawasaki-1: {}                 # 8 axes, dialect sniffed as today
  ur3-1:
    axis_count: 7
    column_map: {time: Timestamp, axis_1: Current_J0, axis_2: Current_J1, axis_3: Current_J2,
                 axis_4: Current_J3, axis_5: Current_J4, axis_6: Current_J5, axis_7: Tool_current}
"""
UR3_COLUMN_MAP = (
    '{"time": "Timestamp", "axis_1": "Current_J0", "axis_2": "Current_J1", '
    '"axis_3": "Current_J2", "axis_4": "Current_J3", "axis_5": "Current_J4", '
    '"axis_6": "Current_J5", "axis_7": "Tool_current"}'
)
UR3_EXPORT = Path(__file__).resolve().parents[2] / "shared" / "data" / "UR3_cobotops_part1.csv"


def fleet_of(tmp_path: Path, text: str, **environ: str):
    path = tmp_path / "robots.yaml"
    path.write_text(text)
    return load_fleet(load_settings({"PM_ROBOTS_FILE": str(path), **environ}))


def test_the_documented_shape_reads_in_order(tmp_path: Path) -> None:
    fleet = fleet_of(tmp_path, ISSUE_EXAMPLE)
    assert fleet.robot_ids == ["kawasaki-1", "ur3-1"]
    assert fleet.robot("kawasaki-1").export_format == ExportFormat(8, {})
    ur3 = fleet.robot("ur3-1").export_format
    assert ur3.axis_count == 7
    assert ur3.column_map["axis_7"] == "Tool_current"


def test_without_a_robots_file_one_robot_takes_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no robots.yaml here
    fleet = load_fleet(load_settings({"PM_AXIS_COUNT": "6"}))
    assert fleet.robot_ids == ["robot-1"]
    assert fleet.source is None
    assert fleet.robot("robot-1").export_format.axis_count == 6


def test_a_key_left_out_takes_the_setting(tmp_path: Path) -> None:
    fleet = fleet_of(tmp_path, "robots:\n  six: {column_map: {time: Zeit}}\n", PM_AXIS_COUNT="6")
    assert fleet.robot("six").export_format == ExportFormat(6, {"time": "Zeit"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("robots:\n  ur3-1: {axis_count: 9}\n", r"robot 'ur3-1', key 'axis_count': 9 is not"),
        (
            "robots:\n  ur3-1: {axis_count: 2, column_map: {axis_5: J4}}\n",
            r"robot 'ur3-1', key 'column_map': key 'axis_5' maps an axis beyond axis_count=2",
        ),
        ("robots:\n  ur3-1: {separator: ';'}\n", r"robot 'ur3-1': key 'separator' is not known"),
        ("robots:\n  'ur3 #1': {}\n", r"robot 'ur3 #1': not a usable robot id"),
        ("robots:\n  ur3-1: 7\n", r"robot 'ur3-1': expected a mapping of keys"),
        ("robots: [ur3-1]\n", r"expected a mapping `robots:`"),
        ("robots:\n  ur3-1: {axis_count: 7\n", r"robots.yaml line \d+: not valid YAML"),
        (
            "robots:\n  ur3-1: {context_columns: Temperature_J0}\n",
            r"robot 'ur3-1', key 'context_columns': expected a list of at most 16 column names",
        ),
        (
            "robots:\n  ur3-1: {context_columns: ["
            + ", ".join(f"T{i}" for i in range(17))
            + "]}\n",
            r"key 'context_columns': expected a list of at most 16",
        ),
        (
            "robots:\n  ur3-1: {column_map: {axis_1: J0}, context_columns: [T0, j0]}\n",
            r"key 'context_columns': column 'j0' is listed twice, or is already 'axis_1'",
        ),
    ],
)
def test_a_bad_entry_is_one_line_naming_robot_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(RobotsFileError, match=expected) as raised:
        fleet_of(tmp_path, text)
    assert "\n" not in str(raised.value)
    assert str(tmp_path / "robots.yaml") in str(raised.value)


@pytest.mark.parametrize(
    ("entry", "what", "written", "read"),
    [
        ("{written}: {{}}", "robot id", "0042", "34"),
        ("{written}: {{}}", "robot id", "12:30", "750"),
        ("{written}: {{}}", "robot id", "yes", "True"),
        ("{written}: {{}}", "robot id", "null", "None"),
        ("x: {{column_map: {{time: {written}}}}}", "column_map entry", "0042", "34"),
        ("x: {{context_columns: [T0, {written}]}}", "context_columns entry", "1.50", "1.5"),
    ],
)
@pytest.mark.parametrize("loader", ["libyaml", "pure Python"])
def test_text_yaml_would_read_as_another_is_refused_naming_its_line(
    tmp_path: Path,
    entry: str,
    what: str,
    written: str,
    read: str,
    loader: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if loader == "pure Python":  # PyYAML built without LibYAML
        monkeypatch.setattr(robots, "SAFE_LOADER", yaml.SafeLoader)
    else:
        assert robots.SAFE_LOADER is yaml.CSafeLoader
    with pytest.raises(RobotsFileError) as raised:
        fleet_of(tmp_path, f"robots:\n  kawasaki-1: {{}}\n  {entry.format(written=written)}\n")
    assert str(raised.value) == (
        f"{tmp_path / 'robots.yaml'} line 3: {what} {written} is read by YAML as {read}, "
        f'not as written; put it in quotes: "{written}"'
    )


@pytest.mark.parametrize("loader", ["libyaml", "pure Python"])
def test_a_list_holding_itself_is_refused_as_not_a_column_name(
    tmp_path: Path, loader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A YAML alias inside its own anchor makes a list that holds itself; the check of text
    as written visits each node once, so the entry's own check says what is wrong."""
    if loader == "pure Python":
        monkeypatch.setattr(robots, "SAFE_LOADER", yaml.SafeLoader)
    with pytest.raises(RobotsFileError) as raised:
        fleet_of(tmp_path, "robots:\n  x: {context_columns: &a [T0, *a, '0042']}\n")
    assert str(raised.value) == (
        f"{tmp_path / 'robots.yaml'}: robot 'x', key 'context_columns': ['T0', [...], '0042'] "
        "is not a column name; list the export's column names."
    )


def test_robot_ids_of_digits_read_as_written(tmp_path: Path) -> None:
    """Quoted, or a plain number that reads back as written; a column name too."""
    fleet = fleet_of(
        tmp_path,
        'robots:\n  "0042": {column_map: {time: "0042"}}\n  42: {}\n  2026-01-05: {}\n',
    )
    assert fleet.robot_ids == ["0042", "42", "2026-01-05"]
    assert fleet.robot("0042").export_format.column_map == {"time": "0042"}


def test_the_file_is_parsed_again_only_when_its_content_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sensor reads the file at every tick: the same content is parsed once. An edit is
    seen at the next read even when it keeps the file's size and modification time."""
    parses: list[str] = []

    loader = robots.SAFE_LOADER

    def counting_loader(stream: str) -> yaml.SafeLoader:
        parses.append(stream)
        return loader(stream)

    monkeypatch.setattr(robots, "SAFE_LOADER", counting_loader)
    path = tmp_path / "robots.yaml"
    path.write_text("robots:\n  kawasaki-1: {}\n  ur3-1: {axis_count: 7}\n")
    settings = load_settings({"PM_ROBOTS_FILE": str(path)})
    first, again = load_fleet(settings), load_fleet(settings)
    assert first == again and first.robot("ur3-1").export_format.axis_count == 7
    assert len(parses) == 1
    stamp = path.stat()
    path.write_text("robots:\n  kawasaki-1: {}\n  ur3-1: {axis_count: 6}\n")
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert load_fleet(settings).robot("ur3-1").export_format.axis_count == 6
    assert len(parses) == 2


def test_a_file_not_in_utf_8_is_one_line_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "robots.yaml"
    path.write_bytes("robots:\n  x: {column_map: {time: Zeitä}}\n".encode("cp1252"))
    with pytest.raises(RobotsFileError) as raised:
        load_fleet(load_settings({"PM_ROBOTS_FILE": str(path)}))
    assert str(raised.value) == (
        f"{path} line 2: not UTF-8 (byte 0xe4); save the robots file as UTF-8."
    )


def test_a_fleet_read_keeps_nothing_a_caller_can_change(tmp_path: Path) -> None:
    fleet = fleet_of(tmp_path, "robots:\n  x: {column_map: {time: Zeit}}\n")
    column_map = fleet.robot("x").export_format.column_map
    assert isinstance(column_map, dict)
    column_map["time"] = "changed"
    again = load_fleet(load_settings({"PM_ROBOTS_FILE": str(tmp_path / "robots.yaml")}))
    assert again.robot("x").export_format.column_map == {"time": "Zeit"}


def test_a_named_file_that_is_missing_says_so(tmp_path: Path) -> None:
    settings = load_settings({"PM_ROBOTS_FILE": str(tmp_path / "fleet.yaml")})
    with pytest.raises(RobotsFileError, match=r"PM_ROBOTS_FILE=.*fleet.yaml'?: no such file"):
        load_fleet(settings)


def test_an_unknown_robot_names_the_ones_there_are(tmp_path: Path) -> None:
    fleet = fleet_of(tmp_path, ISSUE_EXAMPLE)
    with pytest.raises(RobotsFileError, match=r"'ur5' is not one of .*: kawasaki-1, ur3-1"):
        fleet.robot("ur5")


def test_robots_command_lists_the_file_then_robots_known_only_by_their_readings(
    tmp_path: Path,
) -> None:
    if not UR3_EXPORT.is_file():
        skip_or_fail(f"the UR3 export is needed at {UR3_EXPORT}")
    env = clean_env({"PM_STATE_DIR": str(tmp_path / "state")})
    ur3_dialect = {"PM_AXIS_COUNT": "7", "PM_COLUMN_MAP": UR3_COLUMN_MAP}
    # The readings the listing counts: stored through the command's entry point, here.
    run_main("ingest", UR3_EXPORT, cwd=tmp_path, env={**env, **ur3_dialect})  # default robot
    (tmp_path / "robots.yaml").write_text(ISSUE_EXAMPLE)  # found in the working folder
    listed = run_cli("robots", cwd=tmp_path, env=env).stdout.splitlines()
    assert listed[0].split()[:3] == ["robot", "axes", "active"]
    assert listed[1].split() == ["kawasaki-1", "8", "none", "0", "none", "0"]
    assert listed[2].split() == ["ur3-1", "7", "none", "0", "none", "0"]
    assert listed[3].split() == ["robot-1", "?", "none", "5186", "2022-10-26T14:58:47Z", "0"]
    assert "3 robots (robots file" in listed[4]
    (tmp_path / "robots.yaml").write_text("robots:\n  ur3-1: {axis_count: 0}\n")
    failed = run_cli("robots", cwd=tmp_path, env=env, expect=1)
    assert failed.stderr.startswith("error: ") and "key 'axis_count'" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1


def test_the_encoding_key_names_the_exports_text_encoding(tmp_path: Path) -> None:
    fleet = fleet_of(tmp_path, "robots:\n  kuka-de: {encoding: Windows-1252}\n  ur3-1: {}\n")
    assert fleet.robot("kuka-de").export_format.encoding == "cp1252"
    assert fleet.robot("ur3-1").export_format.encoding == "utf-8"
    with pytest.raises(RobotsFileError, match=r"robot 'x', key 'encoding': 'klingon' is not a"):
        fleet_of(tmp_path, "robots:\n  x: {encoding: klingon}\n")


def test_ingest_reads_a_windows_1252_export_when_the_robot_says_so(tmp_path: Path) -> None:
    export = tmp_path / "windows.csv"
    export.write_bytes(
        "Zeit,Strom (€) 1\n2022-10-17T12:00:00Z,1.5\n2022-10-17T12:00:02Z,2.5\n".encode("cp1252")
    )
    robots = tmp_path / "robots.yaml"
    robots.write_text("robots:\n  kuka-de: {axis_count: 1, column_map: {time: Zeit}}\n")
    env = clean_env({"PM_ROBOTS_FILE": str(robots), "PM_STATE_DIR": str(tmp_path / "state")})
    # Without the key: one line naming the line and byte, and what to do.
    refused = run_cli("ingest", export, cwd=tmp_path, env=env, expect=1)
    [line] = refused.stderr.splitlines()
    assert "line 1, byte 13 (0x80) is not UTF-8 text: re-save as UTF-8" in line, line
    robots.write_text(
        "robots:\n  kuka-de:\n    axis_count: 1\n    encoding: cp1252\n"
        "    column_map: {time: Zeit, axis_1: 'Strom (€) 1'}\n"
    )
    read = run_main("ingest", export, cwd=tmp_path, env=env)  # the same entry point, here
    assert "2 rows added" in read.stdout


def test_context_columns_keep_their_order_as_context_slots(tmp_path: Path) -> None:
    fleet = fleet_of(
        tmp_path, "robots:\n  ur3-1: {axis_count: 1, context_columns: [Temp_J0, Speed_J0]}\n"
    )
    fmt = fleet.robot("ur3-1").export_format
    assert fmt.contexts == {"context_1": "Temp_J0", "context_2": "Speed_J0"}
