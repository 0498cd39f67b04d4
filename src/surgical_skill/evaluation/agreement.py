"""Agreement between human raters, the reference line a model's scores are read against.

Skill datasets are often scored by several raters (JIGSAWS' GRS by one, OSS by three, videos of a second round by
others). Their own agreement bounds what a model can be expected to reach: :func:`rater_agreement` gives the
intraclass correlation ICC(2,1), Krippendorff's alpha and every pair's Spearman correlation with their Fisher-z
mean; :func:`metrics_against_raters` scores predictions against the raters' mean and against each rater, on the
same scale. Ratings are (N items x K raters) arrays with NaN where a rater did not score an item.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
from scipy import stats

from .metrics import HEADLINE_REGRESSION, fisher_z_mean, regression_metrics

KRIPPENDORFF_LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _ratings(ratings) -> np.ndarray:
    ratings = np.asarray(ratings, dtype=np.float64)
    if ratings.ndim != 2 or ratings.shape[1] < 2:
        raise ValueError(f"ratings must be (N items, K >= 2 raters), got shape {ratings.shape}")
    return ratings


def _rater_names(names: Sequence[str] | None, count: int) -> list[str]:
    names = [f"rater_{k}" for k in range(count)] if names is None else [str(n) for n in names]
    if len(names) != count or len(set(names)) != count:
        raise ValueError(f"need {count} distinct rater names, got {names}")
    return names


def icc_2_1(ratings) -> float:
    """ICC(2,1): two-way random effects, absolute agreement, one rater (Shrout & Fleiss 1979, "Intraclass
    correlations: uses in assessing rater reliability", Psychol. Bull. 86(2); McGraw & Wong 1996's ICC(A,1)).
    With n items and k raters, from the two-way ANOVA's mean squares

        BMS = k sum_i (mean_i. - mean)^2 / (n - 1)                  between items (targets)
        JMS = n sum_j (mean_.j - mean)^2 / (k - 1)                  between raters (judges)
        EMS = (SS_total - SS_items - SS_raters) / ((n - 1)(k - 1))  residual

        ICC(2,1) = (BMS - EMS) / (BMS + (k - 1) EMS + k (JMS - EMS) / n)

    The design needs every rater on every item: rows holding a NaN are dropped (the ICC of the complete
    items; :func:`rater_agreement` reports how many). Raises ValueError with fewer than 2 complete items;
    NaN when the denominator is 0 (every rating equal).
    """
    ratings = _ratings(ratings)
    ratings = ratings[np.all(np.isfinite(ratings), 1)]
    n, k = ratings.shape
    if n < 2:
        raise ValueError(f"ICC(2,1) needs at least 2 items rated by all {k} raters, got {n}")
    grand = ratings.mean()
    ss_items = k * np.sum((ratings.mean(1) - grand) ** 2)
    ss_raters = n * np.sum((ratings.mean(0) - grand) ** 2)
    ss_error = np.sum((ratings - grand) ** 2) - ss_items - ss_raters
    bms, jms, ems = ss_items / (n - 1), ss_raters / (k - 1), ss_error / ((n - 1) * (k - 1))
    denominator = bms + (k - 1) * ems + k * (jms - ems) / n
    return float((bms - ems) / denominator) if denominator > 0 else float("nan")


def _difference(values: np.ndarray, marginals: np.ndarray, level: str) -> np.ndarray:
    """Krippendorff's squared difference delta^2[c, k] between the sorted distinct values."""
    if level == "nominal":
        return 1.0 - np.eye(len(values))
    if level == "interval":
        return (values[:, None] - values[None, :]) ** 2
    if level == "ratio":
        sums = values[:, None] + values[None, :]
        return np.divide(
            (values[:, None] - values[None, :]) ** 2, sums**2, out=np.zeros((len(values),) * 2), where=sums != 0
        )
    # ordinal: (sum of the marginals from c to k, less half of c's and k's)^2, by rank, not by value
    cumulative = np.concatenate([[0.0], np.cumsum(marginals)])
    ranks = np.arange(len(values))
    low, high = np.minimum.outer(ranks, ranks), np.maximum.outer(ranks, ranks)
    between = cumulative[high + 1] - cumulative[low]
    return (between - (marginals[:, None] + marginals[None, :]) / 2) ** 2


def krippendorff_alpha(ratings, level: str = "interval") -> float:
    """Krippendorff's alpha, ``1 - D_observed / D_expected`` (Krippendorff 2011, "Computing Krippendorff's
    Alpha-Reliability", https://repository.upenn.edu/asc_papers/43), through the coincidence matrix:

        o[c, k] = sum over items u of (number of c-k pairs of values in u) / (m_u - 1)
        n_c = sum_k o[c, k],  n = sum_c n_c
        alpha = 1 - (n - 1) sum_{c,k} o[c, k] delta^2[c, k] / sum_{c,k} n_c n_k delta^2[c, k]

    ``ratings`` are (N items x K raters) with NaN missing; items with fewer than two values are not pairable
    and left out. ``level`` picks delta^2: ``nominal`` (0 if equal, else 1), ``ordinal`` (by the ranks'
    marginal counts), ``interval`` ((c - k)^2) or ``ratio`` (((c - k) / (c + k))^2). NaN when there is
    nothing to compare (fewer than two pairable values, or every value equal).
    """
    if level not in KRIPPENDORFF_LEVELS:
        raise ValueError(f"level must be one of {KRIPPENDORFF_LEVELS}, got {level!r}")
    ratings = _ratings(ratings)
    present = np.isfinite(ratings)
    pairable = present.sum(1) >= 2
    ratings, present = ratings[pairable], present[pairable]
    values = np.unique(ratings[present])
    if len(values) == 0:
        return float("nan")
    # counts[u, c]: how many raters gave item u the value c
    which = np.searchsorted(values, np.where(present, ratings, values[0]))
    counts = np.zeros((len(ratings), len(values)))
    rows = np.repeat(np.arange(len(ratings)), ratings.shape[1]).reshape(ratings.shape)
    np.add.at(counts, (rows[present], which[present]), 1.0)
    weights = 1.0 / (counts.sum(1) - 1)
    coincidence = (counts * weights[:, None]).T @ counts - np.diag((counts * weights[:, None]).sum(0))
    marginals = coincidence.sum(1)
    n = marginals.sum()
    delta = _difference(values, marginals, level)
    expected = marginals @ delta @ marginals
    if n < 2 or expected <= 0:
        return float("nan")
    return float(1.0 - (n - 1) * np.sum(coincidence * delta) / expected)


def pairwise_spearman(ratings) -> dict[tuple[int, int], float]:
    """Spearman's rho (SciPy) of every pair of raters (i < j) over the items both scored; NaN for a pair with
    fewer than 3 shared items or a constant rater among them."""
    ratings = _ratings(ratings)
    out = {}
    for i, j in combinations(range(ratings.shape[1]), 2):
        shared = np.isfinite(ratings[:, i]) & np.isfinite(ratings[:, j])
        a, b = ratings[shared, i], ratings[shared, j]
        if shared.sum() < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
            out[(i, j)] = float("nan")
        else:
            out[(i, j)] = float(stats.spearmanr(a, b)[0])
    return out


def rater_agreement(ratings, rater_names: Sequence[str] | None = None, level: str = "interval") -> dict:
    """The raters' own agreement, the human reference line: ``icc_2_1`` (on the items every rater scored;
    NaN with fewer than 2), ``krippendorff_alpha`` (``level``, missing ratings allowed), ``spearman/<a>~<b>``
    for each pair of raters, ``spearman_fisher_z`` (their Fisher-z mean), ``items`` (items with at least two
    ratings), ``complete_items`` (items every rater scored) and ``raters``."""
    ratings = _ratings(ratings)
    names = _rater_names(rater_names, ratings.shape[1])
    present = np.isfinite(ratings)
    complete = int(np.all(present, 1).sum())
    out: dict = {"icc_2_1": icc_2_1(ratings) if complete >= 2 else float("nan")}
    out["krippendorff_alpha"] = krippendorff_alpha(ratings, level)
    pairs = pairwise_spearman(ratings)
    for (i, j), rho in pairs.items():
        out[f"spearman/{names[i]}~{names[j]}"] = rho
    out["spearman_fisher_z"] = fisher_z_mean(list(pairs.values()))
    out["items"] = int((present.sum(1) >= 2).sum())
    out["complete_items"] = complete
    out["raters"] = len(names)
    return out


def metrics_against_raters(predictions, ratings, rater_names: Sequence[str] | None = None) -> dict[str, float]:
    """Predicted scores against the raters: ``raters_mean/<metric>`` against each item's mean rating (the
    usual reference; items nobody rated left out) and ``<rater>/<metric>`` against each rater on the items
    that rater scored, for the metrics of :func:`regression_metrics` (MAE, RMSE, Pearson, Spearman). Read
    next to :func:`rater_agreement`: a model agreeing with each rater about as well as the raters agree with
    each other has reached the human line."""
    ratings = _ratings(ratings)
    predictions = np.asarray(predictions, dtype=np.float64).reshape(-1)
    if len(predictions) != len(ratings):
        raise ValueError(f"{len(predictions)} predictions for {len(ratings)} rated items")
    names = _rater_names(rater_names, ratings.shape[1])
    if "raters_mean" in names:
        raise ValueError("a rater may not be called 'raters_mean'")
    present = np.isfinite(ratings)
    out: dict[str, float] = {}
    columns = [("raters_mean", present.any(1), None)] + [(name, present[:, j], j) for j, name in enumerate(names)]
    for name, rows, j in columns:
        if not rows.any():
            out.update({f"{name}/{metric}": float("nan") for metric in HEADLINE_REGRESSION})
            continue
        reference = np.nanmean(ratings[rows], 1) if j is None else ratings[rows, j]
        out.update({f"{name}/{metric}": v for metric, v in regression_metrics(reference, predictions[rows]).items()})
    return out
