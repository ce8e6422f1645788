"""Predicting one axis' current from what the other axes are doing at the same instant.

A robot repeats its motions, so the other axes' currents at one instant say where in a
motion the robot is, and so roughly what this axis should draw. The prediction is the mean
log current of the axis over the ``neighbours`` training moments nearest in the other axes'
standardised log currents (k nearest neighbours, scikit-learn's KD-tree). A fault on the
axis itself moves its reading, not its prediction, because its own current is never a
feature. The training moments are stored with the model (:class:`Conditioning`).

Models that store each moment's previous reading (``Conditioning.previous``) also match on
the other axes' currents one reading earlier, which tells a motion's way in from its way
out: on the real export that narrows the residuals of most axes by a fifth or more.

Models that store a spread floor (``Conditioning.spread_floor``) divide each residual by
how far its neighbours' own currents spread (never less than the floor). Where a motion
repeats closely (a steady stretch) the neighbours agree and a small change of current
stands out; where they disagree (a motion's start or turn, often the largest residuals)
a residual counts for less. On the real export that halves the clean false events and
lifts intermittent bursts and added noise (docs/detection.md).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pm_pipeline.core.model.trained import Conditioning, axis_currents

if TYPE_CHECKING:
    from scipy.spatial import KDTree

REMEMBERED_ROWS = 20_000
"""Most query rows per axis whose neighbours a :class:`Predictor` remembers (about 3 MB)."""
REMEMBERED_FROM_ROWS = 32
"""Queries of fewer rows are searched directly: looking a row up costs more than searching
it when a live feed brings readings a few at a time."""
KEPT_PREDICTORS = 2
"""Predictors kept for the models scored last (see :func:`predictor_for`)."""
QUICK_LEAF_SIZE = 128
"""Leaf size of :class:`NeighbourSearch`'s quick tree: with 14 features (a lagged model of 8
axes) big leaves search about twice as fast as SciPy's default of 10."""
SEPARATION = 1e-9
"""Least gap between consecutive neighbour distances, relative to the farthest, for the
quick tree's answer to be the only possible one (rounding is about 1e-15)."""

LOG_OFFSET_SHARE = 0.1
"""The offset added before the log: this share of the axis' median non-zero training
current, so a 0 A reading stays finite and small currents do not dominate."""


def log_current(amperes: np.ndarray, offset: float) -> np.ndarray:
    """``log(|current| + offset)``; a blank reading is "no load", 0 A.

    The magnitude, as every model works on (see ``MinMaxScaling.scale``): a signed channel's
    wear raises it whichever way the joint pushes; unsigned currents are unchanged.
    """
    return np.log(np.abs(np.nan_to_num(amperes, nan=0.0)) + offset)


def fit_conditioning(
    readings: pd.DataFrame, axes: tuple[str, ...], moving: np.ndarray, rows: int, neighbours: int
) -> tuple[Conditioning, np.ndarray]:
    """Choose the training moments and the feature scaling.

    Parameters
    ----------
    readings
        Training readings (amperes), index 0…n-1.
    axes
        The axes modelled.
    moving
        Rows where the robot moves (eligible as reference moments).
    rows
        Most moments kept, evenly spread over the eligible rows.
    neighbours
        Moments averaged per prediction.

    Returns
    -------
    tuple
        The :class:`Conditioning` and the rows of ``readings`` stored as its moments.
    """
    values = readings[list(axes)].to_numpy(dtype="float64")
    offsets, centers, scales = {}, {}, {}
    for i, axis in enumerate(axes):
        column = np.nan_to_num(values[:, i], nan=0.0)
        positive = column[column > 0]
        offsets[axis] = float(LOG_OFFSET_SHARE * np.median(positive)) if len(positive) else 1.0
        logs = log_current(column[moving], offsets[axis])
        centers[axis] = float(np.mean(logs)) if len(logs) else 0.0
        spread = float(np.std(logs)) if len(logs) else 0.0
        scales[axis] = spread if spread > 0 else 1.0
    eligible = np.flatnonzero(moving)
    if len(eligible) > rows:
        eligible = eligible[np.unique(np.linspace(0, len(eligible) - 1, rows).round().astype(int))]
    before = np.maximum(eligible - 1, 0)
    reference, previous = (
        {
            axis: [float(v) for v in np.nan_to_num(values[chosen, i], nan=0.0)]
            for i, axis in enumerate(axes)
        }
        for chosen in (eligible, before)
    )
    return Conditioning(reference, offsets, centers, scales, neighbours, previous), eligible


def over_spread(residual: np.ndarray, spread: np.ndarray, floor: float) -> np.ndarray:
    """Residuals over their neighbours' spread, the spread floored smoothly at ``floor``."""
    return residual / np.sqrt(spread**2 + floor**2)


