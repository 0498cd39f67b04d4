"""Evaluation report folders: what they hold, writing one whole, and reading one back.

A report folder holds ``metrics.json`` (every metric, intervals, protocol, ``"task"``; for several named scores
also ``per_target`` and ``headline_over_targets``), ``predictions.csv`` (one row per video; for several named
scores a ``true_<name>`` and a ``predicted_<name>`` column per score), for classification ``misclassified.csv``
and ``classification_report.txt``, PNG plots and ``report.md``. :func:`write_report` writes it whole or not at
all; :func:`read_report` is the one reader (used by :func:`load_report`,
:func:`~surgical_skill.evaluation.compare.compare_reports` and the cross-validation resume).
"""

from __future__ import annotations

import csv
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import classification_report

from ..data.clips import SEGMENT_COLUMNS, segment_name
from ..errors import SurgicalSkillError
from ..files import folder_kind, is_toolkit_folder, staged_folder, write_json_atomic
from ..markup import markdown_inline
from . import plots
from .formatting import csv_text, fmt, json_safe, read_csv_text
from .inference import VideoPrediction
from .metrics import HEADLINE_CLASSIFICATION, HEADLINE_REGRESSION, predict_labels

REPORT_MARKER = "metrics.json"  # every report holds it (and read_report needs it)
REPORT_KIND = "evaluation-report"  # the kind in the toolkit's folder marker (surgical_skill.files.MARKER)
# A report written before folders carried the marker: recognised only when it holds nothing but these files
REPORT_LEGACY = ("metrics.json", "predictions.csv", "misclassified.csv", "classification_report.txt", "report.md")
REPORT_LEGACY += ("*.png",)
CLASSIFICATION, REGRESSION = "classification", "regression"


class ReportExistsError(SurgicalSkillError, FileExistsError):
    """The output folder already holds a report (or something else that must not be replaced)."""


class ReportNotFoundError(SurgicalSkillError, FileNotFoundError):
    """A folder given as an evaluation report holds none."""


class ReportFormatError(SurgicalSkillError, ValueError):
    """An evaluation report's files cannot be read as a report (edited by hand, damaged, another tool's)."""


def report_task(labels: Sequence[str], task: str | None = None) -> str:
    """``"classification"`` or ``"regression"``: ``task`` as recorded in ``metrics.json``; reports written before
    it was recorded are regression reports when their only label is ``"score"``."""
    if task in (CLASSIFICATION, REGRESSION):
        return task
    if task is not None:
        raise ValueError(f"task must be {CLASSIFICATION!r} or {REGRESSION!r}, got {task!r}")
    return REGRESSION if list(labels) == ["score"] else CLASSIFICATION


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
    task: str = ""  # "classification" or "regression" ("": from the label names, as old reports have it)
    raters: dict[str, Any] | None = None  # the raters' agreement and the model against them (rated scores)
    # a model of several named scores: its own scores (label_names also holds their reported sum), which the
    # Fisher-z headline averages over; empty for classes and one score
    targets: list[str] = field(default_factory=list)
    target_raters: dict[str, dict[str, Any]] | None = None  # several named scores: each rated one's raters block
    ordinal: bool = False  # ordered classes: the ordinal figures (quadratic kappa, Expected Cost) are reported

    def __post_init__(self) -> None:
        self.task = report_task(self.label_names, self.task or None)

    @property
    def regression(self) -> bool:
        return self.task == REGRESSION

    @property
    def multi_target(self) -> bool:
        """Several named scores, each with its own figures (and a Fisher-z headline over the targets)."""
        return self.regression and len(self.label_names) > 1


# ---------------------------------------------------------------------------------------------- reading


