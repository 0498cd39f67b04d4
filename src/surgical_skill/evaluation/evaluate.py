"""``evaluate_model``: multi-clip inference on every video of a split, video-level metrics with confidence
intervals, and one report folder (metrics, predictions, plots, ``report.md``).

Labels are matched to the model's classes by name (:func:`align_labels`), never by position; the binary
decision threshold is the one chosen on validation and saved with the model (:func:`save_decision_threshold`);
the static baselines (:mod:`~surgical_skill.evaluation.baselines`) are shown beside the model when given.

This module orchestrates; inference lives in :mod:`~surgical_skill.evaluation.inference` and report folders
(writing, reading) in :mod:`~surgical_skill.evaluation.report`. Their public names are importable from here too.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import ClassLabel, Dataset, DatasetDict, concatenate_datasets

from ..data import ClipSampling, clip_input_warnings, score_target_names
from ..data.raters import rater_scores
from ..errors import SurgicalSkillError, UsageError
from ..files import write_json_atomic
from ..models import load_trained_model, load_trained_video_processor
from ..models.heads import is_ordinal, reported_score_names
from ..models.heads import target_names as model_target_names
from ..models.inputs import is_regression_model
from .agreement import metrics_against_raters, rater_agreement
from .baselines import static_baselines_or_none
from .inference import VideoPrediction, decode_notes, named_scores, predict_videos
from .metrics import (
    bootstrap_intervals,
    classification_metrics,
    headline_intervals,
    multi_target_intervals,
    multi_target_regression_metrics,
    ordinal_metrics,
    predict_labels,
    regression_metrics,
    youden_threshold,
)
from .report import (
    FIGURE_TITLES,
    REPORT_MARKER,
    EvaluationResult,
    ReportExistsError,
    check_output_dir,
    headline_summary,
    load_report,
    model_figure,
    write_report,
)

__all__ = [
    "FIGURE_TITLES",
    "REPORT_MARKER",
    "EvaluationResult",
    "LabelMismatchError",
    "ReportExistsError",
    "VideoPrediction",
    "align_labels",
    "check_output_dir",
    "choose_threshold",
    "decision_threshold",
    "evaluate_model",
    "evaluate_run",
    "headline_summary",
    "is_regression_model",
    "load_report",
    "model_figure",
    "model_label_names",
    "parse_label_map",
    "predict_videos",
    "save_decision_threshold",
    "score_predictions",
    "write_report",
]

logger = logging.getLogger(__name__)


class LabelMismatchError(SurgicalSkillError, ValueError):
    """The dataset's classes are not the model's: listing both vocabularies and how to map them."""


# ------------------------------------------------------------------------------------------ labels


def model_label_names(config) -> list[str]:
    """The model's class names in output order; for a score model every score it reports, in output order
    (:func:`~surgical_skill.models.heads.reported_score_names`: its targets, then their sum; ``["score"]`` for
    one unnamed score)."""
    if is_regression_model(config):
        return reported_score_names(config)
    return [str(config.id2label[i]) for i in range(config.num_labels)]


class NothingDecodedError(SurgicalSkillError, RuntimeError):
    """Not one video of the evaluated set could be decoded: there is nothing to score."""


def parse_label_map(text: str | dict[str, str] | None) -> dict[str, str]:
    """``{"novice": "lower-skilled", ...}`` from a dict, a JSON object or ``a=b,c=d``."""
    if not text:
        return {}
    if isinstance(text, dict):
        return {str(k): str(v) for k, v in text.items()}
    text = text.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as err:
            raise UsageError(f"--label-map {text!r} is not valid JSON ({err})") from err
        if not isinstance(parsed, dict):
            raise UsageError(f"a label map must be a JSON object, got {text!r}")
        return {str(k): str(v) for k, v in parsed.items()}
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise UsageError(f"a label map is DATASET_NAME=MODEL_NAME pairs separated by commas, got {text!r}")
    return {a.strip(): b.strip() for a, b in pairs}


def align_labels(dataset: Dataset, config, label_map: dict[str, str] | None = None) -> Dataset:
    """The dataset with its ``labels`` re-coded to the model's class ids, matched by name (case-insensitive, as
    datasets' ``align_labels_with_mapping`` does), never by position. ``label_map`` renames dataset classes
    first (``{"novice": "lower-skilled"}``; several may map to one, which ``align_labels_with_mapping`` cannot).

    Raises:
        LabelMismatchError: a class the model does not know (both vocabularies listed), or classes given to a
            score model (and the reverse).
    """
    feature = dataset.features["labels"]
    model_names = model_label_names(config)
    scores_model, scores_data = is_regression_model(config), not isinstance(feature, ClassLabel)
    if scores_model or scores_data:
        if scores_model != scores_data:
            kind = "scores" if scores_model else f"classes {model_names}"
            raise LabelMismatchError(
                f"the model predicts {kind} but the dataset gives {'scores' if scores_data else 'classes'}"
            )
        check_score_columns(dataset, config)
        return dataset
    renames = {str(k).lower(): str(v) for k, v in (label_map or {}).items()}
    unused = [name for name in renames if name not in {n.lower() for n in feature.names}]
    if unused:
        raise LabelMismatchError(
            f"the label map names classes the dataset does not have: {unused} (the dataset's classes: {feature.names})"
        )
    lowered = {name.lower(): i for i, name in enumerate(model_names)}
    mapped = {name: renames.get(name.lower(), name) for name in feature.names}
    present = {feature.int2str(int(v)) for v in set(dataset["labels"])}
    unknown = [name for name in feature.names if name in present and mapped[name].lower() not in lowered]
    if unknown:
        raise LabelMismatchError(
            f"the dataset's classes {feature.names} do not match the model's {model_names}: "
            f"{', '.join(repr(u) for u in unknown)} unknown to the model. Say which model class each one is "
            "(e.g. --label-map '" + json.dumps({unknown[0]: model_names[-1]}) + "')"
        )
    ids = [lowered.get(mapped[name].lower(), -1) for name in feature.names]
    if ids == list(range(len(model_names))) and len(feature.names) == len(model_names):
        return dataset
    features = dataset.features.copy()
    features["labels"] = ClassLabel(names=model_names)
    return dataset.map(
        lambda batch: {"labels": [ids[v] for v in batch["labels"]]},
        batched=True,
        features=features,
        desc="Matching labels to the model's classes",
    )


def check_score_columns(dataset: Dataset, config) -> None:
    """Refuse, in one line, a dataset that does not give the score model's scores by name: a model of several
    named scores needs each of its targets (the dataset's named scores, or columns of those names, holding
    numbers); a model of one unnamed score needs one score, not several. A reported sum (``score_sum_name``)
    the dataset lacks is not an error: it is left out of the metrics, with a note."""
    fields = score_target_names(dataset)
    names = named_scores(config)
    if names is None:
        if fields is not None:
            raise LabelMismatchError(
                f"the model predicts one score but the dataset gives several named scores ({', '.join(fields)}): "
                "evaluate a model of those scores, or load the dataset with the one score the model predicts"
            )
        return
    targets = model_target_names(config)
    if fields is None and len(targets) == 1 and targets[0] not in dataset.column_names:
        return  # the model's one named score against the dataset's one score (evaluate_model says so)
    available = set(fields or []) | set(dataset.column_names)
    missing = [name for name in targets if name not in available]
    if missing:
        raise LabelMismatchError(
            f"the dataset has no score {', '.join(repr(m) for m in missing)} of the model's scores "
            f"({', '.join(targets)}); its columns: {', '.join(dataset.column_names)}. Load it with "
            f"score_column=[{', '.join(repr(t) for t in targets)}]"
        )
    for name in names:
        if name in (fields or []) or name not in dataset.column_names:
            continue
        for value in dataset[name]:
            if value is None or value == "":
                continue  # no truth for this video: left out of this score's figures
            try:
                float(value)
            except (TypeError, ValueError):
                raise LabelMismatchError(
                    f"the dataset's column {name!r}, read as the model's score {name!r}, holds {value!r}, not a "
                    "number: fix the value or leave the cell empty"
                ) from None


# ------------------------------------------------------------------------------------------ threshold


def decision_threshold(config) -> tuple[float | None, str]:
    """The binary decision threshold saved with the model, and where it came from (None: decide by argmax)."""
    threshold = getattr(config, "decision_threshold", None)
    if threshold is None or config.num_labels != 2 or is_regression_model(config):  # two scores are no classes
        return None, ""
    return float(threshold), _threshold_source(getattr(config, "decision_threshold_info", None) or {})


def _threshold_source(info: dict[str, Any]) -> str:
    where = info.get("chosen_on", "validation data")
    detail = f", {info['videos']} videos" if info.get("videos") else ""
    return f"saved with the model (chosen on {where}{detail}, {info.get('method', 'Youden')})"


def save_decision_threshold(
    model_dir: str | os.PathLike, threshold: float | None, *, chosen_on: str = "", videos: int = 0, subjects: int = 0
) -> str:
    """Write the binary decision threshold into the model folder's ``config.json`` (atomically), so
    ``predict``, the pipeline and ``evaluate`` all decide the way validation chose; ``None`` removes one (the
    model then decides by the largest probability). Returns where the threshold came from, in words."""
    path = Path(model_dir) / "config.json"
    config = json.loads(path.read_text())
    names = config.get("id2label", {})
    if threshold is None:
        config.pop("decision_threshold", None)
        config.pop("decision_threshold_info", None)
    else:
        config["decision_threshold"] = float(threshold)
        config["decision_threshold_info"] = {
            "method": "Youden's J",
            "chosen_on": chosen_on,
            "videos": videos,
            "subjects": subjects,
            "positive_label": names.get("1", "1"),
        }
    write_json_atomic(path, config, sort_keys=True)
    return "" if threshold is None else _threshold_source(config["decision_threshold_info"])


# ------------------------------------------------------------------------------------------ evaluation


def evaluate_model(
    model: torch.nn.Module | str | os.PathLike,
    dataset: Dataset,
    output_dir: str | os.PathLike | None = None,
    *,
    processor: Any = None,
    clips_per_video: int = 8,
    batch_size: int = 16,
    num_workers: int = 2,
    threshold: float | str | None = "model",
    threshold_source: str | None = None,
    label_map: dict[str, str] | None = None,
    bootstrap_samples: int = 1000,
    seed: int = 0,
    split_name: str = "test",
    protocol: str = "",
    baselines: Any = None,
    overwrite: bool = False,
    allow_urls: bool = False,
    root: str | os.PathLike | None = None,
) -> EvaluationResult:
    """Evaluate a model (object or saved folder / Hub id) on a skill dataset split, per video.

    The dataset's classes are matched to the model's by name (``label_map`` renames them first), so a model
    trained with another class order, or data named differently, is scored right or refused with both
    vocabularies listed. For two classes, ``threshold="model"`` (default) decides with the threshold saved
    with the model (chosen on validation; argmax when none was saved), a number decides ``p(class 1) >=
    threshold`` (``threshold_source`` says where it came from, for the report), ``None`` by argmax; it is
    never tuned here.

    Writes to ``output_dir`` (when given; an existing report is replaced only with ``overwrite``, and a folder
    that is not a report never): ``metrics.json`` (every metric, with 95 % intervals for the headline ones:
    bootstrap resampled by subject when subjects are known, Clopper-Pearson over subjects where the bootstrap
    degenerates), ``predictions.csv``, ``misclassified.csv``, ``classification_report.txt``, PNG plots
    (confusion matrices, ROC and precision-recall curves, reliability diagram, clip-score timelines) and
    ``report.md``, with ``protocol`` and the static ``baselines`` (a
    :class:`~surgical_skill.evaluation.baselines.StaticBaselines` of the same videos, or for several named
    scores a dict of them by score) when given.

    A score model's truths are read by name (:func:`check_score_columns` refuses a dataset that lacks one of its
    scores before any video is scored); several named scores are scored each with intervals, under the Fisher-z
    mean of Spearman over the model's targets (:func:`score_predictions`), each with its raters where the rows
    carry every rater's score of it (:func:`rater_reference`), and plotted predicted against true and as residuals,
    one panel per score.

    Video paths are opened as the dataset was built: http(s) URLs only with ``allow_urls``, files inside ``root``
    when given (:func:`~surgical_skill.video.sources.check_source`).
    """
    if output_dir is not None:
        check_output_dir(output_dir, overwrite=overwrite)
    model, processor = _model_and_processor(model, processor)
    dataset = align_labels(dataset, model.config, label_map)
    if threshold == "model":
        threshold, saved_source = decision_threshold(model.config)
        threshold_source = threshold_source or saved_source
    threshold_source = (threshold_source or "given") if threshold is not None else ""
    input_warnings = clip_input_warnings(dataset, ClipSampling.from_video_processor(processor))
    for warning in input_warnings:
        logger.warning(warning)
    predictions = predict_videos(
        model,
        processor,
        dataset,
        clips_per_video=clips_per_video,
        batch_size=batch_size,
        num_workers=num_workers,
        allow_urls=allow_urls,
        root=root,
    )
    if not predictions:
        raise NothingDecodedError(
            f"none of the {len(dataset)} videos to evaluate could be decoded (the warnings above name each one and "
            "why): check that the files are there and readable, e.g. with `surgical-skill probe`"
        )
    result = score_predictions(predictions, model.config, threshold, bootstrap_samples=bootstrap_samples, seed=seed)
    result.notes.extend(input_warnings)  # short videos and other frame rates, for the reader of the report
    result.threshold_source, result.protocol, result.baselines = threshold_source, protocol, baselines
    result.notes += decode_notes(dataset, predictions)
    if result.regression:
        result.notes += _score_source_notes(dataset, model.config)
        references = {
            name: reference
            for k, name in enumerate(result.label_names)
            if (reference := rater_reference(dataset, predictions, name, k)) is not None
        }
        if len(result.label_names) == 1:  # one score: its raters as before, whatever the score is called
            result.raters = next(iter(references.values()), None)
        elif references:
            result.target_raters = references
    if baselines is not None:  # one paired bootstrap per baseline, shared by the report and the summary
        result.baseline_verdicts = baseline_verdicts(result)
    if output_dir is not None:
        result.report_dir = write_report(
            result,
            output_dir,
            split_name=split_name,
            clips_per_video=clips_per_video,
            resampled_by="subject" if all(p.subject for p in predictions) else "video",
            bootstrap_samples=bootstrap_samples,
        )
    return result


def rater_reference(
    dataset: Dataset, predictions: list[VideoPrediction], target: str = "score", column: int = 0
) -> dict[str, Any] | None:
    """For a score that several raters gave (each rater's score of ``target`` in the rows, in any layout
    :func:`~surgical_skill.data.raters.rater_scores` reads: ``label_ratings`` of an AIxSuture GRS, ``<target>_ratings``,
    ``<target>_rater_<name>`` columns), over the scored videos: the raters' own agreement (:func:`rater_agreement`:
    ICC(2,1), Krippendorff's alpha, pairwise Spearman) and the model's scores (``probabilities[column]``) against
    their mean and each rater (:func:`metrics_against_raters`). Raters are matched by name, so a rater who scored
    only some videos counts on those. None when the rows carry fewer than two raters' scores of ``target``."""
    found = rater_scores(dataset, target)
    if found is None or found[0].shape[1] < 2:
        return None
    table, names = found
    row_of = {int(video_id): i for i, video_id in enumerate(dataset["video_id"])}
    matrix = table[[row_of[int(p.video_id)] for p in predictions]]
    scores = [p.probabilities[column] for p in predictions]
    counts = sorted({int(n) for n in np.isfinite(matrix).sum(1)})
    return {
        "rater_names": names,
        "per_video": str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}",
        "agreement": rater_agreement(matrix, names),
        "model": metrics_against_raters(scores, matrix, names),
    }


