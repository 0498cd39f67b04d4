"""Comparing two models' reports: McNemar's test, the paired bootstrap, report pairing and the command."""

import csv
import json

import numpy as np
import pytest
from scipy import stats

from surgical_skill.evaluation import compare_reports, mcnemar_test, paired_bootstrap
from tests.helpers import run_cli

CLASSES = ["lower-skilled", "higher-skilled"]


def outcomes(b: int, c: int, both_right: int = 5, both_wrong: int = 3):
    """Paired right/wrong flags with ``b`` items only A gets right and ``c`` only B gets right."""
    a = [1] * b + [0] * c + [1] * both_right + [0] * both_wrong
    bb = [0] * b + [1] * c + [1] * both_right + [0] * both_wrong
    return a, bb


def test_mcnemar_equals_the_hand_computed_values():
    result = mcnemar_test(*outcomes(10, 2))
    assert (result["b"], result["c"]) == (10, 2)
    assert result["p_value_exact"] == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert result["statistic"] == pytest.approx((10 - 2 - 1) ** 2 / 12)
    assert result["p_value_chi2"] == pytest.approx(stats.chi2.sf(49 / 12, 1))
    assert result["method"] == "exact" and result["p_value"] == result["p_value_exact"]  # 12 discordant < 25
    many = mcnemar_test(*outcomes(30, 10))
    assert many["method"] == "chi2" and many["p_value"] == pytest.approx(stats.chi2.sf(19**2 / 40, 1))
    assert mcnemar_test(*outcomes(2, 10))["p_value_exact"] == pytest.approx(result["p_value_exact"])  # symmetric


def test_mcnemar_without_discordant_pairs_gives_p_1():
    result = mcnemar_test([1, 0, 1, 1], [1, 0, 1, 1])
    assert (result["b"], result["c"]) == (0, 0)
    assert result["p_value"] == result["p_value_exact"] == result["p_value_chi2"] == 1.0
    with pytest.raises(ValueError, match="paired"):
        mcnemar_test([1, 0], [1, 0, 1])


def accuracy_of(correct):
    correct = np.asarray(correct, dtype=float)
    return lambda idx: {"accuracy": correct[idx].mean()}


def test_paired_bootstrap_of_identical_predictions_differs_by_nothing():
    correct = np.random.default_rng(0).random(40) < 0.7
    groups = np.repeat(np.arange(10), 4)
    result = paired_bootstrap(accuracy_of(correct), accuracy_of(correct), 40, groups, ["accuracy"], samples=300)
    m = result["accuracy"]
    assert m["a"] == m["b"] == pytest.approx(correct.mean())
    assert m["difference"] == 0 and m["ci_95"] == [0, 0] and m["p_value"] == 1


def test_paired_bootstrap_finds_a_clearly_better_model():
    rng = np.random.default_rng(1)
    subjects = np.repeat(np.arange(20), 3)  # 60 videos of 20 surgeons
    correct_a = rng.permutation(np.arange(60) < 36)  # 60 % right
    correct_b = rng.permutation(np.arange(60) < 57)  # 95 % right
    result = paired_bootstrap(accuracy_of(correct_a), accuracy_of(correct_b), 60, subjects, ["accuracy"])
    m = result["accuracy"]
    assert m["difference"] == pytest.approx(0.35)
    assert m["ci_95"][0] > 0 and m["ci_95"][0] < 0.35 < m["ci_95"][1]
    assert m["p_value"] < 0.05
    # the same draws for both models: swapping them mirrors the result exactly
    swapped = paired_bootstrap(accuracy_of(correct_b), accuracy_of(correct_a), 60, subjects, ["accuracy"])
    assert swapped["accuracy"]["ci_95"] == pytest.approx([-m["ci_95"][1], -m["ci_95"][0]])
    assert swapped["accuracy"]["p_value"] == m["p_value"]


