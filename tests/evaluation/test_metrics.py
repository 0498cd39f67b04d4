"""Every metric equals scikit-learn's (or SciPy's) on randomised fixtures; intervals cover at the nominal rate."""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from surgical_skill.evaluation import (
    SKILL_METRICS_PATH,
    bootstrap_intervals,
    classification_metrics,
    headline_classification,
    load_skill_metrics,
    regression_metrics,
    youden_threshold,
)


def fixture(seed: int, classes: int, imbalanced: bool):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 120))
    weights = np.array([0.7] + [0.3 / (classes - 1)] * (classes - 1)) if imbalanced else np.ones(classes) / classes
    labels = rng.choice(classes, n, p=weights)
    logits = rng.normal(size=(n, classes)) + 1.5 * np.eye(classes)[labels] * rng.random()
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return labels, probabilities


CASES = [(seed, classes, imbalanced) for seed in range(12) for classes in (2, 3, 4) for imbalanced in (False, True)]


@pytest.mark.parametrize("seed, classes, imbalanced", CASES)
def test_classification_metrics_equal_scikit_learn(seed, classes, imbalanced):
    labels, probabilities = fixture(seed, classes, imbalanced)
    ours = classification_metrics(labels, probabilities, per_class=True)
    predicted = probabilities.argmax(1)
    every = list(range(classes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = {
            "accuracy": skm.accuracy_score(labels, predicted),
            "balanced_accuracy": skm.balanced_accuracy_score(labels, predicted),
            "f1_macro": skm.f1_score(labels, predicted, average="macro", labels=every, zero_division=0),
            "f1_weighted": skm.f1_score(labels, predicted, average="weighted", labels=every, zero_division=0),
            "precision_macro": skm.precision_score(labels, predicted, average="macro", labels=every, zero_division=0),
            "recall_weighted": skm.recall_score(labels, predicted, average="weighted", labels=every, zero_division=0),
            "cohen_kappa": skm.cohen_kappa_score(labels, predicted),
            "quadratic_kappa": skm.cohen_kappa_score(labels, predicted, weights="quadratic"),
            "mcc": skm.matthews_corrcoef(labels, predicted),
            "log_loss": skm.log_loss(labels, probabilities, labels=every),
        }
        if classes == 2:
            expected.update(
                roc_auc=skm.roc_auc_score(labels, probabilities[:, 1]),
                average_precision=skm.average_precision_score(labels, probabilities[:, 1]),
                brier=skm.brier_score_loss(labels, probabilities[:, 1]),
                sensitivity=skm.recall_score(labels, predicted),
            )
            tn, fp, _fn, _tp = skm.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
            expected["specificity"] = tn / (tn + fp)
        elif len(np.unique(labels)) == classes:
            expected["roc_auc"] = skm.roc_auc_score(labels, probabilities, multi_class="ovr", average="macro")
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, abs=1e-6), name
    recall = skm.recall_score(labels, predicted, average=None, labels=every, zero_division=0)
    assert ours["recall_per_class"] == pytest.approx(recall.tolist())
    headline = headline_classification(labels, probabilities)
    for name, value in headline.items():
        assert value == pytest.approx(ours[name], abs=1e-9, nan_ok=True), name


def test_calibration_error_by_hand():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55]])
    # bins: 0.9 -> correct; 0.6 -> correct; 0.7 -> correct; 0.55 -> correct: |1 - conf| weighted by 1/4 each
    expected = np.mean([0.1, 0.4, 0.3, 0.45])
    assert classification_metrics(labels, probabilities)["ece"] == pytest.approx(expected)


def test_threshold_changes_the_decision():
    labels = np.array([0, 1, 1])
    probabilities = np.array([[0.7, 0.3], [0.6, 0.4], [0.2, 0.8]])
    assert classification_metrics(labels, probabilities)["accuracy"] == pytest.approx(2 / 3)
    assert classification_metrics(labels, probabilities, threshold=0.35)["accuracy"] == 1.0


