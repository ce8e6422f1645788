"""The pm_pipeline code location: the one Definitions object."""

import dagster as dg

from pm_pipeline.defs.assets import ALL_ASSETS
from pm_pipeline.defs.jobs import file_scoring_job, training_job
from pm_pipeline.defs.resources import ReadingsDatabaseResource

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[training_job, file_scoring_job],
    resources={
        "readings_db": ReadingsDatabaseResource(),
        # Explicit, so in-process runs from the CLI keep outputs in the instance's storage
        # folder, where later runs from the UI can load them.
        "io_manager": dg.FilesystemIOManager(),
    },
)
