"""What a model's outputs mean: one or several named scores, a score distribution, or ordered classes.

Every model of the package, and transformers' own video models, end in a linear layer of ``num_labels``
outputs. How those logits are read is written in the config, so a saved model says what each output means and
training, evaluation, the pipeline and a folder's remote code all read them the same way:

- **Scores** (``problem_type="regression"``): ``target_names`` names them (``["score"]`` when unset).
  ``score_ranges`` holds each target's ``[low, high]``; with ``normalize_scores`` the model learns the
  scores scaled to [0, 1] by their range and every output is scaled back (:func:`scores_from_logits`).
- **Score distribution** (``score_head="distribution"``, USDL, Tang et al. 2020): each target's range is split
  into ``distribution_bins`` bins; the model learns a softmax over them against a Gaussian soft label centred on
  the true score (``distribution_sigma`` wide, in the score's units, narrower near the range's ends so the
  label's expectation is its score; KL divergence), and predicts the distribution's expectation. ``num_labels`` is then ``len(target_names) * distribution_bins``.
- **Ordered classes** (``ordinal_loss`` ``"cumulative_link"`` or ``"coral"``): the K logits are read as a
  latent skill ``s`` (the first) and K-1 increasing thresholds (the second, then positive steps through
  softplus), so ``P(y <= k) = sigmoid(theta_k - s)`` is a proper, rank-consistent cumulative-link model whose
  class probabilities are never negative. ``"cumulative_link"`` trains on the negative log-likelihood of the
  class, ``"coral"`` on the K-1 binary "above threshold k" tasks (Cao et al. 2020). ``ordinal`` marks ordered
  classes for the metrics (quadratic kappa, Expected Cost) whatever the loss.
- ``score_sum_name`` (e.g. ``"grs"``): a reported score that is the sum of the predicted ones (the JIGSAWS GRS
  is the sum of its six items), so predictions stay consistent with the scale's definition.

This module is shipped inside model folders as remote code: it imports only torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

SCORE_HEADS = ("linear", "distribution")
ORDINAL_LOSSES = ("cross_entropy", "cumulative_link", "coral")
# The config keys this module reads; a recipe or build_model may set them on any model's config
HEAD_OPTIONS = (
    "target_names",
    "score_ranges",
    "normalize_scores",
    "score_head",
    "distribution_bins",
    "distribution_sigma",
    "ordinal_loss",
    "ordinal",
    "score_sum_name",
)
DEFAULT_DISTRIBUTION_BINS = 21


def _get(config: Any, key: str, default: Any = None) -> Any:
    if isinstance(config, Mapping):
        value = config.get(key, default)
    else:
        value = getattr(config, key, default)
    return default if value is None else value


def is_regression_model(config: Any) -> bool:
    """Whether the model predicts scores, not classes: its config's ``problem_type`` is ``"regression"``.

    A config saved without a ``problem_type`` (folders written before the package set one) is a score model
    when it has a single output. ``config`` may be a config object or a ``config.json`` read as a dict.
    """
    problem_type = _get(config, "problem_type")
    if problem_type is not None:
        return problem_type == "regression"
    if isinstance(config, Mapping):
        return (len(config["id2label"]) if config.get("id2label") else config.get("num_labels", 2)) == 1
    return config.num_labels == 1


def score_head(config: Any) -> str:
    """``"linear"`` (one output per score) or ``"distribution"`` (bins per score)."""
    return str(_get(config, "score_head", "linear"))


def target_names(config: Any) -> list[str]:
    """The names of a score model's predicted scores, in output order (``["score"]`` when the config names none)."""
    names = _get(config, "target_names")
    return [str(name) for name in names] if names else ["score"]


def reported_score_names(config: Any) -> list[str]:
    """Every score a score model reports: its targets, then ``score_sum_name`` (their sum) when set."""
    names = target_names(config)
    total = _get(config, "score_sum_name")
    return [*names, str(total)] if total else names


def ordinal_loss(config: Any) -> str:
    return str(_get(config, "ordinal_loss", "cross_entropy"))


def is_ordinal(config: Any) -> bool:
    """Whether the classes are ordered (an ordinal loss, or ``ordinal`` set): ordinal metrics apply."""
    return not is_regression_model(config) and (
        bool(_get(config, "ordinal", False)) or ordinal_loss(config) != "cross_entropy"
    )


