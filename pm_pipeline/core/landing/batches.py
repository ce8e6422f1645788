"""Which ready files score together, and in which lane.

A run's start-up (a process importing the code location, about 9 s on a busy 2-core host)
costs more than scoring a file of a few thousand readings, and a fleet lands many such files
at once; so a run takes many of them, up to a limit. Each robot belongs to one lane for good
(a hash of its id), and a lane scores one run at a time (the run queue lets two go, the
second waiting in its op for the first; see pm_pipeline.defs.assets.scoring): a robot's
files score in landing order even when they land across ticks, and robots of different
lanes score at the same time.
"""

from __future__ import annotations

import hashlib

from pm_pipeline.core.landing.plan import LandedFile, LandingDecision


def scoring_lane(robot_id: str, lanes: int) -> str:
    """The lane of ``robot_id`` among ``lanes``: the same for as long as ``lanes`` stays."""
    digest = hashlib.sha256(robot_id.encode()).digest()
    return f"lane-{int.from_bytes(digest[:8], 'big') % lanes}"


def lanes_not_waiting(files: list[LandedFile], waiting: set[str], lanes: int) -> list[LandedFile]:
    """The files whose lane has no run waiting behind the one it is scoring.

    A lane's files that land while its next run waits go into the run after, once the
    waiting one scores, not into one more run queued behind it: they would score no sooner,
    and each run costs a process start-up. So a lane has at most two runs in flight, its runs
    fill up as long as files come faster than it scores, and the files not yet scored
    (scoring, waiting, and in the folder) stay bounded by what lands during two runs.
    """
    return [landed for landed in files if scoring_lane(landed.robot_id, lanes) not in waiting]


def fleet_batches(
    ready: list[LandingDecision], max_files: int, lanes: int
) -> list[tuple[str, list[LandingDecision]]]:
    """Group files ready to score into runs, each of one lane.

    Parameters
    ----------
    ready
        Files to score, in landing order.
    max_files
        Most files in one run.
    lanes
        How many lanes score at once.

    Returns
    -------
    list
        ``(lane, batch)`` pairs: a batch holds one lane's files, each robot's together and in
        landing order (a robot with more files than fit goes on in the lane's next batch).
    """
    by_lane: dict[str, list[tuple[int, LandingDecision]]] = {}
    for index, decision in enumerate(ready):
        by_lane.setdefault(scoring_lane(decision.robot_id, lanes), []).append((index, decision))
    batches = []
    for lane in sorted(by_lane):
        by_robot = sorted(by_lane[lane], key=lambda item: (item[1].robot_id, item[0]))
        ordered = [decision for _, decision in by_robot]
        batches += [
            (lane, ordered[start : start + max_files])
            for start in range(0, len(ordered), max_files)
        ]
    return batches


def batch_run_key(batch: list[LandingDecision]) -> str:
    """The run key of a batch: a single file's own, or one naming the first and last file
    and a hash of every file's bytes, so the same batch is never run twice."""
    if len(batch) == 1:
        return batch[0].run_key
    digest = hashlib.sha256("\n".join(d.run_key for d in batch).encode()).hexdigest()[:16]
    first, last = batch[0], batch[-1]
    return (
        f"{len(batch)} files: {first.robot_id}/{first.file_key}.."
        f"{last.robot_id}/{last.file_key}@{digest}"
    )
