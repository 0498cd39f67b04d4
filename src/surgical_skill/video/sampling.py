"""Frame-index samplers: pure functions from a video's length (and frame rate) to the frames a clip uses.

Training and inference share these functions, so a model always sees frames picked the same way. Every
function takes the video's length first (``total_num_frames``; ``num_frames`` is a clip's length, as in a
video processor) and returns an ``int64`` NumPy array of valid indices (``0 <= i < total_num_frames``); videos
shorter than the clip repeat frames rather than fail. Randomness comes only from the ``generator`` argument (a
``numpy.random.Generator`` or an int seed), so a given seed always gives the same frames.

The samplers never refuse a short video; :class:`ClipSampling` holds the policy its callers (the dataset
transform, the pipeline, evaluation) apply before sampling:

- **Shorter than a clip** (fewer frames than one clip spans: ``num_frames``, or ``(num_frames - 1) * stride + 1``
  with a stride): sampled anyway, frames repeated (uniform: each frame shown once or twice, as if slowed
  down; clip: the last frame held), and the caller says so (:meth:`ClipSampling.length_warning`). Repeating
  rather than zero-padding with a frame mask, because only two model families read a mask (``frame_cnn``,
  ``cnn_rnn``); 3D CNNs and transformers' video models would see black frames.
- **Too few frames** (a clip would hold fewer than half its frames distinct, or a single frame): refused with
  :class:`VideoTooShortError` naming the file, its frame count and the clip length
  (:meth:`ClipSampling.check_length`). Such a clip is mostly copies; a score from it would look confident
  and mean nothing.
- **Another frame rate than training's** (``clip`` strategy; ``uniform`` clips span the whole video whatever
  its rate): with ``target_fps`` a clip is resampled by time, so it covers the same seconds at any rate;
  without, a clip covers ``num_frames * stride / fps`` seconds, and :meth:`ClipSampling.fps_warning` says when
  that differs from training's by more than ``FPS_TOLERANCE``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..deprecation import renamed_keywords
from .errors import VideoDecodeError

Generator = np.random.Generator | int | None

# A clip must hold at least this share of its frames distinct (and two, for clips of two or more frames).
MIN_DISTINCT_SHARE = 0.5
# The time a clip covers may differ from training's by this share before the frame rate is worth a warning.
FPS_TOLERANCE = 0.1


class VideoTooShortError(VideoDecodeError):
    """A video has too few frames for a model's clips (see :meth:`ClipSampling.check_length`).

    A :class:`VideoDecodeError`, so everything that skips or reports an unreadable video (``errors="skip"`` in
    the pipeline, the dataset transform and collator, evaluation) handles it the same way.
    """

    def __init__(self, path, reason: str):
        super().__init__(path, reason)
        self.args = (f"video {self.path!r} is too short for this model: {reason}",)


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

    The nearest whole stride; the samplers resample by time exactly with :func:`frame_step_for`.

    >>> frame_stride_for(30, 10)
    3
    """
    if target_fps is None or not fps:
        return max(1, int(frame_stride))
    if target_fps <= 0:
        raise ValueError(f"target_fps must be positive, got {target_fps}")
    return max(1, round(fps / target_fps))


def frame_step_for(fps: float | None, target_fps: float | None, frame_stride: int = 1) -> float:
    """Distance (in source frames, possibly fractional) between a clip's frames: ``fps / target_fps`` so that
    a clip covers the same seconds at any frame rate (never below 1: a slower video is not upsampled), else
    ``frame_stride``.

    >>> frame_step_for(25, 10)
    2.5
    """
    if target_fps is None or not fps:
        return float(max(1, int(frame_stride)))
    if target_fps <= 0:
        raise ValueError(f"target_fps must be positive, got {target_fps}")
    return max(1.0, fps / target_fps)


