"""Leakage-free splits: stratified by label, grouped by subject (no surgeon on both sides), reproducible.

Each class's subjects are divided in the requested ratios (or 1/k per fold) to within one subject: a controlled
rounding of ``class size x ratio`` (SciPy's integer programming), the same on every scikit-learn. Rows without a
subject count as their own group.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_flow
from sklearn.model_selection import LeaveOneGroupOut

from ..errors import SurgicalSkillError, UsageError

logger = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "validation", "test")


# Defined here, the lowest module of `data` that raises it; `data.building` (its documented home) re-exports it.
class SkillDatasetError(SurgicalSkillError, ValueError):
    """A dataset cannot be built or split as given; the message lists every offending row or file, or the
    counts that do not add up, and what to change."""


def _subject_count(groups: np.ndarray) -> str:
    """ "12 subjects (30 videos)", saying how rows without a subject were counted when there are some."""
    unique = np.unique(groups)
    rows_alone = sum(1 for g in unique if str(g).startswith("row:"))
    named = len(unique) - rows_alone
    if rows_alone and named:
        what = f"{named} subjects and {rows_alone} videos without a subject (each counted as one)"
    elif rows_alone:
        what = f"{rows_alone} videos without a subject (each counted as one subject)"
    else:
        what = f"{named} subject{'s' if named != 1 else ''}"
    return f"{what}, {len(groups)} videos in all"


def _groups(dataset: Dataset, group_column: str | None) -> np.ndarray:
    if group_column is None or group_column not in dataset.column_names:
        return np.arange(len(dataset))
    values = dataset[group_column]
    # rows with no subject are each their own group
    return np.asarray([f"subject:{v}" if v not in (None, "") else f"row:{i}" for i, v in enumerate(values)])


def _strata(dataset: Dataset, label_column: str, score_bins: int = 4) -> np.ndarray:
    """Class ids, or quantile bins of a score so regression splits keep the score range in every part (several
    named scores: of their mean after standardising each, an overall skill)."""
    feature = dataset.features[label_column]
    if isinstance(feature, dict):
        table = np.asarray([[row[name] for name in feature] for row in dataset[label_column]], dtype=np.float64)
        spread = table.std(0)
        values = ((table - table.mean(0)) / np.where(spread > 0, spread, 1.0)).mean(1)
    else:
        values = np.asarray(dataset[label_column])
    if isinstance(feature, ClassLabel):
        return values
    edges = np.unique(np.quantile(values, np.linspace(0, 1, score_bins + 1)[1:-1]))
    return np.digitize(values, edges)


def _group_strata(y: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unique groups, the row -> group index, each group's stratum: its most common label or score bin)."""
    unique, inverse = np.unique(groups, return_inverse=True)
    strata = np.empty(len(unique), dtype=y.dtype)
    for g in range(len(unique)):
        values, counts = np.unique(y[inverse == g], return_counts=True)
        strata[g] = values[counts.argmax()]
    return unique, inverse, strata


