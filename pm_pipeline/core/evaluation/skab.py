"""The SKAB benchmark with its own protocol: read its files, split, score predictions.

Each of the 34 files (``valve1/``, ``valve2/``, ``other/``; ``anomaly-free/`` is not
scored) is one experiment: its first :data:`TRAIN_ROWS` rows train a detector and the rest
are the test set. A detector predicts every test row normal (0) or anomalous (1); the
scores (:mod:`pm_pipeline.core.evaluation.nab`) pool the rows of all files.

:func:`t2q_predictions` is the reference the leaderboard's "T-squared+Q (PCA-based)" row
comes from (SKAB's ``core/t2.py`` with ``scaling=True``, ``window_size=5``), rebuilt on
scikit-learn's scaler and PCA, so the harness can be checked against the leaderboard.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.evaluation.nab import (
    NAB_WINDOW,
    BinaryScores,
    NabScores,
    binary_scores,
    nab_scores,
)
from pm_pipeline.core.model.params import DetectorSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import AXES, TIME_COLUMN

TRAIN_ROWS = 400
FOLDERS = ("valve1", "valve2", "other")
LABELS = ("anomaly", "changepoint")


@dataclass(frozen=True)
class SkabFile:
    """One experiment: its sensor channels by time, and its labels."""

    name: str
    channels: pd.DataFrame
    """Sensor columns in file order, indexed by the (local, zone-less) time."""
    anomaly: np.ndarray
    changepoint: np.ndarray

    @property
    def train(self) -> pd.DataFrame:
        return self.channels.iloc[:TRAIN_ROWS]

    @property
    def test(self) -> pd.DataFrame:
        return self.channels.iloc[TRAIN_ROWS:]


@dataclass(frozen=True)
class SkabScores:
    """One detector's SKAB row: binary and NAB scores, and its running time."""

    binary: BinaryScores
    nab: NabScores
    seconds: float = 0.0


def read_skab_file(path: Path, name: str) -> SkabFile:
    """One SKAB CSV (``;``-separated, a ``datetime`` column, the two label columns; the
    anomaly-free file has none, and reads as all normal)."""
    frame = pd.read_csv(path, sep=";", index_col="datetime", parse_dates=True)
    for label in LABELS:
        if label not in frame.columns:
            frame[label] = 0
    labels = frame[list(LABELS)].to_numpy(dtype="float64").astype("int64")
    return SkabFile(name, frame.drop(columns=list(LABELS)), labels[:, 0], labels[:, 1])


def skab_files(folder: Path, names: Iterable[str] | None = None) -> list[SkabFile]:
    """The benchmark's files under ``folder`` (names such as ``valve1/3``), in a fixed order;
    ``names`` picks some."""
    wanted = set(names) if names is not None else None
    found = []
    for sub in FOLDERS:
        paths = sorted((folder / sub).glob("*.csv"), key=lambda path: int(path.stem))
        for path in paths:
            name = f"{sub}/{path.stem}"
            if wanted is None or name in wanted:
                found.append(read_skab_file(path, name))
    return found


Predictor = Callable[[pd.DataFrame, pd.DataFrame], np.ndarray]
"""Training channels and test channels in, one 0/1 label per test row out."""


def score_predictions(files: list[SkabFile], predictions: list[np.ndarray]) -> SkabScores:
    """SKAB's scores of per-file test-row predictions."""
    truths = [file.anomaly[TRAIN_ROWS:] for file in files]
    binary = binary_scores(zip(truths, predictions, strict=True))
    nab = nab_scores(
        (
            (file.test.index.to_numpy(), file.changepoint[TRAIN_ROWS:], predicted)
            for file, predicted in zip(files, predictions, strict=True)
        ),
        NAB_WINDOW,
    )
    return SkabScores(binary, nab)