def test_paired_bootstrap_p_value_follows_its_definition():
    """Without groups the draws are those of ``resample_indices``: recompute the p-value by hand."""
    from surgical_skill.evaluation import resample_indices

    rng = np.random.default_rng(2)
    correct_a, correct_b = rng.random(30) < 0.6, rng.random(30) < 0.7
    result = paired_bootstrap(accuracy_of(correct_a), accuracy_of(correct_b), 30, None, ["accuracy"], 500, 3)
    diffs = np.array(
        [correct_b[i].mean() - correct_a[i].mean() for i in resample_indices(30, None, samples=500, seed=3)]
    )
    expected = min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    assert result["accuracy"]["p_value"] == pytest.approx(expected)
    assert result["accuracy"]["ci_95"] == pytest.approx(list(np.percentile(diffs, [2.5, 97.5])))


# ------------------------------------------------------------------------------------------ report folders


def write_report(folder, videos, subjects, labels, probabilities, threshold=None, names=CLASSES):
    """A report folder as ``evaluate_model`` writes it (metrics.json and predictions.csv only)."""
    folder.mkdir(parents=True)
    regression = names == ["score"]
    rows = []
    for video, subject, label, p in zip(videos, subjects, labels, probabilities):
        if regression:
            rows.append([video, subject, label, round(p, 4), round(p, 4)])
        else:
            predicted = int(p[1] >= threshold) if threshold is not None else int(np.argmax(p))
            rows.append(
                [video, subject, names[label], names[predicted], *(round(v, 4) for v in p), int(predicted == label)]
            )
    header = ["video", "subject", "label", "prediction"]
    header += ["predicted_score"] if regression else [f"p_{n}" for n in names] + ["correct"]
    with (folder / "predictions.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    meta = {
        "split": "test",
        "videos": len(rows),
        "clips_per_video": 8,
        "labels": names,
        "threshold": threshold,
        "metrics": {},
        "confidence_intervals_95": {},
        "bootstrap": {"samples": 1000, "resampled_by": "subject"},
    }
    (folder / "metrics.json").write_text(json.dumps(meta))
    return folder


def classification_pair(tmp_path, right_a=0.6, right_b=0.95, seed=0):
    """Reports A and B of 60 videos of 20 surgeons; B right far more often. B's rows are shuffled."""
    rng = np.random.default_rng(seed)
    videos = [f"trial_{i:02d}.mp4" for i in range(60)]
    subjects = [f"S{i // 3:02d}" for i in range(60)]
    labels = rng.integers(0, 2, 60)

    def probabilities(share_right):
        right = rng.permutation(np.arange(60) < round(share_right * 60))
        confidence = rng.uniform(0.55, 0.95, 60)
        p1 = np.where(right == (labels == 1), confidence, 1 - confidence)
        return np.stack([1 - p1, p1], 1)

    a = write_report(tmp_path / "a", videos, subjects, labels, probabilities(right_a), threshold=0.5)
    order = rng.permutation(60)
    p_b = probabilities(right_b)
    b = write_report(
        tmp_path / "b",
        [videos[i] for i in order],
        [subjects[i] for i in order],
        labels[order],
        p_b[order],
        threshold=0.4,
    )
    return a, b, labels, p_b