@dataclass
class SavedReport:
    """A report folder's predictions as arrays, read by :func:`read_report`."""

    folder: Path
    labels: list[str]
    threshold: float | None
    videos: list[str]
    subjects: list[str]
    targets: np.ndarray  # class ids, or true scores ((N, K) for several named scores, NaN where unknown)
    values: np.ndarray  # (N, num_classes) probabilities, or (N,) predicted scores ((N, K) for several)
    task: str = CLASSIFICATION
    source_videos: list[str] = field(default_factory=list)  # the recording behind each proxy ("" for none)
    meta: dict[str, Any] = field(default_factory=dict)  # metrics.json as written
    # the frames [start, end) each row covers, for rows covering a segment of their video (None: all of it)
    segments: list[tuple[int, int] | None] = field(default_factory=list)

    @property
    def regression(self) -> bool:
        return self.task == REGRESSION

    @property
    def multi_target(self) -> bool:
        return self.regression and len(self.labels) > 1

    @property
    def keys(self) -> list[str]:
        """Each row's name: its video, with the segment's frames for a row covering one (two rows of one video
        differ). Reports are paired by these."""
        return [segment_name(v, s) for v, s in zip(self.videos, self.segments or [None] * len(self.videos))]


def read_report(folder: str | os.PathLike) -> SavedReport:
    """Read and check a report folder's ``metrics.json`` and ``predictions.csv``.

    Raises:
        FileNotFoundError: the folder is not a report.
        ValueError: a malformed file, naming the file and line.
    """
    folder = Path(folder)
    metrics_path, predictions_path = folder / "metrics.json", folder / "predictions.csv"
    for path in (metrics_path, predictions_path):
        if not path.is_file():
            raise ReportNotFoundError(
                f"{path} not found: is {folder} an evaluation report (`surgical-skill evaluate`)?"
            )
    meta, labels, threshold, task = _read_meta(metrics_path)
    rows = _read_prediction_rows(predictions_path, labels, task == REGRESSION)
    videos, subjects, targets, values, correct, segments = _parse_rows(
        rows, labels, task == REGRESSION, predictions_path
    )
    if task == CLASSIFICATION and all(flag in ("0", "1") for flag in correct):
        names = [segment_name(v, s) for v, s in zip(videos, segments)]
        _warn_about_flipped_decisions(predictions_path, names, correct, predict_labels(values, threshold) == targets)
    return SavedReport(
        folder,
        labels,
        threshold,
        videos,
        subjects,
        targets,
        values,
        task,
        [read_csv_text(row.get("source_video") or "") for row in rows],
        meta,
        segments,
    )


def _read_meta(path: Path) -> tuple[dict[str, Any], list[str], float | None, str]:
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ReportFormatError(f"{path} is not valid JSON: {err}") from err
    labels = meta.get("labels")
    if not isinstance(labels, list) or not labels:
        raise ReportFormatError(f"{path} has no 'labels' list (class names, or [\"score\"] for regression)")
    labels = [str(name) for name in labels]
    threshold = meta.get("threshold")
    if threshold is not None and not isinstance(threshold, int | float):
        raise ReportFormatError(f"{path}: threshold must be a number or null, got {threshold!r}")
    try:
        task = report_task(labels, meta.get("task"))
    except ValueError as err:
        raise ReportFormatError(f"{path}: {err}") from err
    return meta, labels, threshold, task


def score_columns(name: str) -> tuple[str, str]:
    """``predictions.csv``'s true and predicted columns of a named score, for a model of several."""
    return f"true_{name}", f"predicted_{name}"


def _read_prediction_rows(path: Path, labels: list[str], regression: bool) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if regression and len(labels) > 1:
            columns = ["video", "subject", *(c for name in labels for c in score_columns(name))]
        else:
            columns = ["video", "subject", "label"] + (
                ["predicted_score"] if regression else [f"p_{n}" for n in labels]
            )
        missing = [name for name in columns if name not in (reader.fieldnames or [])]
        if missing:
            raise ReportFormatError(f"{path} lacks the column(s) {', '.join(missing)}")
        rows = list(reader)
    if not rows:
        raise ReportFormatError(f"{path} has no predictions")
    return rows


