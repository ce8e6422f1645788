"""fleet_health follows a fleet's events at most once a minute, and other changes at once."""

import datetime
from collections.abc import Callable

import dagster as dg

from pm_pipeline.defs.assets.fleet import FLEET_CHANGED
from pm_pipeline.defs.assets.scoring import file_events
from pm_pipeline.defs.partitions import ROBOTS

FLEET_HEALTH = dg.AssetKey("fleet_health")
event_labels = dg.AssetSpec("event_labels")


@dg.asset(deps=[file_events, event_labels], automation_condition=FLEET_CHANGED)
def fleet_health() -> None:
    """Stands in for the real one: only its condition is under test."""


DEFS = dg.Definitions(assets=[file_events, event_labels, fleet_health])
START = datetime.datetime(2026, 12, 7, 1, 0, 5, tzinfo=datetime.UTC)


def evaluations(instance: dg.DagsterInstance) -> Callable[[float], bool]:
    """Evaluate fleet_health's condition ``seconds`` after :data:`START`, tick after tick
    (the cursor carried), as the daemon does: whether it requests a refresh."""
    cursor = None

    def requested(seconds: float) -> bool:
        nonlocal cursor
        result = dg.evaluate_automation_conditions(
            defs=DEFS,
            instance=instance,
            asset_selection=dg.AssetSelection.assets(FLEET_HEALTH),
            cursor=cursor,
            evaluation_time=START + datetime.timedelta(seconds=seconds),
        )
        cursor = result.cursor
        return result.get_num_requested(FLEET_HEALTH) > 0

    return requested


def test_events_refresh_fleet_health_once_a_minute_labels_at_once() -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(ROBOTS, ["robot-1"])
        requested = evaluations(instance)

        def landed(key: dg.AssetKey, partition: str | None = None) -> None:
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))

        day = "2026-12-07|robot-1"
        requested(0)
        landed(file_events.key, day)
        assert not requested(10)  # events wait for the next minute
        landed(file_events.key, day)
        assert requested(61)  # the minute passed: once for both
        landed(file_events.key, day)
        assert not requested(70)
        landed(event_labels.key)
        assert requested(75)  # a label: at once (its refresh reads the events of 70 s too)
        assert not requested(80)
        landed(file_events.key, day)
        assert not requested(100)
        assert requested(121)  # the next minute


def test_a_change_landing_while_fleet_health_refreshes_is_not_dropped() -> None:
    # A model promoted while fleet_health's refresh ran: the refresh's own update and the
    # newer model land between the same two evaluations; the model must still count.
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(ROBOTS, ["robot-1"])
        requested = evaluations(instance)

        requested(0)
        instance.report_runless_asset_event(dg.AssetMaterialization(event_labels.key))
        assert requested(30)
        instance.report_runless_asset_event(dg.AssetMaterialization(FLEET_HEALTH))
        instance.report_runless_asset_event(dg.AssetMaterialization(event_labels.key))
        assert requested(60)
        instance.report_runless_asset_event(dg.AssetMaterialization(FLEET_HEALTH))
        assert not requested(90)  # nothing new since: no refresh for its own sake
