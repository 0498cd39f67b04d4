"""``evaluate_model``: multi-clip inference on every video of a split, video-level metrics with confidence
intervals, and one report folder (metrics, predictions, plots, ``report.md``)."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import ClassLabel, Dataset

from .metrics import (
    HEADLINE_CLASSIFICATION,
    HEADLINE_REGRESSION,
    bootstrap_intervals,
    classification_metrics,
    headline_classification,
    predict_labels,
    regression_metrics,
    youden_threshold,
)

logger = logging.getLogger(__name__)


@dataclass
class VideoPrediction:
    video_id: int
    video: str
    subject: str
    label: int | float
    probabilities: list[float]  # mean over clips (classification); [score] for regression
    clip_probabilities: list[list[float]]
    clip_seconds: list[tuple[float, float]]  # start and end time of each clip


@dataclass
class EvaluationResult:
    metrics: dict[str, Any]
    intervals: dict[str, tuple[float, float]]
    predictions: list[VideoPrediction]
    report_dir: Path | None
    label_names: list[str] = field(default_factory=list)
    threshold: float | None = None


@torch.no_grad()
def predict_videos(
    model: torch.nn.Module,
    processor: Any,
    dataset: Dataset,
    *,
    clips_per_video: int = 8,
    batch_size: int = 16,
    num_workers: int = 2,
    device: str | torch.device | None = None,
) -> list[VideoPrediction]:
    """Score ``clips_per_video`` clips spread over each video (the processor's sampling and transforms) and
    average their probabilities. Videos that cannot be decoded are left out with a warning."""
    from ..data import ClipSampling, ClipTransforms, SkillCollator, VideoClipLoader, expand_clips, is_empty_batch

    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    sampling = ClipSampling.from_video_processor(processor)
    loader_transform = VideoClipLoader(
        sampling,
        ClipTransforms.from_video_processor(processor, training=False),
        training=False,
        clips_per_video=clips_per_video,
    )
    clips = expand_clips(dataset, clips_per_video).with_transform(loader_transform)
    loader = torch.utils.data.DataLoader(
        clips, batch_size=batch_size, num_workers=num_workers, collate_fn=SkillCollator()
    )
    regression = model.config.num_labels == 1
    per_video: dict[int, list[np.ndarray]] = {}
    failed: dict[str, str] = {}
    for batch in loader:
        for failure in batch["decode_failures"]:
            failed[failure["video"]] = failure["reason"]
        if is_empty_batch(batch):
            continue
        inputs = {model.main_input_name: batch["pixel_values"].to(device)}
        if "frame_mask" in batch:
            inputs["frame_mask"] = batch["frame_mask"].to(device)
        logits = model(**inputs).logits.float()
        values = logits.reshape(-1, 1) if regression else logits.softmax(-1)
        for video_id, value in zip(batch["video_id"].tolist(), values.cpu().numpy()):
            per_video.setdefault(video_id, []).append(value)
    if failed:
        logger.warning(
            "%d video(s) could not be decoded and are left out: %s",
            len(failed),
            "; ".join(f"{k} ({v})" for k, v in list(failed.items())[:5]),
        )
    rows = {row["video_id"]: row for row in dataset}
    predictions = []
    for video_id, values in per_video.items():
        row = rows[video_id]
        windows = sampling.windows(row["num_frames"], row["fps"], num_clips=clips_per_video)
        seconds = [(float(w[0]) / row["fps"], float(w[-1] + 1) / row["fps"]) for w in windows][: len(values)]
        stacked = np.stack(values)
        predictions.append(
            VideoPrediction(
                video_id=video_id,
                video=row["video"],
                subject=row.get("subject") or "",
                label=row["labels"],
                probabilities=stacked.mean(0).tolist(),
                clip_probabilities=stacked.tolist(),
                clip_seconds=seconds,
            )
        )
    return sorted(predictions, key=lambda p: p.video_id)


def evaluate_model(
    model: torch.nn.Module | str | os.PathLike,
    dataset: Dataset,
    output_dir: str | os.PathLike | None = None,
    *,
    processor: Any = None,
    clips_per_video: int = 8,
    batch_size: int = 16,
    num_workers: int = 2,
    threshold: float | None = None,
    bootstrap_samples: int = 1000,
    seed: int = 0,
    split_name: str = "test",
) -> EvaluationResult:
    """Evaluate a model (object or saved folder / Hub id) on a skill dataset split, per video.

    Writes to ``output_dir`` (when given): ``metrics.json`` (every metric, with 95 % bootstrap intervals for
    the headline ones, resampled by subject when subjects are known), ``predictions.csv``,
    ``misclassified.csv``, ``classification_report.txt``, PNG plots (confusion matrices, ROC and
    precision-recall curves, reliability diagram, clip-score timelines) and ``report.md``. For two classes,
    ``threshold`` (chosen on validation data, e.g. with :func:`~surgical_skill.evaluation.youden_threshold`)
    sets the decision on p(class 1); it is never tuned here.
    """
    if not isinstance(model, torch.nn.Module):
        from transformers import AutoModelForVideoClassification

        from ..models import build_video_processor

        name = os.fspath(model)
        model = AutoModelForVideoClassification.from_pretrained(name)
        processor = processor or build_video_processor(name, config=model.config)
    if processor is None:
        raise ValueError("evaluate_model needs the model's video processor (or a saved model folder)")
    predictions = predict_videos(
        model, processor, dataset, clips_per_video=clips_per_video, batch_size=batch_size, num_workers=num_workers
    )
    if not predictions:
        raise RuntimeError("no video of the split could be decoded")
    feature = dataset.features["labels"]
    label_names = feature.names if isinstance(feature, ClassLabel) else ["score"]
    labels = np.asarray([p.label for p in predictions])
    values = np.asarray([p.probabilities for p in predictions])
    subjects = [p.subject for p in predictions]
    groups = subjects if all(subjects) else None
    regression = model.config.num_labels == 1
    if regression:
        metrics = regression_metrics(labels, values[:, 0])
        headline = HEADLINE_REGRESSION

        def compute(idx):
            return regression_metrics(labels[idx], values[idx, 0])
    else:
        metrics = classification_metrics(labels, values, threshold, per_class=True)
        headline = HEADLINE_CLASSIFICATION

        def compute(idx):
            return headline_classification(labels[idx], values[idx], threshold)

    intervals = (
        bootstrap_intervals(compute, len(predictions), groups, names=headline, samples=bootstrap_samples, seed=seed)
        if bootstrap_samples
        else {}
    )
    result = EvaluationResult(metrics, intervals, predictions, None, list(label_names), threshold)
    if output_dir is not None:
        result.report_dir = write_report(
            result,
            output_dir,
            split_name=split_name,
            clips_per_video=clips_per_video,
            resampled_by="subject" if groups else "video",
            bootstrap_samples=bootstrap_samples,
        )
    return result


def evaluate_run(
    model_dir: str | os.PathLike, data, data_args, output_dir: str | os.PathLike, *, split: str = "test"
) -> EvaluationResult:
    """Evaluate a trained model on ``data[split]`` into ``output_dir``; for two classes the decision threshold
    is chosen on the validation split (Youden's J) first. Prints the headline figures; returns the result
    (its ``report_dir`` is the folder)."""
    from transformers import AutoModelForVideoClassification, AutoVideoProcessor

    model = AutoModelForVideoClassification.from_pretrained(model_dir)
    processor = AutoVideoProcessor.from_pretrained(model_dir)
    options = {"clips_per_video": data_args.eval_clips_per_video, "num_workers": data_args.num_workers}
    threshold = None
    if model.config.num_labels == 2 and "validation" in data and len(data["validation"]):
        threshold = choose_threshold(model, processor, data["validation"], **options)
    result = evaluate_model(
        model, data[split], output_dir, processor=processor, threshold=threshold, split_name=split, **options
    )
    print(headline_summary(result, split))
    return result


def load_report(report_dir: str | os.PathLike) -> EvaluationResult:
    """Read an evaluation report folder back: metrics, intervals and the per-video predictions (clip scores
    are not kept in the folder, so ``clip_probabilities`` is empty)."""
    from .compare import _read_report

    report = _read_report(report_dir)
    meta = json.loads((Path(report_dir) / "metrics.json").read_text())
    predictions = [
        VideoPrediction(
            video_id=i,
            video=video,
            subject=subject,
            label=float(target) if report.regression else int(target),
            probabilities=[float(values)] if report.regression else [float(v) for v in values],
            clip_probabilities=[],
            clip_seconds=[],
        )
        for i, (video, subject, target, values) in enumerate(
            zip(report.videos, report.subjects, report.targets, report.values)
        )
    ]

    def nan(value):
        return float("nan") if value is None else value

    metrics = {k: [nan(x) for x in v] if isinstance(v, list) else nan(v) for k, v in meta["metrics"].items()}
    intervals = {k: (nan(v[0]), nan(v[1])) for k, v in meta.get("confidence_intervals_95", {}).items()}
    return EvaluationResult(metrics, intervals, predictions, Path(report_dir), report.labels, report.threshold)


def headline_summary(result: EvaluationResult, split: str) -> str:
    """One line with the main figure and its interval, e.g. for the end of a training run."""
    name = "accuracy" if "accuracy" in result.metrics else "mae"
    low, high = result.intervals.get(name, (float("nan"), float("nan")))
    return (
        f"{split}: video-level {name} {result.metrics[name]:.3f} (95 % CI {_fmt(low)} to {_fmt(high)}) over "
        f"{len(result.predictions)} videos; report in {result.report_dir}"
    )


def choose_threshold(model, processor, validation: Dataset, **kwargs) -> float:
    """Youden's J threshold on p(class 1) from a validation split (binary models)."""
    predictions = predict_videos(model, processor, validation, **kwargs)
    return youden_threshold([p.label for p in predictions], [p.probabilities[1] for p in predictions])


# ---------------------------------------------------------------------------------------------- report


def write_report(
    result: EvaluationResult,
    output_dir: str | os.PathLike,
    *,
    split_name: str,
    clips_per_video: int,
    resampled_by: str,
    bootstrap_samples: int,
) -> Path:
    """Write every file of the report into a temporary folder, then move it into place: a report is whole or
    absent, never half written."""
    final = Path(output_dir)
    tmp = final.with_name(f".tmp-{final.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    regression = result.label_names == ["score"]
    _write_metrics(tmp, result, split_name, clips_per_video, resampled_by, bootstrap_samples)
    _write_predictions(tmp, result, regression)
    from . import plots

    figures = plots.regression_figures(tmp, result) if regression else plots.classification_figures(tmp, result)
    figures["timeline"] = plots.timeline_figure(tmp, result)
    (tmp / "report.md").write_text(
        _report_markdown(result, figures, split_name, clips_per_video, resampled_by, bootstrap_samples)
    )
    if final.exists():
        old = final.with_name(f".old-{final.name}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(tmp, final)
    return final


def _json_safe(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _write_metrics(folder: Path, result, split_name, clips_per_video, resampled_by, bootstrap_samples) -> None:
    payload = {
        "split": split_name,
        "videos": len(result.predictions),
        "clips_per_video": clips_per_video,
        "labels": result.label_names,
        "threshold": result.threshold,
        "metrics": {k: _json_safe(v) for k, v in result.metrics.items()},
        "confidence_intervals_95": {k: _json_safe(list(v)) for k, v in result.intervals.items()},
        "bootstrap": {"samples": bootstrap_samples, "resampled_by": resampled_by},
    }
    (folder / "metrics.json").write_text(json.dumps(payload, indent=2))


def _write_predictions(folder: Path, result: EvaluationResult, regression: bool) -> None:
    names = result.label_names
    header = ["video", "subject", "label", "prediction"]
    header += ["predicted_score"] if regression else [f"p_{name}" for name in names] + ["correct"]
    rows = []
    for p in result.predictions:
        if regression:
            rows.append([p.video, p.subject, p.label, round(p.probabilities[0], 6), round(p.probabilities[0], 6)])
        else:
            predicted = int(predict_labels(np.asarray([p.probabilities]), result.threshold)[0])
            rows.append(
                [
                    p.video,
                    p.subject,
                    names[int(p.label)],
                    names[predicted],
                    *(round(v, 6) for v in p.probabilities),
                    int(predicted == int(p.label)),
                ]
            )
    with (folder / "predictions.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    if not regression:
        with (folder / "misclassified.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows([header, *(r for r in rows if not r[-1])])
    if not regression:
        from sklearn.metrics import classification_report

        y = [int(p.label) for p in result.predictions]
        predicted = predict_labels(np.asarray([p.probabilities for p in result.predictions]), result.threshold)
        (folder / "classification_report.txt").write_text(
            classification_report(
                y, predicted, labels=list(range(len(names))), target_names=names, digits=3, zero_division=0
            )
        )


def _fmt(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


FIGURE_TITLES = {
    "confusion_matrix": "Confusion matrix",
    "roc_and_precision_recall": "ROC and precision-recall curves",
    "reliability_diagram": "Reliability diagram",
    "timeline": "Clip scores over time",
}


def _report_markdown(result, figures, split_name, clips_per_video, resampled_by, bootstrap_samples) -> str:
    regression = result.label_names == ["score"]
    headline = HEADLINE_REGRESSION if regression else HEADLINE_CLASSIFICATION
    lines = [
        f"# Evaluation on the {split_name} split",
        "",
        f"{len(result.predictions)} videos"
        + (
            f" of {len({p.subject for p in result.predictions})} surgeons"
            if all(p.subject for p in result.predictions)
            else ""
        )
        + f"; each scored from {clips_per_video} clips spread over the whole video (mean probability).",
        "",
        "| metric | value | 95 % interval |",
        "|---|---|---|",
    ]
    for name in headline:
        low, high = result.intervals.get(name, (float("nan"), float("nan")))
        lines.append(f"| {name.replace('_', ' ')} | {_fmt(result.metrics.get(name))} | {_fmt(low)} to {_fmt(high)} |")
    lines += [
        "",
        f"Intervals: percentile bootstrap, {bootstrap_samples} resamples of whole {resampled_by}s "
        "(videos of one surgeon are not independent).",
        "",
    ]
    if not regression:
        if result.threshold is not None:
            lines += [
                f"Decision threshold on p({result.label_names[1]}): {result.threshold:.3f} (chosen on "
                "validation data, Youden's J).",
                "",
            ]
        lines += [
            "Per class:",
            "",
            "| class | precision | recall | specificity | F1 | videos |",
            "|---|---|---|---|---|---|",
        ]
        for i, name in enumerate(result.label_names):
            m = result.metrics
            lines.append(
                f"| {name} | {_fmt(m['precision_per_class'][i])} | {_fmt(m['recall_per_class'][i])} | "
                f"{_fmt(m['specificity_per_class'][i])} | {_fmt(m['f1_per_class'][i])} | "
                f"{m['support_per_class'][i]} |"
            )
        lines += [
            "",
            f"Also in `metrics.json`: log loss {_fmt(result.metrics['log_loss'])}, Brier score "
            f"{_fmt(result.metrics['brier'])}, expected calibration error {_fmt(result.metrics['ece'])}, "
            f"average precision {_fmt(result.metrics['average_precision'])}, quadratic kappa "
            f"{_fmt(result.metrics['quadratic_kappa'])}.",
            "",
        ]
        wrong = sum(
            1
            for p in result.predictions
            if int(predict_labels(np.asarray([p.probabilities]), result.threshold)[0]) != int(p.label)
        )
        lines += [f"{wrong} misclassified video(s): see `misclassified.csv`; every video is in `predictions.csv`.", ""]
    for key, name in figures.items():
        title = FIGURE_TITLES.get(key, key.replace("_", " ").capitalize())
        lines += [f"## {title}", "", f"![{key}]({name})", ""]
    return "\n".join(lines)
