"""Static baselines: how much of a skill figure could a model get without watching anything move?

On real skill datasets, time-to-complete alone often predicts skill, and a recording's size, its scene or its
final frame (the finished suture) can carry the label too. A video model's figure means little until it is
read beside these. :func:`static_baselines` fits each one on held-out surgeons, grouped like the real splits:

- ``duration``: the trial's length in seconds only;
- ``file_size`` and ``bitrate``: the recording's size on disk, and its bits per second;
- ``middle_frame`` and ``last_frame``: a small image classifier (:class:`FrameClassifier`, a three-layer CNN
  trained from scratch on 64x64 frames) that sees one frame per video, from the middle or the very end.

A row covering a segment of its video (``segment_start``/``segment_end``: a phase rated on its own) gets the
segment's length as ``duration`` and its frames from the middle or the end of the segment; ``file_size`` and
``bitrate`` stay the whole recording's (one file holds every segment).

Each gets the held-out accuracy (Spearman's rho for scores) with a 95 % interval by surgeon. Every baseline is
fitted with a fixed recipe on the training part only; nothing is tuned on the held-out surgeons.

    >>> audit = static_baselines(load_skill_dataset("ratings.csv", split_ratios=None)["train"])
    >>> print(audit.to_markdown())
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from datasets import ClassLabel, Dataset, concatenate_datasets
from scipy import stats
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from ..data.building import label_values, score_target_names, with_current_column_names
from ..data.clips import SEGMENT_COLUMNS, segment_bounds, segment_name
from ..data.splits import fold_indices, subject_groups
from ..markup import markdown_inline
from ..video import VideoDecodeError, decode_frames
from ..video.sources import check_source
from .compare import paired_bootstrap
from .formatting import finite_or_none, fmt
from .metrics import bootstrap_intervals, exact_at_the_edges

logger = logging.getLogger(__name__)

BASELINES = {
    "duration": "trial length only",
    "file_size": "file size only",
    "bitrate": "bitrate only",
    "middle_frame": "one frame from the middle",
    "last_frame": "the last frame",
}
SHORT_NAMES = {
    "duration": "duration-only",
    "file_size": "file-size-only",
    "bitrate": "bitrate-only",
    "middle_frame": "middle-frame",
    "last_frame": "last-frame",
}
FRAME_SIZE = 64  # pixels per side of the frame the single-frame baseline sees
FRAME_EPOCHS = 30  # at least; and at least FRAME_STEPS optimizer steps, however few the frames
FRAME_STEPS = 200


@dataclass
class BaselineResult:
    """One baseline on the held-out videos: its figure, interval and per-video predictions."""

    name: str
    metric: str  # "accuracy" or "spearman"
    value: float
    interval: tuple[float, float]
    predictions: np.ndarray  # class ids (classification) or predicted scores, one per held-out video
    interval_method: str = "bootstrap"
    # the interval at 1 - 0.05 / (number of baselines): what a verdict reads, so that reading five baselines at
    # once does not find a shortcut by chance one time in eight (Bonferroni)
    verdict_interval: tuple[float, float] = (float("nan"), float("nan"))

    @property
    def description(self) -> str:
        return BASELINES[self.name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "metric": self.metric,
            "value": finite_or_none(self.value),
            "confidence_interval_95": [finite_or_none(v) for v in self.interval],
            "interval_method": self.interval_method,
            "verdict_interval": [finite_or_none(v) for v in self.verdict_interval],
        }


@dataclass
class StaticBaselines:
    """Every baseline on the same held-out videos, and how they were held out."""

    results: dict[str, BaselineResult]
    metric: str
    protocol: str  # how the held-out predictions were made, in words
    videos: list[str]  # the recordings (with their frames, for rows covering a segment: see segment_name)
    subjects: list[str]
    labels: np.ndarray
    chance: float  # the best constant prediction's figure on these videos (accuracy), or 0 (Spearman)
    label_names: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # baseline -> why it could not be fitted
    target: str = ""  # which of several named scores these baselines predict ("" for the dataset's one label)

    @property
    def regression(self) -> bool:
        return self.metric == "spearman"

    def verdicts(self, model_value: float | None = None, model_correct: Sequence[bool] | None = None) -> list[str]:
        """One line per baseline. Against a model's figure when given (``model_correct``: the model's right/wrong
        per video, in this report's video order, for a paired comparison); else against chance. Every baseline
        is read at once, so each verdict is a test at 0.05 / (number of baselines) (Bonferroni): a shortcut is
        not "found" by chance, and a model is "clearly above" only when it beats every baseline together."""
        lines = []
        for result in self.results.values():
            name = SHORT_NAMES[result.name]
            low, high = result.interval
            shown = f"{name} {result.value:.3f} (95 % CI {fmt(low)} to {fmt(high)})"
            low = result.verdict_interval[0]
            if model_value is not None:
                within = self._within_reach(result, model_value, model_correct)
                if within is None:
                    lines.append(f"{shown}: cannot be compared with the model (undefined on these videos)")
                elif within:
                    lines.append(
                        f"WITHIN REACH: {shown} vs model {model_value:.3f}; the model's figure may come from "
                        f"{result.description}, not from the motion"
                    )
                else:
                    lines.append(f"{shown}: the model ({model_value:.3f}) is clearly above it")
            elif math.isnan(low):
                lines.append(f"{shown}: undefined on these videos")
            elif low > self.chance:
                lines.append(
                    f"SHORTCUT: {shown} is above chance ({self.chance:.3f}, Bonferroni over {len(self.results)} "
                    f"baselines); {result.description} predicts the {'score' if self.regression else 'label'}"
                )
            elif result.interval[0] > self.chance:
                lines.append(
                    f"{shown}: above chance ({self.chance:.3f}) on its own, but not once the {len(self.results)} "
                    "baselines are read together (Bonferroni); possibly noise, check on more videos"
                )
            else:
                lines.append(f"{shown}: not distinguishable from chance ({self.chance:.3f})")
        return lines

    def _within_reach(self, result: BaselineResult, model_value: float, model_correct) -> bool | None:
        if math.isnan(result.value):
            return None
        if model_correct is not None and not self.regression:
            model = np.asarray(model_correct, dtype=float)
            baseline = (result.predictions == self.labels).astype(float)
            groups = self.subjects if all(self.subjects) else None
            diff = paired_bootstrap(
                lambda idx: {"accuracy": baseline[idx].mean()},
                lambda idx: {"accuracy": model[idx].mean()},
                len(model),
                groups,
                ("accuracy",),
                samples=2000,
            )["accuracy"]
            alpha = 0.05 / len(self.results)
            return bool(not diff["difference"] > 0 or not diff["p_value"] < alpha)
        high = result.verdict_interval[1]
        return bool(math.isnan(high) or high >= model_value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "protocol": self.protocol,
            "videos": len(self.videos),
            "subjects": len({s for s in self.subjects if s}),
            "chance": self.chance,
            "baselines": {name: result.to_dict() for name, result in self.results.items()},
            "skipped": self.skipped,
            **({"target": self.target} if self.target else {}),
        }

    def to_markdown(self, model_value: float | None = None) -> str:
        return baselines_markdown(self.to_dict(), model_value)


def baselines_markdown(payload: dict[str, Any], model_value: float | None = None) -> str:
    """The baselines table (from :meth:`StaticBaselines.to_dict`, e.g. read back from a report's
    ``metrics.json``) with the model's figure on top when given."""
    metric = payload["metric"]
    lines = [f"| static baseline | held-out {metric.replace('_', ' ')} | 95 % interval |", "|---|---|---|"]
    if model_value is not None:
        lines.append(f"| **the model** | **{model_value:.3f}** | |")
    for result in payload["baselines"].values():
        low, high = result["confidence_interval_95"]
        description = markdown_inline(result["description"])  # may be read back from a hand-edited metrics.json
        lines.append(f"| {description} | {fmt(result['value'])} | {fmt(low)} to {fmt(high)} |")
    chance = "Spearman's rho 0" if metric == "spearman" else f"accuracy {payload['chance']:.3f} (the largest class)"
    lines += ["", f"{markdown_inline(payload['protocol'])} Chance: {chance}."]
    for name, why in payload.get("skipped", {}).items():
        lines.append(f"Not computed: {BASELINES[name]} ({why}).")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- features


