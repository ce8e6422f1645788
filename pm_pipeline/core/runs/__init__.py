"""Runs and the processes that execute them: whether a run's worker still lives."""
