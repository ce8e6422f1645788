"""Neighbours found by the quick search and remembered ones are the default KD-tree's own
answers, tie order included, and the memory stays bounded."""

import numpy as np
import pytest
from scipy.spatial import KDTree

from pm_pipeline.core.detection import conditioning
from pm_pipeline.core.detection.conditioning import (
    NeighbourMemo,
    NeighbourSearch,
    predictor_for,
)
from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import fit_minmax_scaling

MOMENTS = np.round(np.random.default_rng(1).normal(size=(500, 4)), 1)


@pytest.fixture(scope="module")
def search() -> NeighbourSearch:
    # Rounded, so many stored moments tie: a remembered answer must keep the search's pick.
    return NeighbourSearch(MOMENTS)


def default_tree_answer(moments: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """What SciPy's KD-tree of its default leaf size answers, which stored models were
    scored with."""
    _, found = KDTree(moments).query(query, k=k)
    return np.reshape(found, (len(query), k))


@pytest.mark.parametrize("k", [1, 6, 7])
@pytest.mark.parametrize(
    "decimals",
    [None, 2, 1, 0],
    ids=["continuous", "fine steps", "coarse steps", "whole amperes"],
)
def test_the_quick_search_answers_as_the_default_tree_ties_included(
    k: int, decimals: int | None
) -> None:
    """Continuous readings (no ties) and ever coarser ones (more and more tied distances,
    repeated moments), in 14 features as a lagged 8-axis model has: every row's neighbours
    and their order are the default tree's, and the quick tree answers most rows alone."""
    rng = np.random.default_rng(k + 10 * (decimals or 9))
    moments = rng.normal(size=(3000, 14))
    query = np.concatenate([rng.normal(size=(2000, 14)), moments[:500]])  # its own moments too
    if decimals is not None:
        moments, query = np.round(moments, decimals), np.round(query, decimals)
    expected = default_tree_answer(moments, query, k)
    assert np.array_equal(NeighbourSearch(moments).nearest(query, k), expected)
    if decimals == 0:
        # Where whole amperes tie, the quick tree alone picks other tied moments.
        _, alone = KDTree(moments, leafsize=conditioning.QUICK_LEAF_SIZE).query(query, k=k)
        assert not np.array_equal(np.reshape(alone, expected.shape), expected)


def test_a_search_for_as_many_neighbours_as_moments_or_of_no_rows() -> None:
    moments = np.random.default_rng(5).normal(size=(6, 3))
    search = NeighbourSearch(moments)
    query = np.random.default_rng(6).normal(size=(4, 3))
    assert np.array_equal(search.nearest(query, 6), default_tree_answer(moments, query, 6))
    assert search.nearest(query[:0], 3).shape == (0, 3)


def test_rows_seen_before_and_new_rows_get_the_search_s_answers(search: NeighbourSearch) -> None:
    rng = np.random.default_rng(2)
    memo = NeighbourMemo(4, 5)
    first = np.round(rng.normal(size=(300, 4)), 1)
    assert np.array_equal(memo.nearest(first, search, 5), default_tree_answer(MOMENTS, first, 5))
    # Half of them again, shuffled, with new rows and a row repeated within the query.
    again = np.concatenate([first[rng.permutation(150)], rng.normal(size=(100, 4)), first[:3]])
    assert np.array_equal(memo.nearest(again, search, 5), default_tree_answer(MOMENTS, again, 5))
    keys, rows, _ = memo._state
    assert len(keys) == len(np.unique(rows, axis=0)) == 400  # each row remembered once


def test_a_hit_needs_equal_values_not_only_an_equal_hash(search: NeighbourSearch) -> None:
    memo = NeighbourMemo(4, 3)
    query = np.random.default_rng(3).normal(size=(40, 4))
    memo.nearest(query, search, 3)
    keys, rows, found = memo._state
    # Another row, and its neighbours, under the first row's key, as a hash collision would
    # store them.
    other = rows[:1] + 1.0
    assert not np.array_equal(default_tree_answer(MOMENTS, other, 3), found[:1])
    memo._state = (
        keys,
        np.r_[other, rows[1:]],
        np.r_[default_tree_answer(MOMENTS, other, 3), found[1:]],
    )
    assert np.array_equal(memo.nearest(query, search, 3), default_tree_answer(MOMENTS, query, 3))


def test_the_memory_starts_over_at_its_bound(
    search: NeighbourSearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conditioning, "REMEMBERED_ROWS", 50)
    memo = NeighbourMemo(4, 2)
    rng = np.random.default_rng(4)
    for _ in range(3):
        query = rng.normal(size=(40, 4))
        assert np.array_equal(
            memo.nearest(query, search, 2), default_tree_answer(MOMENTS, query, 2)
        )
        assert len(memo._state[0]) <= 50


def test_streams_of_one_model_share_its_predictor(robot_day) -> None:
    train = robot_day.iloc[:6000].reset_index(drop=True)
    model = fit_model(train, fit_minmax_scaling(train), settings_for_mode("cusum"))
    assert model.conditioning is not None
    assert predictor_for(model.conditioning) is predictor_for(model.conditioning)
    copy = type(model.conditioning)(**vars(model.conditioning))
    assert predictor_for(copy) is not predictor_for(model.conditioning)
