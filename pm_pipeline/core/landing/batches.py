"""Which ready files score together: several files of one robot in one run, in landing order.

A run of several partitions covers a *range* of them, and a range of ``robot × file`` is the
robot's files between two keys of the ``file`` dimension, in the order those keys were added.
So the files of a batch must get new keys, added one after another: a file whose name is
already a key (landed again, or another robot's file of the same name) scores in a run of
its own.
"""

from __future__ import annotations

import hashlib
from itertools import groupby

from pm_pipeline.core.landing.plan import LandingDecision


def batch_by_robot(
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
        The batches, each one robot's files in landing order, and the new ``file`` keys to
        add, in the order that makes each batch one range.
    """
    batches: list[list[LandingDecision]] = []
    new_keys: list[str] = []
    taken = set(known_files)
    by_robot = sorted(enumerate(ready), key=lambda item: (item[1].robot_id, item[0]))
    for _, group in groupby(by_robot, key=lambda item: item[1].robot_id):
        current: list[LandingDecision] = []
        for _, decision in group:
            key = decision.partition_key
            if key in taken:
                batches.append([decision])
                continue
            taken.add(key)
            if len(current) == max_files:
                batches.append(current)
                current = []
            new_keys.append(key)
            current.append(decision)
        if current:
            batches.append(current)
    return batches, new_keys


def batch_run_key(batch: list[LandingDecision]) -> str:
    """The run key of a batch: a single file's own, or one naming the robot, the first and
    last file and a hash of every file's bytes, so the same batch is never run twice."""
    if len(batch) == 1:
        return batch[0].run_key
    digest = hashlib.sha256("\n".join(d.run_key for d in batch).encode()).hexdigest()[:16]
    first, last = batch[0], batch[-1]
    return f"{first.robot_id}/{first.partition_key}..{last.partition_key}@{digest}"
