"""A run's lineage look-ups (model link, threshold provenance) for many robots at once give
what one robot's own look-ups give."""

import dagster as dg
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from pm_pipeline.defs.assets.training import AXIS_MODEL_KEYS, THRESHOLD_KEYS
from pm_pipeline.defs.event_metadata import (
    RunLineage,
    model_version_link,
    threshold_provenance,
)

UI = "http://ui:3000"


def materialize(instance: dg.DagsterInstance, key: dg.AssetKey, robot: str, version: str) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(key, partition=robot, tags={DATA_VERSION_TAG: version})
    )


def test_a_runs_lineage_is_each_robots_own() -> None:
    with dg.instance_for_test() as instance:
        for robot, versions in {
            "a": ["a1", "a2"],  # a2 a refused candidate, newer than the active a1
            "b": ["b1"],
            "c": [f"c{n}" for n in range(30)],  # more records than the run's query holds
        }.items():
            for version in versions:
                for key in [*THRESHOLD_KEYS.values(), next(iter(AXIS_MODEL_KEYS.values()))]:
                    materialize(instance, key, robot, version)
        # One query per key holds every robot's records; with c, it cannot hold them all.
        for run in (["a", "b", "a", "d"], ["a", "c"]):  # d has none
            lineage = RunLineage(instance, run, UI)
            for robot, version in [(r, f"{r}1") for r in run] + [("a", "zz"), ("e", "a1")]:
                expected = threshold_provenance(instance, robot, version)
                assert lineage.provenance(robot, version) == expected
                assert lineage.link(version) == model_version_link(instance, version, UI)
            assert len(lineage.provenance("a", "a1")) == 2 * len(THRESHOLD_KEYS)
        assert not RunLineage(instance, ["d"], UI).provenance("d", "d1")
