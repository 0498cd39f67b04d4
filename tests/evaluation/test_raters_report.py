"""A score that is several raters' mean (the AIxSuture GRS): the report puts the raters' own agreement beside
the model's agreement with their mean and with each rater, the human line the model is read against."""

from __future__ import annotations

import json

import numpy as np
import pytest

from surgical_skill.data import load_skill_dataset
from surgical_skill.evaluation import metrics_against_raters, rater_agreement
from surgical_skill.evaluation.evaluate import evaluate_model
from surgical_skill.models import build_model, build_video_processor
from tests.data.public.trees_aixsuture import write_aixsuture_tree
from tests.helpers import TINY_SMALL3D


@pytest.fixture(scope="module")
def rated(tmp_path_factory):
    root = write_aixsuture_tree(tmp_path_factory.mktemp("aixsuture") / "AIxSuture")
    return load_skill_dataset(root, target="grs", split_ratios=None)["train"]


def test_rated_scores_keep_every_raters_score(rated):
    """Rows of a rated score carry each rater's score and name beside the mean they train on."""
    for row in rated:
        assert row["labels"] == pytest.approx(np.mean(row["label_ratings"]))
        assert row["label_raters"] == row["raters"] and len(row["label_ratings"]) == row["num_raters"]


def test_the_report_reads_the_model_against_the_raters(rated, tmp_path):
    model = build_model("small3d", num_labels=1, **TINY_SMALL3D)
    processor = build_video_processor("small3d", num_frames=4, size={"shortest_edge": 32})
    processor.crop_size = {"height": 32, "width": 32}
    result = evaluate_model(
        model, rated, tmp_path / "eval", processor=processor, clips_per_video=1, num_workers=0, bootstrap_samples=20
    )
    # the raters matched by name: each video's raters are three of A-F
    names = sorted({r for row in rated for r in row["raters"]})
    by_id = {row["video_id"]: row for row in rated}
    matrix = np.full((len(result.predictions), len(names)), np.nan)
    for i, p in enumerate(result.predictions):
        row = by_id[p.video_id]
        for value, name in zip(row["label_ratings"], row["label_raters"]):
            matrix[i, names.index(name)] = value
    scores = [p.probabilities[0] for p in result.predictions]
    assert result.raters["rater_names"] == names
    expected = rater_agreement(matrix, names)
    assert result.raters["agreement"]["krippendorff_alpha"] == pytest.approx(expected["krippendorff_alpha"])
    assert result.raters["model"] == pytest.approx(metrics_against_raters(scores, matrix, names), nan_ok=True)
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["raters"]["rater_names"] == names
    assert saved["raters"]["agreement"]["items"] == len(result.predictions)
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "## Raters: the human reference" in report and "| the raters' mean |" in report
    assert all(f"| rater {name} |" in report for name in names)