def _largest_remainder(wanted: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integers summing to ``round(wanted.sum())``, each the floor or the ceiling of its ``wanted`` (the largest
    remainders rounded up, ties broken at random)."""
    counts = np.floor(wanted + 1e-9).astype(int)
    order = np.lexsort((rng.random(len(wanted)), -(wanted - counts)))
    counts[order[: round(float(wanted.sum())) - counts.sum()]] += 1
    return counts


def _round_table(target: np.ndarray, column_sums: np.ndarray, order: np.ndarray) -> np.ndarray | None:
    """Integer table with the row sums of ``target`` (integers), the given column sums, and every cell the floor
    or the ceiling of its target; None when no such table exists.

    Cells are rounded up in ``order`` (flat indices, most wanted first) whenever a table with that cell up and the
    earlier choices kept still exists, which a maximum flow decides (rows -> cells that may round up -> columns):
    exact integer arithmetic, so the same ``order`` gives the same table with any SciPy.
    """
    rows, columns = target.shape
    floor = np.floor(target + 1e-9)  # an integer target is kept as it is
    may_rise = (target - floor > 1e-9).ravel()
    row_need = (np.rint(target.sum(1)) - floor.sum(1)).astype(int)
    column_need = (np.asarray(column_sums) - floor.sum(0)).astype(int)
    if (row_need < 0).any() or (column_need < 0).any() or row_need.sum() != column_need.sum():
        return None

    def feasible() -> bool:
        # source 0 -> row r (1 + r) -> column c (1 + rows + c) -> sink; one unit per cell that may still rise
        cell_rows, cell_columns = np.divmod(np.flatnonzero(may_rise), columns)
        sink = 1 + rows + columns
        tails = np.concatenate([np.zeros(rows, int), 1 + cell_rows, 1 + rows + np.arange(columns)])
        heads = np.concatenate([1 + np.arange(rows), 1 + rows + cell_columns, np.full(columns, sink)])
        capacity = np.concatenate([row_need, np.ones(len(cell_rows), int), column_need]).astype(np.int32)
        graph = csr_matrix((capacity, (tails, heads)), shape=(sink + 1, sink + 1))
        return maximum_flow(graph, 0, sink).flow_value == row_need.sum()

    if not feasible():
        return None
    up = np.zeros(target.size, dtype=int)
    for cell in order:
        if not may_rise[cell]:
            continue
        may_rise[cell] = False  # decided now, either way
        r, c = divmod(int(cell), columns)
        if row_need[r] and column_need[c]:
            row_need[r] -= 1
            column_need[c] -= 1
            if feasible():
                up[cell] = 1
                continue
            row_need[r] += 1
            column_need[c] += 1
        # left down: every table still possible had it down, so one still exists
    return (floor.ravel() + up).reshape(target.shape).astype(int)


def _closest_table(target: np.ndarray, column_sums: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integer table with the row sums of ``target`` and the given column sums at the least total distance from
    ``target`` (cells x, distances d >= |x - target|; ties broken at random)."""
    rows, columns = target.shape
    size = target.size
    identity = np.eye(size)
    row_sums = np.rint(target.sum(1))
    constraints = [
        LinearConstraint(
            np.hstack([np.kron(np.eye(rows), np.ones(columns)), np.zeros((rows, size))]), row_sums, row_sums
        ),
        LinearConstraint(
            np.hstack([np.kron(np.ones(rows), np.eye(columns)), np.zeros((columns, size))]), column_sums, column_sums
        ),
        LinearConstraint(np.hstack([identity, -identity]), -np.inf, target.ravel()),  # x - d <= target
        LinearConstraint(np.hstack([identity, identity]), target.ravel(), np.inf),  # x + d >= target
    ]
    result = milp(
        np.concatenate([rng.random(size) * 1e-6, np.ones(size)]),
        constraints=constraints,
        integrality=np.concatenate([np.ones(size), np.zeros(size)]),
        bounds=Bounds(np.zeros(2 * size), np.concatenate([np.repeat(row_sums, columns), np.full(size, np.inf)])),
        options={"mip_rel_gap": 0.0},
    )
    return np.rint(result.x[:size]).reshape(target.shape).astype(int)


def _allocate_groups(strata: np.ndarray, ratios: np.ndarray, seed: int) -> np.ndarray:
    """The part (0, 1, ...) of each group: each stratum's groups divided in ``ratios`` to within one group, and each
    part's size within one group of ``ratios`` of all groups (a controlled rounding of ``stratum size x ratio``).

    A part asked for (ratio > 0) gets at least one group when there are groups enough, even where that takes it
    further than one group from its ratio (three subjects at 0.9/0.05/0.05 give one subject each); the strata
    are then divided as closely as those sizes allow (least total distance from ``stratum size x ratio``, an
    integer program whose ties SciPy's solver may break otherwise in another release: only in that corner).
    Everywhere else the seed decides every tie through exact integer arithmetic: the same split with any SciPy.
    """
    rng = np.random.default_rng(seed)
    n = len(strata)
    ratios = ratios / ratios.sum()
    classes, class_of = np.unique(strata, return_inverse=True)
    sizes = np.bincount(class_of, minlength=len(classes)).astype(np.float64)
    target = sizes[:, None] * ratios[None, :]
    wanted = n * ratios
    # each part's size as close to its share as whole groups allow (largest remainders); a small part's one group
    # comes from the part furthest above its share
    sizes_of_parts = _largest_remainder(wanted, rng)
    if n >= np.count_nonzero(ratios):
        for s in np.flatnonzero((ratios > 0) & (sizes_of_parts == 0)):
            donor = np.argmax(np.where(sizes_of_parts > (ratios > 0), sizes_of_parts - wanted, -np.inf))
            sizes_of_parts[donor] -= 1
            sizes_of_parts[s] += 1
    # the largest remainders rounded up first, ties in a random order (the seed); where no rounding within one
    # gives those sizes (a small part's group left another below its share), the closest table
    remainder = np.round(target - np.floor(target + 1e-9), 9).ravel()
    order = np.lexsort((rng.permutation(target.size), -remainder))
    cells = _round_table(target, sizes_of_parts, order)
    if cells is None:
        cells = _closest_table(target, sizes_of_parts, rng)
    assignment = np.empty(n, dtype=int)
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(class_of == c))
        assignment[members] = np.repeat(np.arange(len(ratios)), cells[c])
    return assignment


