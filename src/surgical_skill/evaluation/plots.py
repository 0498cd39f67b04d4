"""Report figures (matplotlib, written as PNG): confusion matrices, ROC and precision-recall curves, a
reliability diagram, predicted-vs-true scores, and per-video timelines of clip scores.

Figures are made with matplotlib's object API (``Figure``, not ``pyplot``): they go to files only, and importing
this module leaves the user's plotting backend alone.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn import metrics as skm

from ..data.clips import segment_name
from ..markup import visible_controls
from .metrics import predict_labels


def _save(fig: Figure, folder: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(folder / name, dpi=110)
    return name


def _subplots(*grid: int, figsize: tuple[float, float], **kwargs):
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, **kwargs)


def classification_figures(folder: Path, result) -> dict[str, str]:
    """The confusion matrices, ROC and precision-recall curves and the reliability diagram, as PNG files in
    ``folder``; returns {figure key: file name}."""
    labels = np.asarray([int(p.label) for p in result.predictions])
    probabilities = np.asarray([p.probabilities for p in result.predictions])
    return {
        "confusion_matrix": _confusion_figure(folder, result.label_names, labels, probabilities, result.threshold),
        "roc_and_precision_recall": _roc_pr_figure(folder, result.label_names, labels, probabilities),
        "reliability_diagram": _reliability_figure(folder, labels, probabilities),
    }


def _confusion_figure(folder: Path, names, labels: np.ndarray, probabilities: np.ndarray, threshold) -> str:
    predicted = predict_labels(probabilities, threshold)
    fig, axes = _subplots(1, 2, figsize=(10, 4.2))
    for ax, normalize, title in ((axes[0], None, "counts"), (axes[1], "true", "share of each true class")):
        skm.ConfusionMatrixDisplay.from_predictions(
            labels,
            predicted,
            labels=list(range(len(names))),
            display_labels=names,
            normalize=normalize,
            ax=ax,
            colorbar=False,
            values_format=".2f" if normalize else "d",
            cmap="Blues",
        )
        ax.set_title(f"Confusion matrix ({title})")
    return _save(fig, folder, "confusion_matrix.png")


def _roc_pr_figure(folder: Path, names, labels: np.ndarray, probabilities: np.ndarray) -> str:
    fig, axes = _subplots(1, 2, figsize=(10, 4.2))
    present = np.unique(labels)
    for k in range(len(names)) if len(names) > 2 else [1]:
        if k not in present or len(present) < 2:
            continue
        truth = (labels == k).astype(int)
        fpr, tpr, _ = skm.roc_curve(truth, probabilities[:, k])
        precision, recall, _ = skm.precision_recall_curve(truth, probabilities[:, k])
        axes[0].plot(fpr, tpr, label=f"{names[k]} (AUC {skm.auc(fpr, tpr):.2f})")
        axes[1].plot(
            recall, precision, label=f"{names[k]} (AP {skm.average_precision_score(truth, probabilities[:, k]):.2f})"
        )
    axes[0].plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    axes[0].set(
        xlabel="false positive rate (1 - specificity)",
        ylabel="true positive rate (sensitivity)",
        title="ROC curve" + (" (one vs rest)" if len(names) > 2 else ""),
    )
    axes[1].set(xlabel="recall", ylabel="precision", title="Precision-recall curve", ylim=(0, 1.02))
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right" if ax is axes[0] else "lower left", fontsize=8)
        else:  # the videos hold one class: no curve is defined
            ax.text(0.5, 0.5, "needs videos of both classes", ha="center", va="center", transform=ax.transAxes)
    return _save(fig, folder, "roc_pr.png")


def _reliability_figure(folder: Path, labels: np.ndarray, probabilities: np.ndarray) -> str:
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == labels
    edges = np.linspace(0, 1, 11)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, 9)
    fig, ax = _subplots(figsize=(5, 4.6))
    centres, accuracy, counts = [], [], []
    for b in range(10):
        members = which == b
        if members.any():
            centres.append(confidence[members].mean())
            accuracy.append(correct[members].mean())
            counts.append(int(members.sum()))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8, label="perfectly calibrated")
    ax.plot(centres, accuracy, marker="o", label="model")
    for x, y, n in zip(centres, accuracy, counts):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set(
        xlabel="confidence (top probability)",
        ylabel="accuracy",
        xlim=(0, 1),
        ylim=(0, 1.02),
        title="Reliability diagram (videos per bin)",
    )
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, folder, "reliability.png")


def _score_panels(result) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Each reported score with a true value: ``(name, true scores, predicted scores)`` over the videos that have
    one (one unnamed score: ``("score", ...)``)."""
    if not getattr(result, "multi_target", False):
        truth = np.asarray([float(p.label) for p in result.predictions])
        predicted = np.asarray([p.probabilities[0] for p in result.predictions])
        return [(result.label_names[0] if result.label_names else "score", truth, predicted)]
    truths = np.asarray([p.label for p in result.predictions], dtype=np.float64)
    values = np.asarray([p.probabilities for p in result.predictions], dtype=np.float64)
    panels = []
    for k, name in enumerate(result.label_names):
        known = np.isfinite(truths[:, k])
        if known.any():
            panels.append((name, truths[known, k], values[known, k]))
    return panels


