"""pm_pipeline: per-axis current models and anomaly events for industrial robots."""

import gc

YOUNG_COLLECTION_THRESHOLD = 20_000
"""Allocations between two collections of the youngest generation (Python's default is 700).

Every process of ours (a command, the code server, a run worker, the daemon loading our
instance classes, a Celery worker) holds Dagster's, pandas' and SQLAlchemy's hundreds of
thousands of objects and allocates millions of short-lived ones (events, metadata, frames),
most of them freed by reference counting. At the default the cycle collector runs every few
hundred of them, walking the young ones each time, for nothing; the older generations keep
Python's ratios. Memory stays the same (docs/benchmarks.md, "The garbage collector")."""

gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
