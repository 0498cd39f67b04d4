"""How a model's outputs are read and trained (``surgical_skill.models.heads``): USDL soft labels, the [0, 1]
scale of normalised scores, the cumulative-link reading of ordered classes and its two losses (checked against a
hand computation), a linear head trained with each, the settings refused, and a saved model that still names
its outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from transformers import AutoModelForVideoClassification

from surgical_skill.models import build_model, skill_loss
from surgical_skill.models.heads import (
    check_head_config,
    expected_score_spread,
    from_unit_scale,
    head_loss_terms,
    ordinal_log_probabilities,
    ordinal_probabilities,
    reported_score_names,
    scores_from_logits,
    soft_labels,
    target_names,
    to_unit_scale,
)
from tests.helpers import TINY_SMALL3D

RANGES = [[1.0, 5.0], [5.0, 25.0]]  # an OSATS item and a 5-item GRS


def distribution_config(bins=21, sigma=None, ranges=RANGES):
    return {
        "problem_type": "regression",
        "target_names": [f"t{k}" for k in range(len(ranges))],
        "score_ranges": ranges,
        "score_head": "distribution",
        "distribution_bins": bins,
        "distribution_sigma": sigma,
        "num_labels": bins * len(ranges),
    }


def units(scores, ranges=RANGES):
    """Scores (N, K) on [0, 1] by their ranges, computed here (not with the module under test)."""
    table = np.asarray(ranges, dtype=float)
    return (np.asarray(scores, dtype=float) - table[:, 0]) / (table[:, 1] - table[:, 0])


# ------------------------------------------------------------------------------------------- soft labels


@pytest.mark.parametrize("bins, sigma", [(21, None), (21, 1.0), (9, 0.5), (101, 0.2)])
def test_soft_labels_sum_to_one_and_peak_at_the_scores_bin(bins, sigma):
    generator = torch.Generator().manual_seed(0)
    unit = torch.rand(500, 2, generator=generator)
    unit[:4] = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.05, 0.95]])  # the ends and the middle too
    table = torch.tensor(RANGES)
    scores = table[:, 0] + unit * (table[:, 1] - table[:, 0])
    labels = soft_labels(scores, distribution_config(bins, sigma))
    assert labels.shape == (500, 2, bins) and (labels >= 0).all()
    torch.testing.assert_close(labels.sum(-1), torch.ones(500, 2))
    centres = np.linspace(0.0, 1.0, bins)
    distance = np.abs(centres[None, None, :] - units(scores.numpy())[:, :, None])
    nearest = distance.min(-1, keepdims=True)
    peak = labels.argmax(-1).numpy()
    # the peak is the bin nearest the score (either of two at a tie, up to float rounding)
    assert (np.take_along_axis(distance, peak[:, :, None], -1) <= nearest + 1e-6).all()


@pytest.mark.parametrize("bins, sigma", [(21, None), (21, 1.0), (21, 0.05), (9, 2.0), (5, 0.1), (101, 0.3)])
def test_a_soft_labels_expectation_is_its_score_within_half_a_bin_across_the_range(bins, sigma):
    """Also at the ends of the range, where a Gaussian cut on one side would be pulled towards the middle."""
    config = distribution_config(bins, sigma)
    table = torch.tensor(RANGES)
    unit = torch.linspace(0.0, 1.0, 401)[:, None].repeat(1, 2)
    scores = table[:, 0] + unit * (table[:, 1] - table[:, 0])
    expectation = (soft_labels(scores, config) * torch.linspace(0.0, 1.0, bins)).sum(-1)  # (N, 2) on [0, 1]
    half_bin = 0.5 / (bins - 1)
    assert (expectation - unit).abs().max() <= half_bin
    # what the model predicts from logits that are the label's log: the same, in score units
    predicted = scores_from_logits(soft_labels(scores, config).log().reshape(len(scores), -1), config)
    assert ((predicted - scores).abs() / (table[:, 1] - table[:, 0]) <= half_bin + 1e-6).all()


def test_soft_labels_clip_scores_outside_the_range_to_its_ends():
    config = distribution_config()
    outside = soft_labels(torch.tensor([[0.0, 30.0]]), config)
    torch.testing.assert_close(outside, soft_labels(torch.tensor([[1.0, 25.0]]), config))


def test_the_distribution_heads_spread_is_in_score_units():
    config = distribution_config(bins=21, sigma=None)
    flat = torch.zeros(1, 42)  # a uniform distribution over 21 bins from 0 to 1: sd = sqrt(((21^2 - 1) / 12)) / 20
    uniform_sd = math.sqrt((21**2 - 1) / 12) / 20
    torch.testing.assert_close(expected_score_spread(flat, config), torch.tensor([[4.0, 20.0]]) * uniform_sd)
    assert expected_score_spread(flat[:, :2], {"problem_type": "regression", "num_labels": 2}) is None


# ----------------------------------------------------------------------------------------- normalisation


def test_normalised_scores_round_trip_and_scale_by_their_range():
    config = {
        "problem_type": "regression",
        "target_names": ["a", "b"],
        "score_ranges": RANGES,
        "normalize_scores": True,
    }
    scores = torch.tensor([[1.0, 5.0], [5.0, 25.0], [3.0, 15.0]])
    unit = to_unit_scale(scores, config)
    torch.testing.assert_close(unit, torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]]))
    random = torch.tensor(RANGES)[:, 0] + torch.rand(50, 2, generator=torch.Generator().manual_seed(1)) * 30
    torch.testing.assert_close(from_unit_scale(to_unit_scale(random, config), config), random)
    torch.testing.assert_close(to_unit_scale(random, config).numpy(), units(random.numpy()).astype(np.float32))
    plain = {"problem_type": "regression", "target_names": ["a", "b"], "score_ranges": RANGES}
    assert torch.equal(to_unit_scale(random, plain), random) and torch.equal(from_unit_scale(random, plain), random)


def test_a_reported_sum_follows_the_targets():
    config = {
        "problem_type": "regression",
        "target_names": ["a", "b"],
        "score_ranges": RANGES,
        "normalize_scores": True,
        "score_sum_name": "grs",
    }
    assert reported_score_names(config) == ["a", "b", "grs"] and target_names(config) == ["a", "b"]
    scores = scores_from_logits(torch.tensor([[0.5, 0.25]]), config)
    torch.testing.assert_close(scores, torch.tensor([[3.0, 10.0, 13.0]]))
    assert target_names({"problem_type": "regression"}) == ["score"]


# --------------------------------------------------------------------------------------- ordered classes


def cumulative_by_hand(row: list[float]) -> list[float]:
    """P(y <= k), k = 0..K-2, of K outputs: thresholds the second output, then positive (softplus) steps."""
    latent, thresholds = row[0], [row[1]]
    for step in row[2:]:
        thresholds.append(thresholds[-1] + math.log1p(math.exp(step)))
    return [1 / (1 + math.exp(-(theta - latent))) for theta in thresholds]


@pytest.mark.parametrize("num_classes", [2, 3, 4, 6])
def test_ordinal_probabilities_are_a_proper_cumulative_link_model(num_classes):
    logits = torch.randn(200, num_classes, generator=torch.Generator().manual_seed(num_classes)) * 4
    probabilities = ordinal_probabilities(logits)
    assert (probabilities >= 0).all()
    torch.testing.assert_close(probabilities.sum(1), torch.ones(200))
    cumulative = probabilities.cumsum(1)
    assert (cumulative[:, 1:] >= cumulative[:, :-1] - 1e-7).all()
    expected = torch.tensor([cumulative_by_hand(row) for row in logits.tolist()])
    torch.testing.assert_close(cumulative[:, :-1], expected, atol=1e-5, rtol=0)
    # a higher latent skill (the first output) moves probability towards the higher classes, for every row
    higher = ordinal_probabilities(logits + torch.eye(num_classes)[0] * 2).cumsum(1)
    assert (higher[:, :-1] <= cumulative[:, :-1] + 1e-7).all()


TOY_LOGITS = [[0.5, -0.2, 0.3], [-1.0, 0.4, -0.5], [2.0, 1.0, 0.0]]
TOY_LABELS = [2, 0, 1]


def toy_losses_by_hand(weights=(1.0, 1.0, 1.0)):
    """The mean CORAL and cumulative-link losses of the 3-class toy, with plain floats."""
    coral, link, total = 0.0, 0.0, 0.0
    for row, label in zip(TOY_LOGITS, TOY_LABELS):
        at_most = cumulative_by_hand(row)  # P(y <= 0), P(y <= 1)
        above = [1 - p for p in at_most]  # P(y > k): CORAL's binary tasks
        coral_sample = -sum(math.log(a) if label > k else math.log(1 - a) for k, a in enumerate(above))
        probabilities = [at_most[0], at_most[1] - at_most[0], 1 - at_most[1]]
        weight = weights[label]
        coral += weight * coral_sample
        link += weight * -math.log(probabilities[label])
        total += weight
    return coral / total, link / total


@pytest.mark.parametrize("weights", [None, [1.0, 2.0, 0.5]])
def test_coral_and_cumulative_link_losses_match_a_hand_computation(weights):
    coral, link = toy_losses_by_hand(weights or (1.0, 1.0, 1.0))
    logits, labels = torch.tensor(TOY_LOGITS), torch.tensor(TOY_LABELS)
    for loss, expected in (("coral", coral), ("cumulative_link", link)):
        model = build_model(
            "small3d",
            id2label=["novice", "intermediate", "expert"],
            ordinal_loss=loss,
            class_weights=weights,
            **TINY_SMALL3D,
        )
        assert skill_loss(logits, labels, model.config).item() == pytest.approx(expected, rel=1e-5)
    plain = {"problem_type": "single_label_classification", "num_labels": 3}
    assert head_loss_terms(logits, labels, plain) is None  # plain cross-entropy is the caller's own


def test_a_confidently_wrong_class_keeps_its_loss_and_gradient():
    """Far past a threshold the probability of the true class underflows in float32; its log must not."""
    config = {"problem_type": "single_label_classification", "num_labels": 3, "ordinal_loss": "cumulative_link"}
    for latent in (10.0, 20.0, 40.0):  # the latent skill far above both thresholds (0 and log 2), class 0 true
        logits = torch.tensor([[latent, 0.0, 0.0]], requires_grad=True)
        total, _ = head_loss_terms(logits, torch.tensor([0]), config)
        total.backward()
        # -log P(y = 0) = -log sigmoid(theta_0 - s) = softplus(s - theta_0), about s for a large s
        assert total.item() == pytest.approx(math.log1p(math.exp(latent)), rel=1e-5)
        assert logits.grad[0, 0].item() == pytest.approx(1.0, abs=1e-4)  # pushes the latent skill down
    random = torch.randn(500, 5, generator=torch.Generator().manual_seed(3)) * 4
    torch.testing.assert_close(
        ordinal_log_probabilities(random).exp(), ordinal_probabilities(random), atol=1e-6, rtol=0
    )


# ------------------------------------------------------------------------------------ a short training run

FEATURES = torch.randn(96, 8, generator=torch.Generator().manual_seed(0))
LATENT = FEATURES @ torch.randn(8, generator=torch.Generator().manual_seed(1))  # (96,) a learnable skill


def _score_targets(ranges):
    """Two scores that follow the latent skill (each through its own monotone curve) inside their ranges."""
    table = torch.tensor(ranges)
    unit = torch.stack([torch.sigmoid(LATENT / 2), torch.sigmoid(LATENT / 3 + 0.3)], 1)  # (96, 2) in (0, 1)
    return table[:, 0] + unit * (table[:, 1] - table[:, 0])


HEADS = {
    "distribution": {
        "target_names": ["a", "b"],
        "score_ranges": RANGES,
        "score_head": "distribution",
        "distribution_bins": 21,
        "distribution_sigma": None,
    },
    "normalised": {"target_names": ["a", "b"], "score_ranges": RANGES, "normalize_scores": True},
    "coral": {"id2label": ["novice", "intermediate", "expert", "master"], "ordinal_loss": "coral"},
    "cumulative_link": {"id2label": ["novice", "intermediate", "expert", "master"], "ordinal_loss": "cumulative_link"},
}


@pytest.mark.parametrize("head", list(HEADS))
def test_a_linear_head_trains_with_each_loss_and_predicts_in_range(head):
    config = build_model("small3d", **HEADS[head], **TINY_SMALL3D).config
    classes = "id2label" in HEADS[head]
    if classes:  # four ordered classes: the latent skill's quartiles
        labels = torch.bucketize(LATENT, LATENT.quantile(torch.tensor([0.25, 0.5, 0.75])))
    else:
        labels = _score_targets(RANGES)
    torch.manual_seed(0)
    linear = torch.nn.Linear(8, config.num_labels)
    optimizer = torch.optim.Adam(linear.parameters(), lr=0.05)
    losses = []
    for _ in range(200):
        loss = skill_loss(linear(FEATURES), labels, config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], (losses[0], losses[-1])
    with torch.no_grad():
        outputs = scores_from_logits(linear(FEATURES), config)
    if classes:
        assert outputs.shape == (96, 4) and (outputs >= 0).all()
        torch.testing.assert_close(outputs.sum(1), torch.ones(96))
        decided = outputs.argmax(1)
        assert (decided == labels).float().mean() > 0.8 and (decided - labels).abs().max() <= 1
        return
    assert outputs.shape == (96, 2)
    table = torch.tensor(RANGES)
    if head == "distribution":  # an expectation over the range's bins: inside the range by construction
        assert ((outputs >= table[:, 0]) & (outputs <= table[:, 1])).all()
    else:  # an unbounded output, learned well enough to stay within a tenth of the range of it
        margin = 0.1 * (table[:, 1] - table[:, 0])
        assert ((outputs >= table[:, 0] - margin) & (outputs <= table[:, 1] + margin)).all()
    for k in range(2):
        assert spearmanr(outputs[:, k], labels[:, k]).statistic > 0.95
        assert (outputs[:, k] - labels[:, k]).abs().mean() < 0.1 * (RANGES[k][1] - RANGES[k][0])


# --------------------------------------------------------------------------------------- refused settings


@pytest.mark.parametrize(
    "settings, message",
    [
        (
            {"target_names": ["a"], "score_head": "distribution"},
            "score_head='distribution' / normalize_scores need score_ranges (each target's [low, high])",
        ),
        ({"target_names": ["a"], "normalize_scores": True}, "need score_ranges"),
        (
            {"target_names": ["a", "b"], "score_ranges": [[1, 5]]},
            "score_ranges must give [low, high] with low < high for each of the 2 targets, got [[1, 5]]",
        ),
        ({"target_names": ["a"], "score_ranges": [[5, 1]]}, "low < high"),
        (
            {"target_names": ["a"], "ordinal_loss": "coral"},
            "ordinal_loss='coral' is for ordered classes; this is a score (regression) model",
        ),
        (
            {"id2label": ["novice", "intermediate", "expert"], "ordinal_loss": "coral", "label_smoothing": 0.1},
            "label_smoothing is for cross-entropy; ordinal_loss='coral' does not use it",
        ),
        (
            {"id2label": ["novice", "expert"], "ordinal_loss": "ranked"},
            "ordinal_loss='ranked' is not one of: cross_entropy, cumulative_link, coral",
        ),
        (
            {"target_names": ["a"], "score_head": "histogram"},
            "score_head='histogram' is not one of: linear, distribution",
        ),
        ({"target_names": ["a", "a"]}, "target_names repeat a name: ['a', 'a']"),
        (
            {"target_names": ["a"], "id2label": ["low", "high"]},
            "a score model of 1 target has 1 outputs; leave num_labels and id2label out",
        ),
    ],
)
def test_settings_that_do_not_fit_together_are_refused_saying_what_to_fix(settings, message):
    with pytest.raises(ValueError) as refused:
        build_model("small3d", **settings, **TINY_SMALL3D)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_check_head_config_reads_a_saved_config_dict():
    check_head_config({"problem_type": "regression", "num_labels": 2, "target_names": ["a", "b"]})
    with pytest.raises(ValueError, match=r"2 target_names \(a, b\) with score_head='linear' need num_labels=2, got 3"):
        check_head_config({"problem_type": "regression", "num_labels": 3, "target_names": ["a", "b"]})


# ------------------------------------------------------------------------------------------- save, reload

SAVED = {
    "three scores and their sum": {
        "target_names": ["respect_for_tissue", "time_and_motion", "flow_of_operation"],
        "score_ranges": [[1, 5]] * 3,
        "normalize_scores": True,
        "score_sum_name": "grs",
    },
    "a distribution": {
        "target_names": ["grs"],
        "score_ranges": [[6, 30]],
        "score_head": "distribution",
        "distribution_bins": 13,
        "distribution_sigma": 2.0,
    },
    "ordered classes": {"id2label": ["novice", "intermediate", "expert"], "ordinal_loss": "cumulative_link"},
}


@pytest.mark.parametrize("head", list(SAVED))
def test_a_saved_model_reloads_naming_its_outputs_and_scoring_the_same(head, tmp_path):
    torch.manual_seed(0)
    model = build_model("small3d", **SAVED[head], **TINY_SMALL3D).eval()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForVideoClassification.from_pretrained(tmp_path).eval()
    for key in ("target_names", "score_ranges", "score_head", "distribution_bins", "score_sum_name", "ordinal_loss"):
        assert getattr(loaded.config, key, None) == getattr(model.config, key, None), key
    assert loaded.config.id2label == model.config.id2label
    clips = torch.randn(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        before = scores_from_logits(model(pixel_values=clips).logits, model.config)
        after = scores_from_logits(loaded(pixel_values=clips).logits, loaded.config)
    torch.testing.assert_close(after, before)
    if "target_names" in SAVED[head]:
        assert reported_score_names(loaded.config) == SAVED[head]["target_names"] + (
            ["grs"] if "score_sum_name" in SAVED[head] else []
        )
        assert after.shape == (2, len(reported_score_names(loaded.config)))
    else:
        assert after.shape == (2, 3) and torch.allclose(after.sum(1), torch.ones(2))
