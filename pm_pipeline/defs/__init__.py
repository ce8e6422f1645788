"""The thin Dagster layer: resources, assets, checks, jobs."""
