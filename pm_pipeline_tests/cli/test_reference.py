"""The docs site's settings and CLI reference pages are the ones the code generates."""

from pathlib import Path

import pytest

from pm_pipeline.cli.reference import (
    REGENERATE,
    command_parsers,
    generated_pages,
    render_cli_page,
)
from pm_pipeline.config.reference import setting_variables
from pm_pipeline_tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize("page", sorted(generated_pages()), ids=str)
def test_the_committed_reference_page_is_what_the_code_generates(page: Path) -> None:
    committed = PROJECT_ROOT / page
    assert committed.is_file(), f"{page} is missing; write it with: {REGENERATE}"
    assert committed.read_text() == generated_pages()[page], (
        f"{page} differs from what the code generates; regenerate it with: {REGENERATE}"
    )


def test_the_settings_page_lists_every_setting() -> None:
    text = (PROJECT_ROOT / "docs" / "reference" / "settings.md").read_text()
    for variable in setting_variables():
        assert f"| `{variable.name}` |" in text


def test_the_cli_page_holds_every_command_and_option() -> None:
    text = render_cli_page()
    parsers = command_parsers()
    assert len(parsers) > 10
    for parser in parsers:
        assert f"## `{parser.prog}`" in text
        for action in parser._actions:
            assert all(option in text for option in action.option_strings)