def _parse_rows(rows: list[dict[str, str]], labels: list[str], regression: bool, path: Path):
    """Videos, subjects, targets, values, the written ``correct`` flags and the segments (rows covering a
    segment of their video), each row checked."""
    videos, subjects, targets, values, correct, segments = [], [], [], [], [], []
    index = {name: i for i, name in enumerate(labels)}
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        where = f"{path} line {line}"
        try:
            start, end = (int(row[c]) if row.get(c) not in (None, "") else None for c in SEGMENT_COLUMNS)
        except ValueError as err:
            raise ReportFormatError(f"{where}: the segment is not two frame numbers ({err})") from err
        segment = None if start is None or end is None else (start, end)
        video = read_csv_text(row["video"])
        name = segment_name(video, segment)
        if name in seen:
            raise ReportFormatError(f"{where}: video {name!r} appears twice")
        seen.add(name)
        segments.append(segment)
        try:
            if regression and len(labels) > 1:
                truths = [row[score_columns(name)[0]] for name in labels]
                targets.append([float(v) if v not in (None, "") else float("nan") for v in truths])
                values.append([float(row[score_columns(name)[1]]) for name in labels])
            elif regression:
                targets.append(float(row["label"]))
                values.append(float(row["predicted_score"]))
            else:
                label = read_csv_text(row["label"])
                if label not in index:
                    raise ReportFormatError(f"label {label!r} is not one of the report's classes {labels}")
                targets.append(index[label])
                values.append([float(row[f"p_{name}"]) for name in labels])
                correct.append(row.get("correct"))
        except (TypeError, ValueError) as err:
            raise ReportFormatError(f"{where}: {err}") from err
        videos.append(video)
        subjects.append(read_csv_text(row["subject"] or ""))
    targets = np.asarray(targets, dtype=np.float64 if regression else np.int64)
    return videos, subjects, targets, np.asarray(values, dtype=np.float64), correct, segments


def _warn_about_flipped_decisions(path: Path, videos: list[str], correct: list[str], recomputed: np.ndarray) -> None:
    # Decisions are recomputed from the written (rounded) probabilities; say so if one flipped.
    flipped = [v for v, flag, ok in zip(videos, correct, recomputed) if (flag == "1") != ok]
    if flipped:
        warnings.warn(
            f"{path}: the rounded probabilities give another decision than the 'correct' column "
            f"for {len(flipped)} video(s) ({few(flipped)}); the comparison uses the probabilities",
            stacklevel=4,
        )