def _score_source_notes(dataset: Dataset, config) -> list[str]:
    """Where a named score's truth came from, when not from a column of its name: the dataset's one score."""
    names = named_scores(config)
    fields = score_target_names(dataset)
    if names and len(names) == 1 and fields is None and names[0] not in dataset.column_names:
        return [
            f"The model's score {names[0]!r} is read against the dataset's one score (its labels): the dataset "
            f"names no column {names[0]!r}."
        ]
    return []


def baseline_verdicts(result: EvaluationResult) -> list[str]:
    """The static baselines' verdicts beside the model (one paired bootstrap per baseline): for several named
    scores, each score's baselines against the model's Spearman on that score, prefixed by the score's name."""
    if isinstance(result.baselines, dict):
        return [
            f"{name}: {line}"
            for name, baselines in result.baselines.items()
            for line in baselines.verdicts(*model_figure(result, baselines))
        ]
    return result.baselines.verdicts(*model_figure(result))


def _model_and_processor(model: torch.nn.Module | str | os.PathLike, processor: Any) -> tuple[torch.nn.Module, Any]:
    """The model object and its video processor (both loaded from a folder or Hub id when given by name)."""
    if not isinstance(model, torch.nn.Module):
        name = os.fspath(model)
        model = load_trained_model(name)
        # The processor saved with the model (its clip length and sampling), as the pipeline and the CLI use it
        processor = processor or load_trained_video_processor(name, config=model.config)
    if processor is None:
        raise ValueError("evaluate_model needs the model's video processor (or a saved model folder)")
    return model, processor


