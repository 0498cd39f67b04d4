"""Skill metrics over a whole evaluation set (never averaged per batch), computed from probabilities.

The single source of the numbers: the ``evaluate`` module in ``skill_metrics/`` wraps these functions, the
training engine and ``evaluate_model`` call them, and the tests compare each to scikit-learn.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from scipy import stats
from sklearn import metrics as skm

HEADLINE_CLASSIFICATION = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "cohen_kappa", "mcc")
HEADLINE_REGRESSION = ("mae", "rmse", "pearson", "spearman")
# The figures of ordered classes validation computes beside the class figures (video_/clip_ + each)
ORDINAL_VALIDATION_METRICS = ("quadratic_kappa", "expected_cost", "mean_absolute_class_error")


def _probabilities(probabilities) -> np.ndarray:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] < 2:
        raise ValueError(f"probabilities must be (N, num_classes >= 2), got shape {probabilities.shape}")
    return probabilities


def _clip_rows(probabilities: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    clipped = np.clip(probabilities, eps, 1.0)
    return clipped / clipped.sum(1, keepdims=True)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def predict_labels(probabilities: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Class decisions: argmax, or for two classes ``p(class 1) >= threshold`` when a threshold is given."""
    probabilities = _probabilities(probabilities)
    if threshold is not None and probabilities.shape[1] == 2:
        return (probabilities[:, 1] >= threshold).astype(np.int64)
    return probabilities.argmax(1)


def expected_calibration_error(labels, probabilities, bins: int = 10) -> float:
    """ECE: the gap between confidence (top probability) and accuracy, averaged over equal-width confidence
    bins weighted by how many predictions fall in each."""
    labels = np.asarray(labels)
    probabilities = _probabilities(probabilities)
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def brier_score(labels, probabilities) -> float:
    """Mean squared distance between the probability vector and the one-hot label (binary: (p1 - y)^2)."""
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = _probabilities(probabilities)
    if probabilities.shape[1] == 2:
        return float(np.mean((probabilities[:, 1] - labels) ** 2))
    onehot = np.eye(probabilities.shape[1])[labels]
    return float(np.mean(((probabilities - onehot) ** 2).sum(1)))


def classification_metrics(
    labels: Sequence[int], probabilities, threshold: float | None = None, per_class: bool = False
) -> dict[str, float | list[float]]:
    """Every classification metric from labels and (N, num_classes) probabilities.

    Decisions use argmax, or ``threshold`` on ``p(class 1)`` for two classes. Metrics undefined for the data
    (ROC-AUC with one class present) are NaN, so a small split never stops training. With ``per_class``, the
    per-class precision, recall, specificity and F1 are included as lists.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = _probabilities(probabilities)
    classes = list(range(probabilities.shape[1]))
    predictions = predict_labels(probabilities, threshold)
    confusion = skm.confusion_matrix(labels, predictions, labels=classes)
    specificity = _specificity(confusion)
    out = _decision_metrics(labels, predictions, classes, specificity)
    out["log_loss"] = float(skm.log_loss(labels, _clip_rows(probabilities), labels=classes))
    out["brier"] = brier_score(labels, probabilities)
    out["ece"] = expected_calibration_error(labels, probabilities)
    if len(classes) == 2:
        out["sensitivity"] = float(skm.recall_score(labels, predictions, pos_label=1, zero_division=0))
        out["specificity"] = float(specificity[1]) if not np.isnan(specificity[1]) else float("nan")
        out["precision"] = float(skm.precision_score(labels, predictions, pos_label=1, zero_division=0))
        out["f1"] = float(skm.f1_score(labels, predictions, pos_label=1, zero_division=0))
    out.update(_ranking_metrics(labels, probabilities))
    if per_class:
        out.update(_per_class_metrics(labels, predictions, classes, specificity, confusion))
    return out


def _specificity(confusion: np.ndarray) -> np.ndarray:
    """Each class's specificity (true negatives over negatives), NaN for a class every video belongs to."""
    true_negatives = confusion.sum() - confusion.sum(0) - confusion.sum(1) + np.diag(confusion)
    negatives = confusion.sum() - confusion.sum(1)
    return np.divide(true_negatives, negatives, out=np.full(len(confusion), np.nan), where=negatives > 0)


