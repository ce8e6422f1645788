"""SQLAlchemy Core tables and queries: readings, model registry, events, ingested files."""
