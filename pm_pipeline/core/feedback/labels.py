"""What an engineer's labels and maintenance records mean for the next model.

A label is never overwritten: each event's newest label counts (:func:`newest_labels`).

- ``confirmed``: a real fault. Its readings stay out of training, as every flagged
  event's do until it is labelled.
- ``false-alarm``: normal operation. Its readings go back into training, and it counts
  against the robot's precision.
- ``new-normal``: the robot's behaviour changed for good (a new program, a new gripper).
  Its readings go back in, and the robot's next model trains on readings from the event's
  start on: a new baseline.

A maintenance record at ``T`` is a new baseline too: the next model trains on readings
after ``T``. Events raised after a baseline by a model trained before it measured the new
behaviour against the old normal, so they do not keep readings out of the new baseline's
training (a ``confirmed`` label still does).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pm_pipeline.core.errors import PipelineError

CONFIRMED, FALSE_ALARM, NEW_NORMAL = "confirmed", "false-alarm", "new-normal"
LABELS = (CONFIRMED, FALSE_ALARM, NEW_NORMAL)
LABEL_COLUMNS = ["event_id", "axis", "event_start", "event_end", "label", "labelled_at"]


def check_label(label: str) -> str:
    """``label`` when it is one of :data:`LABELS`, else PipelineError saying which are."""
    if label not in LABELS:
        raise PipelineError(f"label {label!r} is unknown; use one of {', '.join(LABELS)}.")
    return label


@dataclass(frozen=True)
class Baseline:
    """Where a robot's normal begins anew: its next model trains on readings from ``start``."""

    start: pd.Timestamp
    reason: str
    """``maintenance …`` or ``event N labelled new-normal …``, for messages and metadata."""
    set_at: pd.Timestamp
    """When the label or record was given: a model created before it predates the baseline."""


def newest_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """Each event's newest label (by ``labelled_at``, then the order given).

    Parameters
    ----------
    labels
        Every stored label: :data:`LABEL_COLUMNS` at least, oldest first.
    """
    if labels.empty:
        return labels
    ordered = labels.reset_index(drop=True).sort_values("labelled_at", kind="stable")
    return ordered.drop_duplicates("event_id", keep="last").reset_index(drop=True)


def current_baseline(newest: pd.DataFrame, maintenance: pd.DataFrame) -> Baseline | None:
    """The latest-starting baseline of a robot, or None when it has none.

    Parameters
    ----------
    newest
        The robot's :func:`newest_labels`.
    maintenance
        The robot's maintenance records (``performed_at``, ``recorded_at``, ``note``).
    """
    found = (
        [
            Baseline(
                row["event_start"],
                f"event {int(row['event_id'])} labelled new-normal",
                row["labelled_at"],
            )
            for row in newest[newest["label"] == NEW_NORMAL].to_dict("records")
        ]
        if len(newest)
        else []
    )
    found += [
        Baseline(
            row["performed_at"],
            "maintenance" + (f": {row['note']}" if row.get("note") else ""),
            row["recorded_at"],
        )
        for row in maintenance.to_dict("records")
    ]
    return max(found, key=lambda baseline: (baseline.start, baseline.set_at), default=None)