def _decision_metrics(labels, predictions, classes: list[int], specificity: np.ndarray) -> dict[str, float]:
    """The metrics of the decided classes: accuracy, averaged precision / recall / F1, agreement."""
    # macro averages over the classes that have videos: a class absent from the split has no recall to average
    # (scikit-learn's zero_division=0 would count it as 0 and halve a perfect binary F1 on a one-class split)
    present = sorted(set(labels.tolist())) or classes
    out = {
        "accuracy": float(skm.accuracy_score(labels, predictions)),
        "balanced_accuracy": float(_quiet(skm.balanced_accuracy_score, labels, predictions)),
    }
    for average, which in (("macro", present), ("weighted", classes)):
        for name, score in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
            out[f"{name}_{average}"] = float(
                score(labels, predictions, average=average, labels=which, zero_division=0)
            )
    out["specificity_macro"] = float(np.nanmean(specificity)) if not np.all(np.isnan(specificity)) else float("nan")
    out["cohen_kappa"] = float(_quiet(skm.cohen_kappa_score, labels, predictions, labels=classes))
    out["quadratic_kappa"] = float(
        _quiet(skm.cohen_kappa_score, labels, predictions, labels=classes, weights="quadratic")
    )
    out["mcc"] = float(_quiet(skm.matthews_corrcoef, labels, predictions))
    return out


def _ranking_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """ROC-AUC and average precision (one vs rest, macro, for several classes); NaN with one class present."""
    num_classes = probabilities.shape[1]
    present = np.unique(labels)
    with warnings.catch_warnings():  # undefined with one class present: NaN below, no warning per batch
        warnings.simplefilter("ignore")
        try:
            if num_classes == 2:
                return {
                    "roc_auc": float(skm.roc_auc_score(labels, probabilities[:, 1])),
                    "average_precision": float(skm.average_precision_score(labels, probabilities[:, 1])),
                }
            roc_auc = float(
                skm.roc_auc_score(
                    labels, probabilities, multi_class="ovr", average="macro", labels=list(range(num_classes))
                )
            )
            average_precision = float(
                skm.average_precision_score(
                    np.eye(num_classes)[labels][:, present], probabilities[:, present], average="macro"
                )
            )
            return {"roc_auc": roc_auc, "average_precision": average_precision}
        except ValueError:  # one class only
            return {"roc_auc": float("nan"), "average_precision": float("nan")}


def _per_class_metrics(labels, predictions, classes, specificity, confusion) -> dict[str, list]:
    options = {"average": None, "labels": classes, "zero_division": 0}
    return {
        "precision_per_class": skm.precision_score(labels, predictions, **options).tolist(),
        "recall_per_class": skm.recall_score(labels, predictions, **options).tolist(),
        "f1_per_class": skm.f1_score(labels, predictions, **options).tolist(),
        "specificity_per_class": specificity.tolist(),
        "support_per_class": confusion.sum(1).tolist(),
    }


@functools.cache
def validation_metric_names(regression: bool, num_classes: int | None = None) -> tuple[str, ...]:
    """The names ``metric_for_best_model`` may take for a score model (``regression``) or a class model of
    ``num_classes`` classes (any number when None: two-class models have a few more, e.g. ``sensitivity``):
    ``loss`` and ``clip_``/``video_`` + every metric the validation computes (read off the functions themselves)."""
    if regression:
        names = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.5, 2.0])
    else:
        two, three = np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
        names = {}
        if num_classes in (None, 2):
            names.update(classification_metrics([0, 1], two))
        if num_classes != 2:
            names.update(classification_metrics([0, 1, 2], three))
    return ("loss", *(f"{level}_{name}" for level in ("video", "clip") for name in names))


def regression_metrics(targets: Sequence[float], predictions: Sequence[float]) -> dict[str, float]:
    """MAE, RMSE, Pearson and Spearman correlation of predicted scores."""
    targets = np.asarray(targets, dtype=np.float64).reshape(-1)
    predictions = np.asarray(predictions, dtype=np.float64).reshape(-1)
    out = {
        "mae": float(skm.mean_absolute_error(targets, predictions)),
        "rmse": float(np.sqrt(skm.mean_squared_error(targets, predictions))),
    }
    constant = np.ptp(targets) == 0 or np.ptp(predictions) == 0
    out["pearson"] = float("nan") if constant else float(stats.pearsonr(targets, predictions)[0])
    out["spearman"] = float("nan") if constant else float(stats.spearmanr(targets, predictions)[0])
    return out