def score_predictions(
    predictions: list[VideoPrediction],
    config,
    threshold: float | None = None,
    *,
    bootstrap_samples: int = 1000,
    seed: int = 0,
) -> EvaluationResult:
    """Video-level metrics, their 95 % intervals (resampled by subject) and reading notes for ``predictions``
    of the model configured by ``config`` (no report written).

    A model of several named scores gets each score's Spearman, Pearson, MAE and RMSE (score units) with
    intervals, and over its targets the Fisher-z mean of Spearman (the headline) and the mean MAE and RMSE
    (:func:`named_score_metrics`). Ordered classes (:func:`~surgical_skill.models.heads.is_ordinal`) get the
    ordinal figures too: quadratic kappa, Expected Cost and the mean absolute class error, with intervals."""
    label_names = model_label_names(config)
    regression = is_regression_model(config)
    subjects = [p.subject for p in predictions]
    named = regression and len(label_names) > 1
    ordinal = not regression and is_ordinal(config)
    if named:
        labels = np.asarray([p.label for p in predictions], dtype=np.float64).reshape(len(predictions), -1)
        values = np.asarray([p.probabilities for p in predictions], dtype=np.float64)
        metrics, intervals, methods, notes = named_score_metrics(
            labels, values, label_names, model_target_names(config), subjects, samples=bootstrap_samples, seed=seed
        )
    else:
        labels = np.asarray([p.label for p in predictions])
        values = np.asarray([p.probabilities for p in predictions])
        if regression:
            metrics = regression_metrics(labels, values[:, 0])
        else:
            metrics = classification_metrics(labels, values, threshold, per_class=True)
        intervals, methods = (
            headline_intervals(labels, values, subjects, threshold, regression, samples=bootstrap_samples, seed=seed)
            if bootstrap_samples
            else ({}, {})
        )
        notes = []
    if ordinal:
        figures, figure_intervals = ordinal_figures(
            labels, values, threshold, subjects, samples=bootstrap_samples, seed=seed
        )
        metrics.update(figures)
        intervals.update(figure_intervals)
        methods.update(_collapsed_intervals(intervals, ORDINAL_FIGURES))
    notes += _reading_notes(labels, subjects, label_names, regression, metrics)
    return EvaluationResult(
        metrics,
        intervals,
        predictions,
        None,
        list(label_names),
        None if named else threshold,
        interval_methods=methods,
        notes=notes,
        task="regression" if regression else "classification",
        targets=list(model_target_names(config)) if named else [],
        ordinal=ordinal,
    )