def always_alarm(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """The baseline that flags every test row."""
    return np.ones(len(test), dtype="int64")


def t2q_predictions(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """SKAB's T²+Q reference: standardise, PCA to 85% of the variance, Hotelling T² on the
    scores and Q (squared prediction error) on the residual space, each against its
    99.9% control limit, each smoothed by a 5-row rolling median; alarm when either is out.
    """
    varying = train.columns[(train != train.iloc[0]).any()]
    scaler = StandardScaler().fit(train[varying])
    x_train = np.asarray(scaler.transform(train[varying]), dtype="float64")
    x_test = np.asarray(scaler.transform(test[varying]), dtype="float64")
    pca = PCA(n_components=0.85).fit(x_train)
    components = np.asarray(pca.components_).T
    inverse = np.linalg.inv(np.atleast_2d(np.cov(np.asarray(pca.transform(x_train)).T)))
    scores = np.asarray(pca.transform(x_test))
    t2 = np.einsum("ij,jk,ik->i", scores, inverse, scores)
    t2_limit, q_limit = t2q_limits(x_train, pca.n_components_)
    t2_smooth = pd.Series(t2).rolling(5).median().to_numpy()
    if pca.n_components_ == x_train.shape[1]:  # no residual space: T² alone, as SKAB's
        return (t2_smooth > t2_limit).astype("int64")
    residual = np.eye(len(components)) - components @ components.T
    q = np.einsum("ij,jk,ik->i", x_test, residual, x_test)
    q_smooth = pd.Series(q).rolling(5).median().to_numpy()
    return ((t2_smooth > t2_limit) | (q_smooth > q_limit)).astype("int64")


def t2q_limits(x: np.ndarray, components: int, p: float = 0.999) -> tuple[float, float]:
    """The control limits of SKAB's ``core/t2.py``, kept as written there: T² from the F
    distribution; Q from Jackson–Mudholkar, with its θ_i taken as (Σ residual
    eigenvalues)^i and the eigenvalues in ``numpy.linalg.eig`` order, as the reference does."""
    n, m = len(x), components
    t2_limit = m * (n - 1) * (n + 1) / (n * (n - m)) * stats.f.ppf(p, m, n - m)
    eigenvalues = np.real(np.linalg.eig(np.atleast_2d(np.cov(x.T)))[0])
    rest = float(np.sum(eigenvalues[components:]))
    if rest <= 0:  # no residual space (one channel): Q is not used
        return float(t2_limit), float("inf")
    theta = [rest, rest**2, rest**3]
    h0 = 1 - 2 * theta[0] * theta[2] / (3 * theta[1] ** 2)
    c_alpha = stats.norm.ppf(p)
    q_limit = theta[0] * (
        1
        + c_alpha * h0 * np.sqrt(2 * theta[1]) / theta[0]
        + theta[1] * h0 * (h0 - 1) / theta[0] ** 2
    ) ** (1 / h0)
    return float(t2_limit), float(q_limit)


def readings_frame(part: pd.DataFrame) -> pd.DataFrame:
    """SKAB channels as canonical readings: UTC times, channels as ``axis_1…`` in file
    order, the unused axes blank."""
    frame = pd.DataFrame({TIME_COLUMN: pd.DatetimeIndex(part.index).tz_localize("UTC")})
    for axis, column in zip(AXES, part.columns, strict=False):
        frame[axis] = part[column].to_numpy(dtype="float64")
    for axis in AXES[len(part.columns) :]:
        frame[axis] = np.nan
    return frame


def rows_in_events(times: pd.Series, events: pd.DataFrame) -> np.ndarray:
    """1 for every reading at or between an event's start and end."""
    flagged = np.zeros(len(times), dtype="int64")
    for start, end in zip(events["start"], events["end"], strict=True):
        flagged[((times >= start) & (times <= end)).to_numpy()] = 1
    return flagged


def mode_predictor(settings: DetectorSettings, replay_training: bool = False) -> Predictor:
    """A detector mode as a SKAB predictor: trained on the training rows as the pipeline
    trains, its events over the test rows as row labels.

    ``replay_training`` scores the test rows after the training rows, as ``pm-pipeline
    score`` does with the first file after training (it replays the robot's stored readings
    before the file to warm the detector up; an event that begins in them begins at the
    file's first reading). Without it the detector starts cold at the first test row."""

    def predict(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        training = readings_frame(train)
        model = fit_model(training, fit_minmax_scaling(training), settings)
        scored = readings_frame(test)
        passed = pd.concat([training, scored], ignore_index=True) if replay_training else scored
        return rows_in_events(scored[TIME_COLUMN], detect_events(model, passed))

    return predict


def run_skab(files: list[SkabFile], predictor: Predictor) -> SkabScores:
    """Train ``predictor`` on each file's first rows, predict its test rows, score them."""
    started = time.perf_counter()
    predictions = [np.asarray(predictor(file.train, file.test)) for file in files]
    scores = score_predictions(files, predictions)
    return SkabScores(scores.binary, scores.nab, time.perf_counter() - started)