def aggregate_by_video(
    video_ids: Sequence[int], values: np.ndarray, labels: Sequence
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average clip-level probabilities (or scores) per video: returns (video ids, mean values, labels)."""
    video_ids = np.asarray(video_ids)
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels)
    unique, inverse = np.unique(video_ids, return_inverse=True)
    sums = np.zeros((len(unique), *values.shape[1:]))
    np.add.at(sums, inverse, values)
    counts = np.bincount(inverse, minlength=len(unique)).reshape(-1, *([1] * (values.ndim - 1)))
    first = np.zeros(len(unique), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(video_ids))[::-1]
    return unique, sums / counts, labels[first]


def resample_indices(
    num_items: int, groups: Sequence | None = None, *, samples: int, seed: int = 0
) -> Iterator[np.ndarray]:
    """Yield ``samples`` bootstrap index arrays into ``num_items`` items: whole ``groups`` (e.g. subjects)
    drawn with replacement when given, else single items. The same seed gives the same arrays, so two
    models resampled from one call share every draw."""
    rng = np.random.default_rng(seed)
    if groups is None:
        clusters = [np.array([i]) for i in range(num_items)]
    else:
        groups = np.asarray(groups)
        if len(groups) != num_items:
            raise ValueError(f"groups has {len(groups)} entries for {num_items} items")
        clusters = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    for _ in range(samples):
        picked = rng.integers(0, len(clusters), len(clusters))
        yield np.concatenate([clusters[i] for i in picked])


def bootstrap_intervals(
    compute: Callable[[np.ndarray], dict[str, float]],
    num_items: int,
    groups: Sequence | None = None,
    *,
    names: Sequence[str],
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals for ``names`` of ``compute(indices)``.

    Resamples whole ``groups`` (subjects) with replacement when given, else items (videos): videos of one
    surgeon are not independent, and resampling them separately would make intervals too narrow.
    """
    draws: dict[str, list[float]] = {name: [] for name in names}
    for indices in resample_indices(num_items, groups, samples=samples, seed=seed):
        values = _quiet(compute, indices)
        for name in names:
            value = values.get(name, float("nan"))
            if value is not None and np.isfinite(value):
                draws[name].append(float(value))
    tail = (1 - confidence) / 2 * 100
    return {
        name: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail)))
        if len(v) >= samples // 2
        else (float("nan"), float("nan"))
        for name, v in draws.items()
    }


