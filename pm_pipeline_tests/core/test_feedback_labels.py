"""What labels and maintenance records mean for the next model, as pure functions."""

import pandas as pd

from pm_pipeline.core.feedback.labels import (
    Baseline,
    current_baseline,
    label_of,
    labelled_precision,
    labels_of_event,
    newest_labels,
    spans_to_exclude,
    without_relabelled,
)

T0 = pd.Timestamp("2026-01-05T06:00:00Z")


def at(minutes: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=minutes)


def labels(*rows: tuple[int, str, float]) -> pd.DataFrame:
    """(event id, label, minutes of labelling); each event spans minutes id*10 to id*10+5."""
    return pd.DataFrame(
        {
            "event_id": [event for event, _, _ in rows],
            "axis": ["axis_1"] * len(rows),
            "event_start": [at(event * 10) for event, _, _ in rows],
            "event_end": [at(event * 10 + 5) for event, _, _ in rows],
            "label": [label for _, label, _ in rows],
            "labelled_at": [at(1000 + when) for _, _, when in rows],
        }
    )


def stored_events(*ids: int, model_start: pd.Timestamp = T0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": list(ids),
            "axis": ["axis_1"] * len(ids),
            "start_ts": [at(i * 10) for i in ids],
            "end_ts": [at(i * 10 + 5) for i in ids],
            "model_start": [model_start] * len(ids),
        }
    )


def test_the_newest_label_counts_and_none_is_lost() -> None:
    given = labels((1, "confirmed", 0), (1, "false-alarm", 5), (2, "new-normal", 1))
    newest = newest_labels(given)
    assert dict(zip(newest["event_id"], newest["label"], strict=True)) == {
        1: "false-alarm",
        2: "new-normal",
    }
    assert len(given) == 3


def test_false_alarms_and_new_normals_go_back_into_training() -> None:
    newest = newest_labels(labels((1, "false-alarm", 0), (2, "new-normal", 0), (3, "confirmed", 0)))
    spans = spans_to_exclude(stored_events(1, 2, 3, 4), newest, None)
    starts = set(spans["start_ts"])
    assert at(10) not in starts and at(20) not in starts
    assert {at(30), at(40)} <= starts


def test_a_confirmed_fault_stays_out_after_a_rescore_removed_its_event() -> None:
    newest = newest_labels(labels((5, "confirmed", 0)))
    spans = spans_to_exclude(stored_events(), newest, None)
    assert list(spans["start_ts"]) == [at(50)]


def test_a_label_follows_its_event_to_a_new_id() -> None:
    newest = newest_labels(labels((1, "false-alarm", 0)))
    rescored = stored_events(1).assign(event_id=99)
    assert spans_to_exclude(rescored, newest, None).empty


def test_an_event_s_own_labels_speak_for_it_else_those_of_its_axis_and_start() -> None:
    """Event 99 was stored again by a rescore (event 1's span); event 3 has a label of its
    own and another event's of the same axis and start (an ALERT and an ERROR of one span):
    export, lineage and training agree on which labels count."""
    given = labels((1, "false-alarm", 0), (3, "confirmed", 1), (7, "false-alarm", 2))
    given.loc[2, "event_start"] = at(30)  # event 7 started with event 3
    rescored = stored_events(1).assign(event_id=99)
    events = pd.concat([rescored, stored_events(3, 4)], ignore_index=True)
    assert list(label_of(events, newest_labels(given)).fillna("")) == [
        "false-alarm",
        "confirmed",
        "",
    ]
    rows = events.to_dict("records")
    assert list(labels_of_event(given, pd.Series(rows[0]))["label"]) == ["false-alarm"]
    assert list(labels_of_event(given, pd.Series(rows[1]))["event_id"]) == [3]
    assert labels_of_event(given, pd.Series(rows[2])).empty


def test_the_newest_baseline_wins_and_old_models_events_after_it_do_not_count() -> None:
    newest = newest_labels(labels((2, "new-normal", 0)))
    work = pd.DataFrame({"performed_at": [at(5)], "recorded_at": [at(1001)], "note": ["gearbox"]})
    baseline = current_baseline(newest, work)
    assert baseline is not None and baseline.start == at(20)
    assert "new-normal" in baseline.reason
    # Events 3 and 4 came after the baseline from a model trained before it: they measured
    # the new behaviour against the old normal. Event 1 is before the baseline.
    spans = spans_to_exclude(stored_events(1, 3, 4), newest, baseline)
    assert list(spans["start_ts"]) == [at(10)]
    # A model trained on the new baseline judges against the new normal: its events count.
    newer = stored_events(3, model_start=at(20))
    assert list(spans_to_exclude(newer, newest, baseline)["start_ts"]) == [at(30)]


def test_maintenance_alone_is_a_baseline() -> None:
    work = pd.DataFrame({"performed_at": [at(5)], "recorded_at": [at(6)], "note": [None]})
    assert current_baseline(newest_labels(labels()), work) == Baseline(at(5), "maintenance", at(6))
    assert current_baseline(newest_labels(labels()), work.iloc[0:0]) is None


def test_precision_counts_confirmed_against_false_alarms_only() -> None:
    newest = newest_labels(
        labels(
            (1, "confirmed", 0), (2, "false-alarm", 0), (3, "false-alarm", 0), (4, "new-normal", 0)
        )
    )
    assert labelled_precision(newest) == (1 / 3, 3)
    assert labelled_precision(newest_labels(labels())) == (None, 0)


def test_a_candidate_need_not_flag_what_was_labelled_normal() -> None:
    newest = newest_labels(labels((1, "false-alarm", 0), (2, "confirmed", 0)))
    detected = pd.DataFrame(
        {
            "axis": ["axis_1", "axis_1", "axis_2"],
            "start": [at(11), at(21), at(11)],
            "end": [at(12), at(22), at(12)],
        }
    )
    kept = without_relabelled(detected, newest)
    assert list(zip(kept["axis"], kept["start"], strict=True)) == [
        ("axis_1", at(21)),
        ("axis_2", at(11)),
    ]
