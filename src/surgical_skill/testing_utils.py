"""Generated test videos for the test suite and the benchmarks.

The content is textured (a panning multi-scale noise field, like tissue under a moving camera) so that
encoders produce realistic inter-frame prediction and bitrates, and every frame carries its own index as a
row of black/white blocks, so a frame returned for the wrong index is visible even to the eye.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
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


def sequential_decode(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """Every frame of ``path`` as (N, H, W, 3) uint8, by the plainest PyAV loop: one thread, no seeking.

    A packet the decoder rejects is skipped (as FFmpeg's command line does) and the decoder is drained at
    the end. This is the reference that ``decode_frames`` must equal pixel for pixel. Rotation is not applied.
    """
    frames = []
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            try:
                decoded = stream.codec_context.decode(packet if packet.size else None)
            except av.FFmpegError:
                continue
            for frame in decoded:
                kwargs = {} if size is None else {"height": size[0], "width": size[1]}
                frames.append(frame.to_ndarray(format="rgb24", **kwargs))
    return np.stack(frames)