def _source_path(row: dict[str, Any]) -> str:
    """The recording as the user has it (proxies are re-encodes: their size says nothing about the original)."""
    return str(row.get("source_video") or row["video"])


def _segments(dataset: Dataset) -> list[tuple[int, int] | None]:
    """Each row's segment ``(start, end)`` in frames, or None for a row covering its whole video."""
    if not any(c in dataset.column_names for c in SEGMENT_COLUMNS):
        return [None] * len(dataset)
    columns = [c for c in ("video", "total_num_frames", *SEGMENT_COLUMNS) if c in dataset.column_names]
    return [
        segment_bounds(row.get("segment_start"), row.get("segment_end"), row["total_num_frames"], row["video"])
        for row in dataset.select_columns(columns)
    ]


def scalar_features(dataset: Dataset) -> dict[str, np.ndarray]:
    """``duration`` (seconds; a segment's own for a row covering one), ``file_size`` (log bytes) and ``bitrate``
    (log bits per second) per row."""
    durations = np.asarray(dataset["duration"], dtype=np.float64)
    for i, bounds in enumerate(_segments(dataset)):
        if bounds is not None:
            fps = dataset[i]["fps"]
            durations[i] = (bounds[1] - bounds[0]) / fps if fps else np.nan
    sizes = []
    for row in dataset:
        path = _source_path(row)
        sizes.append(os.path.getsize(path) if os.path.isfile(path) else np.nan)
    sizes = np.asarray(sizes, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "duration": durations,
            "file_size": np.log(sizes),
            "bitrate": np.log(sizes * 8 / durations),
        }


