"""Which ready files score together: a tick's files of any robots in one run, each robot's in
landing order.

A run's start-up (a process importing the code location) costs more than scoring a file of
a few thousand readings, and a fleet lands many such files at once; so a run takes all of
them, up to a limit. Runs of landed files go one at a time (the run queue's ``pm/scoring``
limit), so a robot's files score in landing order even when they land across ticks.
"""

from __future__ import annotations

import hashlib

from pm_pipeline.core.landing.plan import LandingDecision


def fleet_batches(
    ready: list[LandingDecision], known_files: set[str], max_files: int
) -> tuple[list[list[LandingDecision]], list[str]]:
    """Group files ready to score into runs.

    Parameters
    ----------
    ready
        Files to score, in landing order.
    known_files
        Keys the ``file`` dimension already has.
    max_files
        Most files in one run.

    Returns
    -------
    tuple
        The batches, each robot's files together and in landing order (a robot with more
        files than fit goes on in the next batch), and the new ``file`` keys to add.
    """
    by_robot = sorted(enumerate(ready), key=lambda item: (item[1].robot_id, item[0]))
    ordered = [decision for _, decision in by_robot]
    batches = [ordered[start : start + max_files] for start in range(0, len(ordered), max_files)]
    new_keys = list(
        dict.fromkeys(d.partition_key for d in ready if d.partition_key not in known_files)
    )
    return batches, new_keys


def batch_run_key(batch: list[LandingDecision]) -> str:
    """The run key of a batch: a single file's own, or one naming the first and last file
    and a hash of every file's bytes, so the same batch is never run twice."""
    if len(batch) == 1:
        return batch[0].run_key
    digest = hashlib.sha256("\n".join(d.run_key for d in batch).encode()).hexdigest()[:16]
    first, last = batch[0], batch[-1]
    return (
        f"{len(batch)} files: {first.robot_id}/{first.partition_key}.."
        f"{last.robot_id}/{last.partition_key}@{digest}"
    )
