"""The built-in suturing videos: deterministic, balanced, loadable, and skill visible only in the motion (the
static baselines on them are measured in tests/evaluation/test_baselines.py)."""

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from surgical_skill.data import load_skill_dataset
from surgical_skill.data.synthetic import (
    SCORE_COLUMNS,
    SyntheticConfig,
    generate_dataset,
    plan_motion,
    plan_trials,
    rate_trials,
)
from surgical_skill.video import decode_frames, probe
from tests.helpers import run_cli

SMALL = SyntheticConfig(num_videos=48, height=64, width=64, duration=4.0, trials_per_subject=2, seed=1)


def read_rows(manifest: Path) -> list[dict]:
    with manifest.open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("synthetic"), SMALL, workers=2)


def test_same_seed_same_videos_other_seed_other_videos(tmp_path):
    config = SyntheticConfig(num_videos=4, height=48, width=48, duration=2.0, seed=3)
    a = generate_dataset(tmp_path / "a", config, workers=1)
    b = generate_dataset(tmp_path / "b", config, workers=2)
    c = generate_dataset(tmp_path / "c", SyntheticConfig(num_videos=4, height=48, width=48, duration=2.0, seed=4))
    assert a.read_text() == b.read_text()
    for row in read_rows(a):
        assert (a.parent / row["video"]).read_bytes() == (b.parent / row["video"]).read_bytes()
    assert a.read_text() != c.read_text()


@pytest.mark.parametrize("num_videos, classes, expected", [(10, 2, [5, 5]), (11, 2, [6, 5]), (9, 3, [3, 3, 3])])
def test_labels_balanced_and_each_surgeon_one_level(num_videos, classes, expected):
    config = SyntheticConfig(num_videos=num_videos, num_classes=classes, trials_per_subject=2)
    trials = plan_trials(config)
    counts = Counter(t.profile.label for t in trials)
    assert [counts[label] for label in config.labels] == expected
    by_subject = {}
    for t in trials:
        by_subject.setdefault(t.profile.subject, set()).add(t.profile.label)
    assert all(len(labels) == 1 for labels in by_subject.values())
    assert all(8 <= t.score <= 40 for t in trials)


def test_skill_orders_scores_and_drives_the_motion():
    config = SyntheticConfig(num_videos=40, seed=2)
    trials = plan_trials(config)
    skills, scores = np.array([t.skill for t in trials]), np.array([t.score for t in trials])
    assert np.corrcoef(skills, scores)[0, 1] > 0.9
    low = [t for t in trials if t.profile.label == "lower-skilled"]
    high = [t for t in trials if t.profile.label == "higher-skilled"]
    assert max(t.skill for t in low) <= 0.55 and min(t.skill for t in high) >= 0.45

    def jerk(trial):  # mean squared third difference of the driver tip: minimum-jerk is smooth
        path = plan_motion(trial, config)[0]["driver"]
        return float((np.diff(path, 3, axis=0) ** 2).sum(1).mean())

    assert np.median([jerk(t) for t in low]) > 2 * np.median([jerk(t) for t in high])


def _placement_and_length(config):
    """Per trial: skill, frames, how far the stitches landed from their marks, and the bleeding drawn."""
    out = []
    for trial in plan_trials(config):
        motion, extras = plan_motion(trial, config)
        entries = np.array([entry[0] for entry, _ in extras["stitches"]])
        miss = float(np.abs(entries - extras["planned_x"]).mean())
        out.append((trial.skill, len(motion["driver"]), miss, sum(extras["bleeding"])))
    return np.array(out)


def test_nothing_static_follows_skill_unless_asked():
    """Trial length and the finished suture are drawn independently of skill by default; the two static cues
    real recordings carry (time-to-complete, the final product) appear only when switched on."""
    from scipy.stats import spearmanr

    plain = _placement_and_length(SyntheticConfig(num_videos=300, seed=4))
    # 150 surgeons: a correlation of 0 is measured within about +-0.16 (95 %)
    assert abs(spearmanr(plain[:, 0], plain[:, 1])[0]) < 0.2  # length
    assert abs(spearmanr(plain[:, 0], plain[:, 2])[0]) < 0.2  # stitch placement
    assert plain[:, 3].sum() == 0  # no bleeding
    cued = _placement_and_length(SyntheticConfig(num_videos=300, seed=4, outcome_cues=True, duration_cue=True))
    assert spearmanr(cued[:, 0], cued[:, 1])[0] < -0.5  # the less skilled take longer
    assert spearmanr(cued[:, 0], cued[:, 2])[0] < -0.5  # and place stitches worse
    assert spearmanr(cued[:, 0], cued[:, 3])[0] < -0.5  # and make the tissue bleed


