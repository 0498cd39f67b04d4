"""Multi-clip inference over a split: every video scored from clips spread over its whole length.

:func:`predict_videos` samples and preprocesses clips exactly as training did (the model's video processor),
scores them through :func:`~surgical_skill.models.inputs.clip_logits` (the path training and the pipeline use too)
and averages each video's clip probabilities (or scores) into one :class:`VideoPrediction`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset

from ..data import ClipDecoder, ClipSampling, ClipTransforms, SkillCollator, expand_clips, is_empty_batch
from ..data.building import with_current_column_names
from ..models.inputs import clip_logits, scores_from_logits

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
    source_video: str = ""  # the original recording when ``video`` is a proxy


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
    device = torch.device(device) if device is not None else next(model.parameters()).device
    dataset = with_current_column_names(dataset)
    model.eval()
    sampling = ClipSampling.from_video_processor(processor)
    loader = clip_loader(dataset, processor, clips_per_video, batch_size=batch_size, num_workers=num_workers)
    per_video, failed = _score_clips(model, loader, device)
    if failed:
        logger.warning(
            "%d video(s) could not be decoded and are left out: %s",
            len(failed),
            "; ".join(f"{k} ({v})" for k, v in list(failed.items())[:5]),
        )
    return _video_predictions(dataset, per_video, sampling, clips_per_video)


def clip_loader(
    dataset: Dataset, processor: Any, clips_per_video: int, *, batch_size: int = 16, num_workers: int = 2
) -> torch.utils.data.DataLoader:
    """Batches of every video's ``clips_per_video`` evaluation clips (no augmentation), in dataset order."""
    transform = ClipDecoder(
        ClipSampling.from_video_processor(processor),
        ClipTransforms.from_video_processor(processor, training=False),
        training=False,
        clips_per_video=clips_per_video,
    )
    clips = expand_clips(dataset, clips_per_video).with_transform(transform)
    return torch.utils.data.DataLoader(
        clips, batch_size=batch_size, num_workers=num_workers, collate_fn=SkillCollator()
    )


def _score_clips(
    model: torch.nn.Module, loader: torch.utils.data.DataLoader, device: torch.device
) -> tuple[dict[int, list[np.ndarray]], dict[str, str]]:
    """Each video's clip probabilities (or scores), in clip order, and the videos that failed to decode."""
    per_video: dict[int, list[np.ndarray]] = {}
    failed: dict[str, str] = {}
    for batch in loader:
        for failure in batch["decode_failures"]:
            failed[failure["video"]] = failure["reason"]
        if is_empty_batch(batch):
            continue
        logits = clip_logits(model, batch["pixel_values"], batch.get("frame_mask"), device=device)
        values = scores_from_logits(logits, model.config)
        for video_id, value in zip(batch["video_id"].tolist(), values.cpu().numpy()):
            per_video.setdefault(video_id, []).append(value)
    return per_video, failed


def _video_predictions(
    dataset: Dataset, per_video: dict[int, list[np.ndarray]], sampling: ClipSampling, clips_per_video: int
) -> list[VideoPrediction]:
    """One prediction per scored video: the mean of its clips, and where in the video each clip was."""
    rows = {row["video_id"]: row for row in dataset}
    predictions = []
    for video_id, values in per_video.items():
        row = rows[video_id]
        windows = sampling.windows(row["total_num_frames"], row["fps"], num_clips=clips_per_video)
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