def head_width(config: Any, num_targets: int | None = None) -> int:
    """``num_labels`` a score model needs: one per target, or ``distribution_bins`` per target."""
    count = len(target_names(config)) if num_targets is None else num_targets
    if score_head(config) == "distribution":
        return count * int(_get(config, "distribution_bins", DEFAULT_DISTRIBUTION_BINS))
    return count


def check_head_config(config: Any) -> None:
    """Raise ``ValueError`` saying what to fix when the head settings do not fit together."""
    head, loss = score_head(config), ordinal_loss(config)
    if head not in SCORE_HEADS:
        raise ValueError(f"score_head={head!r} is not one of: {', '.join(SCORE_HEADS)}")
    if loss not in ORDINAL_LOSSES:
        raise ValueError(f"ordinal_loss={loss!r} is not one of: {', '.join(ORDINAL_LOSSES)}")
    num_labels = config.get("num_labels") if isinstance(config, Mapping) else config.num_labels
    if not is_regression_model(config):
        if head != "linear" or _get(config, "normalize_scores", False):
            raise ValueError("score_head and normalize_scores are for score (regression) models, not classes")
        if loss != "cross_entropy":
            if num_labels < 2:
                raise ValueError(f"ordinal_loss={loss!r} needs two or more ordered classes")
            if float(_get(config, "label_smoothing", 0.0)):
                raise ValueError(f"label_smoothing is for cross-entropy; ordinal_loss={loss!r} does not use it")
        return
    if loss != "cross_entropy":
        raise ValueError(f"ordinal_loss={loss!r} is for ordered classes; this is a score (regression) model")
    names = target_names(config)
    if len(set(names)) != len(names):
        raise ValueError(f"target_names repeat a name: {names}")
    if _get(config, "target_names") and head_width(config) != num_labels:
        raise ValueError(
            f"{len(names)} target_names ({', '.join(names)}) with score_head={head!r} need num_labels="
            f"{head_width(config)}, got {num_labels}"
        )
    ranges = _get(config, "score_ranges")
    if ranges is not None:
        if len(ranges) != len(names) or any(len(r) != 2 or not float(r[0]) < float(r[1]) for r in ranges):
            raise ValueError(
                f"score_ranges must give [low, high] with low < high for each of the {len(names)} targets, got {ranges}"
            )
    elif head == "distribution" or _get(config, "normalize_scores", False):
        raise ValueError(f"score_head={head!r} / normalize_scores need score_ranges (each target's [low, high])")
    if head == "distribution":
        bins = int(_get(config, "distribution_bins", DEFAULT_DISTRIBUTION_BINS))
        if bins < 2:
            raise ValueError(f"distribution_bins must be at least 2, got {bins}")
        sigma = _get(config, "distribution_sigma")
        if sigma is not None and not float(sigma) > 0:
            raise ValueError(f"distribution_sigma must be above 0 (in the score's units), got {sigma}")