def make_splits(
    dataset: Dataset,
    ratios: tuple[float, float, float] = (0.7, 0.15, 0.15),
    *,
    seed: int = 0,
    label_column: str = "labels",
    group_column: str | None = "subject",
) -> DatasetDict:
    """Split into ``train``/``validation``/``test`` by ratio, grouped by subject and stratified by label.

    Every subject lands in exactly one split. Each split holds the requested share of the subjects to within
    one subject, and each class's subjects are divided in the same ratios as closely as whole subjects allow
    (a subject's class is its most common label; scores are stratified by quantile bins). The same seed gives
    the same split. A ratio of 0 omits that split. Rows without a subject count as their own subject.

    Raises:
        SkillDatasetError: fewer subjects than splits asked for (the message gives the counts and what to change).

    Example:
        >>> parts = make_splits(dataset, (0.7, 0.15, 0.15), seed=0)
        >>> set(parts["train"]["subject"]) & set(parts["test"]["subject"])
        set()
    """
    if len(ratios) != 3 or min(ratios) < 0 or not np.isclose(sum(ratios), 1.0) or ratios[0] <= 0:
        raise UsageError(f"ratios must be three non-negative shares (train > 0) summing to 1, got {ratios}")
    groups = _groups(dataset, group_column)
    asked = [name for name, share in zip(SPLIT_NAMES, ratios) if share > 0]
    n_groups = len(np.unique(groups))
    if n_groups < len(asked):
        # every subject sits in one split, so each split asked for needs one of its own
        fewer = "[0.8, 0.2, 0.0]: no test split" if n_groups >= 2 else "[1.0, 0.0, 0.0]: train only"
        raise SkillDatasetError(
            f"too few subjects to split: {_subject_count(groups)}, but split_ratios "
            f"[{', '.join(f'{r:g}' for r in ratios)}] ask for {len(asked)} splits ({', '.join(asked)}) and all of "
            f"a subject's videos go to one split. Add subjects, ask for at most {n_groups} split"
            f"{'s' if n_groups > 1 else ''} (e.g. split_ratios {fewer}), or give a split column"
        )
    y = _strata(dataset, label_column)
    _, row_group, group_strata = _group_strata(y, groups)
    split_of_group = _allocate_groups(group_strata, np.asarray(ratios, dtype=np.float64), seed)
    split_of_row = split_of_group[row_group]
    result = {}
    for index, (name, share) in enumerate(zip(SPLIT_NAMES, ratios)):
        if share > 0:  # never empty: every split asked for gets a subject when there are enough (checked above)
            result[name] = dataset.select(np.flatnonzero(split_of_row == index))
    return DatasetDict(result)


def fold_indices(
    dataset: Dataset,
    k: int = 5,
    *,
    seed: int = 0,
    label_column: str = "labels",
    group_column: str | None = "subject",
) -> list[np.ndarray]:
    """The held-out row indices of ``k`` folds grouped by subject and stratified by label (sorted; every row
    is in exactly one fold). ``k`` is capped at the number of subjects; fewer than two subjects is an error."""
    if k < 2:
        raise UsageError(f"k must be at least 2, got {k}")
    y = _strata(dataset, label_column)
    groups = _groups(dataset, group_column)
    if len(np.unique(groups)) < 2:
        raise SkillDatasetError(
            f"cannot make folds by subject from {_subject_count(groups)}: at least two subjects are needed (one "
            "held out, one to fit on). Add subjects"
        )
    _, row_group, group_strata = _group_strata(y, groups)
    k = min(k, len(np.unique(groups)))
    fold_of_row = _allocate_groups(group_strata, np.full(k, 1.0 / k), seed)[row_group]
    return [np.flatnonzero(fold_of_row == fold) for fold in range(k)]


