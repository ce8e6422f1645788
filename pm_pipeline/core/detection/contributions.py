"""Which channels moved in an event: its ``contributions`` read back and put in words.

An event's ``contributions`` is a JSON object ``{channel: share}``, largest first (see
:mod:`pm_pipeline.core.detection.events`). Events stored before it was recorded have none:
they are their own axis's alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

SHOWN = 3
"""Contributors named where space is short (a CLI line, a notification subject)."""


def contribution_shares(contributions: object, axis: str) -> list[tuple[str, float]]:
    """``(channel, share)`` pairs, largest share first; ``[(axis, 1.0)]`` when the event has
    none recorded (NULL, blank or not a JSON object)."""
    if isinstance(contributions, str) and contributions.strip():
        try:
            content = json.loads(contributions)
        except ValueError:
            content = None
        if isinstance(content, dict) and content:
            shares = [(str(name), float(share)) for name, share in content.items()]
            return sorted(shares, key=lambda pair: -pair[1])
    return [(axis, 1.0)]


def top_contributors(
    contributions: object,
    axis: str,
    shown: int = SHOWN,
    names: Mapping[str, str] | None = None,
) -> str:
    """The largest contributors with their shares, e.g. ``axis_2 62%, axis_1 30%``.

    Parameters
    ----------
    contributions, axis
        The event's stored ``contributions`` and its axis.
    shown
        How many to name; the rest are summed as ``others``.
    names
        Display names of channels (a context channel's export column), optional.
    """
    shares = contribution_shares(contributions, axis)
    names = names or {}
    parts = [f"{names.get(name, name)} {share:.0%}" for name, share in shares[:shown]]
    rest = sum(share for _, share in shares[shown:])
    if rest > 0:
        parts.append(f"others {rest:.0%}")
    return ", ".join(parts)
