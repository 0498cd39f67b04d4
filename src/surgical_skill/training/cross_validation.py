"""Cross-validation: one model per grouped fold (``cv_folds: K``) or per held-out surgeon
(``cv: leave-one-subject-out``), then a summary with mean ± std over folds and pooled out-of-fold metrics.

With tens of videos a single test split says little; every video is scored once by a model that never saw
its surgeon, and the pooled predictions give one set of metrics with bootstrap intervals.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict, concatenate_datasets

from ..data.building import warn_missing_classes
from ..data.public import PROTOCOLS
from ..data.splits import (
    SkillDatasetError,
    kfold_splits,
    leave_one_subject_out,
    make_splits,
    predefined_folds,
    subject_groups,
)
from ..evaluation.evaluate import ORDINAL_FIGURES, named_score_metrics, ordinal_figures
from ..evaluation.formatting import csv_text, finite_or_none, fmt
from ..evaluation.metrics import (
    HEADLINE_CLASSIFICATION,
    HEADLINE_REGRESSION,
    classification_metrics,
    headline_intervals,
    regression_metrics,
)
from ..evaluation.report import score_columns
from ..files import staged_folder, write_json_atomic, write_text_atomic
from ..markup import markdown_inline
from .arguments import DataArguments


def cross_validation_folds(data: DatasetDict, args: DataArguments) -> Iterator[tuple[str, DatasetDict]]:
    """Yield ``(fold name, DatasetDict(train, validation, test))`` for the recipe's cross-validation.

    Every split of ``data`` is pooled first; each fold's ``test`` is held out by whole subjects, and
    ``cv_validation_share`` of the remaining subjects is held out as ``validation`` (early stopping, best
    model, the binary decision threshold), so nothing about the test fold is tuned on it.

    Every fold is made before the first is yielded, so too few subjects (for the folds, or for a validation
    part in each fold) is refused, with the counts, before any fold trains.

    Raises:
        SkillDatasetError: fewer subjects than ``cv_folds``, fewer than two for leave-one-subject-out, or a fold
            whose training part has too few subjects to hold some out for validation.
    """
    folds = list(_folds(data, args))
    for name, fold in folds:
        # a held-out part of one class is expected (a surgeon rated one way); a training part without one is not
        warn_missing_classes(DatasetDict({k: v for k, v in fold.items() if k != "test"}), f"cross-validation {name}")
    yield from folds


def _folds(data: DatasetDict, args: DataArguments) -> Iterator[tuple[str, DatasetDict]]:
    pool = concatenate_datasets(list(data.values())) if len(data) > 1 else next(iter(data.values()))
    if args.cv in PROTOCOLS:
        dataset_format, column = PROTOCOLS[args.cv]
        if column not in pool.column_names:
            raise SkillDatasetError(
                f"cv: {args.cv} holds out the folds of the {dataset_format} protocol, but {args.dataset} was not read "
                f"as a {dataset_format} tree (its rows have no {column!r}): point dataset at the dataset's folder as "
                f"distributed (dataset_format: {dataset_format})"
                + (" and give cv_fold_file" if args.cv == "jigsaws-4fold" else "")
            )
        folds = ((_slug(name), train, held) for name, train, held in predefined_folds(pool, column))
    elif args.cv == "leave-one-subject-out":
        folds = ((f"subject-{_slug(subject)}", train, held) for subject, train, held in leave_one_subject_out(pool))
    else:
        folds = (
            (f"fold-{fold + 1}", train, held)
            for fold, train, held in kfold_splits(pool, args.cv_folds, seed=args.split_seed)
        )
    used: set[str] = set()
    for name, train, held in folds:
        unique, n = name, 1
        while unique in used:  # subjects "A B" and "A_B" make the same folder name
            n += 1
            unique = f"{name}-{n}"
        used.add(unique)
        name = unique
        share = args.cv_validation_share
        if share and len(set(subject_groups(train))) < 2:
            raise SkillDatasetError(
                f"cross-validation {name} trains on {len(train)} videos of a single subject, so none can be held "
                f"out for validation (cv_validation_share: {share:g}); the dataset has "
                f"{len(set(subject_groups(pool)))} subjects. Add subjects, use fewer folds, or set "
                "cv_validation_share: 0 (no validation: the last epoch's model is kept)"
            )
        parts = make_splits(train, (1 - share, share, 0.0), seed=args.split_seed) if share else {"train": train}
        yield name, DatasetDict({**parts, "test": held})


PROTOCOL_NAMES = {
    "kfold": "grouped k-fold cross-validation (folds hold out whole surgeons)",
    "leave-one-subject-out": "leave-one-subject-out cross-validation (each fold holds out one surgeon)",
    "jigsaws-louo": "JIGSAWS leave-one-user-out (LOUO: each fold holds out one user's trials)",
    "jigsaws-loso": "JIGSAWS leave-one-supertrial-out (LOSO: each fold holds out the same-numbered trial of every "
    "user)",
    "jigsaws-4fold": "JIGSAWS four folds from a fold file (the AQA literature's scheme)",
}


def protocol_description(args: DataArguments) -> dict[str, Any]:
    """What a cross-validation run's figures mean: the protocol's name and description, where its folds came
    from (for a published protocol: the dataset's official split files, the trial names, or the fold file), and
    whether held-out surgeons can also be in training (LOSO: by design)."""
    description = {"name": args.cv, "description": PROTOCOL_NAMES.get(args.cv, args.cv), "fold_source": None}
    if args.cv in PROTOCOLS:
        from ..data.public import read_public_dataset

        dataset_format = PROTOCOLS[args.cv][0]
        options = {"task": args.task, "view": args.view, "fold_file": args.cv_fold_file, **args.dataset_options}
        public = read_public_dataset(args.dataset, args.dataset_format or dataset_format, **options)
        description["fold_source"] = public.protocol_sources.get(args.cv)
    # said for certain once the folds are made (record_fold): LOSO shares by design, a fold file may
    description["surgeons_held_out"] = args.cv != "jigsaws-loso"
    description["folds_sharing_surgeons"] = []
    return description


def record_fold(protocol: dict[str, Any], name: str, fold: DatasetDict, args: DataArguments) -> str:
    """Note in ``protocol`` (from :func:`protocol_description`) whether fold ``name`` shares surgeons between its
    test part and the rest, and return the sentence its report states (:func:`fold_protocol`)."""
    if shared_surgeons(fold) and name not in protocol["folds_sharing_surgeons"]:
        protocol["folds_sharing_surgeons"].append(name)
    protocol["surgeons_held_out"] = not protocol["folds_sharing_surgeons"]
    return fold_protocol(name, fold, args, protocol["fold_source"])


def shared_surgeons(fold: DatasetDict) -> list[str]:
    """The surgeons of a fold's ``test`` part who are also in its ``train`` or ``validation`` part (LOSO, a fold
    file that mixes a surgeon's trials), sorted."""
    tested = {s for s in fold["test"]["subject"] if s}
    seen = set()
    for part in ("train", "validation"):
        if part in fold:
            seen |= {s for s in fold[part]["subject"] if s}
    return sorted(tested & seen)


def fold_protocol(name: str, fold: DatasetDict, args: DataArguments, source: str | None = None) -> str:
    """The sentence a fold's report states as its protocol: which protocol, which fold, what it holds out, and
    whether its surgeons also trained or selected the model."""
    test = fold["test"]
    tested = {s for s in test["subject"] if s}
    shared = shared_surgeons(fold)
    sentence = (
        f"{PROTOCOL_NAMES.get(args.cv, args.cv)}, fold {name}"
        + (f" (folds: {source})" if source else "")
        + f": {len(test)} held-out videos"
        + (f" of {len(tested)} surgeon{'s' if len(tested) != 1 else ''}" if tested else "")
    )
    if shared:
        shown = ", ".join(shared[:10]) + (" ..." if len(shared) > 10 else "")
        return (
            sentence + f". Surgeons {shown} also trained or selected this model (on their other trials): these "
            "figures are for new trials of known surgeons, not for new surgeons."
        )
    return sentence + " that the model never saw in training or validation."


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(value)).strip("_") or "unknown"