def test_constant_bitrate_so_file_size_follows_only_length(small_dataset):
    import os

    rows = read_rows(small_dataset)
    bitrates = [os.path.getsize(small_dataset.parent / r["video"]) * 8 / float(r["duration"]) for r in rows]
    assert np.std(bitrates) / np.mean(bitrates) < 0.03


def test_metadata_loads_with_the_datasets_layer(small_dataset):
    rows = read_rows(small_dataset)
    assert set(rows[0]) >= {"video", "label", "score", "subject", "duration"}
    data = load_skill_dataset(small_dataset, seed=0)
    assert data["train"].features["labels"].names == ["lower-skilled", "higher-skilled"]
    assert sum(len(split) for split in data.values()) == 48
    for split in data.values():
        for row in split:
            meta = probe(row["video"])
            assert (meta.height, meta.width, meta.fps) == (64, 64, 15.0)
            assert row["total_num_frames"] == meta.total_num_frames
    first = rows[0]
    assert probe(small_dataset.parent / first["video"]).duration == pytest.approx(float(first["duration"]), abs=0.07)


def _features(manifest: Path):
    frame_x, frame_y, frame_groups, motion_x, video_y, video_groups = [], [], [], [], [], []
    for row in read_rows(manifest):
        path = manifest.parent / row["video"]
        frames = (
            decode_frames(path, range(probe(path).total_num_frames)).permute(0, 2, 3, 1).numpy().astype(np.float32)
        )
        label = int(row["label"] == "higher-skilled")
        for i in np.linspace(0, len(frames) - 1, 6).astype(int):
            frame = frames[i]
            stats = list(frame.mean((0, 1)))
            for c in range(3):
                stats += list(np.histogram(frame[..., c], bins=8, range=(0, 256))[0] / frame[..., c].size)
            frame_x.append(stats)
            frame_y.append(label)
            frame_groups.append(row["subject"])
        # temporal high-frequency energy: second differences of the frames against first differences
        first = np.abs(np.diff(frames, axis=0)).mean()
        second = np.abs(np.diff(frames, 2, axis=0)).mean()
        motion_x.append([np.log(second / first)])
        video_y.append(label)
        video_groups.append(row["subject"])
    return (
        np.array(frame_x),
        np.array(frame_y),
        np.array(frame_groups),
        np.array(motion_x),
        np.array(video_y),
        np.array(video_groups),
    )


def test_frame_colour_does_not_reveal_the_label_but_the_motion_does(small_dataset):
    frame_x, frame_y, frame_groups, motion_x, video_y, video_groups = _features(small_dataset)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = GroupKFold(n_splits=4)  # held-out surgeons
    frame_accuracy = cross_val_score(model, frame_x, frame_y, groups=frame_groups, cv=folds).mean()
    motion_accuracy = cross_val_score(model, motion_x, video_y, groups=video_groups, cv=folds).mean()
    assert frame_accuracy < 0.65, f"per-frame colour statistics predict the label ({frame_accuracy:.2f})"
    assert motion_accuracy > 0.85, f"the motion statistic does not separate the classes ({motion_accuracy:.2f})"


def test_cli_synth_with_previews(tmp_path):
    result = run_cli(
        "synth",
        str(tmp_path),
        "--num-videos",
        "6",
        "--classes",
        "3",
        "--size",
        "48",
        "64",
        "--duration",
        "2",
        "--preview",
        "--workers",
        "1",
    )
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "metadata.csv")
    assert Counter(r["label"] for r in rows) == {"novice": 2, "intermediate": 2, "expert": 2}
    # the sub-scores and raters, as generate_dataset writes them for the same settings
    config = SyntheticConfig(num_videos=6, num_classes=3, height=48, width=64, duration=2.0)
    expected = rate_trials(plan_trials(config), config)
    assert [{column: int(r[column]) for column in SCORE_COLUMNS} for r in rows] == expected
    same = ["--num-videos", "6", "--classes", "3", "--size", "48", "64", "--duration", "2", "--workers", "1"]
    again = run_cli("synth", str(tmp_path), *same, "--reuse")  # the same videos are there: nothing to render
    assert again.returncode == 0 and "up to date" in again.stdout
    for label in ("novice", "intermediate", "expert"):
        assert (tmp_path / f"preview_{label}.png").stat().st_size > 1000


def test_bad_configs():
    with pytest.raises(ValueError, match="num_classes must be 2 or 3"):
        SyntheticConfig(num_classes=4)
    with pytest.raises(ValueError, match="even"):
        SyntheticConfig(height=63)