def proportion_interval(proportion: float, units: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact binomial) interval for a proportion observed over ``units`` independent units.

    Used where the bootstrap collapses: a perfect (or perfectly wrong) score resamples to itself every time, so
    its bootstrap interval is a point. Videos of one surgeon are not independent, so ``units`` is the number
    of surgeons and the successes ``proportion * units`` (fractional when surgeons hold several videos; the
    beta-quantile form of the interval takes that). 8 surgeons all right: 0.631 to 1.
    """
    if units < 1:
        return float("nan"), float("nan")
    k = float(np.clip(proportion, 0.0, 1.0)) * units
    alpha = 1.0 - confidence
    low = 0.0 if k <= 0 else float(stats.beta.ppf(alpha / 2, k, units - k + 1))
    high = 1.0 if k >= units else float(stats.beta.ppf(1 - alpha / 2, k + 1, units - k))
    return low, high


def exact_at_the_edges(
    point: float,
    interval: tuple[float, float],
    errors: int,
    successes: int,
    units: int,
    unit_name: str,
    confidence: float = 0.95,
) -> tuple[tuple[float, float], str | None]:
    """A proportion's interval where the bootstrap collapses (0 or 1 errors, or successes): the wider of the
    bootstrap's and a Clopper-Pearson interval over ``units`` (surgeons), with how it was made; otherwise the
    bootstrap interval unchanged and ``None``."""
    if min(errors, successes) > 1 or not np.isfinite(point):
        return interval, None
    exact = proportion_interval(point, units, confidence)
    low, high = interval
    low = exact[0] if not np.isfinite(low) else min(low, exact[0])
    high = exact[1] if not np.isfinite(high) else max(high, exact[1])
    count = errors if errors <= successes else successes
    what = "error" if errors <= successes else "right answer"
    return (low, high), (
        f"with {count} {what}{'s' if count != 1 else ''} the bootstrap collapses, so the interval is the wider of "
        f"it and a Clopper-Pearson interval over {units} {unit_name}"
    )


def headline_intervals(
    labels,
    values,
    subjects: Sequence[str],
    threshold: float | None = None,
    regression: bool = False,
    *,
    samples: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, tuple[float, float]], dict[str, str]]:
    """95 % intervals of the headline metrics, and how the unusual ones were made.

    Percentile bootstrap resampling whole subjects (videos when any subject is unknown). At the edges, where
    every resample of a (nearly) perfect score is perfect too, accuracy and balanced accuracy get an exact
    interval over surgeons (:func:`exact_at_the_edges`: 40 right videos of 8 surgeons give 0.631 to 1, not
    1 to 1); any other metric whose resamples all agree (a perfect ROC-AUC), and whose collapsed interval would
    claim certainty, is reported undefined with the reason.
    """
    labels = np.asarray(labels)
    values = np.asarray(values, dtype=np.float64)
    groups = list(subjects) if all(subjects) else None
    if regression:

        def compute(idx):
            return regression_metrics(labels[idx], values[idx, 0])

        names = HEADLINE_REGRESSION
    else:

        def compute(idx):
            return headline_classification(labels[idx], values[idx], threshold)

        names = HEADLINE_CLASSIFICATION
    intervals = bootstrap_intervals(compute, len(labels), groups, names=names, samples=samples, seed=seed)
    methods: dict[str, str] = {}
    full = compute(np.arange(len(labels)))
    if not regression:
        correct = predict_labels(values, threshold) == labels.astype(np.int64)
        errors, successes = int((~correct).sum()), int(correct.sum())
        units = len(set(subjects)) if groups else len(labels)
        for name in ("accuracy", "balanced_accuracy"):
            intervals[name], method = exact_at_the_edges(
                full[name], intervals[name], errors, successes, units, "surgeons" if groups else "videos"
            )
            if method:
                methods[name] = method
    for name in names:
        low, high = intervals[name]
        if name in methods or not np.isfinite(low):
            continue
        if np.isclose(low, high):
            intervals[name] = (float("nan"), float("nan"))
            methods[name] = f"undefined: every resample gave {low:.3f}, which says nothing about its uncertainty" + (
                "" if regression else "; read the accuracy interval"
            )
        elif "accuracy" in methods:  # the accuracy interval had to be made exact: this one is too narrow
            methods[name] = "bootstrap, too narrow with so few errors (or right answers); read the accuracy interval"
    return intervals, methods


def headline_classification(labels, probabilities, threshold: float | None = None) -> dict[str, float]:
    """The headline metrics only (``HEADLINE_CLASSIFICATION``), from the confusion matrix in NumPy: the same
    numbers as :func:`classification_metrics`, fast enough for a thousand bootstrap resamples."""
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = _probabilities(probabilities)
    k = probabilities.shape[1]
    predictions = predict_labels(probabilities, threshold)
    confusion = np.bincount(labels * k + predictions, minlength=k * k).reshape(k, k).astype(np.float64)
    n = confusion.sum()
    true_counts, predicted_counts, hits = confusion.sum(1), confusion.sum(0), np.diag(confusion)
    recall = np.divide(hits, true_counts, out=np.zeros(k), where=true_counts > 0)
    precision = np.divide(hits, predicted_counts, out=np.zeros(k), where=predicted_counts > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=(precision + recall) > 0)
    expected = (true_counts @ predicted_counts) / n
    kappa = (hits.sum() - expected) / (n - expected) if n != expected else float("nan")
    covariance = hits.sum() * n - true_counts @ predicted_counts
    spread = np.sqrt((n**2 - predicted_counts @ predicted_counts) * (n**2 - true_counts @ true_counts))
    out = {
        "accuracy": hits.sum() / n,
        "balanced_accuracy": recall[true_counts > 0].mean(),
        "f1_macro": f1[true_counts > 0].mean(),  # over the classes with videos, as classification_metrics
        "cohen_kappa": kappa,
        "mcc": covariance / spread if spread else 0.0,
    }
    if k == 2:
        out["roc_auc"] = _binary_auc(labels == 1, probabilities[:, 1])
    elif len(np.unique(labels)) == k:
        out["roc_auc"] = float(np.mean([_binary_auc(labels == c, probabilities[:, c]) for c in range(k)]))
    else:
        out["roc_auc"] = float("nan")
    return {name: float(value) for name, value in out.items()}


def _binary_auc(truth: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic (ties count half), NaN when one class is absent."""
    positives = int(truth.sum())
    negatives = len(truth) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = stats.rankdata(scores)
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def youden_threshold(labels: Sequence[int], positive_probability: Sequence[float]) -> float:
    """The threshold on p(class 1) that maximises sensitivity + specificity - 1 (Youden's J), for choosing the
    operating point on a validation split (never on the test split).

    Candidates are the midpoints between consecutive distinct scores (and 0.5); among equally good ones the
    closest to 0.5 wins, so a perfectly separated validation split does not push the threshold to an extreme.
    """
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(positive_probability, dtype=np.float64)
    if len(np.unique(labels)) < 2:
        return 0.5
    distinct = np.unique(scores)
    candidates = np.unique(np.concatenate([(distinct[1:] + distinct[:-1]) / 2, [0.5]]))
    positives, negatives = labels == 1, labels == 0
    sensitivity = (scores[None, :] >= candidates[:, None])[:, positives].mean(1)
    specificity = (scores[None, :] < candidates[:, None])[:, negatives].mean(1)
    j = sensitivity + specificity - 1
    best = np.flatnonzero(np.isclose(j, j.max()))
    return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])


