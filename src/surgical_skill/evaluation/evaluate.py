"""``evaluate_model``: multi-clip inference on every video of a split, video-level metrics with confidence
intervals, and one report folder (metrics, predictions, plots, ``report.md``).

Labels are matched to the model's classes by name (:func:`align_labels`), never by position; the binary
decision threshold is the one chosen on validation and saved with the model (:func:`save_decision_threshold`);
the static baselines (:mod:`~surgical_skill.evaluation.baselines`) are shown beside the model when given.
"""

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
    classification_metrics,
    headline_intervals,
    predict_labels,
    regression_metrics,
    youden_threshold,
)

logger = logging.getLogger(__name__)

REPORT_MARKER = "metrics.json"  # a folder holding it is an evaluation report (and may be replaced when asked)


class LabelMismatchError(ValueError):
    """The dataset's classes are not the model's: listing both vocabularies and how to map them."""


class ReportExistsError(FileExistsError):
    """The output folder already holds a report (or something else that must not be replaced)."""


@dataclass
class VideoPrediction:
    video_id: int
    video: str
    subject: str
    label: int | float
    probabilities: list[float]  # mean over clips (classification); [score] for regression
    clip_probabilities: list[list[float]]
    clip_seconds: list[tuple[float, float]]  # start and end time of each clip
    source_video: str = ""  # the original recording when ``video`` is a proxy


@dataclass
class EvaluationResult:
    metrics: dict[str, Any]
    intervals: dict[str, tuple[float, float]]
    predictions: list[VideoPrediction]
    report_dir: Path | None
    label_names: list[str] = field(default_factory=list)
    threshold: float | None = None
    threshold_source: str = ""  # where the threshold came from, in words ("" for argmax / regression)
    interval_methods: dict[str, str] = field(default_factory=dict)  # metric -> how its interval was made
    protocol: str = ""  # which videos these are and why they are held out, in words
    notes: list[str] = field(default_factory=list)  # what a reader must know (undefined metrics, no subjects)
    baselines: Any = None  # StaticBaselines on the same videos, when computed
    baseline_verdicts: list[str] = field(default_factory=list)  # their verdicts beside this model, made once

    @property
    def regression(self) -> bool:
        return self.label_names == ["score"]


# ------------------------------------------------------------------------------------------ labels


def is_regression_model(config) -> bool:
    """A model predicting scores (``problem_type="regression"`` or one output), not classes."""
    return config.num_labels == 1 or getattr(config, "problem_type", None) == "regression"


def model_label_names(config) -> list[str]:
    """The model's class names in output order (``["score"]`` for a regression model)."""
    if is_regression_model(config):
        return ["score"]
    return [str(config.id2label[i]) for i in range(config.num_labels)]


def parse_label_map(text: str | dict[str, str] | None) -> dict[str, str]:
    """``{"novice": "lower-skilled", ...}`` from a dict, a JSON object or ``a=b,c=d``."""
    if not text:
        return {}
    if isinstance(text, dict):
        return {str(k): str(v) for k, v in text.items()}
    text = text.strip()
    if text.startswith("{"):
        parsed = json.loads(text)
        if not isinstance(parsed, dict):
            raise ValueError(f"a label map must be a JSON object, got {text!r}")
        return {str(k): str(v) for k, v in parsed.items()}
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"a label map is DATASET_NAME=MODEL_NAME pairs separated by commas, got {text!r}")
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
    if model_names == ["score"] or not isinstance(feature, ClassLabel):
        if (model_names == ["score"]) != (not isinstance(feature, ClassLabel)):
            kind = "scores" if model_names == ["score"] else f"classes {model_names}"
            data_kind = "classes" if isinstance(feature, ClassLabel) else "scores"
            raise LabelMismatchError(f"the model predicts {kind} but the dataset gives {data_kind}")
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


# ------------------------------------------------------------------------------------------ threshold


