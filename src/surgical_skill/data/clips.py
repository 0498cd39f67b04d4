"""Lazy clips: a ``with_transform`` callable that samples frame indices, decodes only those, and transforms them.

Names: ``total_num_frames`` is a video's length in frames (the dataset column written when videos are probed),
``num_frames`` a clip's (``ClipSampling.num_frames``).

A row may cover a segment of its video (a surgical phase rated on its own): optional columns ``segment_start``
and ``segment_end`` (frame indices in the video, end exclusive; empty or missing = the whole video) make every
sampler draw that row's frames inside the segment only, as if the segment were the whole video. Values may be
ints or, as a CSV manifest gives them, strings of ints (see :func:`segment_bounds`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import datasets
import numpy as np
import torch
import torch.utils.data

from ..deprecation import renamed_class, renamed_keywords
from ..errors import UsageError
from ..video import FramesLostError, VideoDecodeError, decode_frames, probe
from ..video.sampling import SAMPLING_STRATEGIES, ClipSampling, VideoTooShortError
from ..video.sources import check_source
from .splits import SkillDatasetError

__all__ = [
    "SAMPLING_STRATEGIES",
    "SEGMENT_COLUMNS",
    "ClipDecoder",
    "ClipSampling",
    "VideoClipLoader",
    "check_segments",
    "clip_input_warnings",
    "expand_clips",
    "segment_bounds",
    "segment_name",
]

logger = logging.getLogger(__name__)

LOST_FRAMES = ("drop", "mask")  # what ClipDecoder does with a clip that lost frames to a damaged stretch
SEGMENT_COLUMNS = ("segment_start", "segment_end")  # optional row columns: the stretch of the video a row covers


def _frame_number(value: Any, name: str, where: str) -> int | None:
    """A frame index from a row cell: an int, an integral float, or a string of one (a CSV manifest's cells);
    None for an empty cell."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value.strip()) if isinstance(value, str) else float(value)
        if not number.is_integer():
            raise ValueError
        return int(number)
    except (TypeError, ValueError):
        raise SkillDatasetError(
            f"{where}: {name}={value!r} is not a frame index (a whole number; leave it empty for the whole video)"
        ) from None


def segment_bounds(start: Any, end: Any, total_num_frames: int | None, where: str) -> tuple[int, int | None] | None:
    """The stretch ``[start, end)`` of a video a row covers, from its ``segment_start`` and ``segment_end`` cells
    (ints or strings of ints); ``None`` when both are empty (the whole video). An empty start is frame 0, an empty
    end the video's end (``total_num_frames``; ``None`` while that is unknown).

    Raises:
        SkillDatasetError: naming ``where`` (the row), when a cell is not a whole number or the segment is not a
            stretch of the video: ``0 <= start < end <= total_num_frames`` (the last when known).
    """
    if start is None and end is None:
        return None
    first = _frame_number(start, "segment_start", where)
    last = _frame_number(end, "segment_end", where)
    if first is None and last is None:
        return None
    first = 0 if first is None else first
    last = total_num_frames if last is None else last
    if (
        first < 0
        or (last is not None and first >= last)
        or (total_num_frames and last is not None and last > total_num_frames)
    ):
        length = f" of {total_num_frames} frames" if total_num_frames else ""
        raise SkillDatasetError(
            f"{where}: segment_start={start!r}, segment_end={end!r} is not a stretch of the video{length}: a "
            "segment needs 0 <= segment_start < segment_end <= the video's length (frame indices, end exclusive; "
            "leave both empty for the whole video)"
        )
    return first, last


def segment_name(video: str, segment: tuple[int, int] | None) -> str:
    """How reports and warnings name a row: its video, and for a row covering a segment its frames
    (``a.mp4 [frames 30-53]``, last frame included), so that two segments of one video are told apart."""
    return video if segment is None else f"{video} [frames {segment[0]}-{segment[1] - 1}]"


def _row_segments(batch_or_dataset: Any, count: int) -> list[tuple[Any, Any] | None]:
    """Each row's raw ``(segment_start, segment_end)`` cells, or None per row when the columns are absent."""
    columns = getattr(batch_or_dataset, "column_names", None) or list(batch_or_dataset)
    if not any(c in columns for c in SEGMENT_COLUMNS):
        return [None] * count
    starts = batch_or_dataset["segment_start"] if "segment_start" in columns else [None] * count
    ends = batch_or_dataset["segment_end"] if "segment_end" in columns else [None] * count
    return [None if s is None and e is None else (s, e) for s, e in zip(starts, ends)]


def _describe_row(video: str, video_id: Any = None) -> str:
    return f"{video} (video_id {video_id})" if video_id is not None else str(video)


def check_segments(dataset: Any) -> None:
    """Refuse a dataset any of whose rows has a segment outside its video (or cells that are not frame indices),
    naming every such row on one line. Rows without segments, or not probed (no length yet), pass.

    Raises:
        SkillDatasetError: the rows and what is wrong with each.
    """
    columns = dataset.column_names
    if not any(c in columns for c in SEGMENT_COLUMNS):
        return
    count = len(dataset)
    length_column = next((c for c in ("total_num_frames", "num_frames") if c in columns), None)
    totals = dataset[length_column] if length_column else [None] * count
    ids = dataset["video_id"] if "video_id" in columns else [None] * count
    bad = []
    for video, video_id, total, segment in zip(dataset["video"], ids, totals, _row_segments(dataset, count)):
        if segment is None:
            continue
        try:
            segment_bounds(*segment, total, _describe_row(video, video_id))
        except SkillDatasetError as err:
            bad.append(str(err))
    if bad:
        more = f" (and {len(bad) - 5} more rows)" if len(bad) > 5 else ""
        raise SkillDatasetError("; ".join(bad[:5]) + more)


class ClipDecoder:
    """Decodes the clips a batch of rows asks for: turns rows of a skill dataset into model inputs, for
    ``Dataset.with_transform``.

    For each row it samples frame indices with ``sampling`` (random in training, deterministic otherwise),
    decodes just those frames at ``transforms.decode_size``, applies ``transforms`` and returns
    ``pixel_values`` (float (T, C, H, W)), ``labels``, ``video_id``, ``video`` and ``clip_index``. A video that
    fails to decode gives ``pixel_values=None`` and the reason in ``decode_error``:
    :class:`~surgical_skill.data.collate.SkillCollator` drops it from the batch and reports it. So does a video
    too short for the clips (:meth:`ClipSampling.check_length`: a clip would hold fewer than half its frames
    distinct); a video merely shorter than one clip is used, its frames repeated (:func:`clip_input_warnings`
    lists those once).

    A clip that overlaps a damaged stretch of its video (some frames lost, see
    :class:`~surgical_skill.video.FramesLostError`) is never filled with copies of other frames. With
    ``lost_frames="drop"`` (default) it fails like an unreadable video, its ``decode_error`` naming the lost
    frames, so it is dropped and counted. With ``lost_frames="mask"`` it is kept: the lost frames are zero before
    the transforms, and ``frame_valid`` (bool (T,), ``None`` for whole clips) marks them, which the collator
    turns into ``frame_mask``.

    Every row's path is checked again before it is opened (:func:`~surgical_skill.video.sources.check_source`:
    a local file, an http(s) URL only with ``allow_urls``, inside ``root`` when given; a dataset saved or mapped
    after it was built may have been edited since): a refused path fails like an unreadable video, its
    ``decode_error`` saying why, and no byte of it is read.

    ``root`` may be several folders (a dataset's and its proxies'): a path inside any of them passes.

    ``stream_index`` picks a video stream other than FFmpeg's best one (see
    :func:`~surgical_skill.video.decode_frames`) for every row; the rows' length and rate columns, probed on the
    default stream, are then re-probed on it.

    Randomness is a pure function of ``(seed, epoch, video_id, clip_index)``, so a resumed epoch (or any
    DataLoader worker layout) sees exactly the clips and augmentations of an uninterrupted one. Call
    :meth:`set_epoch` before each epoch. Rows repeated by :func:`expand_clips` carry a ``clip_index``: in
    training each is another random clip, in evaluation clip ``i`` of ``clips_per_video`` windows spread over
    the video. Decoders are opened per call inside whichever process runs it (DataLoader workers included).

    Example:
        >>> transforms = ClipTransforms(resize=112, crop_size=112, training=True)
        >>> train = data["train"].with_transform(ClipDecoder(ClipSampling(16), transforms, training=True))
        >>> train[0]["pixel_values"].shape
        torch.Size([16, 3, 112, 112])
    """

    def __init__(
        self,
        sampling: ClipSampling,
        transforms: Callable[[torch.Tensor], torch.Tensor] | None,
        *,
        training: bool,
        seed: int = 0,
        clips_per_video: int = 1,
        decode_size: int | tuple[int, int] | None = None,
        backend: str = "pyav",
        threads: int | None = None,
        lost_frames: str = "drop",
        stream_index: int | None = None,
        allow_urls: bool = False,
        root: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    ):
        if lost_frames not in LOST_FRAMES:
            raise UsageError(f"lost_frames={lost_frames!r} must be one of {', '.join(LOST_FRAMES)}")
        self.sampling = sampling
        self.transforms = transforms
        self.training = training
        self.seed = seed
        self.clips_per_video = clips_per_video
        self.epoch = 0
        self.decode_size = decode_size if decode_size is not None else getattr(transforms, "decode_size", None)
        self.backend = backend
        self.threads = threads
        self.lost_frames = lost_frames
        self.stream_index = stream_index
        self.allow_urls = allow_urls
        roots = [root] if isinstance(root, str | os.PathLike) else list(root or ())
        self.roots = [os.fspath(r) for r in roots] or None

    def check_path(self, path: str) -> str:
        """``path`` when this decoder may open it (inside one of its roots when it has several: the dataset's
        and the proxies' folders), else :func:`check_source`'s :class:`VideoDecodeError`."""
        return check_source(path, allow_urls=self.allow_urls, root=self.roots)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _threads(self) -> int:
        if self.threads is not None:
            return self.threads
        # Inside DataLoader workers, one decoder thread each: the workers are the parallelism.
        return 1 if torch.utils.data.get_worker_info() is not None else 0

    def _decode_size(self, short_side: int | None):
        # Scale in the decoder when frames are much larger than needed (a 1080p recording); frames already
        # near the size (a proxy) are decoded as they are and scaled once, by the transforms.
        if self.decode_size is None or not isinstance(self.decode_size, int) or short_side is None:
            return self.decode_size
        return self.decode_size if short_side > 1.5 * self.decode_size else None

    @renamed_keywords(num_frames="total_num_frames")
    def load_clip(
        self,
        path: str,
        video_id: int,
        total_num_frames: int | None,
        fps: float | None,
        short_side: int | None = None,
        clip_index: int = 0,
        *,
        with_valid: bool = False,
        segment: tuple[Any, Any] | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """Sample, decode and transform clip ``clip_index`` of one video of ``total_num_frames`` frames at ``fps``
        (both probed from the file when unknown; see :func:`expand_clips`). With ``segment`` (the row's
        ``(segment_start, segment_end)``, see :func:`segment_bounds`), the clip is sampled inside that stretch
        only, as if it were the whole video (a stretch too short for the clips is refused like a short video).

        With ``with_valid``, returns ``(clip, frame_valid)``: ``frame_valid`` is ``None`` when every frame decoded,
        else (``lost_frames="mask"``) a bool (T,) tensor, ``False`` at the frames a damaged stretch took.

        Raises:
            FramesLostError: frames of the clip were lost and ``lost_frames="drop"`` (or all of them were).
            SkillDatasetError: ``segment`` is not a stretch of the video.
            VideoDecodeError: ``path`` is refused by :func:`~surgical_skill.video.sources.check_source`.
        """
        path = self.check_path(path)
        if not total_num_frames or self.stream_index is not None:
            meta = probe(path, self.stream_index, allow_urls=self.allow_urls)
            total_num_frames, fps, short_side = meta.total_num_frames, meta.fps, min(meta.height, meta.width)
        bounds = None if segment is None else segment_bounds(*segment, total_num_frames, _describe_row(path, video_id))
        if bounds is None:
            offset, length = 0, total_num_frames
            self.sampling.check_length(length, fps, path)  # too few frames: VideoTooShortError
        else:
            offset, length = bounds[0], bounds[1] - bounds[0]
            try:
                self.sampling.check_length(length, fps, path)
            except VideoTooShortError as err:  # the segment, not the video, is short: say so
                raise VideoTooShortError(
                    path, f"its segment [frames {bounds[0]}-{bounds[1] - 1}] has {err.reason}"
                ) from None
        seed = [self.seed, self.epoch, int(video_id), int(clip_index)]
        if self.training:
            generator = np.random.default_rng(seed)
            indices = self.sampling.indices(length, fps, random=True, generator=generator)
        elif self.clips_per_video > 1:
            indices = self.sampling.windows(length, fps, num_clips=self.clips_per_video)[clip_index]
        else:
            indices = self.sampling.indices(length, fps, random=False)
        if offset:
            indices = indices + offset
        size = self._decode_size(short_side)
        valid = None
        try:
            clip = decode_frames(
                path,
                indices,
                size=size,
                backend=self.backend,
                threads=self._threads(),
                stream_index=self.stream_index,
                allow_urls=self.allow_urls,
            )
        except FramesLostError as err:
            if self.lost_frames == "drop" or not err.decoded.any():  # nothing left to mask around
                raise
            clip, valid = err.frames, err.decoded
        if self.transforms is not None and not self.training:
            clip = self.transforms(clip)
        elif self.transforms is not None:
            # torchvision draws augmentation parameters from torch's global (CPU) RNG: seed it per sample, then
            # restore. Only the CPU generator: torch.manual_seed would also reseed a GPU's for good (fork_rng
            # restores the CPU's only) and, with none initialised, format stack traces (a millisecond a clip).
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(int(np.random.default_rng([*seed, 1]).integers(2**62)))
                clip = self.transforms(clip)
        return (clip, valid) if with_valid else clip

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        videos = batch["video"]
        count = len(videos)
        # "num_frames": the column's name in datasets built before it became "total_num_frames"
        total_num_frames = batch.get("total_num_frames") or batch.get("num_frames") or [None] * count
        fps = batch.get("fps") or [None] * count
        video_ids = batch.get("video_id") or list(range(count))
        heights, widths = batch.get("height") or [None] * count, batch.get("width") or [None] * count
        short_sides = [min(h, w) if h and w else None for h, w in zip(heights, widths)]
        clip_indices = batch.get("clip_index") or [0] * count
        segments = _row_segments(batch, count)
        out: dict[str, list] = {
            "pixel_values": [],
            "labels": list(batch["labels"]),
            "video_id": list(video_ids),
            "video": list(videos),
            "clip_index": list(clip_indices),
            "decode_error": [],
            "frame_valid": [],
        }
        rows = zip(videos, total_num_frames, fps, video_ids, short_sides, clip_indices, segments)
        for path, frames, rate, video_id, short_side, clip_index, segment in rows:
            try:
                clip, valid = self.load_clip(
                    path, video_id, frames, rate, short_side, clip_index, with_valid=True, segment=segment
                )
                out["pixel_values"].append(clip)
                out["frame_valid"].append(valid)
                out["decode_error"].append(None)
            except VideoDecodeError as err:
                out["pixel_values"].append(None)
                out["frame_valid"].append(None)
                out["decode_error"].append(err.reason)
        return out


VideoClipLoader = renamed_class(ClipDecoder, "VideoClipLoader", note="it is a with_transform callable, not a loader")


def expand_clips(dataset, clips_per_video: int):
    """Repeat every row ``clips_per_video`` times (consecutively) with a ``clip_index`` column 0..k-1."""
    quiet = datasets.is_progress_bar_enabled()
    if quiet:
        datasets.disable_progress_bars()  # an internal reshuffle, not worth a progress bar
    try:
        expanded = dataset.select(np.repeat(np.arange(len(dataset)), clips_per_video))
        if "clip_index" in expanded.column_names:
            expanded = expanded.remove_columns("clip_index")
        return expanded.add_column("clip_index", np.tile(np.arange(clips_per_video), len(dataset)).tolist())
    finally:
        if quiet:
            datasets.enable_progress_bars()


def clip_input_warnings(dataset, sampling: ClipSampling, *, listed: int = 5) -> list[str]:
    """One line per kind of degenerate video in a probed skill dataset, for the user to read before training
    or under an evaluation: videos too short for ``sampling``'s clips (which :class:`ClipDecoder` leaves out),
    videos shorter than one clip (their clips repeat frames) and videos whose frame rate makes a clip cover
    other times than in training (:meth:`ClipSampling.fps_warning`). Each line counts them and names the first
    ``listed``. Empty when every video is fine, or when the dataset was not probed. A row covering a segment
    (``segment_start``/``segment_end``) is judged by the segment's length, and named with its frames.

    Raises:
        SkillDatasetError: a row's segment is not a stretch of its video (every such row named; see
            :func:`check_segments`).

    Example:
        >>> for line in clip_input_warnings(data["test"], ClipSampling.from_video_processor(processor)):
        ...     logger.warning(line)
    """
    columns = dataset.column_names
    length_column = next((c for c in ("total_num_frames", "num_frames") if c in columns), None)
    if length_column is None or "video" not in columns:
        return []
    check_segments(dataset)
    rates = dataset["fps"] if "fps" in columns else [None] * len(dataset)
    segments = _row_segments(dataset, len(dataset))
    too_short, short, other_rate = [], [], []
    for video, total, fps, segment in zip(dataset["video"], dataset[length_column], rates, segments):
        if not total:
            continue
        bounds = None if segment is None else segment_bounds(*segment, total, video)
        if bounds is not None:
            total = bounds[1] - bounds[0]
            video = segment_name(video, bounds)
        try:
            if sampling.check_length(total, fps, video):
                short.append(f"{video} ({total} frames)")
        except VideoDecodeError:
            too_short.append(f"{video} ({total} frames)")
        if sampling.fps_warning(fps, video):
            other_rate.append(f"{video} ({fps:g} fps)")

    def line(items: list[str], what: str) -> str:
        more = f" and {len(items) - listed} more" if len(items) > listed else ""
        return f"{len(items)} of {len(dataset)} videos {what}: {', '.join(items[:listed])}{more}"

    clip = f"{sampling.num_frames}-frame clips, at least {sampling.min_distinct_frames()} distinct frames each"
    warnings = []
    if too_short:
        warnings.append(line(too_short, f"are too short for {clip}, and are left out"))
    if short:
        warnings.append(line(short, "are shorter than one clip; their clips repeat frames"))
    if other_rate:
        trained = sampling.training_fps_range or (sampling.training_fps,) * 2
        seen = f"{trained[0]:g}" if trained[0] == trained[1] else f"{trained[0]:g}-{trained[1]:g}"
        warnings.append(
            line(
                other_rate,
                f"have another frame rate than the training videos' {seen} fps, so a clip covers "
                f"another length of time than in training",
            )
        )
    return warnings