# --- the figures the skill-assessment field reports: several score targets, ordinal classes ----------------------

FISHER_Z_BOUND = 0.9999
"""|r| above this is clipped before arctanh in :func:`fisher_z_mean` (arctanh(0.9999) = 4.95), so one perfect
correlation among others cannot turn the average into ±1 through an infinite z."""


def fisher_z_mean(correlations, weights=None) -> float:
    """The average of correlations through Fisher's z: ``tanh(sum_i w_i atanh(r_i) / sum_i w_i)``.

    Averaging r directly underestimates the common correlation (r is bounded, its sampling distribution skewed);
    z = atanh(r) is approximately normal with variance 1 / (n - 3), so ``weights=n - 3`` gives the
    inverse-variance average (Fisher 1921; Silver & Dunlap 1987, "Averaging correlation coefficients: should
    Fisher's z transformation be used?", J. Appl. Psychol. 72(1)). Used over the targets of one model (OSATS
    items) and over tasks (JIGSAWS' suturing, needle passing, knot tying), as the field reports it.
    Equal weights when ``weights`` is None. NaN correlations (a constant column) and their weights are skipped;
    all NaN gives NaN. ``|r| = 1``: when every remaining r is the same ±1 the result is exactly that ±1;
    otherwise each r is clipped to ``±FISHER_Z_BOUND`` (0.9999) first, so the average stays finite.
    """
    r = np.asarray(correlations, dtype=np.float64).reshape(-1)
    w = np.ones_like(r) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != r.shape:
        raise ValueError(f"{len(w)} weights for {len(r)} correlations")
    if np.any(np.abs(r[np.isfinite(r)]) > 1 + 1e-12):
        raise ValueError(f"correlations must lie in [-1, 1], got {r.tolist()}")
    keep = np.isfinite(r) & np.isfinite(w)
    r, w = r[keep], w[keep]
    if np.any(w < 0):
        raise ValueError("weights must not be negative")
    if len(r) == 0 or w.sum() <= 0:
        return float("nan")
    if np.all(np.abs(r) >= 1) and np.all(np.sign(r) == np.sign(r[0])):
        return float(np.sign(r[0]))
    z = np.arctanh(np.clip(r, -FISHER_Z_BOUND, FISHER_Z_BOUND))
    return float(np.tanh(np.sum(w * z) / np.sum(w)))