def kfold_splits(
    dataset: Dataset,
    k: int = 5,
    *,
    seed: int = 0,
    label_column: str = "labels",
    group_column: str | None = "subject",
) -> Iterator[tuple[int, Dataset, Dataset]]:
    """Yield ``(fold, train, held_out)`` for ``k`` grouped, stratified folds; every row is held out once.

    Raises:
        SkillDatasetError: fewer subjects than folds (the message gives both counts).
    """
    groups = _groups(dataset, group_column)
    n_groups = len(np.unique(groups))
    if k > n_groups:
        fix = (
            f"ask for at most {n_groups} folds (cv_folds: {n_groups}) or add subjects"
            if n_groups >= 2
            else "add subjects"
        )
        raise SkillDatasetError(
            f"{k} folds by subject need at least {k} subjects; the dataset has {_subject_count(groups)}: {fix}"
        )
    everything = np.arange(len(dataset))
    folds = fold_indices(dataset, k, seed=seed, label_column=label_column, group_column=group_column)
    for fold, held in enumerate(folds):
        yield fold, dataset.select(np.setdiff1d(everything, held)), dataset.select(held)


def subject_groups(dataset: Dataset, group_column: str | None = "subject") -> np.ndarray:
    """One group id per row: its subject, or the row itself when the subject is unknown."""
    return _groups(dataset, group_column)


def leave_one_subject_out(
    dataset: Dataset, *, group_column: str = "subject"
) -> Iterator[tuple[str, Dataset, Dataset]]:
    """Yield ``(subject, train, held_out)`` holding out each subject in turn (LOSO cross-validation)."""
    if group_column not in dataset.column_names or not any(dataset[group_column]):
        raise SkillDatasetError(
            f"leave-one-subject-out needs a {group_column!r} column with subject ids; the dataset has columns "
            f"{', '.join(dataset.column_names)}"
        )
    groups = _groups(dataset, group_column)
    if len(np.unique(groups)) < 2:
        raise SkillDatasetError(
            f"leave-one-subject-out needs at least two subjects (one held out, one to train on); the dataset has "
            f"{_subject_count(groups)}. Add subjects"
        )
    for train, held in LeaveOneGroupOut().split(np.zeros(len(dataset)), groups=groups):
        subject = dataset[int(held[0])][group_column] or f"row {int(held[0]) + 1}"
        yield subject, dataset.select(train), dataset.select(held)


def natural_key(value: str) -> list:
    """``supertrial-2`` before ``supertrial-10``: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(value))]


def predefined_folds(dataset: Dataset, column: str) -> Iterator[tuple[str, Dataset, Dataset]]:
    """Yield ``(fold, train, held_out)`` for folds given by the data: each distinct value of ``column`` (e.g.
    ``fold_louo`` = ``user-B`` in a JIGSAWS dataset) holds out its rows, in natural order (``supertrial-2``
    before ``supertrial-10``). A row with an empty value is in no held-out fold: it trains every fold.

    Raises:
        SkillDatasetError: no such column, or fewer than two folds.
    """
    if column not in dataset.column_names:
        raise SkillDatasetError(
            f"the dataset has no {column!r} column with the folds; its columns are {', '.join(dataset.column_names)}"
        )
    values = [str(v) if v not in (None, "") else "" for v in dataset[column]]
    names = sorted({v for v in values if v}, key=natural_key)
    if len(names) < 2:
        raise SkillDatasetError(
            f"the {column!r} column names {len(names)} fold{'s' if len(names) != 1 else ''} "
            f"({', '.join(names) or 'none'}): cross-validation needs at least two"
        )
    values = np.asarray(values)
    for name in names:
        held = values == name
        yield name, dataset.select(np.flatnonzero(~held)), dataset.select(np.flatnonzero(held))
