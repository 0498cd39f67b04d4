"""The synthetic videos' sub-scores and raters: OSATS-like items that follow the latent skill and the motion
feature each rates, their sum, three raters who disagree a little, and none of it changing a video."""

import csv
import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from surgical_skill.data import load_skill_dataset
from surgical_skill.data.synthetic import (
    GRS_RANGE,
    RATER_COLUMNS,
    SCORE_COLUMNS,
    SUBSCORE_ITEMS,
    SyntheticConfig,
    _sloppiness_seen,
    generate_dataset,
    plan_motion,
    plan_trials,
    rate_trials,
)

# scores need no rendering: 48 trials (24 surgeons) of the default settings are planned in a fraction of a second
PLANNED = SyntheticConfig(num_videos=48, seed=0)
OLD_COLUMNS = ["video", "label", "score", "subject", "duration", "skill", "left_handed"]


def read_rows(manifest: Path) -> list[dict]:
    with manifest.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def planned():
    trials = plan_trials(PLANNED)
    return trials, rate_trials(trials, PLANNED)


def test_items_are_1_to_5_and_sum_to_the_grs_raters_within_its_range(planned):
    _, scores = planned
    for row in scores:
        assert list(row) == list(SCORE_COLUMNS)
        assert all(type(value) is int for value in row.values())
        assert all(1 <= row[item] <= 5 for item in SUBSCORE_ITEMS)
        assert row["grs"] == sum(row[item] for item in SUBSCORE_ITEMS)
        assert all(GRS_RANGE[0] <= row[rater] <= GRS_RANGE[1] for rater in RATER_COLUMNS)
    assert GRS_RANGE == (5, 25)
    for item in SUBSCORE_ITEMS:  # the scale is used, not one value
        assert len({row[item] for row in scores}) >= 3, item


def test_items_follow_the_skill_and_the_feature_each_rates(planned):
    """Measured on seeds 0-39 (48 trials each): Spearman with the latent skill 0.66-0.95 per item (median
    0.84-0.93), 0.94-0.98 for the GRS; with the skill's share taken out, each item against the sloppiness its own
    feature shows -0.57 to -0.94 (seeds 0-19)."""
    trials, scores = planned
    skill = np.array([t.skill for t in trials])
    seen = [_sloppiness_seen(plan_motion(t, PLANNED)[1]["features"]) for t in trials]
    for item in SUBSCORE_ITEMS:
        values = np.array([row[item] for row in scores])
        assert spearmanr(skill, values)[0] > 0.6, item
        # half of an item is the skill (2 points of 4): the rest follows what the motion shows
        assert spearmanr(values - 2 * skill, [s[item] for s in seen])[0] < -0.4, item
    grs = [row["grs"] for row in scores]
    assert spearmanr(skill, grs)[0] > 0.9
    assert spearmanr([t.score for t in trials], grs)[0] > 0.85


def test_raters_disagree_a_little_but_follow_the_grs(planned):
    """Measured on seeds 0-39: each rater against the true GRS, Spearman 0.89-0.99, mean absolute difference
    0.6-2.9 points; two raters against each other 0.86-0.96."""
    scores = planned[1]
    grs = np.array([row["grs"] for row in scores])
    given = {rater: np.array([row[rater] for row in scores]) for rater in RATER_COLUMNS}
    for rater, values in given.items():
        assert spearmanr(grs, values)[0] > 0.85, rater
        assert 0.3 < np.abs(values - grs).mean() < 4, rater
    assert len({tuple(values) for values in given.values()}) == len(RATER_COLUMNS)
    assert spearmanr(given[RATER_COLUMNS[0]], given[RATER_COLUMNS[1]])[0] > 0.8


def test_scores_deterministic_per_seed(planned):
    scores = planned[1]
    assert rate_trials(plan_trials(PLANNED), PLANNED) == scores
    other = replace(PLANNED, seed=1)
    assert rate_trials(plan_trials(other), other) != scores


def test_the_scores_change_no_video_and_no_other_column(tmp_path):
    """The same config with and without the scores: byte-identical videos, the same earlier columns (the scores
    come after them), and what is written is what rate_trials gives."""
    config = SyntheticConfig(num_videos=6, num_classes=3, height=32, width=32, duration=1.5, seed=11)
    plain = generate_dataset(tmp_path / "plain", replace(config, subscores=False), workers=1)
    scored = generate_dataset(tmp_path / "scored", config, workers=1)
    plain_rows, scored_rows = read_rows(plain), read_rows(scored)
    assert list(plain_rows[0]) == OLD_COLUMNS
    assert list(scored_rows[0]) == OLD_COLUMNS + list(SCORE_COLUMNS)
    for before, after in zip(plain_rows, scored_rows, strict=True):
        assert {column: after[column] for column in OLD_COLUMNS} == before
        digest = [
            hashlib.sha256((path / before["video"]).read_bytes()).hexdigest() for path in (plain.parent, scored.parent)
        ]
        assert digest[0] == digest[1], before["video"]
    expected = rate_trials(plan_trials(config), config)
    assert [{c: int(row[c]) for c in SCORE_COLUMNS} for row in scored_rows] == expected
    # the loader passes them through as extra columns (a CSV's extra columns arrive as text, as skill does)
    data = load_skill_dataset(scored, split_ratios=None, probe_videos=False)["train"]
    assert [int(v) for v in data["grs"]] == [row["grs"] for row in expected]
    assert set(SCORE_COLUMNS) <= set(data.column_names)
