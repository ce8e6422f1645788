"""The one way a setting is declared, shared by the parts of the settings object."""

from typing import Any

from pydantic import Field


def setting(default: Any, env: str, description: str, hint: str = "", **more: Any) -> Any:
    """A field read from ``env``; ``hint`` ends the message when the text does not parse, and
    ``description`` is what ``.env.example`` and docs/reference/settings.md say of it."""
    return Field(
        default,
        validation_alias=env,
        description=description,
        json_schema_extra={"hint": hint} if hint else None,
        **more,
    )