def decision_threshold(config) -> tuple[float | None, str]:
    """The binary decision threshold saved with the model, and where it came from (None: decide by argmax)."""
    threshold = getattr(config, "decision_threshold", None)
    if threshold is None or config.num_labels != 2:
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
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return "" if threshold is None else _threshold_source(config["decision_threshold_info"])


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
    regression = is_regression_model(model.config)
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
                source_video=row.get("source_video") or "",
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
    threshold: float | str | None = "model",
    threshold_source: str | None = None,
    label_map: dict[str, str] | None = None,
    bootstrap_samples: int = 1000,
    seed: int = 0,
    split_name: str = "test",
    protocol: str = "",
    baselines: Any = None,
    overwrite: bool = False,
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
    :class:`~surgical_skill.evaluation.baselines.StaticBaselines` of the same videos) when given.
    """
    if output_dir is not None:
        check_output_dir(output_dir, overwrite=overwrite)
    if not isinstance(model, torch.nn.Module):
        from transformers import AutoModelForVideoClassification

        from ..models import build_video_processor

        name = os.fspath(model)
        model = AutoModelForVideoClassification.from_pretrained(name)
        processor = processor or build_video_processor(name, config=model.config)
    if processor is None:
        raise ValueError("evaluate_model needs the model's video processor (or a saved model folder)")
    dataset = align_labels(dataset, model.config, label_map)
    if threshold == "model":
        threshold, saved_source = decision_threshold(model.config)
        threshold_source = threshold_source or saved_source
    threshold_source = (threshold_source or "given") if threshold is not None else ""
    predictions = predict_videos(
        model, processor, dataset, clips_per_video=clips_per_video, batch_size=batch_size, num_workers=num_workers
    )
    if not predictions:
        raise RuntimeError("no video of the split could be decoded")
    label_names = model_label_names(model.config)
    labels = np.asarray([p.label for p in predictions])
    values = np.asarray([p.probabilities for p in predictions])
    subjects = [p.subject for p in predictions]
    regression = label_names == ["score"]
    if regression:
        metrics = regression_metrics(labels, values[:, 0])
    else:
        metrics = classification_metrics(labels, values, threshold, per_class=True)
    intervals, methods = (
        headline_intervals(labels, values, subjects, threshold, regression, samples=bootstrap_samples, seed=seed)
        if bootstrap_samples
        else ({}, {})
    )
    notes = _reading_notes(labels, subjects, label_names, regression, metrics)
    result = EvaluationResult(
        metrics,
        intervals,
        predictions,
        None,
        list(label_names),
        threshold,
        threshold_source,
        methods,
        protocol,
        notes,
        baselines,
    )
    if baselines is not None:  # one paired bootstrap per baseline, shared by the report and the summary
        result.baseline_verdicts = baselines.verdicts(*model_figure(result))
    if output_dir is not None:
        result.report_dir = write_report(
            result,
            output_dir,
            split_name=split_name,
            clips_per_video=clips_per_video,
            resampled_by="subject" if all(subjects) else "video",
            bootstrap_samples=bootstrap_samples,
        )
    return result


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
    data,
    output_dir: str | os.PathLike,
    *,
    split: str = "test",
    clips_per_video: int = 8,
    num_workers: int = 2,
    baselines: bool = True,
    overwrite: bool = True,
    protocol: str = "",
) -> EvaluationResult:
    """The end of a training run: choose the binary decision threshold on ``data["validation"]`` (Youden's J)
    and save it with the model, fit the static baselines on the training and validation surgeons, then
    evaluate ``data[split]`` into ``output_dir``. Prints the headline figures beside the baselines; returns
    the result (its ``report_dir`` is the folder)."""
    from datasets import concatenate_datasets
    from transformers import AutoModelForVideoClassification, AutoVideoProcessor

    from .baselines import static_baselines_or_none

    model = AutoModelForVideoClassification.from_pretrained(model_dir)
    processor = AutoVideoProcessor.from_pretrained(model_dir)
    options = {"clips_per_video": clips_per_video, "num_workers": num_workers}
    if model.config.num_labels == 2 and "validation" in data and len(data["validation"]):
        validation = align_labels(data["validation"], model.config)
        threshold = choose_threshold(model, processor, validation, **options)
        source = save_decision_threshold(
            model_dir,
            threshold,
            chosen_on="the validation split",
            videos=len(validation),
            subjects=len({s for s in validation["subject"] if s}),
        )
    else:  # no validation data: nothing may claim to be chosen on it (e.g. a threshold inherited by fine-tuning)
        threshold, source = None, save_decision_threshold(model_dir, None)
    reference = None
    if baselines:
        fitted_on = [data[name] for name in ("train", "validation") if name in data and name != split]
        reference = static_baselines_or_none(concatenate_datasets(fitted_on), data[split])
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


def load_report(report_dir: str | os.PathLike) -> EvaluationResult:
    """Read an evaluation report folder back: metrics, intervals and the per-video predictions (clip scores
    are not kept in the folder, so ``clip_probabilities`` is empty)."""
    from .compare import _read_report

    report = _read_report(report_dir)
    meta = json.loads((Path(report_dir) / "metrics.json").read_text())
    with (Path(report_dir) / "predictions.csv").open(newline="") as handle:
        sources = [row.get("source_video") or "" for row in csv.DictReader(handle)]
    predictions = [
        VideoPrediction(
            video_id=i,
            video=video,
            subject=subject,
            label=float(target) if report.regression else int(target),
            probabilities=[float(values)] if report.regression else [float(v) for v in values],
            clip_probabilities=[],
            clip_seconds=[],
            source_video=source,
        )
        for i, (video, subject, target, values, source) in enumerate(
            zip(report.videos, report.subjects, report.targets, report.values, sources)
        )
    ]

    def nan(value):
        return float("nan") if value is None else value

    metrics = {k: [nan(x) for x in v] if isinstance(v, list) else nan(v) for k, v in meta["metrics"].items()}
    intervals = {k: (nan(v[0]), nan(v[1])) for k, v in meta.get("confidence_intervals_95", {}).items()}
    return EvaluationResult(
        metrics,
        intervals,
        predictions,
        Path(report_dir),
        report.labels,
        report.threshold,
        meta.get("threshold_source", ""),
        meta.get("interval_methods", {}),
        meta.get("protocol", ""),
        meta.get("notes", []),
        baseline_verdicts=meta.get("baselines", {}).get("verdicts", []),
    )


def headline_summary(result: EvaluationResult, split: str) -> str:
    """Lines with the main figure and its interval, the threshold, and the baselines beside it (for the end of
    a training run or ``surgical-skill evaluate``)."""
    name = "accuracy" if "accuracy" in result.metrics else "mae"
    low, high = result.intervals.get(name, (float("nan"), float("nan")))
    lines = [
        f"{split}: video-level {name} {result.metrics[name]:.3f} (95 % CI {_fmt(low)} to {_fmt(high)}) over "
        f"{len(result.predictions)} videos; report in {result.report_dir}"
    ]
    if result.threshold is not None:
        lines.append(
            f"decision: p({result.label_names[1]}) >= {result.threshold:.3f}, threshold {result.threshold_source}"
        )
    lines += result.baseline_verdicts
    lines += result.notes
    return "\n".join(lines)


def model_figure(result: EvaluationResult) -> tuple[float | None, list[bool] | None]:
    """The model's figure in its baselines' metric (``result.baselines``), and its per-video right/wrong in
    their video order (None when the videos differ): what the baselines' verdicts compare against."""
    baselines = result.baselines
    if baselines.metric == "spearman":
        return result.metrics.get("spearman"), None
    keyed = {
        p.source_video or p.video: int(predict_labels(np.asarray([p.probabilities]), result.threshold)[0])
        == int(p.label)
        for p in result.predictions
    }
    if all(v in keyed for v in baselines.videos):
        return result.metrics["accuracy"], [keyed[v] for v in baselines.videos]
    return result.metrics["accuracy"], None


def choose_threshold(model, processor, validation: Dataset, **kwargs) -> float:
    """Youden's J threshold on p(class 1) from a validation split (binary models)."""
    predictions = predict_videos(model, processor, validation, **kwargs)
    return youden_threshold([p.label for p in predictions], [p.probabilities[1] for p in predictions])


# ---------------------------------------------------------------------------------------------- report


def check_output_dir(output_dir: str | os.PathLike, *, overwrite: bool) -> None:
    """Refuse, before any work, to write a report where one exists (unless ``overwrite``) or where a folder
    that is not a report would be replaced (never: it may be someone's thesis)."""
    folder = Path(output_dir)
    if folder.is_file():
        raise ReportExistsError(f"{folder} is a file; give a folder for the report")
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    if not (folder / REPORT_MARKER).is_file():
        raise ReportExistsError(
            f"{folder} exists and is not an evaluation report (no {REPORT_MARKER}); it is left alone: "
            "choose another --output-dir"
        )
    if not overwrite:
        raise ReportExistsError(
            f"{folder} already holds an evaluation report; pass --overwrite to replace it, or choose another "
            "--output-dir"
        )


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
    absent, never half written. Only a report (or an empty folder) is ever replaced."""
    final = Path(output_dir)
    tmp = final.with_name(f".tmp-{final.name}-{os.getpid()}")
    tmp.mkdir(parents=True)
    try:
        _write_metrics(tmp, result, split_name, clips_per_video, resampled_by, bootstrap_samples)
        _write_predictions(tmp, result, result.regression)
        from . import plots

        figures = (
            plots.regression_figures(tmp, result) if result.regression else plots.classification_figures(tmp, result)
        )
        figures["timeline"] = plots.timeline_figure(tmp, result)
        (tmp / "report.md").write_text(
            _report_markdown(result, figures, split_name, clips_per_video, resampled_by, bootstrap_samples)
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        check_output_dir(final, overwrite=True)  # still a report (or empty) now that the work is done
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
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
        "protocol": result.protocol,
        "videos": len(result.predictions),
        "subjects": len({p.subject for p in result.predictions if p.subject}),
        "clips_per_video": clips_per_video,
        "labels": result.label_names,
        "threshold": result.threshold,
        "threshold_source": result.threshold_source,
        "metrics": {k: _json_safe(v) for k, v in result.metrics.items()},
        "confidence_intervals_95": {k: _json_safe(list(v)) for k, v in result.intervals.items()},
        "interval_methods": result.interval_methods,
        "bootstrap": {"samples": bootstrap_samples, "resampled_by": resampled_by},
        "notes": result.notes,
    }
    if result.baselines is not None:
        payload["baselines"] = {**result.baselines.to_dict(), "verdicts": result.baseline_verdicts}
    (folder / "metrics.json").write_text(json.dumps(payload, indent=2))


def _write_predictions(folder: Path, result: EvaluationResult, regression: bool) -> None:
    names = result.label_names
    proxies = any(p.source_video for p in result.predictions)  # then say which recording each proxy is
    header = ["video", *(["source_video"] if proxies else []), "subject", "label", "prediction"]
    header += ["predicted_score"] if regression else [f"p_{name}" for name in names] + ["correct"]
    rows = []
    for p in result.predictions:
        video = [p.video, p.source_video] if proxies else [p.video]
        if regression:
            rows.append([*video, p.subject, p.label, round(p.probabilities[0], 6), round(p.probabilities[0], 6)])
        else:
            predicted = int(predict_labels(np.asarray([p.probabilities]), result.threshold)[0])
            rows.append(
                [
                    *video,
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
    regression = result.regression
    headline = HEADLINE_REGRESSION if regression else HEADLINE_CLASSIFICATION
    lines = [
        f"# Evaluation on the {split_name} split",
        "",
        *([result.protocol, ""] if result.protocol else []),
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
    ]
    for name, method in result.interval_methods.items():
        lines.append(f"The {name.replace('_', ' ')} interval: {method}.")
    lines.append("")
    for note in result.notes:
        lines += [f"**Note.** {note}", ""]
    if result.baselines is not None:
        value, _ = model_figure(result)
        lines += [
            "## Static baselines on the same videos",
            "",
            "What a model could score without watching anything move (see `surgical-skill audit`):",
            "",
            result.baselines.to_markdown(value),
            "",
            *(f"- {line}" for line in result.baseline_verdicts),
            "",
        ]
    if not regression:
        if result.threshold is not None:
            lines += [
                f"Decision threshold on p({result.label_names[1]}): {result.threshold:.3f}, "
                f"{result.threshold_source or 'given'}.",
                "",
            ]
        else:
            lines += ["Decision: the class with the largest probability.", ""]
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
