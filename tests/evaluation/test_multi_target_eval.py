"""Evaluating models of several named scores, score distributions and ordered classes, end to end: every score
read by name, its figures equal to SciPy's, the Fisher-z headline, the raters per score, the plots, and a report
that reads back to the same numbers."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from datasets import Dataset
from scipy import stats
from sklearn.linear_model import LinearRegression
from sklearn.metrics import cohen_kappa_score

from surgical_skill.data import load_skill_dataset
from surgical_skill.evaluation import compare_reports, metrics_against_raters, rater_agreement
from surgical_skill.evaluation.baselines import static_baselines_or_none
from surgical_skill.evaluation.evaluate import (
    LabelMismatchError,
    VideoPrediction,
    align_labels,
    evaluate_model,
    evaluate_run,
    load_report,
    ordinal_resample_figures,
    score_predictions,
)
from surgical_skill.evaluation.metrics import ordinal_metrics, predict_labels
from surgical_skill.evaluation.report import read_report
from surgical_skill.markup import markdown_inline
from surgical_skill.models import build_model, build_video_processor
from tests.helpers import TINY_SMALL3D

ITEMS = ["respect_for_tissue", "suture_needle_handling", "instrument_handling", "time_and_motion", "flow_of_operation"]
FAST = {"clips_per_video": 1, "num_workers": 0}


def save_with_processor(model, folder):
    """A tiny model and the video processor it reads clips with (4 frames of 32x32), saved in ``folder``."""
    model.save_pretrained(folder)
    build_video_processor(
        "small3d", num_frames=4, size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def items(synthetic_manifest):
    """The synthetic trials with their five items as named scores, in another order than the models output them
    (a score read by position would be read wrong)."""
    return load_skill_dataset(synthetic_manifest, score_column=ITEMS[::-1], split_ratios=None)["train"]


@pytest.fixture(scope="module")
def items_report(items, tmp_path_factory):
    """A five-item model reporting their sum as ``grs`` (the dataset's column of that name), evaluated."""
    folder = tmp_path_factory.mktemp("items")
    torch.manual_seed(0)
    model = build_model(
        "small3d",
        target_names=ITEMS,
        score_ranges=[[1, 5]] * 5,
        normalize_scores=True,
        score_sum_name="grs",
        **TINY_SMALL3D,
    )
    save_with_processor(model, folder / "model")
    result = evaluate_model(folder / "model", items, folder / "eval", bootstrap_samples=100, **FAST)
    return result, model.config


def test_each_score_is_read_by_name_and_scored_as_scipy_does(items, items_report):
    result, _ = items_report
    assert result.label_names == [*ITEMS, "grs"] and result.targets == ITEMS
    rows = {row["video_id"]: row for row in items}
    truths = np.array([p.label for p in result.predictions])
    values = np.array([p.probabilities for p in result.predictions])
    for p, truth in zip(result.predictions, truths):
        row = rows[p.video_id]
        assert truth.tolist() == [float(row[name]) for name in [*ITEMS, "grs"]]  # grs: the column, a string there
    np.testing.assert_allclose(values[:, -1], values[:, :-1].sum(1), rtol=1e-5)  # the sum is the items'
    for k, name in enumerate([*ITEMS, "grs"]):
        truth, value = truths[:, k], values[:, k]
        assert result.metrics[f"{name}/spearman"] == pytest.approx(stats.spearmanr(truth, value)[0])
        assert result.metrics[f"{name}/pearson"] == pytest.approx(stats.pearsonr(truth, value)[0])
        assert result.metrics[f"{name}/mae"] == pytest.approx(np.abs(truth - value).mean())
        assert result.metrics[f"{name}/rmse"] == pytest.approx(np.sqrt(((truth - value) ** 2).mean()))
        low, high = result.intervals[f"{name}/mae"]
        assert np.isfinite(low) and low <= high
    rhos = [result.metrics[f"{name}/spearman"] for name in ITEMS]  # over the targets, not the sum
    assert result.metrics["spearman_fisher_z"] == pytest.approx(np.tanh(np.mean(np.arctanh(rhos))))
    assert result.metrics["mae_mean"] == pytest.approx(np.mean([result.metrics[f"{n}/mae"] for n in ITEMS]))


def test_the_report_holds_every_score_and_reads_back_to_the_same_metrics(items_report):
    result, config = items_report
    folder = result.report_dir
    meta = json.loads((folder / "metrics.json").read_text())
    assert meta["task"] == "regression" and meta["labels"] == [*ITEMS, "grs"]
    headline = meta["headline_over_targets"]
    assert headline["over_targets"] == ITEMS
    assert headline["spearman_fisher_z"] == pytest.approx(result.metrics["spearman_fisher_z"])
    assert meta["per_target"]["grs"]["sum_of"] == ITEMS and meta["per_target"]["grs"]["videos"] == 24
    assert meta["per_target"]["time_and_motion"]["mae"] == pytest.approx(result.metrics["time_and_motion/mae"])
    header = next(csv.reader((folder / "predictions.csv").open()))
    assert [c for c in header if c.startswith(("true_", "predicted_"))] == [
        column for name in [*ITEMS, "grs"] for column in (f"true_{name}", f"predicted_{name}")
    ]
    report = (folder / "report.md").read_text()
    assert "Spearman's rho over the 5 targets (Fisher-z mean)" in report
    assert "| target | Spearman [95 % CI] | Pearson [95 % CI] | MAE [95 % CI] | RMSE | videos |" in report
    assert all(f"| {markdown_inline(name)} |" in report for name in ITEMS) and "| grs (sum) |" in report
    for png in ("scores.png", "residuals.png", "timelines.png"):
        assert (folder / png).stat().st_size > 10_000 and f"]({png})" in report

    saved = read_report(folder)
    assert saved.multi_target and saved.targets.shape == saved.values.shape == (24, 6)
    loaded = load_report(folder)
    assert loaded.targets == ITEMS and loaded.multi_target
    assert loaded.metrics == pytest.approx(result.metrics, rel=1e-6)
    recomputed = score_predictions(loaded.predictions, config, bootstrap_samples=0)
    # the file keeps six decimals: those numbers come back, and so do their metrics
    rounded = [replace(p, probabilities=[round(v, 6) for v in p.probabilities]) for p in result.predictions]
    assert [q.probabilities for q in loaded.predictions] == [p.probabilities for p in rounded]
    np.testing.assert_array_equal([q.label for q in loaded.predictions], [p.label for p in result.predictions])
    assert recomputed.metrics == pytest.approx(score_predictions(rounded, config, bootstrap_samples=0).metrics)


def test_each_rated_score_is_read_against_its_raters(items, items_report):
    result, _ = items_report
    assert list(result.target_raters) == ["grs"]  # the synthetic raters give the GRS only
    rows = {row["video_id"]: row for row in items}
    raters = ["1", "2", "3"]
    matrix = np.array([[float(rows[p.video_id][f"grs_rater_{r}"]) for r in raters] for p in result.predictions])
    grs = [p.probabilities[-1] for p in result.predictions]
    reference = result.target_raters["grs"]
    assert reference["rater_names"] == raters
    assert reference["agreement"]["icc_2_1"] == pytest.approx(rater_agreement(matrix, raters)["icc_2_1"])
    assert reference["model"] == pytest.approx(metrics_against_raters(grs, matrix, raters), nan_ok=True)
    meta = json.loads((result.report_dir / "metrics.json").read_text())
    assert meta["raters_by_target"]["grs"]["rater_names"] == raters
    report = (result.report_dir / "report.md").read_text()
    assert "## Raters: the human reference (grs)" in report and "| rater 3 |" in report


def test_a_score_the_dataset_lacks_is_one_clear_line(items, tmp_path):
    model = build_model("small3d", target_names=["knot_tying", *ITEMS[:2]], **TINY_SMALL3D)
    folder = save_with_processor(model, tmp_path / "model")
    with pytest.raises(LabelMismatchError) as caught:
        evaluate_model(folder, items, tmp_path / "eval", **FAST)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("the dataset has no score 'knot_tying' of the model's")
    assert "its columns: video, subject" in message and "score_column=" in message
    assert not (tmp_path / "eval").exists()
    single = build_model("small3d", num_labels=1, **TINY_SMALL3D)  # one unnamed score: several are refused
    with pytest.raises(LabelMismatchError, match="several named scores"):
        evaluate_model(save_with_processor(single, tmp_path / "single"), items, **FAST)


def test_a_distribution_head_predicts_inside_each_range_and_a_sum_without_truth_is_left_out(items, tmp_path):
    names, ranges = ["time_and_motion", "respect_for_tissue"], [[1, 5], [0, 10]]
    model = build_model(
        "small3d",
        target_names=names,
        score_ranges=ranges,
        score_head="distribution",
        distribution_bins=11,
        score_sum_name="osats_total",
        **TINY_SMALL3D,
    )
    folder = save_with_processor(model, tmp_path / "model")
    result = evaluate_model(folder, items, tmp_path / "eval", bootstrap_samples=50, **FAST)
    values = np.array([p.probabilities for p in result.predictions])
    for k, (low, high) in enumerate(ranges):
        assert np.all((values[:, k] >= low) & (values[:, k] <= high))
    assert np.all(np.isnan([p.label[-1] for p in result.predictions]))  # no column osats_total
    assert "osats_total/spearman" not in result.metrics and "time_and_motion/spearman" in result.metrics
    assert any("'osats_total' has no true value" in note for note in result.notes)
    meta = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert meta["per_target"]["osats_total"]["videos"] == 0
    rows = list(csv.DictReader((tmp_path / "eval" / "predictions.csv").open()))
    assert {row["true_osats_total"] for row in rows} == {""} and all(row["predicted_osats_total"] for row in rows)
    assert load_report(tmp_path / "eval").metrics.keys() == result.metrics.keys()


def test_ordered_classes_report_kappa_and_expected_cost(synthetic_manifest, tmp_path):
    """Three ordered classes (GRS terciles, novice < intermediate < expert) and an ordinal model."""
    with open(synthetic_manifest, newline="") as handle:
        rows = list(csv.DictReader(handle))
    cuts = np.quantile([float(r["grs"]) for r in rows], [1 / 3, 2 / 3])
    levels = ["novice", "intermediate", "expert"]
    for row in rows:
        row["label"] = levels[int(np.digitize(float(row["grs"]), cuts))]
        row["video"] = str(synthetic_manifest.parent / row["video"])
    manifest = tmp_path / "levels.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["video", "label", "subject"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    data = load_skill_dataset(manifest, split_ratios=None)["train"]
    model = build_model("small3d", id2label=levels, ordinal_loss="cumulative_link", **TINY_SMALL3D)
    folder = save_with_processor(model, tmp_path / "model")
    result = evaluate_model(folder, data, tmp_path / "eval", bootstrap_samples=100, **FAST)
    labels = np.array([p.label for p in result.predictions])
    decided = predict_labels(np.array([p.probabilities for p in result.predictions]))
    assert result.ordinal and result.label_names == levels
    kappa = cohen_kappa_score(labels, decided, labels=[0, 1, 2], weights="quadratic")
    assert result.metrics["quadratic_kappa"] == pytest.approx(kappa, nan_ok=True)
    assert result.metrics["expected_cost"] == pytest.approx(np.abs(labels - decided).mean())
    assert result.metrics["mean_absolute_class_error"] == pytest.approx(np.abs(labels - decided).mean())
    assert set(result.intervals) >= {"quadratic_kappa", "expected_cost", "mean_absolute_class_error"}
    meta = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert meta["ordinal"] is True and "expected_cost" in meta["confidence_intervals_95"]
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "## Ordered classes" in report and "| quadratic-weighted kappa |" in report
    assert load_report(tmp_path / "eval").ordinal


def test_the_resampled_ordinal_figures_equal_scikit_learns():
    """The bootstrap's NumPy figures are the point figures' (scikit-learn) on random decisions."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        classes = int(rng.integers(2, 6))
        labels, decided = rng.integers(0, classes, 40), rng.integers(0, classes, 40)
        fast = ordinal_resample_figures(labels, decided, classes)
        reference = ordinal_metrics(labels, decided, num_classes=classes)
        assert fast == pytest.approx({k: reference[k] for k in fast})


def test_static_baselines_are_fitted_for_each_named_score(items):
    train, test = items.select(range(12)), items.select(range(12, 24))  # subjects S000-S005, then S006-S011
    baselines = static_baselines_or_none(train, test, bootstrap_samples=20)
    assert list(baselines) == ITEMS[::-1]
    duration = baselines["time_and_motion"].results["duration"]
    fitted = LinearRegression().fit(np.array(train["duration"])[:, None], train["time_and_motion"])
    expected = stats.spearmanr(test["time_and_motion"], fitted.predict(np.array(test["duration"])[:, None]))[0]
    assert duration.value == pytest.approx(expected)
    assert "middle_frame" in baselines["time_and_motion"].skipped


def test_two_reports_of_several_scores_are_compared_score_by_score(items_report, tmp_path):
    """Report B: report A's predictions moved towards the truth (a hand-edited copy); the paired comparison
    reads each score and the Fisher-z headline of both, as SciPy computes them."""
    result, _ = items_report
    b = tmp_path / "b"
    shutil.copytree(result.report_dir, b)
    rows = list(csv.DictReader((b / "predictions.csv").open()))
    for row in rows:
        for name in [*ITEMS, "grs"]:
            row[f"predicted_{name}"] = (float(row[f"predicted_{name}"]) + float(row[f"true_{name}"])) / 2
    with (b / "predictions.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    comparison = compare_reports(result.report_dir, b, samples=200)
    assert comparison.primary == "spearman_fisher_z"
    truth = np.array([float(r["true_time_and_motion"]) for r in rows])
    moved = np.array([float(r["predicted_time_and_motion"]) for r in rows])
    assert comparison.metrics["time_and_motion/spearman"]["b"] == pytest.approx(stats.spearmanr(truth, moved)[0])
    assert comparison.metrics["time_and_motion/mae"]["b"] == pytest.approx(np.abs(truth - moved).mean(), rel=1e-5)
    assert comparison.metrics["spearman_fisher_z"]["a"] == pytest.approx(result.metrics["spearman_fisher_z"])
    assert comparison.metrics["mae_mean"]["difference"] < 0
    assert "| time and motion/mae (lower is better) |" in comparison.to_markdown()


def test_the_end_of_a_run_with_two_named_scores_chooses_no_threshold_and_reads_each_baseline(
    synthetic_manifest, tmp_path, capsys
):
    """Two named scores make num_labels 2, yet no class threshold: evaluate_run scores them, beside each score's
    static baselines fitted on the training and validation surgeons."""
    names = ["time_and_motion", "grs"]
    data = load_skill_dataset(synthetic_manifest, score_column=names, split_ratios=[0.5, 0.25, 0.25])
    model = build_model("small3d", target_names=names, score_ranges=[[1, 5], [5, 25]], **TINY_SMALL3D)
    folder = save_with_processor(model, tmp_path / "model")
    result = evaluate_run(folder, data, tmp_path / "eval", clips_per_video=1, num_workers=0)
    assert result.threshold is None and result.multi_target
    summary = capsys.readouterr().out
    assert "test: video-level Spearman over 2 targets (Fisher-z mean)" in summary and "grs: " in summary
    assert "decision_threshold" not in json.loads((folder / "config.json").read_text())
    assert list(result.baselines) == names
    assert any(line.startswith("grs: ") for line in result.baseline_verdicts)
    report = (tmp_path / "eval" / "report.md").read_text()
    assert r"### time\_and\_motion" in report and "| **the model** |" in report
    meta = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(meta["baselines"]["per_target"]) == set(names)
    assert meta["baselines"]["per_target"]["grs"]["target"] == "grs"


def test_ordinal_figures_of_varied_decisions_equal_scikit_learns_with_intervals_by_surgeon():
    """score_predictions on hand-made predictions of four ordered classes (every class decided somewhere)."""
    rng = np.random.default_rng(3)
    model = build_model("small3d", id2label=["1", "2", "3", "4"], ordinal_loss="coral", **TINY_SMALL3D)
    labels = rng.integers(0, 4, 60)
    probabilities = rng.dirichlet(np.ones(4), 60)
    predictions = [
        VideoPrediction(i, f"v{i}.mp4", f"S{i % 15}", int(y), p.tolist(), [], [])
        for i, (y, p) in enumerate(zip(labels, probabilities))
    ]
    result = score_predictions(predictions, model.config, bootstrap_samples=300)
    decided = probabilities.argmax(1)
    assert len(set(decided)) == 4 and result.ordinal
    assert result.metrics["quadratic_kappa"] == pytest.approx(
        cohen_kappa_score(labels, decided, labels=[0, 1, 2, 3], weights="quadratic")
    )
    assert result.metrics["expected_cost"] == pytest.approx(np.abs(labels - decided).mean())
    for name in ("quadratic_kappa", "expected_cost", "mean_absolute_class_error"):
        low, high = result.intervals[name]
        assert low < result.metrics[name] < high


def test_one_named_score_keeps_the_single_score_report_and_reads_its_raters(synthetic_manifest, tmp_path):
    """A model of one named score ('grs') on data whose one score is the GRS: the figures of one score (the flat
    layout), its truth the dataset's score (said in a note), and the raters of 'grs' (grs_rater_* columns)."""
    data = load_skill_dataset(synthetic_manifest, target="score", score_column="grs", split_ratios=None)["train"]
    model = build_model("small3d", target_names=["grs"], **TINY_SMALL3D)
    folder = save_with_processor(model, tmp_path / "model")
    result = evaluate_model(folder, data, tmp_path / "eval", bootstrap_samples=50, **FAST)
    assert result.label_names == ["grs"] and not result.multi_target
    assert {"mae", "rmse", "pearson", "spearman"} <= set(result.metrics)
    assert [p.label for p in result.predictions] == [float(row["labels"]) for row in data]
    assert any("read against the dataset's one score" in note for note in result.notes)
    assert result.raters["rater_names"] == ["1", "2", "3"] and result.target_raters is None
    assert "## Raters: the human reference" in (tmp_path / "eval" / "report.md").read_text()


def test_a_score_column_that_is_not_numbers_is_refused_by_name():
    """Checked from the rows alone, before any video is decoded."""
    rows = Dataset.from_dict({"labels": [2.0, 3.0], "time_and_motion": ["3", "fast"], "flow": [1.0, 2.0]})
    model = build_model("small3d", target_names=["time_and_motion", "flow"], **TINY_SMALL3D)
    with pytest.raises(LabelMismatchError) as caught:
        align_labels(rows, model.config)
    assert str(caught.value).startswith("the dataset's column 'time_and_motion', read as the model's score")
    assert "'fast', not a number" in str(caught.value)
    rows = Dataset.from_dict({"labels": [2.0, 3.0], "time_and_motion": ["3", ""], "flow": [1.0, 2.0]})
    assert align_labels(rows, model.config) is rows  # an empty cell: no truth for that video, not an error


def test_a_timeline_of_several_scores_has_a_panel_per_score(tmp_path):
    from PIL import Image

    from surgical_skill.evaluation.plots import prediction_timeline

    def result(names):
        clips = [
            {"start": 2.0 * i, "end": 2.0 * i + 1, "scores": {n: i + k for k, n in enumerate(names)}} for i in range(6)
        ]
        for clip in clips:
            clip["score"] = clip["scores"][names[0]]
        scores = {n: float(k) for k, n in enumerate(names)}
        return {
            "scores": scores,
            "score": 0.0,
            "predicted_score": 0.0,
            "clips": clips,
            "metadata": {"video": f"{len(names)}.mp4"},
        }

    one = Image.open(prediction_timeline(result(["score"]), tmp_path))
    three = Image.open(prediction_timeline(result(["respect_for_tissue", "time_and_motion", "grs"]), tmp_path))
    assert three.height > 1.5 * one.height and three.width == one.width  # stacked panels, one per score


def test_one_named_score_is_read_against_its_baselines_by_its_own_figure(synthetic_manifest):
    """A model of one named score (score_columns: [grs]) keeps the single-score report: its baselines are one set
    (not one per score) and its figure is its plain Spearman, not a per-score key."""
    from surgical_skill.evaluation.report import EvaluationResult, model_figure

    data = load_skill_dataset(synthetic_manifest, score_column=["grs"], split_ratios=(0.5, 0.0, 0.5), seed=0)
    baselines = static_baselines_or_none(data["train"], data["test"], baselines=("duration",), bootstrap_samples=50)
    assert not isinstance(baselines, dict) and baselines.target == "grs" and list(baselines.results) == ["duration"]
    result = EvaluationResult({"spearman": 0.42}, {}, [], None, ["grs"], task="regression", baselines=baselines)
    assert model_figure(result) == (0.42, None)
