"""The figures the skill-assessment field reports: several score targets, ordinal classes, agreement of raters.

Each equals SciPy / scikit-learn where they compute it, on randomised inputs with ties; what they lack (ICC(2,1),
Krippendorff's alpha, the Fisher-z mean, the Expected Cost) equals a hand computation or a published value.
"""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from surgical_skill.evaluation import (
    SKILL_METRICS_PATH,
    classification_metrics,
    expected_cost,
    fisher_z_mean,
    icc_2_1,
    krippendorff_alpha,
    metrics_against_raters,
    multi_target_intervals,
    multi_target_regression_metrics,
    ordinal_metrics,
    pairwise_spearman,
    rater_agreement,
)

NAN = np.nan

# Shrout & Fleiss (1979), Table 1: 6 targets rated by 4 judges
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], dtype=np.float64
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the worked example with missing values:
# 4 observers (rows there, columns here) x 12 units
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
).T


def scores_with_ties(seed: int, n: int = 40, k: int = 3):
    """Integer-valued scores (many ties, as OSATS items 1-5) and noisy predictions rounded to halves (ties)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, (n, k)).astype(np.float64)
    predicted = np.round((truth + rng.normal(0, 1.0, (n, k))) * 2) / 2
    return truth, predicted


def ordinal_fixture(seed: int, classes: int = 4, n: int = 60):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) - 0.8 * np.abs(np.arange(classes)[None, :] - labels[:, None])
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return labels, probabilities


# --- several score targets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_each_target_equals_scipy_and_scikit_learn_and_the_averages_follow(seed):
    truth, predicted = scores_with_ties(seed)
    names = ["respect", "motion", "flow"]
    ours = multi_target_regression_metrics(truth, predicted, names)
    spearmans, pearsons = [], []
    for k, name in enumerate(names):
        assert ours[f"{name}/mae"] == pytest.approx(skm.mean_absolute_error(truth[:, k], predicted[:, k]))
        assert ours[f"{name}/rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(truth[:, k], predicted[:, k])))
        assert ours[f"{name}/pearson"] == pytest.approx(stats.pearsonr(truth[:, k], predicted[:, k])[0])
        assert ours[f"{name}/spearman"] == pytest.approx(stats.spearmanr(truth[:, k], predicted[:, k])[0])
        spearmans.append(stats.spearmanr(truth[:, k], predicted[:, k])[0])
        pearsons.append(stats.pearsonr(truth[:, k], predicted[:, k])[0])
    assert ours["mae_mean"] == pytest.approx(np.mean([ours[f"{n}/mae"] for n in names]))
    assert ours["rmse_mean"] == pytest.approx(np.mean([ours[f"{n}/rmse"] for n in names]))
    assert ours["spearman_fisher_z"] == pytest.approx(np.tanh(np.mean(np.arctanh(spearmans))))
    assert ours["pearson_fisher_z"] == pytest.approx(np.tanh(np.mean(np.arctanh(pearsons))))


def test_a_constant_target_has_no_correlation_and_a_missing_rating_is_left_out():
    truth = np.array([[1.0, 3.0], [2.0, 3.0], [3.0, NAN], [4.0, 3.0]])
    predicted = np.array([[1.5, 2.0], [2.0, 3.0], [2.5, 9.0], [4.5, 4.0]])
    ours = multi_target_regression_metrics(truth, predicted, ["a", "b"])
    assert np.isnan(ours["b/spearman"]) and np.isnan(ours["b/pearson"])  # as regression_metrics: constant
    assert ours["b/mae"] == pytest.approx((1 + 0 + 1) / 3)  # the row without a rating (prediction 9) left out
    assert ours["spearman_fisher_z"] == pytest.approx(ours["a/spearman"])  # the NaN skipped
    assert "target_0/mae" in multi_target_regression_metrics(truth, predicted)
    with pytest.raises(ValueError, match="differ in shape"):
        multi_target_regression_metrics(truth, predicted[:, :1])
    with pytest.raises(ValueError, match="1 target names for 2 targets"):
        multi_target_regression_metrics(truth, predicted, ["a"])


def test_intervals_of_the_correlations_resample_subjects_and_hold_the_point():
    truth, predicted = scores_with_ties(0, n=48, k=2)
    subjects = np.repeat(np.arange(12), 4)
    intervals = multi_target_intervals(truth, predicted, ["a", "b"], subjects, samples=200, seed=1)
    point = multi_target_regression_metrics(truth, predicted, ["a", "b"])
    assert set(intervals) == {"a/spearman", "a/pearson", "b/spearman", "b/pearson", "spearman_fisher_z",
                              "pearson_fisher_z"}  # fmt: skip
    for name, (low, high) in intervals.items():
        assert low < point[name] < high, name
    again = multi_target_intervals(truth, predicted, ["a", "b"], subjects, samples=200, seed=1)
    assert again == intervals  # one seed, one set of draws
    by_video = multi_target_intervals(truth, predicted, ["a", "b"], None, samples=200, seed=1)
    assert by_video != intervals


def test_the_bootstrap_computes_the_same_correlations_faster():
    """The intervals' NumPy correlations equal the SciPy ones of multi_target_regression_metrics on resamples
    (ties, repeated rows, a missing rating, a constant column)."""
    from surgical_skill.evaluation.metrics import _target_correlations, resample_indices

    truth, predicted = scores_with_ties(2, n=30, k=3)
    truth[4, 1] = NAN
    truth[:, 2] = 3.0
    for indices in resample_indices(30, np.repeat(np.arange(10), 3), samples=20, seed=0):
        fast = _target_correlations(truth[indices], predicted[indices], ["a", "b", "c"])
        full = multi_target_regression_metrics(truth[indices], predicted[indices], ["a", "b", "c"])
        assert fast == pytest.approx({name: full[name] for name in fast}, nan_ok=True, abs=1e-12)


# --- Fisher z -----------------------------------------------------------------------------------------------------


def test_fisher_z_mean_by_hand():
    assert fisher_z_mean([0.5, 0.8]) == pytest.approx(np.tanh((np.arctanh(0.5) + np.arctanh(0.8)) / 2))
    assert fisher_z_mean([0.5, 0.8]) == pytest.approx(0.6772, abs=1e-4)  # tanh((0.5493 + 1.0986) / 2 = 0.8240)
    # weights n - 3: 20 and 50 items -> 17 and 47
    weighted = np.tanh((17 * np.arctanh(0.5) + 47 * np.arctanh(0.8)) / 64)
    assert fisher_z_mean([0.5, 0.8], weights=[17, 47]) == pytest.approx(weighted)
    assert fisher_z_mean([0.5, NAN, 0.8]) == pytest.approx(fisher_z_mean([0.5, 0.8]))  # NaN skipped
    assert fisher_z_mean([0.5, NAN, 0.8], weights=[17, 99, 47]) == pytest.approx(weighted)  # with its weight
    assert np.isnan(fisher_z_mean([NAN, NAN])) and np.isnan(fisher_z_mean([]))
    assert fisher_z_mean([-0.3]) == pytest.approx(-0.3)
    with pytest.raises(ValueError, match="lie in"):
        fisher_z_mean([1.2])


def test_fisher_z_mean_of_perfect_correlations_stays_finite():
    assert fisher_z_mean([1.0, 1.0]) == 1.0 and fisher_z_mean([-1.0]) == -1.0  # all the same ±1: exactly that
    # one 1 among others: clipped to 0.9999 (atanh 4.95), not an infinite z that would make the mean 1
    expected = np.tanh((np.arctanh(0.9999) + np.arctanh(0.5)) / 2)
    assert fisher_z_mean([1.0, 0.5]) == pytest.approx(expected)
    assert fisher_z_mean([1.0, -1.0]) == pytest.approx(0.0, abs=1e-12)


# --- ordinal classes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_ordinal_metrics_equal_scikit_learn_and_decide_by_argmax(seed):
    labels, probabilities = ordinal_fixture(seed)
    decided = probabilities.argmax(1)
    ours = ordinal_metrics(labels, probabilities)
    present = sorted(set(labels.tolist()))
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(labels, decided))
    assert ours["quadratic_kappa"] == pytest.approx(skm.cohen_kappa_score(labels, decided, weights="quadratic"))
    assert ours["f1_macro"] == pytest.approx(skm.f1_score(labels, decided, average="macro", labels=present))
    assert ours["expected_cost"] == pytest.approx(np.mean(np.abs(labels - decided)))
    assert ours["mean_absolute_class_error"] == pytest.approx(np.mean(np.abs(labels - decided)))
    assert ordinal_metrics(labels, decided) == ours  # class ids give the same figures as their probabilities
    for name in ("accuracy", "quadratic_kappa", "f1_macro"):  # the same conventions as the classification metrics
        assert classification_metrics(labels, probabilities)[name] == pytest.approx(ours[name]), name


def test_expected_cost_by_its_definition():
    # a hand-made confusion of 4 classes (rows: true class, columns: decided class), 20 items
    confusion = np.array([[3, 1, 0, 0], [1, 4, 1, 0], [0, 2, 3, 1], [1, 0, 1, 2]])
    labels = np.repeat(np.arange(4), confusion.sum(1))
    decided = np.concatenate([np.repeat(np.arange(4), row) for row in confusion])
    # |i - j| costs, row by row: (1) + (1 + 1) + (2 x 1 + 1) + (3 + 1) = 10, over 20 items
    assert expected_cost(labels, decided) == pytest.approx(10 / 20)
    # EC = sum_i P_i sum_j c_ij R_ij with uniform priors: mean over classes of each class's mean cost
    per_class = [1 / 4, 2 / 6, 3 / 6, 4 / 4]
    assert expected_cost(labels, decided, priors=[0.25] * 4) == pytest.approx(np.mean(per_class))
    # the 0-1 cost matrix gives the error rate
    assert expected_cost(labels, decided, costs=1 - np.eye(4)) == pytest.approx(1 - 12 / 20)
    assert ordinal_metrics(labels, decided)["expected_cost"] == pytest.approx(0.5)
    costs = np.array([[0, 1, 4, 9], [1, 0, 1, 4], [4, 1, 0, 1], [9, 4, 1, 0]])  # squared distances
    assert ordinal_metrics(labels, decided, costs=costs)["expected_cost"] == pytest.approx(
        ((1) + (1 + 1) + (2 * 1 + 1) + (9 + 1)) / 20
    )
    assert ordinal_metrics(labels, decided, costs=costs)["mean_absolute_class_error"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="class ids"):
        ordinal_metrics([0, 1], [0.5, 1.0])
    with pytest.raises(ValueError, match="priors"):
        expected_cost([0, 0, 1], [0, 1, 1], priors=[0.2, 0.3, 0.5])  # class 2 has no items


# --- raters -------------------------------------------------------------------------------------------------------


def test_icc_2_1_on_shrout_and_fleiss_table():
    n, k = SHROUT_FLEISS.shape
    grand = SHROUT_FLEISS.mean()
    # the two-way ANOVA written out; Shrout & Fleiss give BMS 11.24, JMS 32.49, EMS 1.02
    bms = k * ((SHROUT_FLEISS.mean(1) - grand) ** 2).sum() / (n - 1)
    jms = n * ((SHROUT_FLEISS.mean(0) - grand) ** 2).sum() / (k - 1)
    total = ((SHROUT_FLEISS - grand) ** 2).sum()
    ems = (total - bms * (n - 1) - jms * (k - 1)) / ((n - 1) * (k - 1))
    assert (bms, jms, ems) == pytest.approx((11.24, 32.49, 1.02), abs=0.005)
    by_hand = (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)
    assert icc_2_1(SHROUT_FLEISS) == pytest.approx(by_hand)
    assert round(icc_2_1(SHROUT_FLEISS), 2) == 0.29  # their published ICC(2,1)


def test_icc_2_1_perfect_agreement_and_incomplete_rows():
    items = np.array([[3.0], [5.0], [1.0], [4.0]])
    assert icc_2_1(np.repeat(items, 3, 1)) == pytest.approx(1.0)
    with_gap = np.vstack([SHROUT_FLEISS, [[4, NAN, 3, 5]]])
    assert icc_2_1(with_gap) == pytest.approx(icc_2_1(SHROUT_FLEISS))  # the incomplete row is dropped
    with pytest.raises(ValueError, match="at least 2 items"):
        icc_2_1([[1, 2], [3, NAN]])
    with pytest.raises(ValueError, match="K >= 2 raters"):
        icc_2_1([[1], [2]])


def test_krippendorff_alpha_on_his_worked_example():
    """Krippendorff (2011) gives alpha = 0.743 (nominal), 0.815 (ordinal), 0.849 (interval), 0.797 (ratio)."""
    for level, published in (("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)):
        assert krippendorff_alpha(KRIPPENDORFF_2011, level) == pytest.approx(published, abs=5e-4), level


def test_krippendorff_alpha_interval_by_hand():
    # 3 items x 2 raters, one missing: pairable values 1,2 | 3,3 | (5 alone: not pairable)
    ratings = np.array([[1.0, 2.0], [3.0, 3.0], [5.0, NAN]])
    # observed: item 1 contributes (1-2)^2 + (2-1)^2 over m_u - 1 = 1 -> 2; item 2: 0; n = 4 pairable values
    observed = 2 / 4
    # expected: every ordered pair of the 4 pairable values {1, 2, 3, 3}: sum (v_i - v_j)^2 / (n (n - 1))
    pool = np.array([1.0, 2.0, 3.0, 3.0])
    expected = ((pool[:, None] - pool[None, :]) ** 2).sum() / (4 * 3)
    assert krippendorff_alpha(ratings) == pytest.approx(1 - observed / expected)
    assert krippendorff_alpha(np.array([[1.0, 1.0], [4.0, 4.0], [2.0, NAN]])) == 1.0  # perfect agreement
    assert np.isnan(krippendorff_alpha(np.array([[2.0, 2.0], [2.0, 2.0]])))  # no variation: undefined
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(ratings, "cardinal")


@pytest.mark.parametrize("seed", range(4))
def test_pairwise_spearman_equals_scipy_on_shared_items(seed):
    rng = np.random.default_rng(seed)
    ratings = rng.integers(8, 41, (30, 3)).astype(np.float64)
    ratings[rng.random((30, 3)) < 0.15] = NAN
    pairs = pairwise_spearman(ratings)
    assert set(pairs) == {(0, 1), (0, 2), (1, 2)}
    for (i, j), rho in pairs.items():
        shared = ~np.isnan(ratings[:, i]) & ~np.isnan(ratings[:, j])
        assert rho == pytest.approx(stats.spearmanr(ratings[shared, i], ratings[shared, j])[0])


def test_rater_agreement_and_the_model_against_the_raters():
    agreement = rater_agreement(SHROUT_FLEISS, ["A", "B", "C", "D"])
    assert agreement["icc_2_1"] == pytest.approx(icc_2_1(SHROUT_FLEISS))
    assert agreement["krippendorff_alpha"] == pytest.approx(krippendorff_alpha(SHROUT_FLEISS))
    rhos = list(pairwise_spearman(SHROUT_FLEISS).values())
    assert agreement["spearman/A~B"] == rhos[0] and agreement["spearman/C~D"] == rhos[-1]
    assert agreement["spearman_fisher_z"] == pytest.approx(fisher_z_mean(rhos))
    assert (agreement["items"], agreement["complete_items"], agreement["raters"]) == (6, 6, 4)
    perfect = rater_agreement(np.repeat([[1.0], [3.0], [2.0], [5.0]], 3, 1))
    assert perfect["icc_2_1"] == pytest.approx(1.0) and perfect["krippendorff_alpha"] == 1.0
    assert perfect["spearman_fisher_z"] == 1.0

    ratings = np.array([[10.0, 12.0], [20.0, NAN], [30.0, 28.0], [NAN, NAN], [15.0, 17.0]])
    predictions = np.array([11.0, 19.0, 30.0, 50.0, 14.0])
    ours = metrics_against_raters(predictions, ratings, ["X", "Y"])
    assert ours["raters_mean/mae"] == pytest.approx(np.mean([0, 1, 1, 2]))  # the unrated item left out
    assert ours["X/mae"] == pytest.approx(np.mean([1, 1, 0, 1]))
    assert ours["Y/mae"] == pytest.approx(np.mean([1, 2, 3]))
    assert ours["Y/spearman"] == pytest.approx(stats.spearmanr([12, 28, 17], [11, 30, 14])[0])


# --- the evaluate module ------------------------------------------------------------------------------------------


def test_the_evaluate_module_computes_several_targets_and_ordinal_classes():
    import evaluate

    metric = evaluate.load(SKILL_METRICS_PATH)
    truth, predicted = scores_with_ties(3, n=25)
    truth[3, 1] = NAN  # a missing rating travels through the module
    names = ["respect", "motion", "flow"]
    for start in range(0, len(truth), 10):
        metric.add_batch(predictions=predicted[start : start + 10].tolist(), references=truth[start : start + 10])
    assert metric.compute(target_names=names) == pytest.approx(
        multi_target_regression_metrics(truth, predicted, names), nan_ok=True
    )

    labels, probabilities = ordinal_fixture(5)
    result = evaluate.load(SKILL_METRICS_PATH).compute(
        predictions=probabilities.tolist(), references=labels.tolist(), ordinal=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = classification_metrics(labels, probabilities) | ordinal_metrics(labels, probabilities)
    assert result == pytest.approx(expected, nan_ok=True)
    plain = evaluate.load(SKILL_METRICS_PATH).compute(predictions=probabilities.tolist(), references=labels.tolist())
    assert "expected_cost" not in plain and plain["accuracy"] == result["accuracy"]
    # two classes with a threshold: the ordinal figures use the same decisions as the others
    binary = np.stack([1 - probabilities[:, 1:].sum(1), probabilities[:, 1:].sum(1)], 1)
    two = (labels > 0).astype(int)
    thresholded = evaluate.load(SKILL_METRICS_PATH).compute(
        predictions=binary.tolist(), references=two.tolist(), ordinal=True, threshold=0.8
    )
    decided = (binary[:, 1] >= 0.8).astype(int)
    assert thresholded["expected_cost"] == pytest.approx(np.mean(np.abs(two - decided)))
    assert thresholded["accuracy"] == pytest.approx(skm.accuracy_score(two, decided))