def _ranges(config: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
    ranges = _get(config, "score_ranges")
    if ranges is None:
        return None
    table = torch.tensor([[float(low), float(high)] for low, high in ranges], dtype=torch.float32, device=device)
    return table[:, 0], table[:, 1] - table[:, 0]  # (K,), (K,)


def _uses_unit_scale(config: Any) -> bool:
    return score_head(config) == "distribution" or bool(_get(config, "normalize_scores", False))


def to_unit_scale(scores: torch.Tensor, config: Any) -> torch.Tensor:
    """Scores (B, K) in their own units as the model learns them: scaled to [0, 1] by ``score_ranges`` for a
    normalised or distribution head, unchanged otherwise."""
    scores = scores.float().reshape(len(scores), -1)
    if not _uses_unit_scale(config):
        return scores
    low, width = _ranges(config, scores.device)
    return (scores - low) / width


def from_unit_scale(values: torch.Tensor, config: Any) -> torch.Tensor:
    """The inverse of :func:`to_unit_scale`: what the model says, in each score's own units."""
    if not _uses_unit_scale(config):
        return values
    low, width = _ranges(config, values.device)
    return values * width + low


def bin_centres(config: Any, device: torch.device | None = None) -> torch.Tensor:
    """The centres of the distribution head's bins on the [0, 1] scale (``distribution_bins`` of them; the first
    and last at the range's ends, as USDL places them)."""
    bins = int(_get(config, "distribution_bins", DEFAULT_DISTRIBUTION_BINS))
    return torch.linspace(0.0, 1.0, bins, device=device)


def _sigmas(config: Any, device: torch.device) -> torch.Tensor:
    """Each target's soft-label width on the [0, 1] scale: ``distribution_sigma`` (score units) over the range,
    or by default two bins wide."""
    _, width = _ranges(config, device)
    sigma = _get(config, "distribution_sigma")
    if sigma is None:
        bins = int(_get(config, "distribution_bins", DEFAULT_DISTRIBUTION_BINS))
        return torch.full_like(width, 2.0 / (bins - 1))
    return float(sigma) / width


def soft_labels(scores: torch.Tensor, config: Any) -> torch.Tensor:
    """USDL's soft labels (B, K, bins): a Gaussian over the bins centred on each true score, normalised to sum
    to 1 (a score outside the range is clipped to its end first).

    Near either end of the range the Gaussian narrows, to a third of the score's distance to that end (never
    below a quarter of a bin, never above ``distribution_sigma``): a Gaussian the range's end cuts on one side
    has its expectation, the score the model learns to predict, pulled towards the middle of the range (by 0.74
    points for a 1-5 score with ``distribution_sigma=1`` and 21 bins at either end). This way a label's
    expectation stays within half a bin of its score and its peak is the score's bin."""
    unit = to_unit_scale(scores, config).clamp(0.0, 1.0)  # (B, K)
    centres = bin_centres(config, unit.device)  # (bins,)
    sigma = _sigmas(config, unit.device)[None, :, None]  # (1, K, 1)
    to_end = torch.minimum(unit, 1.0 - unit)[:, :, None]  # (B, K, 1)
    quarter_bin = float(centres[1] - centres[0]) / 4
    sigma = torch.minimum(sigma, (to_end / 3).clamp_min(quarter_bin))  # (B, K, 1)
    log_density = -0.5 * ((centres[None, None, :] - unit[:, :, None]) / sigma) ** 2  # (B, K, bins)
    return log_density.softmax(-1)  # in log space: a narrow Gaussian far from a bin underflows to 0 there


def score_distribution(logits: torch.Tensor, config: Any) -> torch.Tensor:
    """A distribution head's predicted distribution over each target's bins (B, K, bins)."""
    bins = int(_get(config, "distribution_bins", DEFAULT_DISTRIBUTION_BINS))
    return logits.float().reshape(len(logits), -1, bins).softmax(-1)


def _cumulative_logits(logits: torch.Tensor) -> torch.Tensor:
    """The K-1 logits of P(y > k) (B, K-1) from K outputs: latent skill minus increasing thresholds."""
    logits = logits.float()
    latent = logits[:, :1]  # (B, 1)
    steps = torch.cat([logits[:, 1:2], F.softplus(logits[:, 2:])], dim=1)  # first threshold, then positive steps
    thresholds = steps.cumsum(1)  # (B, K-1), increasing
    return latent - thresholds


def ordinal_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities (B, K) of the cumulative-link reading of K outputs (see the module docstring)."""
    above = torch.sigmoid(_cumulative_logits(logits))  # P(y > k), k = 0..K-2, decreasing in k
    ones = above.new_ones((len(above), 1))
    zeros = above.new_zeros((len(above), 1))
    bounds = torch.cat([ones, above, zeros], dim=1)  # P(y > k) for k = -1..K-1
    return (bounds[:, :-1] - bounds[:, 1:]).clamp_min(0.0)


def ordinal_log_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """The log of :func:`ordinal_probabilities` (B, K), computed without subtracting probabilities: a
    confidently wrong class keeps its true (very negative) log-probability and its gradient, where the log of
    a difference of sigmoids would underflow to log(0) once the latent skill is ~17 logits from a threshold."""
    cumulative = _cumulative_logits(logits)  # (B, K-1): z_k, P(y > k) = sigmoid(z_k), decreasing in k
    first = F.logsigmoid(-cumulative[:, :1])  # log P(y = 0) = log(1 - sigmoid(z_0))
    last = F.logsigmoid(cumulative[:, -1:])  # log P(y = K-1) = log sigmoid(z_{K-2})
    upper, lower = cumulative[:, :-1], cumulative[:, 1:]  # z_{k-1} > z_k for the middle classes
    # sigmoid(u) - sigmoid(l) = e^u (1 - e^(l-u)) / ((1 + e^u)(1 + e^l)); the clamp only where two thresholds meet
    gap = torch.log((-torch.expm1(lower - upper)).clamp_min(1e-12))
    middle = upper + gap - F.softplus(upper) - F.softplus(lower)
    return torch.cat([first, middle, last], dim=1)


def scores_from_logits(logits: torch.Tensor, config: Any) -> torch.Tensor:
    """What a clip's logits say: class probabilities (N, num_labels); or for a score model every reported score
    in its own units (N, len(reported_score_names)): the outputs (or each distribution's expectation), scaled
    back from [0, 1] when the head learns that scale, then their sum when ``score_sum_name`` is set."""
    if not is_regression_model(config):
        if ordinal_loss(config) != "cross_entropy":
            return ordinal_probabilities(logits)
        return logits.float().softmax(-1)
    if score_head(config) == "distribution":
        unit = (score_distribution(logits, config) * bin_centres(config, logits.device)).sum(-1)  # (N, K)
    else:
        unit = logits.float().reshape(len(logits), -1)
    scores = from_unit_scale(unit, config)
    if _get(config, "score_sum_name"):
        scores = torch.cat([scores, scores.sum(1, keepdim=True)], dim=1)
    return scores


def head_loss_terms(
    logits: torch.Tensor, labels: torch.Tensor, config: Any, weight: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(summed loss, count) for the heads this module defines, or None for plain cross-entropy classes (the
    caller's own loss). Score labels are (B,) or (B, K) in their own units; class labels (B,) ids."""
    if is_regression_model(config):
        targets = to_unit_scale(labels, config)  # (B, K)
        count = torch.tensor(float(targets.numel()), device=logits.device)
        if score_head(config) == "distribution":
            bins = int(_get(config, "distribution_bins", DEFAULT_DISTRIBUTION_BINS))
            log_probs = logits.float().reshape(len(logits), -1, bins).log_softmax(-1)
            return F.kl_div(log_probs, soft_labels(labels, config), reduction="sum"), count
        return F.mse_loss(logits.float().reshape(targets.shape), targets, reduction="sum"), count
    loss = ordinal_loss(config)
    if loss == "cross_entropy":
        return None
    labels = labels.reshape(-1).long()
    if loss == "cumulative_link":
        per_sample = -ordinal_log_probabilities(logits).gather(1, labels[:, None]).squeeze(1)
    else:  # coral: K-1 binary tasks "y > k"
        cumulative = _cumulative_logits(logits)  # (B, K-1)
        ranks = torch.arange(cumulative.shape[1], device=logits.device)
        above = (labels[:, None] > ranks[None, :]).float()
        per_sample = F.binary_cross_entropy_with_logits(cumulative, above, reduction="none").sum(1)
    if weight is not None:
        sample_weight = weight[labels]
        return (per_sample * sample_weight).sum(), sample_weight.sum()
    return per_sample.sum(), torch.tensor(float(len(labels)), device=logits.device)


def expected_score_spread(logits: torch.Tensor, config: Any) -> torch.Tensor | None:
    """A distribution head's standard deviation of each target's predicted distribution, in score units
    (N, K): how sure the model is of a clip's score; None for other heads."""
    if not is_regression_model(config) or score_head(config) != "distribution":
        return None
    distribution = score_distribution(logits, config)
    centres = bin_centres(config, logits.device)
    mean = (distribution * centres).sum(-1, keepdim=True)
    spread = ((distribution * (centres - mean) ** 2).sum(-1)).sqrt()
    return spread * _ranges(config, logits.device)[1]


__all__ = [
    "DEFAULT_DISTRIBUTION_BINS",
    "HEAD_OPTIONS",
    "ORDINAL_LOSSES",
    "SCORE_HEADS",
    "bin_centres",
    "check_head_config",
    "expected_score_spread",
    "from_unit_scale",
    "head_loss_terms",
    "head_width",
    "is_ordinal",
    "is_regression_model",
    "ordinal_log_probabilities",
    "ordinal_loss",
    "ordinal_probabilities",
    "reported_score_names",
    "score_distribution",
    "score_head",
    "scores_from_logits",
    "soft_labels",
    "target_names",
    "to_unit_scale",
]