def frame_pixels(
    dataset: Dataset, which: str, *, allow_urls: bool = False, root: str | os.PathLike | None = None
) -> tuple[torch.Tensor, np.ndarray]:
    """One frame per video (per segment, for a row covering one), the middle one (``which="middle"``) or the last,
    as uint8 ``(N, 3, 64, 64)`` (squeezed to a square: a baseline, not a model), and which rows decoded.

    Each path is checked before it is opened (:func:`~surgical_skill.video.sources.check_source` with
    ``allow_urls`` and ``root``); a refused one counts as not decoded, with a warning."""
    frames = torch.zeros(len(dataset), 3, FRAME_SIZE, FRAME_SIZE, dtype=torch.uint8)
    decoded = np.zeros(len(dataset), dtype=bool)
    segments = _segments(dataset)
    for i, row in enumerate(dataset.select_columns(["video", "total_num_frames"])):
        start, end = segments[i] or (0, int(row["total_num_frames"]))
        index = start + (end - start) // 2 if which == "middle" else end - 1
        try:
            path = check_source(row["video"], allow_urls=allow_urls, root=root)
            frame = decode_frames(path, [index], size=FRAME_SIZE, allow_urls=allow_urls)[0]  # (C, H, W), short 64
        except VideoDecodeError as err:
            logger.warning("static baseline: %s", err)
            continue
        frames[i] = (
            torch.nn.functional.interpolate(
                frame[None].float(), size=(FRAME_SIZE, FRAME_SIZE), mode="bilinear", antialias=True
            )[0]
            .round()
            .clamp(0, 255)
            .to(torch.uint8)
        )
        decoded[i] = True
    return frames, decoded


