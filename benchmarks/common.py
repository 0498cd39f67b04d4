"""Inputs shared by the benchmarks: generated 720p videos, made once and cached in benchmarks/_work/."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import av
import torch

from surgical_skill.testing_utils import make_test_video

WORK = Path(__file__).parent / "_work"


def ensure_video(name: str, seconds: int, keyframe_interval: int | None, seed: int = 1) -> Path:
    """A ``seconds`` long 1280x720 30 fps h264 video of textured moving content (x264 medium, CRF 23)."""
    WORK.mkdir(exist_ok=True)
    path = WORK / name
    if not path.exists():
        print(f"generating {path.name} ({seconds} s, 1280x720, 30 fps) ...", flush=True)
        started = time.perf_counter()
        make_test_video(
            path, seconds * 30, fps=30, height=720, width=1280, keyframe_interval=keyframe_interval, seed=seed
        )
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def machine_line() -> str:
    return (
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, torch {torch.__version__}, av {av.__version__}"
    )