def spans_to_exclude(
    events: pd.DataFrame, newest: pd.DataFrame, baseline: Baseline | None
) -> pd.DataFrame:
    """The event spans whose readings stay out of training, given the labels.

    Parameters
    ----------
    events
        The robot's stored landed events: ``event_id``, ``axis``, ``start_ts``, ``end_ts``
        and ``model_start`` (the training-window start of the model that raised it).
    newest
        The robot's :func:`newest_labels`.
    baseline
        The robot's :func:`current_baseline`, or None.

    Returns
    -------
    pandas.DataFrame
        ``start_ts`` and ``end_ts`` of the events to leave out: unlabelled ones (less those
        judged by a model older than the baseline) and confirmed ones (by their stored span,
        even when a rescore has since removed them).
    """
    by_label = label_of(events, newest)
    kept = by_label.isna() | (by_label == CONFIRMED)
    if baseline is not None:
        old_normal = (events["start_ts"] >= baseline.start) & (
            events["model_start"] < baseline.start
        )
        kept &= ~old_normal | (by_label == CONFIRMED)
    confirmed = newest[newest["label"] == CONFIRMED] if len(newest) else newest
    spans = pd.concat(
        [
            events.loc[kept, ["start_ts", "end_ts"]],
            pd.DataFrame(
                {
                    "start_ts": confirmed.get(
                        "event_start", pd.Series(dtype="datetime64[us, UTC]")
                    ),
                    "end_ts": confirmed.get("event_end", pd.Series(dtype="datetime64[us, UTC]")),
                }
            ),
        ],
        ignore_index=True,
    )
    return spans.sort_values("start_ts", ignore_index=True)


def label_of(events: pd.DataFrame, newest: pd.DataFrame) -> pd.Series:
    """Each event's newest label (NaN: none), matched by id, else by axis and start (a
    rescore stores an event again under a new id).

    Parameters
    ----------
    events
        Stored events: ``event_id``, ``axis`` and ``start_ts``.
    newest
        Their robot's :func:`newest_labels`.
    """
    if newest.empty or events.empty:
        return pd.Series([None] * len(events), index=events.index, dtype=object)
    by_id = events["event_id"].map(newest.set_index("event_id")["label"])
    by_span = newest.drop_duplicates(["axis", "event_start"], keep="last").set_index(
        ["axis", "event_start"]
    )["label"]
    spans = pd.MultiIndex.from_arrays([events["axis"], events["start_ts"]])
    return by_id.fillna(pd.Series(by_span.reindex(spans).to_numpy(), index=events.index))


def labels_of_event(labels: pd.DataFrame, event: pd.Series) -> pd.DataFrame:
    """The labels that speak for ``event``, oldest first, as :func:`label_of` picks its
    label: those given under its id, or, when there are none, those given to an event of its
    axis and start (one stored before a rescore stored it again).

    Parameters
    ----------
    labels
        The robot's stored labels, oldest first.
    event
        A stored event: ``event_id``, ``axis`` and ``start_ts``.
    """
    if labels.empty:
        return labels
    own = labels[labels["event_id"] == int(event["event_id"])]
    if own.empty:
        own = labels[
            (labels["axis"] == event["axis"]) & (labels["event_start"] == event["start_ts"])
        ]
    return own.reset_index(drop=True)


def labelled_precision(newest: pd.DataFrame) -> tuple[float | None, int]:
    """Share of a robot's labelled faults that were real, and how many were labelled so.

    ``confirmed / (confirmed + false-alarm)``; ``new-normal`` counts on neither side (the
    robot changed; the model was right that it did). None when neither was given.
    """
    if newest.empty:
        return None, 0
    confirmed = int((newest["label"] == CONFIRMED).sum())
    false = int((newest["label"] == FALSE_ALARM).sum())
    judged = confirmed + false
    return (confirmed / judged if judged else None), judged


def without_relabelled(detected: pd.DataFrame, newest: pd.DataFrame) -> pd.DataFrame:
    """``detected`` events (``axis``, ``start``, ``end``) less those overlapping, on their
    axis, an event labelled ``false-alarm`` or ``new-normal``: what a candidate model need
    not flag again."""
    if detected.empty or newest.empty:
        return detected
    cleared = newest[newest["label"].isin([FALSE_ALARM, NEW_NORMAL])]
    overlaps = [
        bool(
            (
                (cleared["axis"] == row["axis"])
                & (cleared["event_start"] <= row["end"])
                & (cleared["event_end"] >= row["start"])
            ).any()
        )
        for row in detected.to_dict("records")
    ]
    return detected[[not hit for hit in overlaps]].reset_index(drop=True)