@pytest.mark.parametrize("seed", range(8))
def test_regression_metrics_equal_scipy_and_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(8, 40, 50)
    predicted = truth + rng.normal(0, 4, 50)
    ours = regression_metrics(truth, predicted)
    assert ours["mae"] == pytest.approx(skm.mean_absolute_error(truth, predicted))
    assert ours["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(truth, predicted)))
    assert ours["pearson"] == pytest.approx(stats.pearsonr(truth, predicted)[0])
    assert ours["spearman"] == pytest.approx(stats.spearmanr(truth, predicted)[0])


def test_the_evaluate_module_loads_from_the_package_and_accumulates_batches():
    import evaluate

    labels, probabilities = fixture(0, 3, True)
    metric = evaluate.load(SKILL_METRICS_PATH)
    for start in range(0, len(labels), 7):
        metric.add_batch(predictions=probabilities[start : start + 7].tolist(), references=labels[start : start + 7])
    accumulated = metric.compute(per_class=True)
    direct = classification_metrics(labels, probabilities, per_class=True)
    for name, value in direct.items():
        assert accumulated[name] == pytest.approx(value, nan_ok=True), name
    scores = load_skill_metrics().compute(predictions=[10.0, 20.0, 31.0], references=[12.0, 19.0, 30.0])
    assert scores["mae"] == pytest.approx(4 / 3)


def test_bootstrap_intervals_cover_the_truth_at_about_the_nominal_rate():
    """Simulate many evaluations of a classifier with known accuracy 0.75 on 80 videos of 20 surgeons
    (surgeon effects make videos correlated); the subject-resampled 95 % interval should cover 0.75 about
    95 % of the time."""
    rng = np.random.default_rng(0)
    covered = 0
    trials = 150
    for t in range(trials):
        subject_skill = rng.normal(0, 0.8, 20)  # some surgeons are easier to score than others
        subjects = np.repeat(np.arange(20), 4)
        p_correct = 1 / (1 + np.exp(-(np.log(3) + subject_skill[subjects] - np.mean(subject_skill))))
        correct = rng.random(80) < p_correct

        def accuracy(idx, correct=correct):
            return {"accuracy": correct[idx].mean()}

        interval = bootstrap_intervals(accuracy, 80, subjects, names=["accuracy"], samples=400, seed=t)["accuracy"]
        truth = float(np.mean(1 / (1 + np.exp(-(np.log(3) + subject_skill - np.mean(subject_skill))))))
        covered += interval[0] <= truth <= interval[1]
    assert 0.87 <= covered / trials <= 0.99


def test_youden_threshold_is_chosen_on_the_scores():
    assert youden_threshold([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.25)
    assert youden_threshold([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.5  # separable: the neutral point stays
    assert youden_threshold([1, 1], [0.3, 0.9]) == 0.5  # one class: nothing to choose


def test_multiclass_roc_auc_on_the_raw_probabilities():
    """A class whose probability never exceeds 1e-7 is still ranked by the model's own numbers, as in
    scikit-learn (clipping at 1e-7 and renormalising used to tie them all)."""
    rng = np.random.default_rng(0)
    labels = np.array([0, 1, 2] * 10)
    tiny = rng.uniform(1e-12, 1e-8, 30)
    p2 = np.where(labels == 2, tiny * 10, tiny)  # class 2 ranks first wherever it is the truth
    rest = 1 - p2
    p0 = np.where(labels == 0, 0.7, 0.3) * rest
    probabilities = np.stack([p0, rest - p0, p2], 1)
    expected = skm.roc_auc_score(labels, probabilities, multi_class="ovr", average="macro")
    assert classification_metrics(labels, probabilities)["roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert headline_classification(labels, probabilities)["roc_auc"] == pytest.approx(expected, abs=1e-12)


def test_a_perfect_score_gets_an_honest_interval_over_surgeons():
    from surgical_skill.evaluation.metrics import headline_intervals, proportion_interval

    assert proportion_interval(1.0, 8) == pytest.approx((0.025 ** (1 / 8), 1.0))  # 0.631 to 1
    labels = np.repeat([0, 1], 20)  # 40 videos, 8 surgeons of 5 videos, all right
    probabilities = np.stack([1 - 0.9 * labels - 0.05, 0.9 * labels + 0.05], 1)
    subjects = [f"S{i // 5}" for i in range(40)]
    intervals, methods = headline_intervals(labels, probabilities, subjects, samples=300)
    low, high = intervals["accuracy"]
    assert low == pytest.approx(0.631, abs=0.001) and high == 1.0
    assert "Clopper-Pearson interval over 8 surgeons" in methods["accuracy"]
    assert np.isnan(intervals["roc_auc"][0]) and "every resample gave 1.000" in methods["roc_auc"]
    # a few errors: the bootstrap stands, nothing is replaced
    noisy = probabilities.copy()
    noisy[[0, 7, 25], :] = noisy[[0, 7, 25], ::-1]
    intervals, methods = headline_intervals(labels, noisy, subjects, samples=300)
    assert "accuracy" not in methods and intervals["accuracy"][1] <= 1.0 and intervals["accuracy"][0] < 0.93


def test_macro_averages_cover_the_classes_present():
    """A perfect model on a split holding one class: macro F1 is 1, not 0.5 (an absent class has no recall)."""
    labels = np.zeros(6, dtype=int)
    probabilities = np.tile([0.9, 0.1], (6, 1))
    metrics = classification_metrics(labels, probabilities, per_class=True)
    assert metrics["f1_macro"] == metrics["recall_macro"] == metrics["precision_macro"] == 1.0
    assert headline_classification(labels, probabilities)["f1_macro"] == 1.0
