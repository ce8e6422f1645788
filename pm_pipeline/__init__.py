"""pm_pipeline: per-axis current models and anomaly events for industrial robots."""

import gc

YOUNG_COLLECTION_THRESHOLD = 20_000
"""Allocations between two collections of the youngest generation (Python's default is 700).

Every process of ours (a command, the code server, a run worker, the daemon loading our
instance classes, a Celery worker) holds Dagster's, pandas' and SQLAlchemy's hundreds of
thousands of objects and allocates millions of short-lived ones (events, metadata, frames).
At the default, the cycle collector runs so often that it takes 10–15% of a command's CPU
(`pm-pipeline run` on the robust mode: 8.4 s, 7.3 s at this threshold; docs/benchmarks.md,
"The garbage collector"). Memory stays the same: most of those objects are freed by
reference counting, not by the collector. The older generations keep Python's ratios."""

gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
