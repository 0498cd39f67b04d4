"""Frame-index samplers: pure functions from a video's length (and frame rate) to the frames a clip uses.

Training and inference share these functions, so a model always sees frames picked the same way. Every
function takes the video's length first (``total_num_frames``; ``num_frames`` is a clip's length, as in a
video processor) and returns an ``int64`` NumPy array of valid indices (``0 <= i < total_num_frames``); videos
shorter than the clip repeat frames rather than fail. Randomness comes only from the ``generator`` argument (a
``numpy.random.Generator`` or an int seed), so a given seed always gives the same frames.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..deprecation import renamed_keywords

Generator = np.random.Generator | int | None


def _rng(generator: Generator) -> np.random.Generator:
    if isinstance(generator, np.random.Generator):
        return generator
    return np.random.default_rng(generator)


# The video length's old keyword, ``num_frames``, still works (with a FutureWarning) for one release.
_renamed_video_length = renamed_keywords(note="`num_frames` now means a clip's length", num_frames="total_num_frames")


def _check(total_num_frames: int, count: int, what: str) -> None:
    if total_num_frames < 1:
        raise ValueError(f"cannot sample from a video with {total_num_frames} frames")
    if count < 1:
        raise ValueError(f"{what} must be at least 1, got {count}")


def frame_stride_for(fps: float | None, target_fps: float | None, frame_stride: int = 1) -> int:
    """Stride (in source frames) that resamples ``fps`` to about ``target_fps``; ``frame_stride`` if either is unset.

    >>> frame_stride_for(30, 10)
    3
    """
    if target_fps is None or not fps:
        return max(1, int(frame_stride))
    if target_fps <= 0:
        raise ValueError(f"target_fps must be positive, got {target_fps}")
    return max(1, round(fps / target_fps))


@_renamed_video_length
def sample_segment_indices(
    total_num_frames: int, num_segments: int, *, random: bool = False, generator: Generator = None
) -> np.ndarray:
    """TSN-style sampling: split the video into ``num_segments`` equal segments and take one frame from each.

    With ``random=True`` (training) the frame is drawn uniformly inside its segment; otherwise (evaluation) the
    segment's centre frame is taken, so evaluation is deterministic. The result spans the whole video.

    >>> sample_segment_indices(100, 4).tolist()
    [12, 37, 62, 87]
    """
    _check(total_num_frames, num_segments, "num_segments")
    edges = np.linspace(0, total_num_frames, num_segments + 1)
    starts, ends = edges[:-1], edges[1:]
    if random:
        # Whole-frame segments: with fractional edges, a frame straddling one was drawn by both its segments.
        starts, ends = np.floor(starts), np.maximum(np.floor(ends), np.floor(starts) + 1)
        offsets = _rng(generator).random(num_segments)
        positions = starts + offsets * (ends - starts)
    else:
        positions = (starts + ends) / 2
    return np.clip(np.floor(positions), 0, total_num_frames - 1).astype(np.int64)


@_renamed_video_length
def sample_clip_indices(
    total_num_frames: int,
    clip_len: int,
    *,
    frame_stride: int = 1,
    fps: float | None = None,
    target_fps: float | None = None,
    random: bool = False,
    generator: Generator = None,
) -> np.ndarray:
    """A contiguous clip of ``clip_len`` frames taken every ``frame_stride`` frames.

    ``target_fps`` (with the video's ``fps``) sets the stride instead, so clips cover the same seconds in
    videos recorded at different rates. With ``random=True`` the start is uniform over all positions where
    the clip fits; otherwise the clip is centred. A video shorter than the clip repeats its last frame.

    >>> sample_clip_indices(100, 4, frame_stride=2).tolist()
    [46, 48, 50, 52]
    """
    _check(total_num_frames, clip_len, "clip_len")
    stride = frame_stride_for(fps, target_fps, frame_stride)
    span = (clip_len - 1) * stride + 1
    room = max(0, total_num_frames - span)
    start = int(_rng(generator).integers(0, room + 1)) if random else room // 2
    return np.minimum(start + stride * np.arange(clip_len, dtype=np.int64), total_num_frames - 1)


@_renamed_video_length
def sample_multi_clip_indices(
    total_num_frames: int,
    clip_len: int,
    *,
    num_clips: int | None = None,
    frame_stride: int = 1,
    fps: float | None = None,
    target_fps: float | None = None,
    clip_stride_seconds: float | None = None,
) -> np.ndarray:
    """Evenly spaced clips covering the whole video, for inference: an array of shape (num_clips, clip_len).

    The first clip starts at frame 0 and the last ends at the final frame. Give either ``num_clips`` or
    ``clip_stride_seconds`` (the distance between clip starts; needs ``fps``), which then sets the number of
    clips so that no gap between clips exceeds it. Deterministic.

    >>> sample_multi_clip_indices(100, 4, num_clips=3, frame_stride=2).tolist()
    [[0, 2, 4, 6], [46, 48, 50, 52], [93, 95, 97, 99]]
    """
    if (num_clips is None) == (clip_stride_seconds is None):
        raise ValueError("give exactly one of num_clips or clip_stride_seconds")
    stride = frame_stride_for(fps, target_fps, frame_stride)
    span = (clip_len - 1) * stride + 1
    room = max(0, total_num_frames - span)
    if num_clips is None:
        if not fps or fps <= 0:
            raise ValueError("clip_stride_seconds needs the video's fps")
        if clip_stride_seconds <= 0:
            raise ValueError(f"clip_stride_seconds must be positive, got {clip_stride_seconds}")
        # Starts are rounded to whole frames: gaps of at most floor(stride) frames stay within the stride.
        num_clips = math.ceil(room / max(1, math.floor(clip_stride_seconds * fps))) + 1
    _check(total_num_frames, clip_len, "clip_len")
    _check(total_num_frames, num_clips, "num_clips")
    starts = np.round(np.linspace(0, room, num_clips)).astype(np.int64)
    clip_offsets = stride * np.arange(clip_len, dtype=np.int64)
    return np.minimum(starts[:, None] + clip_offsets[None, :], total_num_frames - 1)


SAMPLING_STRATEGIES = ("uniform", "clip")


@dataclass
class ClipSampling:
    """How a clip's frames are picked from a video; saved with a model's video processor.

    ``uniform``: ``num_frames`` frames spread over the whole video, one per equal segment (TSN); random inside
    each segment when training, segment centres otherwise. ``clip``: ``num_frames`` consecutive frames, every
    ``frame_stride``-th (or resampled to ``target_fps``), at a random position when training, centred otherwise.
    ``num_frames`` is the clip's length; the methods take the video's as ``total_num_frames``.
    """

    num_frames: int = 16
    strategy: str = "uniform"
    frame_stride: int = 1
    target_fps: float | None = None

    def __post_init__(self):
        if self.strategy not in SAMPLING_STRATEGIES:
            raise ValueError(f"unknown sampling strategy {self.strategy!r}; known: {', '.join(SAMPLING_STRATEGIES)}")
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {self.num_frames}")

    @_renamed_video_length
    def indices(self, total_num_frames: int, fps: float | None, *, random: bool, generator=None) -> np.ndarray:
        """The ``num_frames`` frame indices of one clip from a video of ``total_num_frames`` frames at ``fps``."""
        if self.strategy == "uniform":
            return sample_segment_indices(total_num_frames, self.num_frames, random=random, generator=generator)
        return sample_clip_indices(
            total_num_frames,
            self.num_frames,
            frame_stride=self.frame_stride,
            fps=fps,
            target_fps=self.target_fps,
            random=random,
            generator=generator,
        )

    @_renamed_video_length
    def windows(self, total_num_frames: int, fps: float | None, *, num_clips: int) -> np.ndarray:
        """``num_clips`` clips covering a video of ``total_num_frames`` frames, shape (num_clips, num_frames),
        for inference."""
        if self.strategy == "uniform":
            # Interleaved segment samplings: clip j takes the j-th of num_clips evenly spaced offsets per segment.
            edges = np.linspace(0, total_num_frames, self.num_frames + 1)
            offsets = (np.arange(num_clips) + 0.5) / num_clips
            positions = edges[:-1][None, :] + offsets[:, None] * np.diff(edges)[None, :]
            return np.clip(np.floor(positions), 0, total_num_frames - 1).astype(np.int64)
        return sample_multi_clip_indices(
            total_num_frames,
            self.num_frames,
            num_clips=num_clips,
            frame_stride=self.frame_stride,
            fps=fps,
            target_fps=self.target_fps,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_video_processor(cls, processor: Any) -> ClipSampling:
        """The sampling a model's video processor records (``num_frames``, ``sampling_strategy``,
        ``frame_stride``, ``target_fps``; see ``surgical_skill.models.build_video_processor``)."""
        return cls(
            num_frames=int(getattr(processor, "num_frames", None) or cls.num_frames),
            strategy=getattr(processor, "sampling_strategy", None) or cls.strategy,
            frame_stride=int(getattr(processor, "frame_stride", None) or 1),
            target_fps=getattr(processor, "target_fps", None),
        )
