"""Remembered neighbours are the tree search's own answers, and the memory stays bounded."""

import numpy as np
import pytest
from scipy.spatial import KDTree

from pm_pipeline.core.detection import conditioning
from pm_pipeline.core.detection.conditioning import NeighbourMemo, Predictor, predictor_for
from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import fit_minmax_scaling


@pytest.fixture(scope="module")
def tree() -> KDTree:
    # Rounded, so many stored moments tie: a remembered answer must keep the search's pick.
    return KDTree(np.round(np.random.default_rng(1).normal(size=(500, 4)), 1))


def searched(tree: KDTree, query: np.ndarray, k: int) -> np.ndarray:
    return Predictor._nearest(tree, query, k)


def test_rows_seen_before_and_new_rows_get_the_search_s_answers(tree: KDTree) -> None:
    rng = np.random.default_rng(2)
    memo = NeighbourMemo(4, 5)
    first = np.round(rng.normal(size=(300, 4)), 1)
    assert np.array_equal(memo.nearest(first, tree, 5), searched(tree, first, 5))
    # Half of them again, shuffled, with new rows and a row repeated within the query.
    again = np.concatenate([first[rng.permutation(150)], rng.normal(size=(100, 4)), first[:3]])
    assert np.array_equal(memo.nearest(again, tree, 5), searched(tree, again, 5))
    keys, rows, _ = memo._state
    assert len(keys) == len(np.unique(rows, axis=0)) == 400  # each row remembered once


def test_a_hit_needs_equal_values_not_only_an_equal_hash(tree: KDTree) -> None:
    memo = NeighbourMemo(4, 3)
    query = np.random.default_rng(3).normal(size=(40, 4))
    memo.nearest(query, tree, 3)
    keys, rows, found = memo._state
    # Another row, and its neighbours, under the first row's key, as a hash collision would
    # store them.
    other = rows[:1] + 1.0
    assert not np.array_equal(searched(tree, other, 3), found[:1])
    memo._state = (keys, np.r_[other, rows[1:]], np.r_[searched(tree, other, 3), found[1:]])
    assert np.array_equal(memo.nearest(query, tree, 3), searched(tree, query, 3))


def test_the_memory_starts_over_at_its_bound(tree: KDTree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conditioning, "REMEMBERED_ROWS", 50)
    memo = NeighbourMemo(4, 2)
    rng = np.random.default_rng(4)
    for _ in range(3):
        query = rng.normal(size=(40, 4))
        assert np.array_equal(memo.nearest(query, tree, 2), searched(tree, query, 2))
        assert len(memo._state[0]) <= 50


def test_streams_of_one_model_share_its_predictor(robot_day) -> None:
    train = robot_day.iloc[:6000].reset_index(drop=True)
    model = fit_model(train, fit_minmax_scaling(train), settings_for_mode("cusum"))
    assert model.conditioning is not None
    assert predictor_for(model.conditioning) is predictor_for(model.conditioning)
    copy = type(model.conditioning)(**vars(model.conditioning))
    assert predictor_for(copy) is not predictor_for(model.conditioning)