class NeighbourSearch:
    """The ``k`` stored moments nearest each query row, exactly as SciPy's KD-tree of its
    default leaf size finds them, tie order included, in about half the time.

    The search takes most of a cusum model's fitting and scoring time. A tree of bigger leaves
    (:data:`QUICK_LEAF_SIZE`) is faster, but where distances tie (repeated readings: an idle
    robot, a coarse sensor) it may pick other tied moments, and so predict other currents
    than the models stored so far were scored with. So each row is searched in the quick
    tree for one neighbour more than asked: when those distances are all apart (by
    :data:`SEPARATION`), the nearest ``k`` and their order are the only possible answer, the
    same in any exact tree. The other rows are searched again in the default tree.
    """

    def __init__(self, moments: np.ndarray) -> None:
        from scipy.spatial import KDTree  # deferred: see the package docstring

        self._reference = KDTree(moments)
        self._quick = KDTree(moments, leafsize=QUICK_LEAF_SIZE)

    def nearest(self, query: np.ndarray, k: int) -> np.ndarray:
        """Row by row, the positions of the ``k`` nearest stored moments, nearest first."""
        if k >= self._reference.n or len(query) == 0:
            return self._searched(self._reference, query, k)
        distances, found = map(np.asarray, self._quick.query(query, k=k + 1, workers=-1))
        apart = (np.diff(distances, axis=1) > SEPARATION * distances[:, -1:]).all(axis=1)
        answer = found[:, :k]
        tied = np.flatnonzero(~apart)
        if len(tied):
            answer[tied] = self._searched(self._reference, query[tied], k)
        return answer

    @staticmethod
    def _searched(tree: KDTree, query: np.ndarray, k: int) -> np.ndarray:
        """A column even for k = 1, where SciPy returns a flat array; SciPy splits the rows
        over every core (each row's answer is the same as on one)."""
        if len(query) == 0:
            return np.empty((0, k), dtype=np.intp)
        _, found = tree.query(query, k=k, workers=-1)
        return np.reshape(found, (len(query), k))


class NeighbourMemo:
    """The neighbours already found for query rows, looked up by the rows' exact values.

    Scoring the same readings again (a live feed replayed, a file rescored, the quality
    harness re-scoring a fault's prefixes) then skips the tree search, which takes most of
    a cusum model's scoring time. A row is a hit only when its values equal a remembered
    row's, so the answers are the search's own. At :data:`REMEMBERED_ROWS` it starts over.
    """

    def __init__(self, width: int, k: int) -> None:
        self._state = self._empty(width, k)

    @staticmethod
    def _empty(width: int, k: int) -> tuple[pd.Index, np.ndarray, np.ndarray]:
        return pd.Index([], dtype="uint64"), np.empty((0, width)), np.empty((0, k), np.intp)

    def nearest(self, query: np.ndarray, search: NeighbourSearch, k: int) -> np.ndarray:
        """Per row, the positions of the ``k`` nearest stored moments (see
        :meth:`NeighbourSearch.nearest`), from memory where the row was searched before."""
        if len(query) < REMEMBERED_FROM_ROWS:
            return search.nearest(query, k)
        # One tuple, replaced whole: a stream in another thread sees an old or a new memo.
        keys, rows, found = self._state
        hashes = pd.util.hash_pandas_object(pd.DataFrame(query), index=False).to_numpy()
        position = keys.get_indexer(pd.Index(hashes))
        hit = position >= 0
        hit[hit] = (rows[position[hit]] == query[hit]).all(axis=1)
        answer = np.empty((len(query), k), dtype=np.intp)
        answer[hit] = found[position[hit]]
        missed = np.flatnonzero(~hit)
        if len(missed):
            answer[missed] = search.nearest(query[missed], k)
            # New keys only (a key already there with other values is a hash collision).
            new = missed[position[missed] < 0]
            _, first = np.unique(hashes[new], return_index=True)
            new = new[np.sort(first)]
            if len(keys) + len(new) > REMEMBERED_ROWS:
                keys, rows, found = self._empty(query.shape[1], k)
                new = new[-REMEMBERED_ROWS:]
            self._state = (
                keys.append(pd.Index(hashes[new], dtype="uint64")),
                np.concatenate([rows, query[new]]),
                np.concatenate([found, answer[new]]),
            )
        return answer


_PREDICTORS: OrderedDict[int, tuple[Conditioning, Predictor]] = OrderedDict()
_PREDICTORS_LOCK = threading.Lock()


def predictor_for(conditioning: Conditioning) -> Predictor:
    """The :class:`Predictor` of ``conditioning``, kept for the :data:`KEPT_PREDICTORS`
    conditionings used last: every stream of a model (a live feed starts one per file, the
    harness several per fault) shares its search trees and :class:`NeighbourMemo`."""
    with _PREDICTORS_LOCK:
        kept = _PREDICTORS.get(id(conditioning))
        # The entry holds the conditioning itself, so its id cannot be reused meanwhile.
        if kept is not None and kept[0] is conditioning:
            _PREDICTORS.move_to_end(id(conditioning))
            return kept[1]
    predictor = Predictor(conditioning)
    with _PREDICTORS_LOCK:
        _PREDICTORS[id(conditioning)] = (conditioning, predictor)
        while len(_PREDICTORS) > KEPT_PREDICTORS:
            _PREDICTORS.popitem(last=False)
    return predictor


