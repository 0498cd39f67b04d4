"""Multi-clip inference over a split: every video scored from clips spread over its whole length (over its
segment, for a row with ``segment_start``/``segment_end``: a phase rated on its own).

:func:`predict_videos` samples and preprocesses clips exactly as training did (the model's video processor),
scores them through :func:`~surgical_skill.models.inputs.clip_logits` (the path training and the pipeline use too)
and averages each video's clip probabilities (or scores) into one :class:`VideoPrediction`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from datasets import Dataset

from ..data import ClipDecoder, ClipSampling, ClipTransforms, SkillCollator, expand_clips, is_empty_batch
from ..data.building import with_current_column_names
from ..data.clips import SEGMENT_COLUMNS, segment_bounds, segment_name
from ..limits import exceeded, get_limits
from ..models.heads import reported_score_names
from ..models.inputs import clip_logits, is_regression_model, scores_from_logits

logger = logging.getLogger(__name__)


@dataclass
class VideoPrediction:
    video_id: int
    video: str
    subject: str
    # the true class id or score; for a model of several named scores, one true score per reported score (NaN where
    # the dataset has none), in the order of ``probabilities``
    label: int | float | list[float]
    probabilities: list[float]  # mean over clips: class probabilities, or every reported score
    clip_probabilities: list[list[float]]
    clip_seconds: list[tuple[float, float]]  # start and end time of each clip (in the video, segment or not)
    source_video: str = ""  # the original recording when ``video`` is a proxy
    clips_asked: int = 0  # clips sampled from the video; more than were scored when some could not be decoded
    clip_errors: list[str] = field(default_factory=list)  # why each clip that was not scored failed
    segment: tuple[int, int] | None = None  # the frames [start, end) of the video the row covers; None: all of it

    @property
    def name(self) -> str:
        """The video, with the segment's frames for a row covering one (``a.mp4 [frames 30-53]``): what tells
        two rows of one video apart in reports."""
        return segment_name(self.video, self.segment)

    @property
    def clips_scored(self) -> int:
        return len(self.clip_probabilities)

    @property
    def partly_scored(self) -> bool:
        """Whether some of the video's clips could not be decoded (a damaged stretch) and it was scored on the rest."""
        return bool(self.clip_errors)


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
    allow_urls: bool = False,
    root: str | os.PathLike | None = None,
) -> list[VideoPrediction]:
    """Score ``clips_per_video`` clips spread over each video (the processor's sampling and transforms) and
    average their probabilities.

    For a model of named scores (its config's ``target_names``, ``score_sum_name``), each prediction's ``label``
    is read from the row by name (:func:`score_truth`), never by position.

    A video none of whose clips decodes is left out (not scored), with a warning. A video some of whose clips
    cannot be decoded (they overlap a damaged stretch: frames lost) is scored on the clips that decoded, never on
    frozen frames; its prediction says so (``clips_asked``, ``clip_errors``), with a warning.

    Clips are decoded and scored ``batch_size`` at a time (a DataLoader over single clips), so memory stays flat
    in ``clips_per_video``; a count over the ``max_clips_per_call`` budget (:mod:`surgical_skill.limits`) is
    refused before anything is decoded. Every path is checked again before it is opened
    (:func:`~surgical_skill.video.sources.check_source`: http(s) URLs only with ``allow_urls``, and inside
    ``root`` when given); a refused one is left out like an undecodable video."""
    if clips_per_video > get_limits().max_clips_per_call:
        raise exceeded(
            "max_clips_per_call", "predict_videos", f"{clips_per_video:,} clips per video (clips_per_video)"
        )
    device = torch.device(device) if device is not None else next(model.parameters()).device
    dataset = with_current_column_names(dataset)
    model.eval()
    sampling = ClipSampling.from_video_processor(processor)
    loader = clip_loader(
        dataset,
        processor,
        clips_per_video,
        batch_size=batch_size,
        num_workers=num_workers,
        allow_urls=allow_urls,
        root=root,
    )
    per_video, failed = _score_clips(model, loader, device)
    truth_names = named_scores(model.config)
    predictions = _video_predictions(dataset, per_video, failed, sampling, clips_per_video, truth_names)
    scored = {p.video_id for p in predictions}
    left_out = {video: reasons[0][1] for (video_id, video), reasons in failed.items() if video_id not in scored}
    if left_out:
        logger.warning(
            "%d video(s) could not be decoded and are left out (not scored): %s",
            len(left_out),
            "; ".join(f"{k} ({v})" for k, v in list(left_out.items())[:5]),
        )
    partial = [p for p in predictions if p.partly_scored]
    if partial:
        logger.warning(
            "%d video(s) scored on fewer clips, the others could not be decoded: %s",
            len(partial),
            "; ".join(partly_scored_note(p) for p in partial[:5]),
        )
    return predictions


def named_scores(config) -> list[str] | None:
    """Every score a model of named scores reports (its targets, then their sum when ``score_sum_name`` is set),
    whose truth is read from a row by name; None for classes and for one unnamed score (``"score"``: the row's
    ``labels``)."""
    if not is_regression_model(config):
        return None
    names = reported_score_names(config)
    return None if names == ["score"] else names


def score_truth(row: dict[str, Any], names: list[str]) -> float | list[float]:
    """A row's true scores for the reported score ``names``, read by name: from its ``labels`` when they are named
    scores (``{name: score}``), else from the row's column of that name (NaN where the row has none, e.g. a sum
    the dataset does not give). A single named score the dataset does not name is its one score (``labels``).
    One name gives a number, several a list in the order of ``names``."""
    labels = row["labels"]

    def read(name: str) -> float:
        if isinstance(labels, dict) and name in labels:
            value = labels[name]
        elif name in row:
            value = row[name]
        elif len(names) == 1 and not isinstance(labels, dict):
            value = labels  # the dataset's one score, which the model's one score is read against
        else:
            value = None
        return float("nan") if value is None or value == "" else float(value)

    values = [read(name) for name in names]
    return values[0] if len(values) == 1 else values


