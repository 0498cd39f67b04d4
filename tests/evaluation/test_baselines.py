"""The static baselines find a shortcut where there is one, stay at chance where there is none, and are fitted
on held-out surgeons only."""

from __future__ import annotations

import json

import numpy as np
import pytest

from surgical_skill.data import load_skill_dataset
from surgical_skill.data.synthetic import SyntheticConfig, generate_dataset
from surgical_skill.evaluation.baselines import BASELINES, static_baselines
from tests.helpers import run_cli

SMALL = {"num_videos": 64, "height": 96, "width": 96, "duration": 2.0, "seed": 7}


@pytest.fixture(scope="module")
def shortcut_manifest(tmp_path_factory):
    """64 videos of 32 surgeons with both static cues on: time-to-complete and the finished suture."""
    config = SyntheticConfig(**SMALL, outcome_cues=True, duration_cue=True)
    return generate_dataset(tmp_path_factory.mktemp("shortcut"), config, workers=2)


def test_the_audit_finds_the_shortcuts_that_are_there(shortcut_manifest):
    data = load_skill_dataset(shortcut_manifest, split_ratios=None)["train"]
    audit = static_baselines(data, folds=4, baselines=("duration", "last_frame"), bootstrap_samples=200)
    assert audit.metric == "accuracy" and audit.chance == 0.5 and len(audit.videos) == 64
    assert "4-fold cross-validation grouped by surgeon (32 surgeons, 64 videos)" in audit.protocol
    for name in ("duration", "last_frame"):
        result = audit.results[name]
        assert result.value >= 0.75, (name, result.value)
        assert result.interval[0] > 0.5 and result.interval[0] <= result.value <= result.interval[1]
    verdicts = audit.verdicts()
    assert all(line.startswith("SHORTCUT: ") for line in verdicts)
    # beside a model that is no better, each is within reach; beside a far better one, it is not
    assert all(line.startswith("WITHIN REACH") for line in audit.verdicts(model_value=0.8))


def test_baselines_are_fitted_on_other_surgeons_only(synthetic_manifest):
    data = load_skill_dataset(synthetic_manifest, split_ratios=(0.6, 0.0, 0.4), seed=0)
    audit = static_baselines(data["train"], data["test"], baselines=("duration", "file_size"), bootstrap_samples=100)
    assert audit.videos == list(data["test"]["video"]) and "Fitted on 14 videos of other surgeons" in audit.protocol
    with pytest.raises(ValueError, match="share surgeons"):
        static_baselines(data["train"], data["train"], baselines=("duration",))
    with pytest.raises(ValueError, match="unknown baselines"):
        static_baselines(data["train"], baselines=("colour",))


def test_scores_get_spearman(synthetic_manifest):
    data = load_skill_dataset(synthetic_manifest, target="score", split_ratios=None)["train"]
    audit = static_baselines(data, folds=3, baselines=("duration", "middle_frame"), bootstrap_samples=100)
    assert audit.metric == "spearman" and audit.chance == 0.0
    for result in audit.results.values():
        assert -1 <= result.value <= 1 and len(result.predictions) == 24


def test_audit_command_on_a_dataset(shortcut_manifest, tmp_path):
    result = run_cli("audit", shortcut_manifest, "--folds", "2", "--json", tmp_path / "audit.json")
    assert result.returncode == 0, result.stderr[-3000:]
    for description in BASELINES.values():
        assert description in result.stdout
    assert "SHORTCUT: duration-only" in result.stdout
    audit = json.loads((tmp_path / "audit.json").read_text())
    assert set(audit["baselines"]) == set(BASELINES) and audit["subjects"] == 32
    assert audit["protocol"].startswith("2-fold cross-validation grouped by surgeon")
    values = np.array([b["value"] for b in audit["baselines"].values()])
    assert ((values >= 0) & (values <= 1)).all()


def test_audit_of_a_missing_dataset_is_one_line(tmp_path):
    result = run_cli("audit", tmp_path / "nothing.csv")
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_audit_command_audits_each_named_score(synthetic_manifest, tmp_path, capsys):
    from surgical_skill.cli import main

    assert main([
        "audit", str(synthetic_manifest), "--score-column", "time_and_motion", "--score-column", "grs",
        "--folds", "2", "--json", str(tmp_path / "audit.json"),
    ]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "## time_and_motion" in printed and "## grs" in printed
    audit = json.loads((tmp_path / "audit.json").read_text())
    assert list(audit) == ["time_and_motion", "grs"]
    data = load_skill_dataset(synthetic_manifest, score_column=["time_and_motion", "grs"], split_ratios=None)
    for name in audit:
        expected = static_baselines(data["train"], folds=2, baselines=("duration",), target=name)
        assert audit[name]["baselines"]["duration"]["value"] == pytest.approx(expected.results["duration"].value)