def test_compare_reports_end_to_end(tmp_path):
    a, b, labels, p_b = classification_pair(tmp_path)
    result = compare_reports(a, b, samples=500)
    assert result.task == "classification" and result.videos == 60 and result.resampled_by == "subject"
    assert (result.threshold_a, result.threshold_b) == (0.5, 0.4)
    assert set(result.metrics) == {"accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "mcc"}
    accuracy = result.metrics["accuracy"]
    assert accuracy["a"] == pytest.approx(0.6) and accuracy["difference"] > 0.3
    # B is matched by video name although its rows are in another order, and decides with its own threshold
    expected_b = np.mean((p_b[:, 1] >= 0.4).astype(int) == labels)
    assert accuracy["b"] == pytest.approx(expected_b)
    assert accuracy["ci_95"][0] > 0 and accuracy["p_value"] < 0.05
    assert result.mcnemar["c"] - result.mcnemar["b"] == round(accuracy["difference"] * 60)
    assert result.mcnemar["p_value"] < 0.05 and result.significant
    assert result.verdict().startswith("B is better on accuracy by +0.3")
    table = result.to_markdown()
    assert "| accuracy | 0.600 |" in table and "McNemar" in table and "whole subjects" in table
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["metrics"]["accuracy"]["difference"] == pytest.approx(accuracy["difference"])
    assert data["mcnemar"]["b"] == result.mcnemar["b"]
    # swapping the reports: A is better, by the same amount
    reverse = compare_reports(b, a, samples=500)
    assert reverse.metrics["accuracy"]["difference"] == pytest.approx(-accuracy["difference"])
    assert reverse.verdict().startswith("A is better on accuracy")


def test_equal_models_are_not_called_different(tmp_path):
    a, b, *_ = classification_pair(tmp_path, right_a=0.7, right_b=0.7)
    result = compare_reports(a, b, samples=500)
    assert not result.significant
    assert result.verdict().startswith("no significant difference at the 5 % level")


def test_reports_of_different_videos_are_refused_with_their_names(tmp_path):
    names = [f"v{i}" for i in range(8)]
    p = np.tile([0.3, 0.7], (8, 1))
    labels = [1] * 8
    a = write_report(tmp_path / "a", names, ["s"] * 8, labels, p)
    b = write_report(tmp_path / "b", [*names[:6], "extra_1", "extra_2"], ["s"] * 8, labels, p)
    with pytest.raises(ValueError, match="different videos") as err:
        compare_reports(a, b, samples=10)
    message = str(err.value)
    assert "v6" in message and "v7" in message and "extra_1" in message and "extra_2" in message
    three = write_report(tmp_path / "c", names, ["s"] * 8, labels, np.tile([0.2, 0.3, 0.5], (8, 1)), names=list("xyz"))
    with pytest.raises(ValueError, match="different labels"):
        compare_reports(a, three, samples=10)
    scores = write_report(tmp_path / "r", names, ["s"] * 8, [1.0] * 8, [1.5] * 8, names=["score"])
    with pytest.raises(ValueError, match="regression"):
        compare_reports(a, scores, samples=10)
    with pytest.raises(FileNotFoundError, match=r"metrics\.json"):
        compare_reports(a, tmp_path, samples=10)


def test_a_malformed_row_is_named(tmp_path):
    a = write_report(tmp_path / "a", ["v0", "v1"], ["s", "s"], [0, 1], [[0.6, 0.4], [0.3, 0.7]])
    text = (a / "predictions.csv").read_text().replace("higher-skilled,higher-skilled", "expert,higher-skilled")
    (a / "predictions.csv").write_text(text)
    with pytest.raises(ValueError, match=r"predictions.csv line 3: label 'expert'"):
        compare_reports(a, a, samples=10)


def test_a_regression_pair_is_compared_without_mcnemar(tmp_path):
    rng = np.random.default_rng(4)
    videos = [f"v{i}" for i in range(40)]
    subjects = [""] * 40  # no subjects: videos are resampled
    truth = rng.uniform(6, 30, 40)
    a = write_report(tmp_path / "a", videos, subjects, truth, truth + rng.normal(0, 6, 40), names=["score"])
    b = write_report(tmp_path / "b", videos, subjects, truth, truth + rng.normal(0, 1, 40), names=["score"])
    result = compare_reports(a, b, samples=300)
    assert result.task == "regression" and result.mcnemar is None and result.resampled_by == "video"
    assert set(result.metrics) == {"mae", "rmse", "pearson", "spearman"}
    mae = result.metrics["mae"]
    assert mae["difference"] < 0 and mae["ci_95"][1] < 0 and mae["p_value"] < 0.05
    assert result.verdict().startswith("B is better on mae by -")
    assert "not applicable to regression" in result.to_markdown()
    assert result.to_dict()["mcnemar"] is None


def test_compare_command(tmp_path):
    a, b, *_ = classification_pair(tmp_path)
    out = tmp_path / "results" / "comparison.json"
    result = run_cli("compare", a, b, "--samples", "300", "--seed", "1", "--json", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| metric | A | B | B - A | 95 % CI of B - A | p |" in result.stdout
    assert "B is better on accuracy by +0.3" in result.stdout and "McNemar p<0.001" in result.stdout
    data = json.loads(out.read_text())
    assert data["bootstrap"] == {"samples": 300, "seed": 1, "resampled_by": "subject"}
    assert data["significant"] is True and data["verdict"] in result.stdout
    assert not list(out.parent.glob(".*tmp"))  # written atomically
    failed = run_cli("compare", a, tmp_path / "nowhere")
    assert failed.returncode == 2 and "metrics.json" in failed.stderr  # a user's mistake: one line, exit 2
    assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
