"""``.env.example`` and the settings reference table, written from :class:`Settings`.

``python -m pm_pipeline.config.reference`` rewrites ``.env.example`` (``make docs-reference``
runs it, and writes docs/reference/settings.md with :func:`render_markdown_table` through
``pm_pipeline.cli.reference``); tests check that both match what is rendered, so neither
drifts from the settings the code reads.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from pydantic import AliasChoices

from pm_pipeline.config.alert_settings import AlertSettings
from pm_pipeline.config.settings import Settings

ENV_EXAMPLE = Path(".env.example")
_WIDTH = 92
_HEADER = """\
# Copy to .env (git-ignored) and fill in. Every variable is optional; blank means the
# default shown. An environment variable wins over .env.
# Written by `python -m pm_pipeline.config.reference` from pm_pipeline/config/settings.py.
"""
# Documented beside the settings, but read by Dagster or by the tests, not by Settings.
OTHER_VARIABLES = {
    "PM_TEST_DATABASE_URL": "Postgres server the Postgres tests use (make test sets the local "
    "one by default). Read by the tests only.",
    "DAGSTER_PG_URL": "Dagster's own storage in production (read by dagster.yaml). Unset: "
    "SQLite in the local Dagster home.",
}


@dataclass(frozen=True)
class Variable:
    """One documented environment variable."""

    name: str
    default: str
    description: str


def setting_variables() -> list[Variable]:
    """Every variable :class:`Settings` reads, in field order (fallback names included)."""
    found = []
    # The notification settings are inherited, so pydantic lists them first; they read
    # better after the pipeline's own.
    fields = sorted(
        Settings.model_fields.items(), key=lambda item: item[0] in AlertSettings.model_fields
    )
    for _, field in fields:
        alias = field.validation_alias
        names = [str(n) for n in alias.choices] if isinstance(alias, AliasChoices) else [str(alias)]
        description = field.description or ""
        found.append(Variable(names[0], _env_value(field.default), description))
        found += [
            Variable(name, "", f"Read when {names[0]} is unset, as older setups name it.")
            for name in names[1:]
        ]
    return found


def other_variables() -> list[Variable]:
    """The variables ``.env.example`` documents that :class:`Settings` does not read."""
    return [Variable(name, "", text) for name, text in OTHER_VARIABLES.items()]


def render_env_example() -> str:
    """The text of ``.env.example``: each variable with its description and default."""
    blocks = [_HEADER]
    for variable in setting_variables() + other_variables():
        comment = textwrap.fill(
            variable.description,
            _WIDTH,
            initial_indent="# ",
            subsequent_indent="# ",
            break_on_hyphens=False,  # an option such as --min-rows stays whole
        )
        blocks.append(f"{comment}\n{variable.name}={variable.default}\n")
    return "\n".join(blocks)


def render_markdown_table() -> str:
    """The table of settings on docs/reference/settings.md."""
    lines = ["| variable | default | what it sets |", "|---|---|---|"]
    for variable in setting_variables():
        default = f"`{variable.default.strip(chr(34))}`" if variable.default else "unset"
        lines.append(f"| `{variable.name}` | {default} | {variable.description} |")
    return "\n".join(lines) + "\n"


def _env_value(default: object) -> str:
    if default is None or default in ({}, ()):
        return ""
    if isinstance(default, float):
        return f"{default:g}"
    text = str(default)
    return f'"{text}"' if " " in text else text


def main(argv: list[str] | None = None) -> int:
    """Write ``.env.example`` (or print the settings table with ``--table``)."""
    if (argv if argv is not None else sys.argv[1:]) == ["--table"]:
        print(render_markdown_table(), end="")
        return 0
    ENV_EXAMPLE.write_text(render_env_example())
    print(f"wrote {ENV_EXAMPLE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
