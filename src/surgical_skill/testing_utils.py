"""Generated test videos for the test suite and the benchmarks.

The content is textured (a panning multi-scale noise field, like tissue under a moving camera) so that
encoders produce realistic inter-frame prediction and bitrates, and every frame carries its own index as a
row of black/white blocks, so a frame returned for the wrong index is visible even to the eye.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from .deprecation import renamed_keywords
from .video import write_video

INDEX_BITS = 16


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> torch.Tensor:
    coarse = torch.from_numpy(rng.random((1, 3, height // cell + 2, width // cell + 2), dtype=np.float32))
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)[0]


@renamed_keywords(num_frames="total_num_frames")
def textured_frames(
    total_num_frames: int, height: int, width: int, *, seed: int = 0, pan: float = 0.08
) -> Iterator[np.ndarray]:
    """Yield ``total_num_frames`` RGB frames (H, W, 3) uint8 of a slowly panning texture with moving blobs.

    ``pan`` is the panning range as a share of the frame size. The top-left corner encodes the frame index.
    """
    rng = np.random.default_rng(seed)
    margin_y, margin_x = max(2, int(height * pan)), max(2, int(width * pan))
    big_h, big_w = height + 2 * margin_y, width + 2 * margin_x
    texture = (
        0.45 * _smooth_noise(rng, big_h, big_w, max(4, big_h // 6))
        + 0.35 * _smooth_noise(rng, big_h, big_w, max(2, big_h // 40))
        + 0.20 * _smooth_noise(rng, big_h, big_w, 2)
    )
    tint = torch.tensor([0.95, 0.55, 0.5]).view(3, 1, 1)  # pinkish, like tissue
    texture = np.ascontiguousarray((texture * tint * 255).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy())

    radius = max(2, min(height, width) // 14)
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    blob = (yy**2 + xx**2) <= radius**2
    blob_colors = rng.integers(150, 256, size=(3, 3), dtype=np.uint8)
    blob_phase = rng.random((3, 2)) * 2 * math.pi
    block = max(2, min(height // 24, width // (INDEX_BITS + 2)))

    for i in range(total_num_frames):
        t = i / max(1, total_num_frames - 1)
        dy = round(margin_y * (1 + math.sin(2 * math.pi * t + 0.3)))
        dx = round(margin_x * (1 + math.sin(4 * math.pi * t)))
        frame = texture[dy : dy + height, dx : dx + width].copy()
        for color, phase in zip(blob_colors, blob_phase):
            cy = int((height - 2 * radius - 2) * (0.5 + 0.5 * math.sin(phase[0] + 0.09 * i))) + radius + 1
            cx = int((width - 2 * radius - 2) * (0.5 + 0.5 * math.cos(phase[1] + 0.07 * i))) + radius + 1
            patch = frame[cy - radius : cy + radius + 1, cx - radius : cx + radius + 1]
            patch[blob] = color
        for bit in range(INDEX_BITS):
            value = 255 if (i >> bit) & 1 else 0
            frame[:block, bit * block : (bit + 1) * block] = value
        yield frame


def read_frame_index(frame_hwc: np.ndarray) -> int:
    """Read back the index drawn by :func:`textured_frames` (robust to compression noise)."""
    height, width = frame_hwc.shape[:2]
    block = max(2, min(height // 24, width // (INDEX_BITS + 2)))
    value = 0
    for bit in range(INDEX_BITS):
        cell = frame_hwc[block // 4 : block - block // 4, bit * block + block // 4 : (bit + 1) * block - block // 4]
        if cell.mean() > 127:
            value |= 1 << bit
    return value


@renamed_keywords(num_frames="total_num_frames")
def make_test_video(
    path: str | os.PathLike,
    total_num_frames: int = 60,
    *,
    fps: float = 30,
    height: int = 96,
    width: int = 128,
    seed: int = 0,
    **write_kwargs,
) -> Path:
    """Write a textured test video; ``write_kwargs`` go to :func:`~surgical_skill.video.write_video`."""
    return write_video(path, textured_frames(total_num_frames, height, width, seed=seed), fps, **write_kwargs)


def sequential_decode(
    path: str | os.PathLike, size: tuple[int, int] | None = None, *, stream_index: int | None = None
) -> np.ndarray:
    """Every frame of ``path`` as (N, H, W, 3) uint8, by the plainest PyAV loop: one thread, no seeking.

    A packet the decoder rejects is skipped (as FFmpeg's command line does) and the decoder is drained at
    the end. This is the reference that ``decode_frames`` must equal pixel for pixel. Rotation is not applied.
    ``stream_index`` picks a stream of a file with several (default: the first video stream).
    """
    return np.stack([array for _, array in sequential_decode_with_pts(path, size, stream_index=stream_index)])


def sequential_decode_with_pts(
    path: str | os.PathLike, size: tuple[int, int] | None = None, *, stream_index: int | None = None
) -> list[tuple[int | None, np.ndarray]]:
    """:func:`sequential_decode`, keeping each frame's pts: which frames of a damaged file came out at all."""
    frames = []
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0] if stream_index is None else container.streams[stream_index]
        for packet in container.demux(stream):
            try:
                decoded = stream.codec_context.decode(packet if packet.size else None)
            except av.FFmpegError:
                continue
            for frame in decoded:
                kwargs = {} if size is None else {"height": size[0], "width": size[1]}
                frames.append((frame.pts, frame.to_ndarray(format="rgb24", **kwargs)))
    return frames