class Predictor:
    """Per-axis predictions of log current from the other axes, for one :class:`Conditioning`."""

    def __init__(self, conditioning: Conditioning) -> None:
        self.conditioning = conditioning
        self.axes = tuple(conditioning.reference)
        reference = pd.DataFrame(conditioning.reference)
        previous = None if conditioning.previous is None else pd.DataFrame(conditioning.previous)
        self._features = self._stacked(
            self.amperes(reference), None if previous is None else self.amperes(previous)
        )
        self._targets = {
            axis: log_current(reference[axis].to_numpy(), conditioning.log_offset[axis])
            for axis in self.axes
        }
        self._searches = {
            axis: NeighbourSearch(self._features[:, self._others(axis)]) for axis in self.axes
        }
        self.k = min(conditioning.neighbours, len(reference))
        self._memos = {axis: NeighbourMemo(len(self._others(axis)), self.k) for axis in self.axes}

    @property
    def lagged(self) -> bool:
        """Whether the features include each axis' previous reading."""
        return self.conditioning.previous is not None

    def features(self, readings: pd.DataFrame, before: np.ndarray | None = None) -> np.ndarray:
        """Standardised log currents of every modelled axis, one column per axis, then (for a
        lagged model) the same of each row's previous reading: ``before`` holds the modelled
        axes' currents (:meth:`amperes`) of the reading before the first row (the first row
        itself when None)."""
        return self.features_of(self.amperes(readings), before)

    def features_of(self, amperes: np.ndarray, before: np.ndarray | None = None) -> np.ndarray:
        """:meth:`features` of currents already taken out with :meth:`amperes`."""
        return self._stacked(*self._with_previous(amperes, before))

    def amperes(self, readings: pd.DataFrame) -> np.ndarray:
        """The modelled axes' currents, one column each, in :attr:`axes` order."""
        return axis_currents(readings, self.axes)

    def _with_previous(
        self, amperes: np.ndarray, before: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        if not self.lagged or not len(amperes):
            return amperes, None
        first = amperes[:1] if before is None else np.reshape(before, (1, len(self.axes)))
        return amperes, np.concatenate([first, amperes[:-1]])

    def _stacked(self, amperes: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
        blocks = [amperes] if previous is None else [amperes, previous]
        return np.column_stack(
            [
                self._standard(block[:, i], axis)
                for block in blocks
                for i, axis in enumerate(self.axes)
            ]
        )

    def _standard(self, amperes: np.ndarray, axis: str) -> np.ndarray:
        c = self.conditioning
        logs = log_current(amperes, c.log_offset[axis])
        return (logs - c.feature_center[axis]) / c.feature_scale[axis]

    def target(self, axis: str, amperes: np.ndarray) -> np.ndarray:
        """The log current that is predicted, for readings of ``axis``."""
        return log_current(amperes, self.conditioning.log_offset[axis])

    def predict(
        self, axis: str, features: np.ndarray, exclude: np.ndarray | None = None
    ) -> np.ndarray:
        """Predicted log current of ``axis`` for rows of :meth:`features`.

        ``exclude`` gives, per row, the position of that row among the stored moments (-1
        for none), so a training moment is not its own neighbour.
        """
        return self._neighbour_targets(axis, features, exclude).mean(axis=1)

    def residual_parts(
        self,
        axis: str,
        amperes: np.ndarray,
        features: np.ndarray,
        exclude: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The log current's residual from its prediction and the spread (standard
        deviation) of the neighbours' log currents, per row (see :meth:`predict`)."""
        targets = self._neighbour_targets(axis, features, exclude)
        return self.target(axis, amperes) - targets.mean(axis=1), targets.std(axis=1)

    def residual(self, axis: str, amperes: np.ndarray, features: np.ndarray) -> np.ndarray:
        """The residual a model scores: over the neighbours' spread when it stores a floor
        for it (:func:`over_spread`), else as it is."""
        residual, spread = self.residual_parts(axis, amperes, features)
        floors = self.conditioning.spread_floor
        return residual if floors is None else over_spread(residual, spread, floors[axis])

    def _neighbour_targets(
        self, axis: str, features: np.ndarray, exclude: np.ndarray | None
    ) -> np.ndarray:
        """Per row, the log currents of the ``k`` stored moments nearest in the others."""
        search, targets = self._searches[axis], self._targets[axis]
        if len(features) == 0:
            return np.zeros((0, self.k))
        query = features[:, self._others(axis)]
        if exclude is None:
            return targets[self._memos[axis].nearest(query, search, self.k)]
        found = search.nearest(query, min(self.k + 1, len(targets)))
        keep = found != exclude[:, None]
        # The first k kept neighbours of each row (its own moment, if found, is skipped).
        order = np.argsort(~keep, axis=1, kind="stable")[:, : self.k]
        return targets[np.take_along_axis(found, order, axis=1)]

    def _others(self, axis: str) -> list[int]:
        others = [i for i, name in enumerate(self.axes) if name != axis]
        if self.lagged:
            others += [len(self.axes) + i for i in others]
        return others
