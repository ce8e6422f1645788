"""The docs name tests that exist: every ``file.py::test`` on the reliability page is one."""

import ast
import re

from pm_pipeline_tests.conftest import PROJECT_ROOT

TESTS = PROJECT_ROOT / "pm_pipeline_tests"
# `file.py::test_name`, or `::test_name` for another test of the file named before it.
REFERENCE = re.compile(r"`((?:[\w/]+\.py)?)::(test_\w+)`")


def _tests_in(path_text: str) -> set[str]:
    tree = ast.parse((TESTS / path_text).read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_test_the_reliability_page_names_exists() -> None:
    text = (PROJECT_ROOT / "docs" / "reliability.md").read_text()
    missing, current, named = [], "", 0
    for path_text, test in REFERENCE.findall(text):
        current = path_text or current
        named += 1
        if not (TESTS / current).is_file() or test not in _tests_in(current):
            missing.append(f"{current}::{test}")
    assert named > 0
    assert not missing, "docs/reliability.md names tests that do not exist: " + ", ".join(missing)