def _panel_grid(count: int, *, width: float = 4.0, height: float = 3.8):
    columns = min(count, 3)
    rows = -(-count // columns)
    fig, axes = _subplots(rows, columns, figsize=(max(width * columns, 5.5), height * rows), squeeze=False)
    for ax in list(axes.flat)[count:]:
        ax.axis("off")
    return fig, list(axes.flat)


def regression_figures(folder: Path, result) -> dict[str, str]:
    """Predicted against true scores and the residuals against the true score, one panel per reported score
    (in its own units), as PNG files in ``folder``; returns {figure key: file name}."""
    panels = _score_panels(result)
    if not panels:
        return {}
    scatter, scatter_axes = _panel_grid(len(panels))
    residual, residual_axes = _panel_grid(len(panels), height=3.2)
    for ax, rax, (name, truth, predicted) in zip(scatter_axes, residual_axes, panels):
        title = "score" if name == "score" else name.replace("_", " ")
        ax.scatter(truth, predicted, s=18, alpha=0.8)
        low, high = min(truth.min(), predicted.min()), max(truth.max(), predicted.max())
        pad = 0.05 * (high - low or 1.0)
        ax.plot([low - pad, high + pad], [low - pad, high + pad], ls="--", c="grey", lw=0.8, label="predicted = true")
        ax.set(xlim=(low - pad, high + pad), ylim=(low - pad, high + pad), aspect="equal")
        ax.set(xlabel=f"true {title}", ylabel=f"predicted {title}", title=f"{title} ({len(truth)} videos)")
        ax.legend(loc="upper left", fontsize=7)
        errors = predicted - truth
        rax.scatter(truth, errors, s=18, alpha=0.8)
        rax.axhline(0.0, ls="--", c="grey", lw=0.8)
        rax.axhline(errors.mean(), c="C3", lw=0.8, label=f"mean {errors.mean():+.2f}")
        rax.set(xlabel=f"true {title}", ylabel="predicted - true (score units)", title=title)
        rax.legend(loc="upper right", fontsize=7)
    scatter.suptitle("Predicted vs true scores (score units)", fontsize=10)
    residual.suptitle("Residuals (above 0: scored too high)", fontsize=10)
    return {
        "predicted_vs_true": _save(scatter, folder, "scores.png"),
        "residuals": _save(residual, folder, "residuals.png"),
    }


def timeline_figure(folder: Path, result, max_videos: int = 12) -> str:
    """Clip scores along each video: where in the recording the model saw skilled or unskilled work.
    Misclassified videos first."""
    names = result.label_names
    regression = result.regression
    multi = getattr(result, "multi_target", False)
    shown = [k for k, name in enumerate(names) if name in (getattr(result, "targets", None) or names)]

    def wrong(p):
        return not regression and int(predict_labels(np.asarray([p.probabilities]), result.threshold)[0]) != int(
            p.label
        )

    chosen = sorted(result.predictions, key=lambda p: (not wrong(p), p.video_id))[:max_videos]
    columns = 3
    rows = -(-len(chosen) // columns)
    fig, axes = _subplots(rows, columns, figsize=(4 * columns, 2.2 * rows), squeeze=False, sharey=True)
    for ax, p in zip(axes.flat, chosen):
        mids = [(a + b) / 2 for a, b in p.clip_seconds]
        if multi:  # each of the model's own scores (a sum's scale would flatten them)
            for k in shown:
                ax.plot(mids, [c[k] for c in p.clip_probabilities], marker="o", ms=3, label=names[k])
        else:
            values = [c[0] if regression else c[-1] for c in p.clip_probabilities]
            ax.plot(mids, values, marker="o", ms=3)
            for (a, b), v in zip(p.clip_seconds, values):
                ax.plot([a, b], [v, v], c="C0", alpha=0.3, lw=3)
        if not regression:
            ax.axhline(result.threshold if result.threshold is not None else 0.5, ls="--", c="grey", lw=0.7)
            ax.set_ylim(0, 1)
        truth = "" if multi else f" ({p.label if regression else names[int(p.label)]})"  # several: in the legend
        ax.set_title(
            plain_text(
                f"{segment_name(Path(p.video).stem, getattr(p, 'segment', None))}{truth}{' - wrong' if wrong(p) else ''}"
            ),
            fontsize=8,
            color="C3" if wrong(p) else "black",
        )
        ax.set_xlabel("seconds", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(chosen) :]:
        ax.axis("off")
    axes[0, 0].set_ylabel("score" if regression else f"p({names[-1]})", fontsize=8)
    if multi and chosen:
        axes[0, 0].legend(fontsize=6, loc="best")
    fig.suptitle("Clip scores over time", fontsize=10)
    return _save(fig, folder, "timelines.png")


def prediction_timeline(result: dict, folder: str | Path) -> Path:
    """A pipeline result's clip scores along the video, as ``<video name>-<hash>_timeline.png`` in ``folder``
    (:func:`timeline_file_name`: one file per video path, a safe name whatever the video is called)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / _save(prediction_timeline_figure(result), folder, timeline_file_name(result["metadata"]["video"]))


def prediction_timeline_figure(result: dict) -> Figure:
    """The figure :func:`prediction_timeline` saves: each class's probability (or each score, a panel each) at
    the middle of each clip, titled with the video's name and result (the web app shows it as it is)."""
    clips = result["clips"]
    fig, ax = _subplots(figsize=(7, 2.8))
    if "probabilities" in result:
        for name in result["probabilities"]:
            ax.plot(
                [(c["start"] + c["end"]) / 2 for c in clips],
                [c["probabilities"][name] for c in clips],
                marker="o",
                ms=3,
                label=name,
            )
        ax.set(ylim=(0, 1), ylabel="probability")
        ax.legend(fontsize=7, loc="upper right")
        title = f"{result['label']} ({result['score']:.2f})"
    elif len(result.get("scores") or {}) > 1:  # several named scores: a panel each, on its own scale
        names = list(result["scores"])
        fig, axes = _subplots(len(names), 1, figsize=(7, 1.2 + 1.3 * len(names)), sharex=True, squeeze=False)
        middles = [(c["start"] + c["end"]) / 2 for c in clips]
        for row, name in zip(axes[:, 0], names):
            row.plot(middles, [c["scores"][name] for c in clips], marker="o", ms=3)
            row.set_ylabel(name.replace("_", " "), fontsize=7)
            row.set_title(f"{name} {result['scores'][name]:.2f}", fontsize=8, loc="left")
        axes[-1, 0].set_xlabel("seconds")
        fig.suptitle(plain_text(Path(result["metadata"]["video"]).name), fontsize=9)
        fig.tight_layout()
        return fig
    else:
        ax.plot([(c["start"] + c["end"]) / 2 for c in clips], [c["score"] for c in clips], marker="o", ms=3)
        ax.set(ylabel="score")
        title = f"score {result['predicted_score']:.2f}"
    ax.set(xlabel="seconds", title=plain_text(f"{Path(result['metadata']['video']).name}: {title}"))
    fig.tight_layout()
    return fig


def timeline_file_name(video: str) -> str:
    """``<safe stem>-<8 hex>_timeline.png`` for a video: the stem keeps only letters, digits, ``.``, ``_`` and
    ``-`` (no separator, newline or leading dot reaches the file system), and the hash of the whole path as given
    keeps two videos of one name in different folders apart."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(video)).stem).lstrip(".")[:60] or "video"
    digest = hashlib.sha256(str(video).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{stem}-{digest}_timeline.png"


def plain_text(text: str) -> str:
    """A name from data as a matplotlib title shows it literally: controls visible (one line) and ``$`` escaped
    (matplotlib reads ``$...$`` as mathtext, which can fail to parse)."""
    return visible_controls(str(text)).replace("$", r"\$")
