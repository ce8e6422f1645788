"""pm_pipeline: per-axis current models and anomaly events for industrial robots."""
