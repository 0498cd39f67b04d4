"""Compare two models evaluated on the same videos: paired statistics from two ``evaluate_model`` reports.

Both models scored the same videos, so their errors are paired: the tests here use that pairing (McNemar's
test on right/wrong, a paired bootstrap on every headline metric) instead of comparing two independent
intervals, which would miss real differences.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from ..errors import SurgicalSkillError
from ..markup import markdown_inline
from .formatting import fmt, fmt_p, json_safe
from .metrics import (
    _quiet,
    _target_correlations,
    headline_classification,
    predict_labels,
    regression_metrics,
    resample_indices,
)
from .report import SavedReport, few, read_report


class ReportsNotComparableError(SurgicalSkillError, ValueError):
    """Two reports that cannot be compared: other tasks, other classes, other videos, other truths."""


COMPARED_CLASSIFICATION = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "mcc")
COMPARED_REGRESSION = ("mae", "rmse", "pearson", "spearman")
LOWER_IS_BETTER = frozenset({"mae", "rmse"})
EXACT_BELOW = 25  # discordant pairs under which McNemar's p-value is the exact binomial one


def mcnemar_test(correct_a: Sequence, correct_b: Sequence) -> dict[str, Any]:
    """McNemar's test on paired right/wrong outcomes of two models on the same items.

    ``b`` counts items A got right and B wrong, ``c`` the reverse. Returns ``b``, ``c``, the chi-square
    statistic with continuity correction ``max(0, |b - c| - 1)^2 / (b + c)`` and its p-value (1 degree of
    freedom), the exact two-sided binomial p-value (``b`` of ``b + c`` at 0.5), and ``p_value``: the exact one
    when ``b + c < 25`` (the chi-square approximation is poor for few discordant pairs), else the chi-square
    one; ``method`` says which (``"exact"`` or ``"chi2"``). With no discordant pair both p-values are 1.
    """
    correct_a = np.asarray(correct_a, dtype=bool)
    correct_b = np.asarray(correct_b, dtype=bool)
    if correct_a.shape != correct_b.shape or correct_a.ndim != 1:
        raise ValueError(
            f"correct_a and correct_b must be 1-D and paired, got {correct_a.shape} and {correct_b.shape}"
        )
    b = int(np.sum(correct_a & ~correct_b))
    c = int(np.sum(~correct_a & correct_b))
    discordant = b + c
    if discordant == 0:
        statistic, p_chi2, p_exact = 0.0, 1.0, 1.0
    else:
        statistic = max(0, abs(b - c) - 1) ** 2 / discordant
        p_chi2 = float(stats.chi2.sf(statistic, 1))
        p_exact = float(stats.binomtest(b, discordant, 0.5).pvalue)
    method = "exact" if discordant < EXACT_BELOW else "chi2"
    return {
        "b": b,
        "c": c,
        "statistic": float(statistic),
        "p_value_exact": p_exact,
        "p_value_chi2": p_chi2,
        "p_value": p_exact if method == "exact" else p_chi2,
        "method": method,
    }


def paired_bootstrap(
    compute_a: Callable[[np.ndarray], dict[str, float]],
    compute_b: Callable[[np.ndarray], dict[str, float]],
    num_items: int,
    groups: Sequence | None,
    names: Sequence[str],
    samples: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Paired bootstrap of the difference B - A of each metric in ``names``.

    Each resample draws one set of indices (whole ``groups``, e.g. subjects, when given, else items) and
    scores both models on it. Per metric: ``a`` and ``b`` on all items, ``difference`` (b - a), ``ci_95`` (the
    2.5 and 97.5 percentiles of the resampled differences) and ``p_value``, two-sided:
    ``min(1, 2 * min(share of differences <= 0, share of differences >= 0))``, i.e. twice the share of
    resamples on the far side of zero (1 when all differences are 0). Resamples where a metric is undefined
    are skipped; with fewer than half left, the interval and p-value are NaN.
    """
    every = np.arange(num_items)
    full_a, full_b = _quiet(compute_a, every), _quiet(compute_b, every)
    draws: dict[str, list[float]] = {name: [] for name in names}
    for indices in resample_indices(num_items, groups, samples=samples, seed=seed):
        values_a, values_b = _quiet(compute_a, indices), _quiet(compute_b, indices)
        for name in names:
            difference = _number(values_b.get(name)) - _number(values_a.get(name))
            if math.isfinite(difference):
                draws[name].append(difference)
    out = {}
    for name in names:
        a, b = _number(full_a.get(name)), _number(full_b.get(name))
        differences = np.asarray(draws[name])
        if len(differences) >= max(1, samples // 2):
            ci = [float(np.percentile(differences, 2.5)), float(np.percentile(differences, 97.5))]
            p_value = min(1.0, 2 * min(np.mean(differences <= 0), np.mean(differences >= 0)))
        else:
            ci, p_value = [math.nan, math.nan], math.nan
        out[name] = {"a": a, "b": b, "difference": b - a, "ci_95": ci, "p_value": float(p_value)}
    return out


def _number(value) -> float:
    return math.nan if value is None else float(value)


# ------------------------------------------------------------------------------------------------ reports


def _pair(a: SavedReport, b: SavedReport) -> np.ndarray:
    """Check the two reports are comparable; return the row of B for each row of A (matched by video)."""
    if a.regression != b.regression:
        kinds = {True: "a regression report (scores)", False: "a classification report"}
        raise ReportsNotComparableError(
            f"cannot compare {a.folder} ({kinds[a.regression]}) with {b.folder} ({kinds[b.regression]})"
        )
    if a.labels != b.labels:
        detail = " (the same classes in another order)" if sorted(a.labels) == sorted(b.labels) else ""
        raise ReportsNotComparableError(
            f"the reports have different labels{detail}: {a.labels} in {a.folder}, {b.labels} in {b.folder}"
        )
    keys_a, keys_b = a.keys, b.keys  # videos, told apart by their segment where rows cover one
    only_a, only_b = set(keys_a) - set(keys_b), set(keys_b) - set(keys_a)
    if only_a or only_b:
        parts = [
            f"{len(only_a)} only in {a.folder} ({few(only_a)})" if only_a else "",
            f"{len(only_b)} only in {b.folder} ({few(only_b)})" if only_b else "",
        ]
        raise ReportsNotComparableError("the reports cover different videos: " + "; ".join(p for p in parts if p))
    row_b = {video: i for i, video in enumerate(keys_b)}
    order = np.asarray([row_b[video] for video in keys_a])
    differ = [v for v, ta, tb in zip(keys_a, a.targets, b.targets[order]) if not np.allclose(ta, tb, equal_nan=True)]
    if differ:
        raise ReportsNotComparableError(
            f"the reports disagree on the true label of {len(differ)} video(s): {few(differ)}"
        )
    return order


def _groups(a: SavedReport, b: SavedReport, order: np.ndarray) -> list[str] | None:
    """Subjects when known for every video (from either report; they must agree when both have them)."""
    subjects_b = [b.subjects[i] for i in order]
    complete_a, complete_b = all(a.subjects), all(subjects_b)
    if complete_a and complete_b and a.subjects != subjects_b:
        differ = [v for v, sa, sb in zip(a.keys, a.subjects, subjects_b) if sa != sb]
        raise ReportsNotComparableError(
            f"the reports disagree on the subject of {len(differ)} video(s): {few(differ)}"
        )
    return a.subjects if complete_a else subjects_b if complete_b else None


@dataclass
class ComparisonResult:
    """The paired comparison of report B against report A (differences are B - A)."""

    report_a: str
    report_b: str
    task: str  # "classification" or "regression"
    labels: list[str]
    videos: int
    threshold_a: float | None
    threshold_b: float | None
    resampled_by: str  # "subject" or "video"
    samples: int
    seed: int
    metrics: dict[str, dict[str, Any]]  # name -> a, b, difference, ci_95, p_value (paired bootstrap)
    mcnemar: dict[str, Any] | None = None  # classification only
    primary: str = field(init=False)

    def __post_init__(self) -> None:
        if "spearman_fisher_z" in self.metrics:  # several named scores: their headline
            self.primary = "spearman_fisher_z"
        else:
            self.primary = "accuracy" if self.task == "classification" else "mae"

    @property
    def significant(self) -> bool:
        """Whether B and A differ on the primary metric (accuracy, or MAE) at the 5 % level: the paired
        bootstrap p < 0.05 and, for classification, McNemar's p < 0.05 as well."""
        p = self.metrics[self.primary]["p_value"]
        if not (math.isfinite(p) and p < 0.05):
            return False
        return self.mcnemar is None or self.mcnemar["p_value"] < 0.05

    def verdict(self) -> str:
        """One line: which model is better on the primary metric, or that the difference is not significant."""
        m = self.metrics[self.primary]
        low, high = m["ci_95"]
        evidence = f"95 % CI {fmt(low, True)} to {fmt(high, True)}, paired bootstrap p{_p_is(m['p_value'])}"
        if self.mcnemar is not None:
            evidence += f"; McNemar p{_p_is(self.mcnemar['p_value'])}"
        if not self.significant:
            return (
                f"no significant difference at the 5 % level on {self.primary} "
                f"(B - A = {fmt(m['difference'], True)}, {evidence})"
            )
        b_better = (m["difference"] < 0) == (self.primary in LOWER_IS_BETTER)
        direction = "lower is better; " if self.primary in LOWER_IS_BETTER else ""
        return (
            f"{'B' if b_better else 'A'} is better on {self.primary} by {fmt(m['difference'], True)} "
            f"({direction}{evidence})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-able values (NaN becomes null)."""
        return json_safe(
            {
                "report_a": self.report_a,
                "report_b": self.report_b,
                "task": self.task,
                "labels": self.labels,
                "videos": self.videos,
                "threshold_a": self.threshold_a,
                "threshold_b": self.threshold_b,
                "bootstrap": {"samples": self.samples, "seed": self.seed, "resampled_by": self.resampled_by},
                "metrics": self.metrics,
                "mcnemar": self.mcnemar,
                "primary": self.primary,
                "significant": self.significant,
                "verdict": self.verdict(),
            }
        )

    def to_markdown(self) -> str:
        """A table of A, B, B - A with its paired 95 % interval and p-value per metric, and McNemar's test."""
        lines = [
            # folder names and score names are the user's: literal text, one line each
            f"A: {markdown_inline(self.report_a)}"
            + (f" (threshold {self.threshold_a:g})" if self.threshold_a is not None else ""),
            f"B: {markdown_inline(self.report_b)}"
            + (f" (threshold {self.threshold_b:g})" if self.threshold_b is not None else ""),
            "",
            "| metric | A | B | B - A | 95 % CI of B - A | p |",
            "|---|---|---|---|---|---|",
        ]
        for name, m in self.metrics.items():
            low, high = m["ci_95"]
            lower = name.rsplit("/", 1)[-1] in LOWER_IS_BETTER or name == "mae_mean"
            label = markdown_inline(name.replace("_", " ")) + (" (lower is better)" if lower else "")
            lines.append(
                f"| {label} | {fmt(m['a'])} | {fmt(m['b'])} | {fmt(m['difference'], True)} | "
                f"{fmt(low, True)} to {fmt(high, True)} | {fmt_p(m['p_value'])} |"
            )
        lines += [
            "",
            f"{self.videos} videos; paired bootstrap: {self.samples} resamples of whole {self.resampled_by}s "
            f"(seed {self.seed}), both models scored on the same resamples.",
        ]
        if self.mcnemar is None:
            lines.append("McNemar's test: not applicable to regression (scores are not right or wrong).")
        else:
            t = self.mcnemar
            method = "exact binomial" if t["method"] == "exact" else "chi-square with continuity correction"
            lines.append(
                f"McNemar's test: A right & B wrong on {t['b']} videos, A wrong & B right on {t['c']}; "
                f"p{_p_is(t['p_value'])} ({method}; exact {fmt_p(t['p_value_exact'])}, "
                f"chi-square {fmt_p(t['p_value_chi2'])}). It treats videos as independent."
            )
        return "\n".join(lines)


def _p_is(value) -> str:
    text = fmt_p(value)
    return text if text.startswith("<") else f"={text}"


def named_score_figures(truths: np.ndarray, values: np.ndarray, names: list[str], over: list[str]) -> dict[str, float]:
    """Several named scores' figures on the videos with a truth, in NumPy (fast enough for every paired resample):
    each score's MAE, RMSE, Pearson and Spearman (``<name>/<metric>``), the Fisher-z mean of Spearman over the
    model's targets ``over`` (a reported sum is not among them) and their mean MAE; the numbers of
    :func:`~surgical_skill.evaluation.metrics.multi_target_regression_metrics`."""
    out = _target_correlations(truths, values, names)
    for k, name in enumerate(names):
        present = np.isfinite(truths[:, k])
        difference = values[present, k] - truths[present, k]
        out[f"{name}/mae"] = float(np.abs(difference).mean()) if present.any() else math.nan
        out[f"{name}/rmse"] = float(np.sqrt((difference**2).mean())) if present.any() else math.nan
    columns = [names.index(n) for n in over]
    out["spearman_fisher_z"] = _target_correlations(truths[:, columns], values[:, columns], over)["spearman_fisher_z"]
    errors = [out[f"{n}/mae"] for n in over if math.isfinite(out[f"{n}/mae"])]
    out["mae_mean"] = float(np.mean(errors)) if errors else math.nan
    return out


def compare_reports(
    report_a: str | os.PathLike, report_b: str | os.PathLike, *, samples: int = 2000, seed: int = 0
) -> ComparisonResult:
    """Compare two evaluation report folders (``metrics.json`` and ``predictions.csv``) of the same videos.

    Videos are matched by name; the reports must cover the same videos with the same labels. Classification:
    McNemar's test on right/wrong and a paired bootstrap of accuracy, balanced accuracy, macro F1, ROC-AUC
    and MCC, each model deciding with its own threshold. Regression: a paired bootstrap of MAE, RMSE, Pearson
    and Spearman; for several named scores, of each score's and of the Fisher-z mean of Spearman over the
    model's targets (the primary figure) and their mean MAE (:func:`named_score_figures`). The bootstrap resamples
    whole subjects when every video has one, else videos.
    """
    a, b = read_report(report_a), read_report(report_b)
    order = _pair(a, b)
    groups = _groups(a, b, order)
    targets, values_a, values_b = a.targets, a.values, b.values[order]
    if a.multi_target:
        over = list(a.meta.get("headline_over_targets", {}).get("over_targets") or a.labels)
        names = ("spearman_fisher_z", "mae_mean", *(f"{n}/{m}" for n in a.labels for m in COMPARED_REGRESSION))

        def compute_a(idx):
            return named_score_figures(targets[idx], values_a[idx], a.labels, over)

        def compute_b(idx):
            return named_score_figures(targets[idx], values_b[idx], a.labels, over)

        mcnemar = None
    elif a.regression:
        names = COMPARED_REGRESSION

        def compute_a(idx):
            return regression_metrics(targets[idx], values_a[idx])

        def compute_b(idx):
            return regression_metrics(targets[idx], values_b[idx])

        mcnemar = None
    else:
        names = COMPARED_CLASSIFICATION

        def compute_a(idx):
            return headline_classification(targets[idx], values_a[idx], a.threshold)

        def compute_b(idx):
            return headline_classification(targets[idx], values_b[idx], b.threshold)

        mcnemar = mcnemar_test(
            predict_labels(values_a, a.threshold) == targets, predict_labels(values_b, b.threshold) == targets
        )
    metrics = paired_bootstrap(compute_a, compute_b, len(targets), groups, names, samples=samples, seed=seed)
    return ComparisonResult(
        report_a=str(report_a),
        report_b=str(report_b),
        task=a.task,
        labels=a.labels,
        videos=len(targets),
        threshold_a=a.threshold,
        threshold_b=b.threshold,
        resampled_by="subject" if groups is not None else "video",
        samples=samples,
        seed=seed,
        metrics=metrics,
        mcnemar=mcnemar,
    )
