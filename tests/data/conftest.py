"""A small skill dataset on disk: generated videos, a manifest, a class folder tree."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from surgical_skill.testing_utils import make_test_video
from tests.helpers import write_manifest

LABELS = ("novice", "intermediate", "expert")


@pytest.fixture(scope="session")
def skill_videos(tmp_path_factory) -> list[dict]:
    """18 short videos by 9 subjects (2 trials each, one skill level per subject), 48x64."""
    root = tmp_path_factory.mktemp("skill_videos")
    rows = []
    for i in range(18):
        subject = i // 2
        label = LABELS[subject % 3]
        path = make_test_video(root / f"trial_{i:02d}.mp4", 24 + i, height=48, width=64, seed=i, keyframe_interval=8)
        rows.append(
            {"video": path.name, "label": label, "subject": f"S{subject}", "score": 10.0 + 1.5 * i, "path": str(path)}
        )
    return rows


@pytest.fixture(scope="session")
def manifest(skill_videos) -> Path:
    """ratings.csv beside the videos, paths relative to it."""
    return write_manifest(Path(skill_videos[0]["path"]).parent / "ratings.csv", skill_videos)


@pytest.fixture(scope="session")
def class_folder(skill_videos, tmp_path_factory) -> Path:
    """root/<label>/<video> with a metadata.csv carrying the subject."""
    root = tmp_path_factory.mktemp("class_folder")
    with (root / "metadata.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_name", "subject"])
        for row in skill_videos:
            (root / row["label"]).mkdir(exist_ok=True)
            shutil.copy(row["path"], root / row["label"] / row["video"])
            writer.writerow([f"{row['label']}/{row['video']}", row["subject"]])
    return root