def few(names: Sequence[str], limit: int = 5) -> str:
    """Up to ``limit`` of ``names``, sorted, and how many more there are."""
    shown = ", ".join(sorted(names)[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_report(report_dir: str | os.PathLike) -> EvaluationResult:
    """Read an evaluation report folder back: metrics, intervals and the per-video predictions (clip scores
    are not kept in the folder, so ``clip_probabilities`` is empty)."""
    report = read_report(report_dir)
    predictions = [
        VideoPrediction(
            video_id=i,
            video=video,
            subject=subject,
            label=_saved_label(target, report),
            probabilities=[float(values)] if report.regression and values.ndim == 0 else [float(v) for v in values],
            clip_probabilities=[],
            clip_seconds=[],
            source_video=source,
            segment=segment,
        )
        for i, (video, subject, target, values, source, segment) in enumerate(
            zip(
                report.videos,
                report.subjects,
                report.targets,
                report.values,
                report.source_videos,
                report.segments or [None] * len(report.videos),
            )
        )
    ]
    meta = report.meta

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
        task=report.task,
        targets=list(meta.get("headline_over_targets", {}).get("over_targets", [])),
        ordinal=bool(meta.get("ordinal", False)),
    )


def _saved_label(target, report: SavedReport) -> int | float | list[float]:
    if report.multi_target:
        return [float(v) for v in target]
    return float(target) if report.regression else int(target)


# ---------------------------------------------------------------------------------------------- writing


def check_output_dir(output_dir: str | os.PathLike, *, overwrite: bool) -> None:
    """Refuse, before any work, to write a report where one exists (unless ``overwrite``) or where a folder
    that is not a report would be replaced (never: it may be someone's thesis)."""
    folder = Path(output_dir)
    if folder.is_file():
        raise ReportExistsError(f"{folder} is a file; give a folder for the report")
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    if not is_report_folder(folder):
        raise ReportExistsError(
            f"{folder} exists and is not an evaluation report made by surgical-skill (it holds other files); "
            "it is left alone: choose another --output-dir"
        )
    if not overwrite:
        raise ReportExistsError(
            f"{folder} already holds an evaluation report; pass --overwrite to replace it, or choose another "
            "--output-dir"
        )


def is_report_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is a report this toolkit wrote: its marker says so, or (written before reports were
    marked) it holds ``metrics.json`` and nothing but a report's own files. A folder that merely holds a
    ``metrics.json`` beside other things (someone's thesis, another tool's output) is not one."""
    folder = Path(folder)
    kind = folder_kind(folder)
    if kind is not None:
        return kind == REPORT_KIND
    return (folder / REPORT_MARKER).is_file() and is_toolkit_folder(folder, REPORT_LEGACY)


@dataclass
class ReportSettings:
    """How the figures of a report were made (written into ``metrics.json`` and ``report.md``)."""

    split_name: str
    clips_per_video: int
    resampled_by: str
    bootstrap_samples: int


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
    settings = ReportSettings(split_name, clips_per_video, resampled_by, bootstrap_samples)
    final = Path(output_dir)
    if final.exists():
        check_output_dir(final, overwrite=True)  # only a report, or an empty folder, is ever replaced
    # staged_folder checks again before the rename: still a report (or empty) now that the work is done
    with staged_folder(final, kind=REPORT_KIND, legacy=REPORT_LEGACY) as tmp:
        write_json_atomic(tmp / "metrics.json", metrics_payload(result, settings))
        _write_predictions(tmp, result)
        figures = (
            plots.regression_figures(tmp, result) if result.regression else plots.classification_figures(tmp, result)
        )
        figures["timeline"] = plots.timeline_figure(tmp, result)
        (tmp / "report.md").write_text(report_markdown(result, figures, settings))
    return final


def metrics_payload(result: EvaluationResult, settings: ReportSettings) -> dict[str, Any]:
    """The content of ``metrics.json``."""
    payload = {
        "split": settings.split_name,
        "protocol": result.protocol,
        "videos": len(result.predictions),
        "subjects": len({p.subject for p in result.predictions if p.subject}),
        "clips_per_video": settings.clips_per_video,
        "task": result.task,
        "labels": result.label_names,
        "threshold": result.threshold,
        "threshold_source": result.threshold_source,
        "metrics": json_safe(result.metrics),
        "confidence_intervals_95": {k: json_safe(list(v)) for k, v in result.intervals.items()},
        "interval_methods": result.interval_methods,
        "bootstrap": {"samples": settings.bootstrap_samples, "resampled_by": settings.resampled_by},
        "notes": result.notes,
    }
    if result.ordinal:
        payload["ordinal"] = True
    if result.multi_target:
        payload.update(json_safe(named_score_blocks(result)))
    if isinstance(result.baselines, dict):  # several named scores: each score's baselines
        payload["baselines"] = {
            "per_target": {name: b.to_dict() for name, b in result.baselines.items()},
            "verdicts": result.baseline_verdicts,
        }
    elif result.baselines is not None:
        payload["baselines"] = {**result.baselines.to_dict(), "verdicts": result.baseline_verdicts}
    if result.raters is not None:
        payload["raters"] = json_safe(result.raters)
    if result.target_raters:
        payload["raters_by_target"] = json_safe(result.target_raters)
    return payload


def scored_videos(result: EvaluationResult, name: str) -> int:
    """How many of the result's videos have a true value of the named score ``name``."""
    k = result.label_names.index(name)
    return sum(bool(np.isfinite(p.label[k])) for p in result.predictions)


def named_score_blocks(result: EvaluationResult) -> dict[str, Any]:
    """``metrics.json``'s view of several named scores, beside the flat ``metrics``: ``per_target`` (each score's
    Spearman, Pearson, MAE, RMSE, videos and 95 % intervals; a reported sum says what it sums) and
    ``headline_over_targets`` (the Fisher-z mean of Spearman over the model's targets, with the mean MAE/RMSE)."""
    m, ci = result.metrics, result.intervals
    nan = (float("nan"), float("nan"))
    per_target = {}
    for name in result.label_names:
        if f"{name}/spearman" not in m:
            per_target[name] = {"videos": 0, "note": "no true value in the dataset: left out of the metrics"}
            continue
        per_target[name] = {
            **{metric: m[f"{name}/{metric}"] for metric in ("spearman", "pearson", "mae", "rmse")},
            "videos": scored_videos(result, name),
            "confidence_intervals_95": {
                metric: list(ci.get(f"{name}/{metric}", nan)) for metric in ("spearman", "pearson", "mae", "rmse")
            },
            **({} if name in result.targets else {"sum_of": list(result.targets)}),
        }
    headline = {
        "spearman_fisher_z": m.get("spearman_fisher_z"),
        "over_targets": list(result.targets),
        "confidence_interval_95": list(ci.get("spearman_fisher_z", nan)),
        "pearson_fisher_z": m.get("pearson_fisher_z"),
        "mae_mean": m.get("mae_mean"),
        "rmse_mean": m.get("rmse_mean"),
    }
    return {"per_target": per_target, "headline_over_targets": headline}


def decided_labels(result: EvaluationResult) -> np.ndarray:
    """Each video's decided class (the result's threshold, else argmax); classification results only."""
    return predict_labels(np.asarray([p.probabilities for p in result.predictions]), result.threshold)


def _prediction_rows(result: EvaluationResult, proxies: bool) -> tuple[list[str], list[list[Any]]]:
    names = result.label_names
    segments = any(p.segment for p in result.predictions)  # rows covering a segment of their video: which
    header = ["video", *(["source_video"] if proxies else []), *(SEGMENT_COLUMNS if segments else ())]
    if result.multi_target:  # one true and one predicted column per reported score, named
        header += ["subject", *(c for name in names for c in score_columns(name))]
        rows = []
        for p in result.predictions:
            video = [p.video, p.source_video] if proxies else [p.video]
            if segments:
                video += list(p.segment) if p.segment else ["", ""]
            pairs = [(_score_cell(t), round(v, 6)) for t, v in zip(p.label, p.probabilities)]
            rows.append([*video, p.subject, *(cell for pair in pairs for cell in pair)])
        return header, rows
    header += ["subject", "label", "prediction"]
    if result.regression:
        header.append("predicted_score")
    else:
        header += [f"p_{name}" for name in names] + ["correct"]
    rows = []
    decided = [None] * len(result.predictions) if result.regression else decided_labels(result)
    for p, predicted in zip(result.predictions, decided):
        video = [p.video, p.source_video] if proxies else [p.video]
        if segments:
            video += list(p.segment) if p.segment else ["", ""]
        if result.regression:
            rows.append([*video, p.subject, p.label, round(p.probabilities[0], 6), round(p.probabilities[0], 6)])
        else:
            probabilities = (round(v, 6) for v in p.probabilities)
            correct = int(predicted == int(p.label))
            rows.append([*video, p.subject, names[int(p.label)], names[predicted], *probabilities, correct])
    return header, rows


def _score_cell(value: float) -> float | str:
    """A true score as written: empty where the dataset gives none."""
    return "" if not np.isfinite(value) else value


def _write_predictions(folder: Path, result: EvaluationResult) -> None:
    proxies = any(p.source_video for p in result.predictions)  # then say which recording each proxy is
    header, rows = _prediction_rows(result, proxies)
    _write_csv(folder / "predictions.csv", [header, *rows])
    if result.regression:
        return
    _write_csv(folder / "misclassified.csv", [header, *(r for r in rows if not r[-1])])
    names = result.label_names
    (folder / "classification_report.txt").write_text(
        classification_report(
            [int(p.label) for p in result.predictions],
            decided_labels(result),
            labels=list(range(len(names))),
            target_names=names,
            digits=3,
            zero_division=0,
        )
    )


def _write_csv(path: Path, rows) -> None:
    # names, subjects and labels come from other people's spreadsheets: no cell may run as a formula
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([csv_text(cell) for cell in row] for row in rows)


# ---------------------------------------------------------------------------------------------- report.md

FIGURE_TITLES = {
    "confusion_matrix": "Confusion matrix",
    "roc_and_precision_recall": "ROC and precision-recall curves",
    "reliability_diagram": "Reliability diagram",
    "timeline": "Clip scores over time",
    "predicted_vs_true": "Predicted vs true scores",
    "residuals": "Residuals (predicted - true) against the true score",
}


def report_markdown(result: EvaluationResult, figures: dict[str, str], settings: ReportSettings) -> str:
    """``report.md``: the headline table with intervals, notes, baselines, per-class figures and the plots."""
    lines = _named_score_lines(result, settings) if result.multi_target else _headline_lines(result, settings)
    for note in result.notes:  # notes name videos and subjects: data, shown as literal text
        lines += [f"**Note.** {markdown_inline(note)}", ""]
    if isinstance(result.baselines, dict):
        lines += _target_baseline_lines(result)
    elif result.baselines is not None:
        lines += _baseline_lines(result)
    if result.raters is not None:
        lines += _rater_lines(result.raters)
    for name, raters in (result.target_raters or {}).items():
        lines += _rater_lines(raters, name)
    if not result.regression:
        lines += _classification_lines(result)
    if result.ordinal:
        lines += _ordinal_lines(result)
    for key, name in figures.items():
        title = FIGURE_TITLES.get(key, key.replace("_", " ").capitalize())
        lines += [f"## {title}", "", f"![{key}]({name})", ""]
    return "\n".join(lines)


def _headline_lines(result: EvaluationResult, settings: ReportSettings) -> list[str]:
    surgeons = (
        f" of {len({p.subject for p in result.predictions})} surgeons"
        if all(p.subject for p in result.predictions)
        else ""
    )
    lines = [
        f"# Evaluation on the {markdown_inline(settings.split_name)} split",
        "",
        *([markdown_inline(result.protocol), ""] if result.protocol else []),
        f"{len(result.predictions)} videos{surgeons}; each scored from {settings.clips_per_video} clips spread "
        "over the whole video (mean probability).",
        "",
        "| metric | value | 95 % interval |",
        "|---|---|---|",
    ]
    for name in HEADLINE_REGRESSION if result.regression else HEADLINE_CLASSIFICATION:
        low, high = result.intervals.get(name, (float("nan"), float("nan")))
        lines.append(f"| {name.replace('_', ' ')} | {fmt(result.metrics.get(name))} | {fmt(low)} to {fmt(high)} |")
    lines += [
        "",
        f"Intervals: percentile bootstrap, {settings.bootstrap_samples} resamples of whole "
        f"{settings.resampled_by}s (videos of one surgeon are not independent).",
    ]
    for name, method in result.interval_methods.items():
        lines.append(f"The {name.replace('_', ' ')} interval: {method}.")
    lines.append("")
    return lines


def _interval(result: EvaluationResult, name: str) -> str:
    low, high = result.intervals.get(name, (float("nan"), float("nan")))
    return f"{fmt(low)} to {fmt(high)}"


def _named_score_lines(result: EvaluationResult, settings: ReportSettings) -> list[str]:
    """The headline of several named scores: the Fisher-z mean of Spearman over the model's targets, then one
    row per reported score (Spearman, Pearson, MAE with 95 % intervals; RMSE; the videos with a true value)."""
    lines = _headline_lines(result, settings)
    table_start = lines.index("| metric | value | 95 % interval |")
    protocol = lines[lines.index("") + 1 : table_start]  # the protocol and the videos, as for one score
    m = result.metrics
    over = ", ".join(markdown_inline(t) for t in result.targets)
    lines = [
        lines[0],
        "",
        *protocol,
        f"**Spearman's rho over the {len(result.targets)} targets (Fisher-z mean): {fmt(m.get('spearman_fisher_z'))} "
        f"(95 % interval {_interval(result, 'spearman_fisher_z')})**; mean MAE {fmt(m.get('mae_mean'))} "
        f"({_interval(result, 'mae_mean')}), mean RMSE {fmt(m.get('rmse_mean'))}, Pearson (Fisher-z mean) "
        f"{fmt(m.get('pearson_fisher_z'))}. The mean is over the model's own scores ({over}): each correlation "
        "through Fisher's z = atanh(r), averaged, and back through tanh; a reported sum is not in it (it would "
        "count its items twice).",
        "",
        "| target | Spearman [95 % CI] | Pearson [95 % CI] | MAE [95 % CI] | RMSE | videos |",
        "|---|---|---|---|---|---|",
    ]
    for name in result.label_names:
        label = markdown_inline(name) + ("" if name in result.targets else " (sum)")
        if f"{name}/spearman" not in m:
            lines.append(f"| {label} | n/a | n/a | n/a | n/a | 0 |")
            continue
        cells = [
            f"{fmt(m[f'{name}/{metric}'])} [{_interval(result, f'{name}/{metric}')}]"
            for metric in ("spearman", "pearson", "mae")
        ]
        lines.append(f"| {label} | {' | '.join(cells)} | {fmt(m[f'{name}/rmse'])} | {scored_videos(result, name)} |")
    lines += [
        "",
        "MAE and RMSE are in each score's own units. Intervals: percentile bootstrap, "
        f"{settings.bootstrap_samples} resamples of whole {settings.resampled_by}s (videos of one surgeon are not "
        "independent), the same resamples for every figure.",
    ]
    for name, method in result.interval_methods.items():
        lines.append(f"The {name.replace('_', ' ')} interval: {method}.")
    return [*lines, ""]


def _ordinal_lines(result: EvaluationResult) -> list[str]:
    """Ordered classes: the figures that count how far a decision is from the true class."""
    m = result.metrics
    return [
        "## Ordered classes",
        "",
        f"The classes are ordered ({' &lt; '.join(markdown_inline(n) for n in result.label_names)}): a decision one "
        "class off is a smaller error "
        "than one two classes off.",
        "",
        "| metric | value | 95 % interval |",
        "|---|---|---|",
        f"| quadratic-weighted kappa | {fmt(m.get('quadratic_kappa'))} | {_interval(result, 'quadratic_kappa')} |",
        f"| Expected Cost (cost: classes apart) | {fmt(m.get('expected_cost'))} | "
        f"{_interval(result, 'expected_cost')} |",
        f"| mean absolute class error | {fmt(m.get('mean_absolute_class_error'))} | "
        f"{_interval(result, 'mean_absolute_class_error')} |",
        f"| F1 (macro) | {fmt(m.get('f1_macro'))} | {_interval(result, 'f1_macro')} |",
        "",
        "Expected Cost (Ferrer 2022; the OSS challenge's figure) weighs each decision by its distance from the true "
        "class, the classes weighted by their share of the videos: here the mean absolute class distance. The "
        "intervals resample whole surgeons as above.",
        "",
    ]


def _target_baseline_lines(result: EvaluationResult) -> list[str]:
    """Several named scores: each score's static baselines against the model's Spearman on it."""
    lines = [
        "## Static baselines on the same videos",
        "",
        "What a model could score without watching anything move (see `surgical-skill audit`), for each score:",
        "",
    ]
    for name, baselines in result.baselines.items():
        value, _ = model_figure(result, baselines)
        lines += [f"### {markdown_inline(name)}", "", baselines.to_markdown(value), ""]
    lines += [*(f"- {markdown_inline(line)}" for line in result.baseline_verdicts), ""]
    return lines


def _baseline_lines(result: EvaluationResult) -> list[str]:
    value, _ = model_figure(result)
    return [
        "## Static baselines on the same videos",
        "",
        "What a model could score without watching anything move (see `surgical-skill audit`):",
        "",
        result.baselines.to_markdown(value),
        "",
        *(f"- {markdown_inline(line)}" for line in result.baseline_verdicts),
        "",
    ]


def _rater_lines(raters: dict[str, Any], target: str = "") -> list[str]:
    """The human reference: how well the raters agree with each other, and the model against each of them
    (``target``: which of several named scores)."""
    agreement, model = raters["agreement"], raters["model"]
    names = raters["rater_names"]
    target = markdown_inline(target) if target else ""
    lines = [
        "## Raters: the human reference" + (f" ({target})" if target else ""),
        "",
        (
            f"Each video's '{target}' was scored by {raters['per_video']} raters ({agreement['raters']} in all). "
            if target
            else f"The score is each video's mean over its raters ({raters['per_video']} a video, "
            f"{agreement['raters']} in all). "
        )
        + "Their own agreement: ICC(2,1) "
        + (
            f"{fmt(agreement['icc_2_1'])} (on the {agreement['complete_items']} videos every rater scored), "
            if agreement["complete_items"] >= 2
            else "n/a (it needs videos that every rater scored; the raters differ from video to video), "
        )
        + f"Krippendorff's alpha (interval) {fmt(agreement['krippendorff_alpha'])} (on {agreement['items']} videos with "
        f"two or more ratings), pairwise Spearman (Fisher-z mean) {fmt(agreement['spearman_fisher_z'])}. A model "
        "agreeing with each rater about as well as the raters agree with each other has reached the human line.",
        "",
        "| model against | Spearman | Pearson | MAE |",
        "|---|---|---|---|",
    ]
    for who, label in (
        ("raters_mean", "the raters' mean"),
        *((name, f"rater {markdown_inline(name)}") for name in names),
    ):
        lines.append(
            f"| {label} | {fmt(model.get(f'{who}/spearman'))} | {fmt(model.get(f'{who}/pearson'))} | "
            f"{fmt(model.get(f'{who}/mae'))} |"
        )
    return [*lines, ""]


def _classification_lines(result: EvaluationResult) -> list[str]:
    if result.threshold is not None:
        lines = [
            f"Decision threshold on p({markdown_inline(result.label_names[1])}): {result.threshold:.3f}, "
            f"{markdown_inline(result.threshold_source or 'given')}.",
            "",
        ]
    else:
        lines = ["Decision: the class with the largest probability.", ""]
    lines += [
        "Per class:",
        "",
        "| class | precision | recall | specificity | F1 | videos |",
        "|---|---|---|---|---|---|",
    ]
    m = result.metrics
    for i, name in enumerate(result.label_names):
        lines.append(
            f"| {markdown_inline(name)} | {fmt(m['precision_per_class'][i])} | {fmt(m['recall_per_class'][i])} | "
            f"{fmt(m['specificity_per_class'][i])} | {fmt(m['f1_per_class'][i])} | {m['support_per_class'][i]} |"
        )
    wrong = int(np.sum(decided_labels(result) != np.asarray([int(p.label) for p in result.predictions])))
    lines += [
        "",
        f"Also in `metrics.json`: log loss {fmt(m['log_loss'])}, Brier score {fmt(m['brier'])}, expected "
        f"calibration error {fmt(m['ece'])}, average precision {fmt(m['average_precision'])}, quadratic kappa "
        f"{fmt(m['quadratic_kappa'])}.",
        "",
        f"{wrong} misclassified video(s): see `misclassified.csv`; every video is in `predictions.csv`.",
        "",
    ]
    return lines


# ---------------------------------------------------------------------------------------------- summaries


def headline_summary(result: EvaluationResult, split: str) -> str:
    """Lines with the main figure and its interval, the threshold, and the baselines beside it (for the end of
    a training run or ``surgical-skill evaluate``)."""
    if result.multi_target:
        low, high = result.intervals.get("spearman_fisher_z", (float("nan"), float("nan")))
        lines = [
            f"{split}: video-level Spearman over {len(result.targets)} targets (Fisher-z mean) "
            f"{fmt(result.metrics.get('spearman_fisher_z'))} (95 % CI {fmt(low)} to {fmt(high)}), mean MAE "
            f"{fmt(result.metrics.get('mae_mean'))} over {len(result.predictions)} videos; report in "
            f"{result.report_dir}"
        ]
        return "\n".join(lines + result.baseline_verdicts + result.notes)
    name = "accuracy" if "accuracy" in result.metrics else "mae"
    low, high = result.intervals.get(name, (float("nan"), float("nan")))
    lines = [
        f"{split}: video-level {name} {result.metrics[name]:.3f} (95 % CI {fmt(low)} to {fmt(high)}) over "
        f"{len(result.predictions)} videos; report in {result.report_dir}"
    ]
    if result.threshold is not None:
        lines.append(
            f"decision: p({result.label_names[1]}) >= {result.threshold:.3f}, threshold {result.threshold_source}"
        )
    lines += result.baseline_verdicts
    lines += result.notes
    return "\n".join(lines)


def model_figure(result: EvaluationResult, baselines: Any = None) -> tuple[float | None, list[bool] | None]:
    """The model's figure in its baselines' metric (``baselines``, by default ``result.baselines``), and its
    per-video right/wrong in their video order (None when the videos differ): what the baselines' verdicts compare
    against. Baselines of one of several named scores (their ``target``) are read against that score's Spearman."""
    baselines = result.baselines if baselines is None else baselines
    if baselines.metric == "spearman":
        target = getattr(baselines, "target", "") if result.multi_target else ""  # one score: its plain figure
        return result.metrics.get(f"{target}/spearman" if target else "spearman"), None
    decided = decided_labels(result)
    keyed = {
        segment_name(p.source_video or p.video, p.segment): int(d) == int(p.label)
        for p, d in zip(result.predictions, decided)
    }
    if all(v in keyed for v in baselines.videos):
        return result.metrics["accuracy"], [keyed[v] for v in baselines.videos]
    return result.metrics["accuracy"], None