def decode_notes(dataset: Dataset, predictions: list[VideoPrediction]) -> list[str]:
    """What a report's reader must know about videos that did not decode whole: those left out (no clip
    decoded: not scored, in no figure) and those scored on fewer clips (the others lost frames)."""
    scored = {p.video_id for p in predictions}
    left_out = [row["video"] for row in with_current_column_names(dataset) if row["video_id"] not in scored]
    notes = []
    if left_out:
        notes.append(
            f"{len(left_out)} video(s) could not be decoded and are left out of every figure: "
            + ", ".join(left_out[:10])
            + (" ..." if len(left_out) > 10 else "")
            + "."
        )
    partial = [p for p in predictions if p.partly_scored]
    if partial:
        notes.append(
            f"{len(partial)} video(s) are scored on the clips that decoded only, the others overlapping a damaged "
            "stretch: " + "; ".join(partly_scored_note(p) for p in partial[:10]) + "."
        )
    return notes


def partly_scored_note(prediction: VideoPrediction) -> str:
    """``"a.mp4: scored on 6 of 8 clips (frames 16-25 ... could not be decoded ...)"``, for warnings and reports."""
    return (
        f"{prediction.video}: scored on {prediction.clips_scored} of {prediction.clips_asked} clips "
        f"({prediction.clip_errors[0]})"
    )


def clip_loader(
    dataset: Dataset,
    processor: Any,
    clips_per_video: int,
    *,
    batch_size: int = 16,
    num_workers: int = 2,
    allow_urls: bool = False,
    root: str | os.PathLike | None = None,
) -> torch.utils.data.DataLoader:
    """Batches of every video's ``clips_per_video`` evaluation clips (no augmentation), in dataset order."""
    transform = ClipDecoder(
        ClipSampling.from_video_processor(processor),
        ClipTransforms.from_video_processor(processor, training=False),
        training=False,
        clips_per_video=clips_per_video,
        allow_urls=allow_urls,
        root=root,
    )
    clips = expand_clips(dataset, clips_per_video).with_transform(transform)
    return torch.utils.data.DataLoader(
        clips, batch_size=batch_size, num_workers=num_workers, collate_fn=SkillCollator()
    )


def _score_clips(
    model: torch.nn.Module, loader: torch.utils.data.DataLoader, device: torch.device
) -> tuple[dict[int, dict[int, np.ndarray]], dict[tuple[int, str], list[tuple[int, str]]]]:
    """Each video's clip probabilities (or scores) by clip index, and the clips that failed to decode:
    ``(video_id, video) -> [(clip_index, reason), ...]``."""
    per_video: dict[int, dict[int, np.ndarray]] = {}
    failed: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for batch in loader:
        for failure in batch["decode_failures"]:
            key = (int(failure.get("video_id", -1)), failure["video"])
            failed.setdefault(key, []).append((failure.get("clip_index") or 0, failure["reason"]))
        if is_empty_batch(batch):
            continue
        logits = clip_logits(model, batch["pixel_values"], batch.get("frame_mask"), device=device)
        values = scores_from_logits(logits, model.config)
        clip_indices = batch.get("clip_index", torch.zeros(len(values), dtype=torch.long)).tolist()
        for video_id, clip_index, value in zip(batch["video_id"].tolist(), clip_indices, values.cpu().numpy()):
            per_video.setdefault(video_id, {})[clip_index] = value
    return per_video, failed


def _video_predictions(
    dataset: Dataset,
    per_video: dict[int, dict[int, np.ndarray]],
    failed: dict[tuple[int, str], list[tuple[int, str]]],
    sampling: ClipSampling,
    clips_per_video: int,
    truth_names: list[str] | None = None,
) -> list[VideoPrediction]:
    """One prediction per scored video: the mean of the clips that decoded, and where in the video each was;
    its true scores read by ``truth_names`` (:func:`score_truth`) when given, else the row's ``labels``."""
    rows = {row["video_id"]: row for row in dataset}
    errors: dict[int, list[str]] = {}
    for (video_id, _), reasons in failed.items():
        errors.setdefault(video_id, []).extend(reason for _, reason in sorted(reasons))
    predictions = []
    for video_id, by_clip in per_video.items():
        row = rows[video_id]
        total = row["total_num_frames"]
        bounds = segment_bounds(*(row.get(c) for c in SEGMENT_COLUMNS), total, row["video"])
        start, length = (0, total) if bounds is None else (bounds[0], bounds[1] - bounds[0])
        windows = sampling.windows(length, row["fps"], num_clips=clips_per_video) + start
        order = sorted(by_clip)
        seconds = [(float(windows[i][0]) / row["fps"], float(windows[i][-1] + 1) / row["fps"]) for i in order]
        stacked = np.stack([by_clip[i] for i in order])
        predictions.append(
            VideoPrediction(
                video_id=video_id,
                video=row["video"],
                subject=row.get("subject") or "",
                label=row["labels"] if truth_names is None else score_truth(row, truth_names),
                probabilities=stacked.mean(0).tolist(),
                clip_probabilities=stacked.tolist(),
                clip_seconds=seconds,
                source_video=row.get("source_video") or "",
                clips_asked=len(windows),
                clip_errors=errors.get(video_id, []),
                segment=bounds,
            )
        )
    return sorted(predictions, key=lambda p: p.video_id)