class FrameClassifier(nn.Module):
    """The single-frame baseline: three conv blocks and average- plus max-pooled features (max pooling keeps a
    small telling structure, a bleeding puncture, that averaging over the frame would wash out)."""

    def __init__(self, outputs: int):
        super().__init__()
        layers: list[nn.Module] = [  # a strided first layer: half the cost of a full-resolution one
            nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
        ]
        for c_in, c_out in ((16, 32), (32, 64)):
            layers += [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(128, outputs)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        maps = self.features(pixels)  # (B, 64, 8, 8)
        return self.head(torch.cat([maps.mean((2, 3)), maps.amax((2, 3))], 1))


def _fit_predict_frames(
    frames: torch.Tensor, y: np.ndarray, train: np.ndarray, test: np.ndarray, regression: bool, seed: int
) -> np.ndarray:
    """Train a :class:`FrameClassifier` from scratch on ``frames[train]`` (a fixed recipe: nothing is tuned on
    the held-out part) and predict ``frames[test]``."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = frames.float() / 255.0
    mean = x[train].mean((0, 2, 3), keepdim=True)
    std = x[train].std((0, 2, 3), keepdim=True).clamp(min=1e-3)
    x = (x - mean) / std
    if regression:
        centre, scale = y[train].mean(), y[train].std() or 1.0
        target = torch.tensor((y - centre) / scale, dtype=torch.float32)
        outputs = 1
    else:
        target = torch.tensor(y, dtype=torch.long)
        outputs = int(y.max()) + 1
    model = FrameClassifier(outputs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    train_idx = torch.as_tensor(train)
    batch = min(16, len(train))
    per_epoch = len(train) // batch  # whole batches only (BatchNorm)
    model.train()
    for _ in range(max(FRAME_EPOCHS, -(-FRAME_STEPS // per_epoch))):
        order = train_idx[torch.randperm(len(train_idx), generator=generator)]
        for start in range(0, per_epoch * batch, batch):
            idx = order[start : start + batch]
            inputs = x[idx]
            flip = torch.rand(len(idx), generator=generator) < 0.5
            inputs = torch.where(flip[:, None, None, None], inputs.flip(-1), inputs)
            out = model(inputs)
            loss = (
                nn.functional.mse_loss(out[:, 0], target[idx])
                if regression
                else nn.functional.cross_entropy(out, target[idx])
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        out = model(x[torch.as_tensor(test)])
    if regression:
        return out[:, 0].numpy() * scale + centre
    return out.argmax(1).numpy().astype(np.float64)


def _fit_predict_scalar(x_train, y_train, x_test, regression: bool) -> np.ndarray:
    """A standardised linear model on one number (logistic regression for classes, least squares for scores)."""
    estimator = LinearRegression() if regression else LogisticRegression(max_iter=5000)
    return make_pipeline(StandardScaler(), estimator).fit(x_train, y_train).predict(x_test)


def _held_out_predictions(
    features: np.ndarray | tuple[torch.Tensor, np.ndarray],
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    regression: bool,
    seed: int,
) -> np.ndarray:
    """Each held-out part predicted by a baseline fitted on its training part (NaN where a video has no usable
    feature). ``features``: a (N, 1) array of a number per video, or (frames, decoded) for the frame model."""
    image = isinstance(features, tuple)
    usable = features[1] if image else ~np.isnan(features).any(axis=1)
    predictions = np.full(len(y), np.nan)
    for fold, (train, test) in enumerate(folds):
        train, test = train[usable[train]], test[usable[test]]
        if not len(test) or not len(train):
            continue
        if not regression and len(np.unique(y[train])) < 2:  # one class to learn from: predict it
            predictions[test] = np.bincount(y[train].astype(np.int64)).argmax()
        elif image:
            predictions[test] = _fit_predict_frames(features[0], y, train, test, regression, seed + fold)
        else:
            predictions[test] = _fit_predict_scalar(features[train], y[train], features[test], regression)
    return predictions


def static_baselines(
    train: Dataset,
    test: Dataset | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
    baselines: Sequence[str] = tuple(BASELINES),
    bootstrap_samples: int = 1000,
    target: str | None = None,
    allow_urls: bool = False,
    root: str | os.PathLike | None = None,
) -> StaticBaselines:
    """Fit every static baseline on held-out surgeons.

    A dataset of several named scores (``labels`` ``{name: score}``) needs ``target``, the score to predict (by
    name); :func:`static_baselines_per_target` fits each.

    With ``test``, each baseline is fitted on ``train`` and scored on ``test`` (the same held-out videos as a
    model's test split). Without it, ``train`` is cut into ``folds`` folds grouped by subject and stratified
    by label (as :func:`~surgical_skill.data.kfold_splits` does), and every video is predicted by a baseline
    fitted on the other surgeons. Classification datasets get accuracy, score datasets Spearman's rho; both
    with 95 % intervals resampled by subject (Clopper-Pearson over surgeons where the bootstrap degenerates).
    """
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baselines {unknown}; known: {', '.join(BASELINES)}")
    train = with_current_column_names(train)
    test = with_current_column_names(test) if test is not None else None
    feature = train.features["labels"]
    regression = not isinstance(feature, ClassLabel)
    names = score_target_names(train)
    if names is not None and target not in names:
        raise ValueError(
            f"the labels are several named scores ({', '.join(names)}): name the one to predict with target= "
            f"(got {target!r}), or fit each with static_baselines_per_target"
        )
    if test is not None:
        data, fold_list, held_out, protocol = _train_test_layout(train, test)
    else:
        data, fold_list, held_out, protocol = _cross_validation_layout(train, folds, seed)
    if names is not None:
        y = label_values(data)[:, names.index(target)]
    else:
        y = np.asarray(data["labels"], dtype=np.float64 if regression else np.int64)
    subjects = [data[int(i)]["subject"] for i in held_out]
    segments = _segments(data)
    scalars = scalar_features(data) if any(b in baselines for b in ("duration", "file_size", "bitrate")) else {}
    results: dict[str, BaselineResult] = {}
    skipped: dict[str, str] = {}
    for name in baselines:
        if name in scalars:
            features = scalars[name][:, None]
            if np.isnan(features).all():
                skipped[name] = "no usable values"
                continue
        else:
            features = frame_pixels(
                data, "middle" if name == "middle_frame" else "last", allow_urls=allow_urls, root=root
            )
        predictions = _held_out_predictions(features, y, fold_list, regression, seed)[held_out]
        results[name] = _score(
            name, y[held_out], predictions, subjects, regression, bootstrap_samples, seed, len(baselines)
        )
    labels = y[held_out]
    return StaticBaselines(
        results=results,
        metric="spearman" if regression else "accuracy",
        protocol=protocol,
        videos=[segment_name(_source_path(data[int(i)]), segments[int(i)]) for i in held_out],
        subjects=subjects,
        labels=labels,
        chance=0.0 if regression else float(np.bincount(labels.astype(np.int64)).max() / len(labels)),
        label_names=[] if regression else list(feature.names),
        skipped=skipped,
        target=target if names is not None else "",
    )


SCALAR_BASELINES = ("duration", "file_size", "bitrate")


def static_baselines_per_target(
    train: Dataset, test: Dataset | None = None, *, baselines: Sequence[str] = SCALAR_BASELINES, **kwargs
) -> dict[str, StaticBaselines]:
    """For a dataset of several named scores, each score's static baselines (:func:`static_baselines` with
    ``target``), by name in the dataset's order. By default the three one-number baselines (trial length, file
    size, bitrate: a linear fit each, milliseconds); the one-frame baselines train an image model per score, and
    are listed as not computed unless asked for."""
    names = score_target_names(train)
    if names is None:
        raise ValueError("static_baselines_per_target is for several named scores; use static_baselines")
    left_out = [b for b in BASELINES if b not in baselines]
    out = {}
    for name in names:
        result = static_baselines(train, test, baselines=baselines, target=name, **kwargs)
        for baseline in left_out:
            result.skipped.setdefault(
                baseline, "not fitted for each of several scores: it would train one image model per score"
            )
        out[name] = result
    return out


def _train_test_layout(train: Dataset, test: Dataset):
    """Both splits as one dataset, the one fold (fit on ``train``, score ``test``), the scored rows, the protocol."""
    subjects_in = {s for s in train["subject"] if s} & {s for s in test["subject"] if s}
    if subjects_in:
        raise ValueError(f"train and test share surgeons {sorted(subjects_in)[:10]}: not a held-out baseline")
    data = concatenate_datasets([train, test])
    train_idx, test_idx = np.arange(len(train)), np.arange(len(train), len(data))
    protocol = f"Fitted on {len(train)} videos of other surgeons, scored on the {len(test)} held-out videos" + (
        f" of {len({s for s in test['subject'] if s})} surgeons." if any(test["subject"]) else "."
    )
    return data, [(train_idx, test_idx)], test_idx, protocol


def _cross_validation_layout(data: Dataset, folds: int, seed: int):
    """The dataset, its folds grouped by surgeon, every row scored (out of fold), the protocol."""
    n_groups = len(np.unique(subject_groups(data)))
    k = max(2, min(folds, n_groups))
    fold_list = [(np.setdiff1d(np.arange(len(data)), held), held) for held in fold_indices(data, k, seed=seed)]
    protocol = (
        f"{k}-fold cross-validation grouped by surgeon ({n_groups} surgeons, {len(data)} videos): each video "
        "is predicted by a baseline fitted on the other folds' surgeons."
    )
    return data, fold_list, np.arange(len(data)), protocol


def static_baselines_or_none(
    train: Dataset, test: Dataset | None = None, **kwargs
) -> StaticBaselines | dict[str, StaticBaselines] | None:
    """:func:`static_baselines` (for several named scores, :func:`static_baselines_per_target`: a dict by score),
    or ``None`` with a warning saying why: beside a model's evaluation a baseline that cannot be fitted (too few
    surgeons, an unreadable file) must never cost the model's report."""
    try:
        names = score_target_names(with_current_column_names(train))
        if names is not None and len(names) > 1:
            return static_baselines_per_target(train, test, **kwargs)
        if names is not None:  # one named score: every baseline, read against the model's one figure
            return static_baselines(train, test, target=names[0], **kwargs)
        return static_baselines(train, test, **kwargs)
    except Exception as err:
        logger.warning("static baselines not computed: %s: %s", type(err).__name__, err)
        return None