def _columns(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(f"{name} must be (N, K), got shape {values.shape}")
    return values


def _target_names(names: Sequence[str] | None, count: int) -> list[str]:
    names = [f"target_{k}" for k in range(count)] if names is None else [str(n) for n in names]
    if len(names) != count:
        raise ValueError(f"{len(names)} target names for {count} targets")
    if len(set(names)) != len(names):
        raise ValueError(f"target names repeat: {names}")
    return names


def multi_target_regression_metrics(targets, predictions, names: Sequence[str] | None = None) -> dict[str, float]:
    """MAE, RMSE (in each score's own units), Pearson and Spearman of each of K score targets (e.g. the OSATS
    items and the GRS), as ``"<name>/<metric>"``, and over the targets: ``mae_mean``, ``rmse_mean`` and the
    Fisher-z means of the correlations ``spearman_fisher_z``, ``pearson_fisher_z`` (:func:`fisher_z_mean`).

    ``targets`` and ``predictions`` are (N, K); ``names`` default to ``target_0`` ... Each target is computed by
    :func:`regression_metrics` on the rows where both its reference and its prediction are present (a NaN
    reference is a missing rating); a constant column has NaN correlations, which the Fisher-z mean skips, and a
    target without a single present row has NaN everywhere and is left out of ``mae_mean``/``rmse_mean``.
    """
    targets, predictions = _columns(targets, "targets"), _columns(predictions, "predictions")
    if targets.shape != predictions.shape:
        raise ValueError(f"targets {targets.shape} and predictions {predictions.shape} differ in shape")
    names = _target_names(names, targets.shape[1])
    out: dict[str, float] = {}
    per_metric: dict[str, list[float]] = {metric: [] for metric in HEADLINE_REGRESSION}
    for k, name in enumerate(names):
        present = np.isfinite(targets[:, k]) & np.isfinite(predictions[:, k])
        if present.sum() == 0:
            values = {metric: float("nan") for metric in HEADLINE_REGRESSION}
        else:
            values = regression_metrics(targets[present, k], predictions[present, k])
        for metric in HEADLINE_REGRESSION:
            out[f"{name}/{metric}"] = values[metric]
            per_metric[metric].append(values[metric])
    for metric in ("mae", "rmse"):
        finite = [v for v in per_metric[metric] if np.isfinite(v)]
        out[f"{metric}_mean"] = float(np.mean(finite)) if finite else float("nan")
    out["spearman_fisher_z"] = fisher_z_mean(per_metric["spearman"])
    out["pearson_fisher_z"] = fisher_z_mean(per_metric["pearson"])
    return out


def multi_target_intervals(
    targets,
    predictions,
    names: Sequence[str] | None = None,
    groups: Sequence | None = None,
    *,
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of each target's Spearman and Pearson and of their Fisher-z means, from
    :func:`bootstrap_intervals`: whole ``groups`` (subjects) resampled with replacement when given, else rows.
    Keys as in :func:`multi_target_regression_metrics`; an interval is NaN when fewer than half the resamples
    give a finite value (e.g. a target that is constant in most resamples)."""
    targets, predictions = _columns(targets, "targets"), _columns(predictions, "predictions")
    names = _target_names(names, targets.shape[1])
    wanted = [f"{n}/{m}" for n in names for m in ("spearman", "pearson")] + ["spearman_fisher_z", "pearson_fisher_z"]

    def compute(indices: np.ndarray) -> dict[str, float]:
        return _target_correlations(targets[indices], predictions[indices], names)

    return bootstrap_intervals(
        compute, len(targets), groups, names=wanted, samples=samples, confidence=confidence, seed=seed
    )


def _target_correlations(targets: np.ndarray, predictions: np.ndarray, names: list[str]) -> dict[str, float]:
    """Each target's Pearson and Spearman and their Fisher-z means, the numbers of
    :func:`multi_target_regression_metrics` (Spearman as the Pearson of average ranks, as SciPy computes it) in
    plain NumPy: well under a millisecond a target, fast enough for a thousand bootstrap resamples."""
    out: dict[str, float] = {}
    for k, name in enumerate(names):
        present = np.isfinite(targets[:, k]) & np.isfinite(predictions[:, k])
        a, b = targets[present, k], predictions[present, k]
        constant = len(a) == 0 or np.ptp(a) == 0 or np.ptp(b) == 0
        out[f"{name}/pearson"] = float("nan") if constant else _pearson(a, b)
        out[f"{name}/spearman"] = float("nan") if constant else _pearson(stats.rankdata(a), stats.rankdata(b))
    for metric in ("spearman", "pearson"):
        out[f"{metric}_fisher_z"] = fisher_z_mean([out[f"{name}/{metric}"] for name in names])
    return out


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float(np.clip((a @ b) / np.sqrt((a @ a) * (b @ b)), -1.0, 1.0))


def _class_decisions(predictions, num_classes: int | None) -> tuple[np.ndarray, int | None]:
    """Class ids from (N, C) probabilities (argmax: the most probable class) or from (N,) class ids."""
    predictions = np.asarray(predictions)
    if predictions.ndim == 2:
        return _probabilities(predictions).argmax(1), predictions.shape[1]
    if predictions.ndim != 1:
        raise ValueError(f"predictions must be (N,) class ids or (N, C) probabilities, got {predictions.shape}")
    as_float = predictions.astype(np.float64)
    if not np.all((as_float == np.round(as_float)) & (as_float >= 0)):
        raise ValueError("predicted classes must be class ids 0, 1, ... (pass (N, C) probabilities for argmax)")
    return predictions.astype(np.int64), num_classes


def absolute_class_costs(num_classes: int) -> np.ndarray:
    """The ordinal cost matrix ``c[i, j] = |i - j|``: deciding class j for an item of class i costs the number of
    classes between them (0 on the diagonal)."""
    classes = np.arange(num_classes)
    return np.abs(classes[:, None] - classes[None, :]).astype(np.float64)


def expected_cost(labels, predictions, costs=None, priors=None, num_classes: int | None = None) -> float:
    """Expected Cost of class decisions (Ferrer, "Analysis and Comparison of Classification Metrics",
    arXiv:2209.05355; recommended in Maier-Hein et al. 2024, "Metrics reloaded", Nat. Methods 21):

        EC = sum_i P_i sum_j c[i, j] R[i, j],    R[i, j] = (items of class i decided j) / (items of class i)

    ``costs`` default to :func:`absolute_class_costs` (|i - j|), ``priors`` P to the classes' frequencies in
    ``labels``, with which EC is the mean cost per item, ``mean_n c[y_n, yhat_n]``: for |i - j| costs, the mean
    absolute class distance. ``predictions`` are (N,) class ids or (N, C) probabilities, decided by argmax.
    Classes without items contribute nothing (their R row is undefined and their prior must be 0).
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    decided, num_classes = _class_decisions(predictions, num_classes)
    if len(decided) != len(labels):
        raise ValueError(f"{len(decided)} predictions for {len(labels)} labels")
    if len(labels) == 0:
        return float("nan")
    count = max(int(labels.max()), int(decided.max())) + 1
    num_classes = count if num_classes is None else max(num_classes, count)
    costs = absolute_class_costs(num_classes) if costs is None else np.asarray(costs, dtype=np.float64)
    if costs.shape != (num_classes, num_classes):
        raise ValueError(f"costs must be ({num_classes}, {num_classes}), got {costs.shape}")
    confusion = np.bincount(labels * num_classes + decided, minlength=num_classes**2).reshape(num_classes, -1)
    support = confusion.sum(1)
    rates = np.divide(confusion, support[:, None], out=np.zeros(confusion.shape), where=support[:, None] > 0)
    if priors is None:
        priors = support / support.sum()
    priors = np.asarray(priors, dtype=np.float64)
    if priors.shape != (num_classes,) or not np.isclose(priors.sum(), 1.0) or np.any(priors[support == 0] > 0):
        raise ValueError(f"priors must be {num_classes} probabilities, 0 for classes without items: {priors}")
    return float(priors @ (costs * rates).sum(1))


def ordinal_metrics(labels, predictions, num_classes: int | None = None, costs=None) -> dict[str, float]:
    """The figures reported for ordered skill classes (e.g. the OSS challenge's four GRS classes, novice to
    expert): accuracy, quadratic-weighted Cohen's kappa and macro F1 (scikit-learn), the Expected Cost
    (:func:`expected_cost`, |i - j| costs unless ``costs`` is given) and the ``mean_absolute_class_error``
    (always mean |true - decided|; equal to ``expected_cost`` with the default costs).

    ``predictions`` are (N, C) probabilities, decided by argmax (the most probable class, as
    :func:`classification_metrics` without a threshold), or (N,) class ids. Macro F1 averages the classes
    present in ``labels``, as :func:`classification_metrics`; kappa is NaN when it is undefined (one class
    everywhere).
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    decided, num_classes = _class_decisions(predictions, num_classes)
    if len(decided) != len(labels):
        raise ValueError(f"{len(decided)} predictions for {len(labels)} labels")
    count = max(int(labels.max()), int(decided.max())) + 1 if len(labels) else 1
    num_classes = count if num_classes is None else max(num_classes, count)
    classes = list(range(num_classes))
    present = sorted(set(labels.tolist()))
    return {
        "accuracy": float(skm.accuracy_score(labels, decided)),
        "quadratic_kappa": float(_quiet(skm.cohen_kappa_score, labels, decided, labels=classes, weights="quadratic")),
        "f1_macro": float(skm.f1_score(labels, decided, average="macro", labels=present, zero_division=0)),
        "expected_cost": expected_cost(labels, decided, costs, num_classes=num_classes),
        "mean_absolute_class_error": float(np.mean(np.abs(labels - decided))),
    }
