"""The IO manager: step outputs live in our database, never on one host's disk."""

from typing import Any

import dagster as dg

from pm_pipeline.db.asset_values import UNPARTITIONED, load_asset_value, store_asset_value
from pm_pipeline.defs.resources import ReadingsDatabaseResource, SettingsResource


class DatabaseIOManager(dg.ConfigurableIOManager):
    """Keeps each asset's newest value in the readings database (``pm_asset_values``), so the
    webserver, the daemon and run workers on other hosts (Celery, k8s) all read the same one."""

    readings_db: dg.ResourceDependency[ReadingsDatabaseResource]

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return  # an asset that only reports metadata hands nothing on
        key, partition = _address(context)
        size = store_asset_value(self.readings_db.engine(), key, partition, obj, context.run_id)
        context.add_output_metadata({"stored_value_bytes": size})

    def load_input(self, context: dg.InputContext) -> Any:
        key, partition = _address(context)
        return load_asset_value(self.readings_db.engine(), key, partition)


def _address(context: dg.OutputContext | dg.InputContext) -> tuple[str, str]:
    """The asset key as a ``/``-path, and the partition (empty for an unpartitioned asset)."""
    partition = context.asset_partition_key if context.has_asset_partitions else UNPARTITIONED
    return context.asset_key.to_user_string(), partition


def pipeline_resources(readings_db: ReadingsDatabaseResource) -> dict[str, Any]:
    """The resources every asset of the location needs, on one readings database, with the
    settings read when each run or tick starts."""
    return {
        "readings_db": readings_db,
        "settings": SettingsResource(),
        "io_manager": DatabaseIOManager(readings_db=readings_db),
    }