def _score(name, labels, predictions, subjects, regression, samples, seed, tests: int) -> BaselineResult:
    """The baseline's figure, its 95 % interval, and the Bonferroni-adjusted interval (``tests`` baselines
    are read at once) that its verdict uses."""
    groups = subjects if all(subjects) else None
    if regression:
        metric = "spearman"
        valid = ~np.isnan(predictions)

        def compute(idx):
            idx = idx[valid[idx]]
            if len(idx) < 3 or np.ptp(labels[idx]) == 0 or np.ptp(predictions[idx]) == 0:
                return {metric: float("nan")}
            return {metric: float(stats.spearmanr(labels[idx], predictions[idx])[0])}
    else:
        metric = "accuracy"
        # an undecodable video counts as wrong: a baseline does not get to skip the hard cases
        correct = np.where(np.isnan(predictions), False, predictions == labels)
        predictions = np.where(np.isnan(predictions), -1, predictions).astype(np.int64)

        def compute(idx):
            return {metric: float(correct[idx].mean())}

    value = compute(np.arange(len(labels)))[metric]
    intervals, method = [], "bootstrap"
    for confidence in (0.95, 1 - 0.05 / max(tests, 1)):
        interval = bootstrap_intervals(
            compute, len(labels), groups, names=(metric,), samples=samples, seed=seed, confidence=confidence
        )[metric]
        if not regression:  # the bootstrap collapses at (almost) no errors: exact bounds over surgeons
            units = len(set(subjects)) if groups else len(labels)
            errors = int((~correct).sum())
            interval, how = exact_at_the_edges(
                value, interval, errors, len(labels) - errors, units, "surgeons" if groups else "videos", confidence
            )
            method = how or method
        intervals.append(interval)
    return BaselineResult(name, metric, value, intervals[0], predictions, method, intervals[1])
