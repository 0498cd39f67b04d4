"""`write_video`: encode frames to a file with PyAV, atomically (a killed run leaves no half-written video)."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from ..files import staged_file

_FORMATS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
    ".ts": "mpegts",
}


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray | torch.Tensor | av.VideoFrame],
    fps: float,
    *,
    codec: str = "libx264",
    crf: int | None = 23,
    preset: str | None = "medium",
    keyframe_interval: int | None = None,
    pixel_format: str = "yuv420p",
    rotation: int = 0,
    max_b_frames: int | None = None,
    threads: int = 0,
    faststart: bool = True,
    deterministic: bool = False,
    codec_options: dict[str, str] | None = None,
) -> Path:
    """Encode RGB frames (each ``(H, W, 3)`` uint8, or ``(3, H, W)`` tensors) into ``path`` and return it.

    ``av.VideoFrame`` objects are accepted too (e.g. decoded and rescaled frames when transcoding), and
    are encoded without a detour through RGB; their timestamps are replaced by a constant ``fps`` clock.

    The file is written under a temporary name beside ``path`` and renamed when complete, so readers never
    see a partial video. ``keyframe_interval`` fixes the GOP length in frames (scene-cut keyframes off), e.g.
    ``round(fps)`` for the 1-second keyframes that make seeking cheap; ``None`` keeps the encoder default
    (250 for x264). ``rotation`` stores a display rotation (degrees counter-clockwise) without touching pixels.
    MP4/MOV files get their index at the front (``faststart``) so a truncated copy still plays its first part.
    ``deterministic=True`` makes the same frames give the same bytes every time (x264's mbtree is turned off).

    Example:
        >>> write_video("clip.mp4", (np.zeros((64, 64, 3), np.uint8) for _ in range(30)), fps=30)
        PosixPath('clip.mp4')
    """
    path = Path(path)
    container_format = _container_format(path)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("no frames to write")
    first = _as_video_frame(first)
    if pixel_format in ("yuv420p", "yuvj420p", "nv12") and (first.height % 2 or first.width % 2):
        raise ValueError(f"{pixel_format} needs an even width and height, got {first.width}x{first.height}")
    options = _encoder_options(codec, crf, preset, keyframe_interval, deterministic, codec_options)
    faststart = faststart and container_format in ("mp4", "mov")
    container_options = {"movflags": "+faststart"} if faststart else {}

    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(path) as tmp:
        container = av.open(str(tmp), mode="w", format=container_format, options=container_options)
        try:
            stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001), options=options)
            stream.width, stream.height, stream.pix_fmt = first.width, first.height, pixel_format
            # FRAME|SLICE, as FFmpeg's CLI sets: x264 then uses frame threads and writes one slice per frame, like
            # real recordings (PyAV's default, SLICE alone, makes x264 cut every frame into slices).
            stream.thread_type = "AUTO"
            stream.thread_count = threads
            if keyframe_interval is not None:
                stream.codec_context.gop_size = keyframe_interval
            if max_b_frames is not None:
                stream.codec_context.max_b_frames = max_b_frames
            if rotation:
                stream.set_display_rotation(rotation)
            _encode_frames(container, stream, itertools.chain([first], map(_as_video_frame, frames)))
            container.close()
        except BaseException:
            with contextlib.suppress(Exception):
                container.close()
            raise
    return path


def _container_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(f"unsupported video extension {suffix!r}; use one of {', '.join(sorted(_FORMATS))}")
    return _FORMATS[suffix]


def _encoder_options(
    codec: str,
    crf: int | None,
    preset: str | None,
    keyframe_interval: int | None,
    deterministic: bool,
    codec_options: dict[str, str] | None,
) -> dict[str, str]:
    """``codec_options`` completed with x264/x265's quality, speed and GOP settings (other codecs: as given)."""
    options = dict(codec_options or {})
    if codec not in ("libx264", "libx265"):
        return options
    if crf is not None:
        options.setdefault("crf", str(crf))
    if preset is not None:
        options.setdefault("preset", preset)
    params_key = f"{codec[3:]}-params"
    params = [options[params_key]] if params_key in options else []
    if keyframe_interval is not None:
        params.append(f"keyint={keyframe_interval}:min-keyint={keyframe_interval}:scenecut=0")
    if deterministic and codec == "libx264":
        # x264's macroblock-tree rate control gives different bytes from run to run here (seen with small
        # frames, even single-threaded); without it the same frames always encode to the same file.
        params.append("mbtree=0")
    if params:
        options[params_key] = ":".join(params)
    return options


def _encode_frames(container: av.container.OutputContainer, stream, frames: Iterable[av.VideoFrame]) -> None:
    """Encode ``frames`` (all of the stream's size) on a constant-rate clock, then flush the encoder."""
    size = (stream.height, stream.width)
    rate = stream.codec_context.time_base or 1 / stream.average_rate
    for index, frame in enumerate(frames):
        if (frame.height, frame.width) != size:
            raise ValueError(f"all frames must have one size: got {(frame.height, frame.width)} after {size}")
        frame.pts, frame.time_base = index, rate  # a constant-rate clock, whatever the frame carried
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def _as_video_frame(frame: np.ndarray | torch.Tensor | av.VideoFrame) -> av.VideoFrame:
    if isinstance(frame, av.VideoFrame):
        # A decoded frame remembers its picture type, and x264 would turn every former I-frame into a keyframe.
        frame.pict_type = av.video.frame.PictureType.NONE
        return frame
    if isinstance(frame, torch.Tensor):
        frame = frame.detach().cpu()
        if frame.ndim == 3 and frame.shape[0] == 3 and frame.shape[-1] != 3:
            frame = frame.permute(1, 2, 0)  # (C, H, W) -> (H, W, C)
        frame = frame.numpy()
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frames must be (H, W, 3) uint8 RGB arrays, got shape {frame.shape} dtype {frame.dtype}")
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
