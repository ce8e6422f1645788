"""When the views and fleet_health refresh: a dep updated, or a clock, since the last request.

Not ``any_deps_updated().since_last_handled()``. Its reset (requested, or updated, or the
first evaluation) is an OR of conditions, and so is ``any_deps_updated``; an OR carries no
time. So when a dep was updated while the asset's own refresh ran, both landing between two
evaluations, the reset won and the dep's change was dropped until the next one: a model
promoted while fleet_health was being refreshed left the robot STALE MODEL for up to ten
minutes. A dep's update (``newly_updated``) carries its time and a request its evaluation's,
and Dagster's ``since`` lets the later of the two win when both are new. A refresh that
fails is not requested again until something changes, as before.
"""

import dagster as dg


def since_requested(condition: dg.AutomationCondition) -> dg.AutomationCondition:
    """``condition`` has become true since the asset was last requested."""
    return condition.since(dg.AutomationCondition.newly_requested())


def deps_updated(ignore: dg.AssetSelection | None = None) -> dg.AutomationCondition:
    """A dep (but those of ``ignore``) has been updated since the asset was last requested."""
    updated = dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated())
    return since_requested(updated if ignore is None else updated.ignore(ignore))
