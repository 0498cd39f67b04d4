"""evaluate_model writes a whole report: metrics with intervals, predictions, plots, report.md."""

import csv
import json

import pytest

from surgical_skill.evaluation.evaluate import evaluate_model
from tests.helpers import run_cli


def test_report_folder_has_everything(tiny_run, tmp_path):
    model_dir, data = tiny_run
    result = evaluate_model(
        model_dir,
        data["test"],
        tmp_path / "report",
        clips_per_video=2,
        num_workers=0,
        bootstrap_samples=200,
        threshold=0.5,
    )
    folder = result.report_dir
    for name in (
        "metrics.json",
        "predictions.csv",
        "misclassified.csv",
        "classification_report.txt",
        "confusion_matrix.png",
        "roc_pr.png",
        "reliability.png",
        "timelines.png",
        "report.md",
    ):
        assert (folder / name).exists() and (folder / name).stat().st_size > 0, name
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["videos"] == len(data["test"]) and metrics["threshold"] == 0.5
    assert metrics["bootstrap"]["resampled_by"] == "subject"
    low, high = metrics["confidence_intervals_95"]["accuracy"]
    assert low <= metrics["metrics"]["accuracy"] <= high
    rows = list(csv.DictReader((folder / "predictions.csv").open()))
    assert len(rows) == len(data["test"])
    assert {"video", "subject", "label", "prediction", "p_lower-skilled", "p_higher-skilled", "correct"} <= set(
        rows[0]
    )
    wrong = list(csv.DictReader((folder / "misclassified.csv").open()))
    assert len(wrong) == sum(r["correct"] == "0" for r in rows)
    report = (folder / "report.md").read_text()
    assert "| accuracy |" in report and "![confusion_matrix](confusion_matrix.png)" in report
    assert not list(folder.parent.glob(".tmp-*"))  # written atomically


def test_evaluate_command_on_a_model_without_its_run(tiny_run, synthetic_manifest, tmp_path):
    """A bare model folder (no recipe.yaml beside it) is evaluated on the data named, said to be new data, with a
    warning that nothing can check its surgeons are unseen."""
    model_dir, _ = tiny_run
    result = run_cli(
        "evaluate",
        "--model",
        model_dir,
        "--dataset",
        synthetic_manifest,
        "--output-dir",
        tmp_path / "eval",
        "--split",
        "test",
        "--split-ratios",
        "0.6",
        "0.2",
        "0.2",
        "--clips-per-video",
        "2",
        "--num-workers",
        "0",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "NEW DATA" in result.stdout and "test: video-level accuracy" in result.stdout
    assert "has no training record" in result.stderr
    assert (tmp_path / "eval" / "report.md").exists()


def test_the_evaluate_recipe_takes_the_recipe_spellings(tiny_run, synthetic_manifest, tmp_path):
    """`python recipes/evaluate.py` is `surgical-skill evaluate` with the recipes' underscore keys."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    model_dir, _ = tiny_run
    flags = [
        "--model",
        model_dir,
        "--dataset",
        synthetic_manifest,
        "--output_dir",
        tmp_path / "eval",
        "--split",
        "test",
    ]
    flags += ["--split_ratios", "0.6", "0.2", "0.2", "--eval_clips_per_video", "2", "--num_workers", "0"]
    flags += ["--no-baselines"]
    result = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "evaluate.py"), *map(str, flags)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "test: video-level accuracy" in result.stdout
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["clips_per_video"] == 2 and "baselines" not in metrics


def test_a_model_is_needed_with_its_processor(tiny_run):
    from transformers import AutoModelForVideoClassification

    model_dir, data = tiny_run
    with pytest.raises(ValueError, match="video processor"):
        evaluate_model(AutoModelForVideoClassification.from_pretrained(model_dir), data["test"])


def test_label_and_output_mistakes_are_one_clear_message(tiny_run, tmp_path):
    from datasets import Value
    from transformers import AutoConfig

    from surgical_skill.evaluation.evaluate import (
        LabelMismatchError,
        ReportExistsError,
        align_labels,
        check_output_dir,
        parse_label_map,
    )

    model_dir, data = tiny_run
    config = AutoConfig.from_pretrained(model_dir)
    with pytest.raises(
        LabelMismatchError, match=r"the label map names classes the dataset does not have: \['novice'\]"
    ):
        align_labels(data["test"], config, {"novice": "lower-skilled"})
    scores = data["test"].cast_column("labels", Value("float64"))
    with pytest.raises(LabelMismatchError, match=r"the model predicts classes .* but the dataset gives scores"):
        align_labels(scores, config)
    assert parse_label_map('{"a": "b"}') == parse_label_map("a=b") == {"a": "b"}
    with pytest.raises(ValueError, match="DATASET_NAME=MODEL_NAME pairs"):
        parse_label_map("novice:lower-skilled")
    (tmp_path / "report.txt").write_text("x")
    with pytest.raises(ReportExistsError, match=r"report\.txt is a file; give a folder"):
        check_output_dir(tmp_path / "report.txt", overwrite=True)
