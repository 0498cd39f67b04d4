"""Collate clips into batches, dropping (and reporting) videos that failed to decode."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import SurgicalSkillError

logger = logging.getLogger(__name__)


class SkillCollator:
    """``collate_fn`` for clips from :class:`~surgical_skill.data.clips.ClipDecoder`.

    Returns ``pixel_values`` (B, T, C, H, W), ``labels`` (B,) (int64 classes or float32 scores), ``video_id``
    (B,), ``clip_index`` (B,) where the samples carry one, and ``decode_failures``: a list of ``{"video",
    "reason", "video_id", "clip_index"}`` for samples dropped because they could not be decoded (a clip that
    lost frames to a damaged stretch included), each also logged as a warning naming the file. Clips of
    different lengths are zero-padded to the longest, and then ``frame_mask`` (B, T) marks real frames; a clip
    kept with lost frames (``ClipDecoder(lost_frames="mask")``) has those frames ``False`` in ``frame_mask`` too.
    When every sample failed, the batch is empty (``pixel_values`` with 0 rows; check ``is_empty_batch``) rather
    than an error, so training goes on.
    """

    def __call__(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        good = [s for s in samples if s.get("pixel_values") is not None]
        failures = [
            {
                "video": s.get("video"),
                "reason": s.get("decode_error") or "unknown error",
                "video_id": s.get("video_id", -1),
                "clip_index": s.get("clip_index"),
            }
            for s in samples
            if s.get("pixel_values") is None
        ]
        for failure in failures:
            logger.warning("dropping a sample that could not be decoded: %s (%s)", failure["video"], failure["reason"])
        if not good:
            return {
                "pixel_values": torch.empty(0),
                "labels": torch.empty(0),
                "video_id": torch.empty(0, dtype=torch.long),
                "decode_failures": failures,
            }
        clips = [s["pixel_values"] for s in good]
        lengths = [clip.shape[0] for clip in clips]
        batch: dict[str, Any] = {}
        if len(set(lengths)) == 1:
            batch["pixel_values"] = torch.stack(clips)
            mask = torch.ones((len(clips), lengths[0]), dtype=torch.bool)
        else:
            longest = max(lengths)
            padded = clips[0].new_zeros((len(clips), longest, *clips[0].shape[1:]))
            mask = torch.zeros((len(clips), longest), dtype=torch.bool)
            for i, clip in enumerate(clips):
                padded[i, : clip.shape[0]] = clip
                mask[i, : clip.shape[0]] = True
            batch["pixel_values"] = padded
        lost = False
        for i, sample in enumerate(good):
            valid = sample.get("frame_valid")
            if valid is not None:  # frames a damaged stretch took: kept as zeros, never shown to the model
                mask[i, : len(valid)] &= torch.as_tensor(valid, dtype=torch.bool)
                lost = True
        if lost or len(set(lengths)) > 1:
            batch["frame_mask"] = mask
        # several named scores come as {name: score} in the dataset's field order: one row of the (B, K) labels
        labels = [list(s["labels"].values()) if isinstance(s["labels"], dict) else s["labels"] for s in good]
        is_float = any(isinstance(label, list | float) for label in labels)
        batch["labels"] = torch.tensor(labels, dtype=torch.float32 if is_float else torch.long)
        batch["video_id"] = torch.tensor([int(s.get("video_id", -1)) for s in good], dtype=torch.long)
        if all(s.get("clip_index") is not None for s in good):
            batch["clip_index"] = torch.tensor([int(s["clip_index"]) for s in good], dtype=torch.long)
        batch["decode_failures"] = failures
        return batch


def is_empty_batch(batch: dict[str, Any]) -> bool:
    return batch["pixel_values"].shape[0] == 0


class TooManyDecodeFailuresError(SurgicalSkillError, RuntimeError):
    """More than the allowed share of a dataset's videos could not be decoded."""


class DecodeFailureMonitor:
    """Counts samples and decode failures across batches (in the training process) and stops a run whose data
    is broken: once at least ``min_samples`` were seen, more than ``max_failure_share`` failing raises
    :class:`TooManyDecodeFailuresError` listing the files.

    Example:
        >>> monitor = DecodeFailureMonitor(max_failure_share=0.05)
        >>> for batch in loader:
        ...     monitor.update(batch)
    """

    def __init__(self, max_failure_share: float = 0.1, min_samples: int = 20):
        if not 0 <= max_failure_share <= 1:
            raise ValueError(f"max_failure_share must be in [0, 1], got {max_failure_share}")
        self.max_failure_share = max_failure_share
        self.min_samples = min_samples
        self.samples = 0
        self.failures: dict[str, str] = {}
        self.failed_samples = 0

    def update(self, batch: dict[str, Any]) -> None:
        failures = batch.get("decode_failures") or []
        self.samples += batch["pixel_values"].shape[0] + len(failures)
        self.failed_samples += len(failures)
        for failure in failures:
            self.failures[str(failure["video"])] = failure["reason"]
        self.check(final=False)

    @property
    def failure_share(self) -> float:
        return self.failed_samples / self.samples if self.samples else 0.0

    def check(self, final: bool = True) -> None:
        """Raise if too many failed (``final=True``: regardless of how few samples were seen)."""
        if (final or self.samples >= self.min_samples) and self.failure_share > self.max_failure_share:
            listing = "\n  ".join(f"{video}: {reason}" for video, reason in sorted(self.failures.items())[:50])
            raise TooManyDecodeFailuresError(
                f"{self.failed_samples} of {self.samples} samples ({self.failure_share:.0%}) could not be decoded, "
                f"more than the allowed {self.max_failure_share:.0%}; failing videos:\n  {listing}"
            )
