"""Leakage-free splits: stratified by label, grouped by subject (no surgeon on both sides), reproducible.

Built on scikit-learn's grouped splitters. Rows without a subject count as their own group.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedGroupKFold

logger = logging.getLogger(__name__)


def _groups(dataset: Dataset, group_column: str | None) -> np.ndarray:
    if group_column is None or group_column not in dataset.column_names:
        return np.arange(len(dataset))
    values = dataset[group_column]
    # rows with no subject are each their own group
    return np.asarray([f"subject:{v}" if v not in (None, "") else f"row:{i}" for i, v in enumerate(values)])


def _strata(dataset: Dataset, label_column: str, score_bins: int = 4) -> np.ndarray:
    """Class ids, or quantile bins of a score so regression splits keep the score range in every part."""
    values = np.asarray(dataset[label_column])
    if isinstance(dataset.features[label_column], ClassLabel):
        return values
    edges = np.unique(np.quantile(values, np.linspace(0, 1, score_bins + 1)[1:-1]))
    return np.digitize(values, edges)


def _stratified_group_folds(y: np.ndarray, groups: np.ndarray, n_splits: int, seed: int) -> list[np.ndarray]:
    """Row indices of each fold; folds hold whole groups and keep the class mix as close as groups allow.

    Stratification needs every class to have at least ``n_splits`` members; where one has fewer, the folds
    are grouped only (scikit-learn's ``GroupKFold``), still shuffled by ``seed``.
    """
    n_groups = len(np.unique(groups))
    n_splits = max(2, min(n_splits, n_groups))
    if np.unique(y, return_counts=True)[1].min() >= n_splits:
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    else:
        splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # "The least populated class in y has only N members": expected with few subjects; the split is
        # still grouped and as stratified as the data allows.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        return [test for _, test in splitter.split(np.zeros(len(y)), y, groups)]


def _carve(
    indices: np.ndarray, y: np.ndarray, groups: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` into (rest, held out ~``share``), holding out whole groups, stratified."""
    if share <= 0 or len(indices) == 0:
        return indices, indices[:0]
    folds = _stratified_group_folds(y[indices], groups[indices], round(1 / share), seed)
    held = indices[folds[0]]
    return np.setdiff1d(indices, held), held


def make_splits(
    dataset: Dataset,
    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15),
    *,
    seed: int = 0,
    label_column: str = "labels",
    group_column: str | None = "subject",
) -> DatasetDict:
    """Split into ``train``/``validation``/``test`` by ratio, stratified by label and grouped by subject.

    Every subject lands in exactly one split; class proportions are kept as far as whole subjects allow (so
    ratios are approximate with few subjects). The same seed gives the same split. A ratio of 0 omits that
    split. Scores (regression) are stratified by quantile bins.

    Example:
        >>> parts = make_splits(dataset, (0.7, 0.15, 0.15), seed=0)
        >>> set(parts["train"]["subject"]) & set(parts["test"]["subject"])
        set()
    """
    if len(ratios) != 3 or min(ratios) < 0 or not np.isclose(sum(ratios), 1.0) or ratios[0] <= 0:
        raise ValueError(f"ratios must be three non-negative shares (train > 0) summing to 1, got {ratios}")
    y = _strata(dataset, label_column)
    groups = _groups(dataset, group_column)
    everything = np.arange(len(dataset))
    rest, test = _carve(everything, y, groups, ratios[2], seed)
    train, validation = _carve(rest, y, groups, ratios[1] / (ratios[0] + ratios[1]), seed + 1)
    parts = {"train": train, "validation": validation, "test": test}
    result = {}
    for (name, indices), share in zip(parts.items(), ratios):
        if share == 0:
            continue
        if not len(indices):
            logger.warning("the %s split is empty: too few subjects for ratios %s", name, ratios)
        result[name] = dataset.select(np.sort(indices))
    return DatasetDict(result)


def kfold_splits(
    dataset: Dataset,
    k: int = 5,
    *,
    seed: int = 0,
    label_column: str = "labels",
    group_column: str | None = "subject",
) -> Iterator[tuple[int, Dataset, Dataset]]:
    """Yield ``(fold, train, held_out)`` for ``k`` grouped, stratified folds; every row is held out once."""
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    y = _strata(dataset, label_column)
    groups = _groups(dataset, group_column)
    n_groups = len(np.unique(groups))
    if k > n_groups:
        raise ValueError(f"k={k} folds need at least {k} subjects; the dataset has {n_groups}")
    everything = np.arange(len(dataset))
    for fold, held in enumerate(_stratified_group_folds(y, groups, k, seed)):
        yield fold, dataset.select(np.setdiff1d(everything, held)), dataset.select(np.sort(held))


def leave_one_subject_out(
    dataset: Dataset, *, group_column: str = "subject"
) -> Iterator[tuple[str, Dataset, Dataset]]:
    """Yield ``(subject, train, held_out)`` holding out each subject in turn (LOSO cross-validation)."""
    if group_column not in dataset.column_names or not any(dataset[group_column]):
        raise ValueError(f"leave-one-subject-out needs a {group_column!r} column with subject ids")
    groups = _groups(dataset, group_column)
    for train, held in LeaveOneGroupOut().split(np.zeros(len(dataset)), groups=groups):
        subject = dataset[int(held[0])][group_column] or f"row {int(held[0]) + 1}"
        yield subject, dataset.select(train), dataset.select(held)