ORDINAL_FIGURES = ("quadratic_kappa", "expected_cost", "mean_absolute_class_error")


def ordinal_figures(
    labels, probabilities, threshold: float | None, subjects, *, samples: int = 1000, seed: int = 0
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Ordered classes' figures of the decided classes (``threshold`` on p(class 1) for two classes, else the most
    probable; the decisions every other figure of the report reads): :func:`ordinal_metrics`' quadratic-weighted
    kappa, Expected Cost (|i - j| costs, the classes' frequencies as priors) and mean absolute class error, with
    percentile bootstrap intervals resampling whole subjects (videos when any subject is unknown)."""
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = np.asarray(probabilities).shape[1]
    decided = predict_labels(probabilities, threshold)
    figures = ordinal_metrics(labels, decided, num_classes=num_classes)
    point = {name: figures[name] for name in ORDINAL_FIGURES}
    if not samples:
        return point, {}

    def compute(idx: np.ndarray) -> dict[str, float]:
        return ordinal_resample_figures(labels[idx], decided[idx], num_classes)

    groups = list(subjects) if all(subjects) else None
    intervals = bootstrap_intervals(compute, len(labels), groups, names=ORDINAL_FIGURES, samples=samples, seed=seed)
    return point, intervals


def ordinal_resample_figures(labels: np.ndarray, decided: np.ndarray, num_classes: int) -> dict[str, float]:
    """:data:`ORDINAL_FIGURES` of decided class ids in NumPy, from the confusion matrix (scikit-learn's
    quadratic-weighted kappa; the Expected Cost with |i - j| costs and frequency priors, which is the mean absolute
    class error): the numbers of :func:`ordinal_metrics`, fast enough for a thousand bootstrap resamples."""
    confusion = np.bincount(labels * num_classes + decided, minlength=num_classes**2)
    confusion = confusion.reshape(num_classes, num_classes).astype(np.float64)
    classes = np.arange(num_classes)
    distance = (classes[:, None] - classes[None, :]) ** 2.0
    expected = np.outer(confusion.sum(1), confusion.sum(0)) / max(len(labels), 1)
    chance = (distance * expected).sum()
    error = float(np.mean(np.abs(labels - decided))) if len(labels) else float("nan")
    return {
        "quadratic_kappa": float(1.0 - (distance * confusion).sum() / chance) if chance > 0 else float("nan"),
        "expected_cost": error,
        "mean_absolute_class_error": error,
    }


def named_score_metrics(
    truths: np.ndarray,
    values: np.ndarray,
    names: list[str],
    targets: list[str],
    subjects: list[str],
    *,
    samples: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, float], dict[str, tuple[float, float]], dict[str, str], list[str]]:
    """Metrics, 95 % intervals, interval methods and notes of several named scores: ``truths`` and ``values``
    (N, K) in the order of ``names`` (every reported score), ``targets`` the model's own scores among them (the
    others, a reported sum, are derived from them).

    Each score with a truth gets ``<name>/spearman``, ``/pearson``, ``/mae``, ``/rmse`` (score units) on the videos
    whose truth is known; over ``targets``: ``spearman_fisher_z`` (the headline: Spearman averaged through Fisher's
    z), ``pearson_fisher_z``, ``mae_mean``, ``rmse_mean`` (:func:`multi_target_regression_metrics`). A sum is not
    in the averages: it would count its items twice. Intervals: percentile bootstrap resampling whole subjects
    (videos when any subject is unknown), one set of resamples for every figure. A reported score the dataset does
    not give (no truth at all) is left out, with a note."""
    known = [k for k in range(len(names)) if np.isfinite(truths[:, k]).any()]
    notes = [
        f"The reported score {names[k]!r} has no true value in the dataset (no column {names[k]!r}): its "
        "predictions are in predictions.csv, and it is left out of the metrics."
        for k in range(len(names))
        if k not in known
    ]
    columns = [names.index(t) for t in targets]
    extra = [k for k in known if names[k] not in targets]
    metrics = multi_target_regression_metrics(truths[:, columns], values[:, columns], targets)
    for k in extra:
        present = np.isfinite(truths[:, k])
        metrics.update(
            {f"{names[k]}/{m}": v for m, v in regression_metrics(truths[present, k], values[present, k]).items()}
        )
    if not samples:
        return metrics, {}, {}, notes
    groups = list(subjects) if all(subjects) else None
    options = {"samples": samples, "seed": seed}  # one seed: every figure is read on the same resamples
    intervals = multi_target_intervals(truths[:, columns], values[:, columns], targets, groups, **options)
    for k in extra:
        found = multi_target_intervals(truths[:, [k]], values[:, [k]], [names[k]], groups, **options)
        intervals.update({key: found[key] for key in (f"{names[k]}/spearman", f"{names[k]}/pearson")})
    scored = [names[k] for k in known]

    def errors(idx: np.ndarray) -> dict[str, float]:
        out = {}
        for name in scored:
            k = names.index(name)
            truth, value = truths[idx, k], values[idx, k]
            present = np.isfinite(truth)
            difference = value[present] - truth[present]
            out[f"{name}/mae"] = float(np.abs(difference).mean()) if present.any() else float("nan")
            out[f"{name}/rmse"] = float(np.sqrt((difference**2).mean())) if present.any() else float("nan")
        for metric in ("mae", "rmse"):
            finite = [out[f"{t}/{metric}"] for t in targets if np.isfinite(out.get(f"{t}/{metric}", np.nan))]
            out[f"{metric}_mean"] = float(np.mean(finite)) if finite else float("nan")
        return out

    wanted = [f"{n}/{m}" for n in scored for m in ("mae", "rmse")] + ["mae_mean", "rmse_mean"]
    intervals.update(bootstrap_intervals(errors, len(truths), groups, names=wanted, **options))
    correlations = [name for name in intervals if not name.endswith(("mae", "rmse", "_mean"))]
    return metrics, intervals, _collapsed_intervals(intervals, correlations), notes


def _collapsed_intervals(intervals: dict[str, tuple[float, float]], names) -> dict[str, str]:
    """Make undefined (NaN) the intervals of ``names`` whose resamples all gave one value (a model deciding one
    class everywhere has kappa 0 in every resample): a point claims a certainty the data do not give. Returns
    how each such interval was made, in words."""
    methods = {}
    for name in names:
        low, high = intervals.get(name, (float("nan"), float("nan")))
        if np.isfinite(low) and np.isclose(low, high):
            intervals[name] = (float("nan"), float("nan"))
            methods[name] = f"undefined: every resample gave {low:.3f}, which says nothing about its uncertainty"
    return methods


def _reading_notes(labels, subjects, label_names, regression, metrics) -> list[str]:
    """What a reader must know to read these figures: classes missing from the split, unknown surgeons."""
    notes = []
    if not regression:
        present = set(np.asarray(labels, dtype=np.int64).tolist())
        absent = [name for i, name in enumerate(label_names) if i not in present]
        if absent:
            for i in range(len(label_names)):
                if i not in present:  # recall of a class with no videos is undefined, not 0
                    for key in ("recall_per_class", "f1_per_class"):
                        if key in metrics:
                            metrics[key][i] = float("nan")
            notes.append(
                f"No video of class {', '.join(repr(a) for a in absent)} in this split: its recall and F1 are "
                "undefined (n/a); ROC-AUC and average precision, which compare every class against the rest, "
                "are undefined"
                + (" as soon as a class is missing" if len(label_names) > 2 else "")
                + "; balanced accuracy and the macro averages cover the classes present only."
            )
    if not any(subjects):
        notes.append(
            "The data has no subject (surgeon) ids: videos were split and resampled one by one, so a surgeon "
            "may be on both sides of the split and these figures are optimistic when surgeons have several videos."
        )
    elif not all(subjects):
        notes.append("Some videos have no subject id: each counts as its own surgeon here.")
    return notes


def evaluate_run(
    model_dir: str | os.PathLike,
    data: DatasetDict,
    output_dir: str | os.PathLike,
    *,
    split: str = "test",
    clips_per_video: int = 8,
    num_workers: int = 2,
    baselines: bool = True,
    overwrite: bool = True,
    protocol: str = "",
    allow_urls: bool = False,
    root: str | os.PathLike | None = None,
) -> EvaluationResult:
    """The end of a training run: choose the binary decision threshold on ``data["validation"]`` (Youden's J)
    and save it with the model, fit the static baselines on the training and validation surgeons, then
    evaluate ``data[split]`` into ``output_dir``. Prints the headline figures beside the baselines; returns
    the result (its ``report_dir`` is the folder)."""
    model = load_trained_model(model_dir)
    processor = load_trained_video_processor(model_dir, config=model.config)
    sources = {"allow_urls": allow_urls, "root": root}  # what the rows may open, as when the data was built
    options = {"clips_per_video": clips_per_video, "num_workers": num_workers, **sources}
    threshold, source = _choose_and_save_threshold(model, processor, model_dir, data, **options)
    reference = None
    if baselines:
        fitted_on = [data[name] for name in ("train", "validation") if name in data and name != split]
        reference = static_baselines_or_none(concatenate_datasets(fitted_on), data[split], **sources)
    result = evaluate_model(
        model,
        data[split],
        output_dir,
        processor=processor,
        threshold=threshold,
        threshold_source=source,
        split_name=split,
        protocol=protocol or f"The {split} split: surgeons the model never saw in training or validation.",
        baselines=reference,
        overwrite=overwrite,
        **options,
    )
    print(headline_summary(result, split))
    return result


def _choose_and_save_threshold(model, processor, model_dir, data: DatasetDict, **options) -> tuple[float | None, str]:
    """A binary model's threshold chosen on ``data["validation"]`` and saved with it; without validation data
    none is kept (nothing may claim to be chosen on it, e.g. a threshold inherited by fine-tuning)."""
    binary = model.config.num_labels == 2 and not is_regression_model(model.config)  # not two named scores
    if binary and "validation" in data and len(data["validation"]):
        validation = align_labels(data["validation"], model.config)
        threshold = choose_threshold(model, processor, validation, **options)
        source = save_decision_threshold(
            model_dir,
            threshold,
            chosen_on="the validation split",
            videos=len(validation),
            subjects=len({s for s in validation["subject"] if s}),
        )
        return threshold, source
    return None, save_decision_threshold(model_dir, None)


def choose_threshold(model, processor, validation: Dataset, **kwargs) -> float:
    """Youden's J threshold on p(class 1) from a validation split (binary models)."""
    predictions = predict_videos(model, processor, validation, **kwargs)
    return youden_threshold([p.label for p in predictions], [p.probabilities[1] for p in predictions])
