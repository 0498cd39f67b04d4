"""Scores given by several raters: finding each rater's score of a target in a dataset's rows, and training on
every rater's score instead of their mean.

A dataset row can carry a target's ratings in three layouts, all read the same way here:

- ``label_ratings`` and ``label_raters`` (lists): the single score target of a public tree whose score is the
  raters' mean (the AIxSuture GRS), as :func:`~surgical_skill.data.load_skill_dataset` writes them;
- ``<target>_ratings`` (a list) and ``raters`` (their names), as the AIxSuture reader gives every item;
- one column per rater, ``<target>_rater_<name>`` (``grs_rater_1`` ...), as a spreadsheet usually has them
  (and the built-in synthetic data writes them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from datasets import Dataset, Value

from ..errors import UsageError
from .building import score_target_names

RATER_MODES = ("mean", "each")


def _layout(column_names: Sequence[str], target: str, single: bool) -> tuple[str, Any] | None:
    columns = set(column_names)
    if single and {"label_ratings", "label_raters"} <= columns:
        return "lists", ("label_ratings", "label_raters")
    if {f"{target}_ratings", "raters"} <= columns:
        return "lists", (f"{target}_ratings", "raters")
    pattern = re.compile(rf"^{re.escape(target)}_rater_(.+)$")
    flat = [(c, pattern.match(c).group(1)) for c in column_names if pattern.match(c)]
    if flat:
        return "columns", flat
    return None


def rater_scores(dataset: Dataset, target: str) -> tuple[np.ndarray, list[str]] | None:
    """Each row's score of ``target`` by each rater, ``(matrix (N, R) with NaN where a rater gave none, rater
    names)``, or None when the rows carry no per-rater scores of it. ``target`` is a score name (``"score"``
    or ``"label"``: the dataset's single score target)."""
    names = score_target_names(dataset)
    single = names is None
    layout = _layout(dataset.column_names, target, single and target in ("score", "label", "labels"))
    if layout is None and single:
        layout = _layout(dataset.column_names, target, True)
    if layout is None:
        return None
    kind, spec = layout
    if kind == "columns":
        raters = [rater for _, rater in spec]
        matrix = np.asarray(
            [
                [np.nan if v in (None, "") else float(v) for v in values]
                for values in zip(*(dataset[c] for c, _ in spec))
            ],
            dtype=np.float64,
        ).reshape(len(dataset), len(raters))
        return matrix, raters
    ratings_column, raters_column = spec
    pairs = list(zip(dataset[ratings_column], dataset[raters_column]))
    raters = sorted({str(r) for _, rs in pairs for r in (rs or [])})
    matrix = np.full((len(dataset), len(raters)), np.nan)
    for i, (ratings, rs) in enumerate(pairs):
        for value, rater in zip(ratings or [], rs or []):
            if value is not None:
                matrix[i, raters.index(str(rater))] = float(value)
    return matrix, raters


def expand_rater_rows(dataset: Dataset, origin: str = "the training split") -> Dataset:
    """The rows once per rater, each labelled with that rater's score(s) instead of the raters' mean: training
    on every rater's score (``rater_scores: each`` in a recipe). A video keeps its ``video_id``, so clips and
    metrics still count it once per rater it has; a rater who gave no score to a video adds no row.

    For several named scores, every target needs its ratings, by the same raters.

    Raises:
        UsageError: rows without per-rater scores of a target (which layouts are read is said).
    """
    names = score_target_names(dataset)
    targets = names or ["score"]
    found = {}
    for target in targets:
        scores = rater_scores(dataset, target)
        if scores is None:
            raise UsageError(
                f"{origin}: rater_scores 'each' needs every rater's score of {target!r} ({target}_rater_<name> "
                f"columns, or {target}_ratings with raters; a public tree's rated score gives label_ratings), and "
                f"the rows have none; its columns: {', '.join(dataset.column_names)}"
            )
        found[target] = scores
    raters = found[targets[0]][1]
    if any(found[t][1] != raters for t in targets):
        raise UsageError(
            f"{origin}: the targets are rated by different raters ("
            + "; ".join(f"{t}: {', '.join(found[t][1])}" for t in targets)
            + "): rater_scores 'each' needs the same raters for every target"
        )
    keep, labels = [], []
    for i in range(len(dataset)):
        for r in range(len(raters)):
            values = [found[t][0][i, r] for t in targets]
            if all(np.isfinite(values)):
                keep.append(i)
                labels.append(dict(zip(targets, values)) if names else values[0])
    if not keep:
        raise UsageError(f"{origin}: no rater gave a score to every target of any video")
    expanded = dataset.select(keep)
    features = expanded.features.copy()
    if names is None:
        features["labels"] = Value("float64")
    return expanded.remove_columns("labels").add_column("labels", labels, feature=features["labels"])


__all__ = ["RATER_MODES", "expand_rater_rows", "rater_scores"]