# Hostile and unusual files: generators for the corpus of tests/video/test_corpus.py and the fixtures.


def write_vfr_video(
    path: str | os.PathLike, total_num_frames: int = 60, *, height: int = 96, width: int = 128, seed: int = 3
) -> Path:
    """An h264 MP4 alternating 30 fps and 10 fps stretches of 5 frames (frame timestamps in milliseconds)."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        pts = 0
        for i, array in enumerate(textured_frames(total_num_frames, height, width, seed=seed)):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            pts += 33 if (i // 5) % 2 == 0 else 100
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_audio_only(path: str | os.PathLike, num_audio_frames: int = 20) -> Path:
    """An AAC file with no video stream at all (silence, mono, 44.1 kHz)."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        for i in range(num_audio_frames):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_raw_h264(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """The bare h264 bitstream of ``source``: no container, so no timestamps and no frame count."""
    path = Path(path)
    with av.open(os.fspath(source)) as src, av.open(str(path), "w", format="h264") as dst:
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.size:
                packet.stream = out
                dst.mux(packet)
    return path


def write_multi_stream_video(
    path: str | os.PathLike,
    streams: Sequence[tuple[float, int, int, int]] = ((25, 64, 96, 20), (30, 80, 128, 36)),
    *,
    default: int | None = 1,
) -> Path:
    """A Matroska file with several h264 video streams, one per ``(fps, height, width, total_num_frames)``.

    Stream ``default`` (an index into ``streams``) carries the default flag, which makes it FFmpeg's best
    stream (``av_find_best_stream``) even when it is not the first. Stream ``k`` draws
    :func:`textured_frames` with ``seed=k + 1``.
    """
    path = Path(path)
    with av.open(str(path), "w") as container:
        outs = []
        for k, (fps, height, width, _) in enumerate(streams):
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.disposition = av.stream.Disposition(av.stream.Disposition.default if k == default else 0)
            outs.append(stream)
        for k, (stream, (_, height, width, count)) in enumerate(zip(outs, streams)):
            for i, array in enumerate(textured_frames(count, height, width, seed=k + 1)):
                frame = av.VideoFrame.from_ndarray(array, format="rgb24")
                frame.pts, frame.time_base = i, 1 / stream.average_rate
                container.mux(stream.encode(frame))
        for stream in outs:
            container.mux(stream.encode(None))
    return path


def claim_frame_count(avi_path: str | os.PathLike, claimed: int) -> Path:
    """Make an AVI's headers lie: its main header and its first stream header then state ``claimed`` frames.

    FFmpeg reports the stream header's count as the stream's frame count; the frames themselves are untouched.
    """
    path = Path(avi_path)
    data = bytearray(path.read_bytes())
    main, stream = data.find(b"avih"), data.find(b"strh")
    if data[:4] != b"RIFF" or main < 0 or stream < 0:
        raise ValueError(f"{path} is not an AVI file")
    struct.pack_into("<I", data, main + 8 + 16, claimed)  # AVIMAINHEADER.dwTotalFrames
    struct.pack_into("<I", data, stream + 8 + 32, claimed)  # AVISTREAMHEADER.dwLength
    path.write_bytes(bytes(data))
    return path


def truncated_copy(source: str | os.PathLike, path: str | os.PathLike, fraction: float) -> Path:
    """The first ``fraction`` of ``source``'s bytes, as a download or copy cut short leaves it."""
    data = Path(source).read_bytes()
    path = Path(path)
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def damaged_copy(
    source: str | os.PathLike, path: str | os.PathLike, *, at: float = 0.5, num_bytes: int = 2048, seed: int = 0
) -> Path:
    """``source`` with ``num_bytes`` random bytes written over it from ``at`` (a share of the file's size) on:
    a damaged stretch mid-stream, with the container's index (and every offset in it) intact."""
    data = bytearray(Path(source).read_bytes())
    start = int(len(data) * at)
    garbage = np.random.default_rng(seed).integers(0, 256, num_bytes, dtype=np.uint8).tobytes()
    data[start : start + num_bytes] = garbage[: max(0, len(data) - start)]
    path = Path(path)
    path.write_bytes(bytes(data))
    return path