def _clip_offsets(clip_len: int, step: float) -> np.ndarray:
    # Round half up: an integer step gives exactly step * k, as a plain stride would.
    return np.floor(np.arange(clip_len) * step + 0.5).astype(np.int64)


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

    ``target_fps`` (with the video's ``fps``) resamples by time instead: a frame every ``fps / target_fps``
    source frames (rounded per frame, so 25 fps to 10 fps takes frames 0, 3, 5, 8, 10, ...), so clips cover
    the same seconds in videos recorded at different rates. With ``random=True`` the start is uniform over all
    positions where the clip fits; otherwise the clip is centred. A video shorter than the clip repeats its
    last frame.

    >>> sample_clip_indices(100, 4, frame_stride=2).tolist()
    [46, 48, 50, 52]
    """
    _check(total_num_frames, clip_len, "clip_len")
    offsets = _clip_offsets(clip_len, frame_step_for(fps, target_fps, frame_stride))
    room = max(0, total_num_frames - int(offsets[-1]) - 1)
    start = int(_rng(generator).integers(0, room + 1)) if random else room // 2
    return np.minimum(start + offsets, total_num_frames - 1)


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
    clip_offsets = _clip_offsets(max(clip_len, 1), frame_step_for(fps, target_fps, frame_stride))
    room = max(0, total_num_frames - int(clip_offsets[-1]) - 1)
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
    return np.minimum(starts[:, None] + clip_offsets[None, :], total_num_frames - 1)


SAMPLING_STRATEGIES = ("uniform", "clip")


@dataclass
class ClipSampling:
    """How a clip's frames are picked from a video; saved with a model's video processor.

    ``uniform``: ``num_frames`` frames spread over the whole video, one per equal segment (TSN); random inside
    each segment when training, segment centres otherwise. ``clip``: ``num_frames`` consecutive frames, every
    ``frame_stride``-th (or resampled to ``target_fps``), at a random position when training, centred otherwise.
    ``num_frames`` is the clip's length; the methods take the video's as ``total_num_frames``.

    ``training_fps`` and ``training_fps_range`` (``[min, max]``) are the frame rates of the videos the model
    was trained on (recorded by training in the video processor; None for models saved before, which get no
    frame-rate warning). :meth:`check_length`, :meth:`length_warning` and :meth:`fps_warning` apply the
    module's policy for short videos and other frame rates.
    """

    num_frames: int = 16
    strategy: str = "uniform"
    frame_stride: int = 1
    target_fps: float | None = None
    training_fps: float | None = None
    training_fps_range: tuple[float, float] | None = None

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

    # ------------------------------------------------------------------ short videos and other frame rates

    def _describe_clip(self, fps: float | None) -> str:
        step = frame_step_for(fps, self.target_fps, self.frame_stride) if self.strategy == "clip" else 1.0
        if step == 1:
            return f"{self.num_frames}-frame clips"
        return f"{self.num_frames}-frame clips of one frame in {step:g}"

    def clip_span(self, fps: float | None) -> int:
        """How many consecutive frames of a video (at ``fps``) one clip spans: ``num_frames`` for ``uniform``
        (a clip spreads over the whole video), ``(num_frames - 1) * step + 1`` for ``clip``."""
        if self.strategy == "uniform":
            return self.num_frames
        return int(_clip_offsets(self.num_frames, frame_step_for(fps, self.target_fps, self.frame_stride))[-1]) + 1

    def min_distinct_frames(self) -> int:
        """The fewest distinct frames a clip may hold: half the clip (``MIN_DISTINCT_SHARE``), and at least two
        for clips of two or more frames (one frame has no motion)."""
        return max(min(2, self.num_frames), math.ceil(self.num_frames * MIN_DISTINCT_SHARE))

    def distinct_frames(self, total_num_frames: int, fps: float | None) -> int:
        """How many distinct frames one clip of a video of ``total_num_frames`` frames holds."""
        return len(np.unique(self.indices(total_num_frames, fps, random=False)))

    def check_length(self, total_num_frames: int, fps: float | None, video: Any = None) -> str | None:
        """Apply the short-video policy to a video of ``total_num_frames`` frames at ``fps``: raise
        :class:`VideoTooShortError` (naming ``video``, its frame count and the clip length) when a clip would
        hold fewer than :meth:`min_distinct_frames` distinct frames; else return :meth:`length_warning`.

        With 16-frame clips, a 3-frame video is refused, an 8-frame one is used with a warning:

        >>> print(ClipSampling(num_frames=16).check_length(8, 30.0, "trial.mp4"))  # doctest: +NORMALIZE_WHITESPACE
        trial.mp4: 8 frames, shorter than one clip (16 frames for 16-frame clips): each frame is repeated to fill a
        clip (8 distinct of 16)
        """
        distinct = self.distinct_frames(total_num_frames, fps) if total_num_frames >= 1 else 0
        needed = self.min_distinct_frames()
        if distinct < needed:
            frames = f"{total_num_frames} frame" + ("" if total_num_frames == 1 else "s")
            raise VideoTooShortError(
                video,
                f"{frames}, too few for its {self._describe_clip(fps)}: a clip would hold {distinct} distinct "
                f"frame(s), at least {needed} are needed; use a longer recording or a model with shorter clips",
            )
        return self.length_warning(total_num_frames, fps, video)

    def length_warning(self, total_num_frames: int, fps: float | None, video: Any = None) -> str | None:
        """A one-line warning when the video is shorter than one clip spans (its clips repeat frames), else None."""
        span = self.clip_span(fps)
        if total_num_frames >= span:
            return None
        distinct = self.distinct_frames(total_num_frames, fps)
        how = "each frame is repeated" if self.strategy == "uniform" else "its last frame is repeated"
        return (
            f"{video or 'the video'}: {total_num_frames} frames, shorter than one clip ({span} frames for "
            f"{self._describe_clip(fps)}): {how} to fill a clip ({distinct} distinct of {self.num_frames})"
        )

    def clip_step_seconds(self, fps: float | None) -> float | None:
        """Seconds between a clip's frames in a video at ``fps`` (None for ``uniform`` clips, which span the
        whole video whatever its rate, or without a rate)."""
        if self.strategy != "clip" or not fps or fps <= 0:
            return None
        return frame_step_for(fps, self.target_fps, self.frame_stride) / fps

    def fps_warning(self, fps: float | None, video: Any = None) -> str | None:
        """A one-line warning when a clip of a video at ``fps`` covers more than ``FPS_TOLERANCE`` more or less
        time than the clips of the training videos did (their rates ``training_fps_range``); None when it does
        not, for ``uniform`` clips, and for models that did not record their training rate."""
        step = self.clip_step_seconds(fps)
        rates = [r for r in (*(self.training_fps_range or ()), self.training_fps) if r]
        if step is None or not rates:
            return None
        trained = [self.clip_step_seconds(rate) for rate in rates]
        low, high = min(trained), max(trained)
        if low * (1 - FPS_TOLERANCE) <= step <= high * (1 + FPS_TOLERANCE):
            return None
        seen = f"{min(rates):g}" if min(rates) == max(rates) else f"{min(rates):g}-{max(rates):g}"
        near = high if step > high else low
        covers, covered = step * self.num_frames, near * self.num_frames
        fix = (
            f"re-encode the video at {self.training_fps or rates[0]:g} fps (ffmpeg -i IN -r "
            f"{self.training_fps or rates[0]:g} OUT), or train with target_fps so clips are resampled by time"
            if self.target_fps is None
            else f"it is slower than the model's target_fps ({self.target_fps:g}) and frames are not invented"
        )
        return (
            f"{video or 'the video'}: {fps:g} fps, but the model was trained on {seen} fps videos: a clip covers "
            f"{covers:.2f} s here against {covered:.2f} s in training; {fix}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_video_processor(cls, processor: Any) -> ClipSampling:
        """The sampling a model's video processor records (``num_frames``, ``sampling_strategy``,
        ``frame_stride``, ``target_fps``, and ``training_fps``/``training_fps_range`` where training recorded
        them; see ``surgical_skill.models.build_video_processor``)."""
        fps_range = getattr(processor, "training_fps_range", None)
        return cls(
            num_frames=int(getattr(processor, "num_frames", None) or cls.num_frames),
            strategy=getattr(processor, "sampling_strategy", None) or cls.strategy,
            frame_stride=int(getattr(processor, "frame_stride", None) or 1),
            target_fps=getattr(processor, "target_fps", None),
            training_fps=getattr(processor, "training_fps", None),
            training_fps_range=tuple(fps_range) if fps_range else None,
        )