def summarize_cross_validation(
    results: dict[str, Any],
    output_dir: str | os.PathLike,
    *,
    bootstrap_samples: int = 1000,
    seed: int = 0,
    protocol: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write ``summary.json``, ``summary.md`` and ``oof_predictions.csv`` into ``output_dir`` (atomically) from
    each fold's :class:`~surgical_skill.evaluation.evaluate.EvaluationResult`; returns the summary.

    An existing ``output_dir`` is replaced only when it is an earlier summary (the toolkit's folder marker, or
    only a summary's files) or empty, or with ``overwrite``; otherwise a UsageError, before anything is written.

    Per-fold metrics use each fold's own decision threshold (chosen on its validation part); the pooled
    out-of-fold metrics are computed once over every held-out video, with bootstrap intervals resampled by
    subject, and decide by the largest probability (fold thresholds are not comparable across folds).
    """
    first = next(iter(results.values()))
    regression = first.regression
    named = getattr(first, "multi_target", False)
    ordinal = getattr(first, "ordinal", False)
    predictions = [(name, p) for name, result in results.items() for p in result.predictions]
    subjects = [p.subject for _, p in predictions]
    groups = subjects if all(subjects) else None
    if named:  # several named scores: each score's figures and the Fisher-z headline, as each fold's report
        truths = np.asarray([p.label for _, p in predictions], dtype=np.float64).reshape(len(predictions), -1)
        values = np.asarray([p.probabilities for _, p in predictions], dtype=np.float64)
        pooled, intervals, methods, _ = named_score_metrics(
            truths, values, first.label_names, first.targets, subjects, samples=bootstrap_samples, seed=seed
        )
        headline = (*NAMED_SCORE_HEADLINE, *(f"{n}/{m}" for n in first.label_names for m in ("spearman", "mae")))
        headline = tuple(m for m in headline if m in pooled)
    else:
        headline = HEADLINE_REGRESSION if regression else HEADLINE_CLASSIFICATION
        labels = np.asarray([p.label for _, p in predictions])
        values = np.asarray([p.probabilities for _, p in predictions])
        pooled = regression_metrics(labels, values[:, 0]) if regression else classification_metrics(labels, values)
        intervals, methods = headline_intervals(
            labels, values, subjects, None, regression, samples=bootstrap_samples, seed=seed
        )
        if ordinal:  # ordered classes: the challenge's figures too (quadratic kappa, Expected Cost, class error)
            figures, figure_intervals = ordinal_figures(
                labels, values, None, subjects, samples=bootstrap_samples, seed=seed
            )
            pooled, intervals = {**pooled, **figures}, {**intervals, **figure_intervals}
            headline = (*headline, *(m for m in ORDINAL_FIGURES if m not in headline))
    per_fold = {name: _fold_metrics(result, headline, regression) for name, result in results.items()}
    summary = {
        "protocol": protocol,
        "folds": len(results),
        "videos": len(predictions),
        "labels": first.label_names,
        "task": "regression" if regression else "classification",
        **({"targets": list(first.targets)} if named else {}),
        "per_fold": per_fold,
        "mean": {m: _finite_stat(np.mean, [f[m] for f in per_fold.values()]) for m in headline},
        "std": {m: _finite_stat(np.std, [f[m] for f in per_fold.values()], ddof=1) for m in headline},
        "pooled": {m: finite_or_none(pooled.get(m)) for m in headline},
        "pooled_confidence_intervals_95": {m: [finite_or_none(v) for v in intervals[m]] for m in headline},
        "pooled_interval_methods": methods,
        "bootstrap": {"samples": bootstrap_samples, "resampled_by": "subject" if groups else "video"},
    }
    # what the field reports: accuracy for classes (N/I/E), Spearman's rho for scores (GRS), its Fisher-z mean over
    # several scores (the items of a rating)
    field = "spearman_fisher_z" if named else ("spearman" if regression else "accuracy")
    summary["field_figure"] = {
        "metric": field,
        "mean_over_folds": summary["mean"][field],
        "pooled": summary["pooled"][field],
        "pooled_interval": summary["pooled_confidence_intervals_95"][field],
    }
    with staged_folder(output_dir, kind=CV_KIND, overwrite=overwrite, legacy=CV_LEGACY) as tmp:
        write_json_atomic(tmp / "summary.json", summary)
        _write_oof_predictions(tmp / "oof_predictions.csv", predictions, first.label_names, regression, named)
        write_text_atomic(tmp / "summary.md", _summary_markdown(summary, headline))
    return summary


CV_KIND = "cross-validation"  # the kind in the summary folder's marker
CV_LEGACY = ("summary.json", "summary.md", "oof_predictions.csv")  # a summary folder written before markers


class _SafeWriter:
    """A csv writer whose string cells cannot run as spreadsheet formulas (subjects and labels are data)."""

    def __init__(self, handle) -> None:
        self._writer = csv.writer(handle)

    def writerow(self, row) -> None:
        self._writer.writerow([csv_text(cell) for cell in row])


def _write_oof_predictions(path: Path, predictions, names: list[str], regression: bool, named: bool = False) -> None:
    # rows covering segments (phases of one video) say which frames, as predictions.csv does
    segments = any(getattr(p, "segment", None) for _, p in predictions)
    with path.open("w", newline="") as handle:
        writer = _SafeWriter(handle)
        frames = ["segment_start", "segment_end"] if segments else []
        if named:  # a true and a predicted column per named score, as each fold's predictions.csv
            writer.writerow(["fold", "video", *frames, "subject", *(c for n in names for c in score_columns(n))])
            for fold, p in predictions:
                where = list(p.segment or ("", "")) if segments else []
                pairs = [v for t, v in zip(p.label, p.probabilities) for v in (_cell(t), round(v, 6))]
                writer.writerow([fold, p.video, *where, p.subject, *pairs])
            return
        writer.writerow(["fold", "video", *frames, "subject", "label", *(f"p_{n}" for n in names)])
        for fold, p in predictions:
            label = p.label if regression else names[int(p.label)]
            where = list(p.segment or ("", "")) if segments else []
            writer.writerow([fold, p.video, *where, p.subject, label, *(round(v, 6) for v in p.probabilities)])


def _cell(value: float) -> float | str:
    """A true score for a CSV cell: empty where the dataset has none."""
    return "" if value is None or not np.isfinite(value) else round(float(value), 6)


# The headline of several named scores: Spearman's Fisher-z mean over the scores, then the mean errors
NAMED_SCORE_HEADLINE = ("spearman_fisher_z", "pearson_fisher_z", "mae_mean", "rmse_mean")

# Metrics that compare classes: on a fold holding out one class only (a surgeon rated one way, in
# leave-one-subject-out) they are undefined or degenerate (macro F1 0.5, MCC 0 for perfect predictions).
CLASS_DEPENDENT = ("balanced_accuracy", "f1_macro", "roc_auc", "cohen_kappa", "mcc")


def _fold_metrics(result, headline, regression: bool) -> dict[str, float | None]:
    metrics = {m: finite_or_none(result.metrics.get(m)) for m in headline}
    if not regression and len({int(p.label) for p in result.predictions}) < 2:
        metrics.update({m: None for m in CLASS_DEPENDENT if m in metrics})
    return metrics


def _finite_stat(fn, values, ddof: int = 0) -> float | None:
    """``fn`` over the folds where the metric is defined (None when fewer than ``ddof + 1`` are)."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    if len(finite) <= ddof:
        return None
    return float(fn(np.asarray(finite, dtype=np.float64), **({"ddof": ddof} if ddof else {})))


def _sharing_sentence(summary: dict[str, Any]) -> str:
    protocol = summary.get("protocol") or {}
    sharing = protocol.get("folds_sharing_surgeons") or []
    if not sharing:
        return "No fold's held-out surgeons trained or selected its model."
    return (
        f"In {len(sharing)} of {summary['folds']} folds ({', '.join(markdown_inline(f) for f in sharing[:6])}{' ...' if len(sharing) > 6 else ''}) "
        "held-out surgeons also trained or selected the model, on their other videos."
    )


def _summary_markdown(summary: dict[str, Any], headline) -> str:
    lines = [f"# Cross-validation: {summary['folds']} folds, {summary['videos']} held-out videos", ""]
    protocol = summary.get("protocol")
    if protocol:
        lines.append(
            f"Protocol: {markdown_inline(protocol['description'])}"
            + (f"; folds: {markdown_inline(protocol['fold_source'])}" if protocol.get("fold_source") else "")
            + "."
            + (
                ""
                if protocol.get("surgeons_held_out", True)
                else " The same surgeons are in training and test (their other trials): the figures are for new "
                "trials of known surgeons, not new surgeons (leave-one-user-out is the protocol for those)."
            )
        )
    field = summary["field_figure"]
    lines += [
        f"The field's figure: {field['metric'].replace('_', ' ')} {fmt(field['mean_over_folds'])} as the mean over "
        f"folds (what most papers report) and {fmt(field['pooled'])} pooled over every held-out video (95 % "
        f"interval {fmt(field['pooled_interval'][0])} to {fmt(field['pooled_interval'][1])}).",
        "",
        "| metric | mean ± std over folds | pooled out-of-fold | 95 % interval (pooled) |",
        "|---|---|---|---|",
    ]
    for m in headline:
        low, high = summary["pooled_confidence_intervals_95"][m]
        lines.append(
            f"| {_md_metric(m)} | {fmt(summary['mean'][m])} ± {fmt(summary['std'][m])} | "
            f"{fmt(summary['pooled'][m])} | {fmt(low)} to {fmt(high)} |"
        )
    lines += [
        "",
        f"Pooled intervals: percentile bootstrap, {summary['bootstrap']['samples']} resamples of whole "
        f"{summary['bootstrap']['resampled_by']}s. {_sharing_sentence(summary)}"
        + (
            ""
            if summary.get("task") == "regression"
            else " On a fold whose held-out videos are all one class, the metrics that compare classes (balanced "
            "accuracy, F1, ROC-AUC, kappa, MCC) are undefined and left out of the mean (n/a); the pooled metrics "
            "include every video. Per-fold metrics decide with each fold's own threshold (chosen on its validation "
            "surgeons); the pooled ones by the largest probability, since fold thresholds are not comparable."
        )
        + (
            " Over several scores the headline is Spearman's rho averaged through Fisher's z over the model's own "
            "scores (a reported sum is not in it: it would count its items twice); each score's own figures follow."
            if summary.get("targets")
            else ""
        ),
        *(
            f"The pooled {_md_metric(m)} interval: {markdown_inline(how)}."
            for m, how in summary["pooled_interval_methods"].items()
        ),
        "",
        "| fold | " + " | ".join(_md_metric(m) for m in headline) + " |",
        "|---|" + "---|" * len(headline),
    ]
    for fold, values in summary["per_fold"].items():
        lines.append(f"| {markdown_inline(fold)} | " + " | ".join(fmt(values[m]) for m in headline) + " |")
    return "\n".join(lines) + "\n"


def _md_metric(name: str) -> str:
    # a metric of a named score carries the score's name (``<name>/spearman``): the dataset's text
    return markdown_inline(name.replace("_", " "))


def cross_validation_headline(summary: dict[str, Any], where: str | os.PathLike) -> str:
    """One line for the end of a cross-validation run: the field's figure as the mean over folds and pooled,
    with the pooled interval and the protocol."""
    field = summary["field_figure"]
    protocol = summary.get("protocol") or {}
    name = field["metric"].replace("_", " ")
    std = summary["std"].get(field["metric"])
    low, high = field["pooled_interval"]
    return (
        f"cross-validation ({protocol.get('name') or 'folds'}) over {summary['folds']} folds: {name} "
        f"{fmt(field['mean_over_folds'])} ± {fmt(std)} over folds, pooled {fmt(field['pooled'])} (95 % interval "
        f"{fmt(low)} to {fmt(high)}); summary in {where}"
    )
