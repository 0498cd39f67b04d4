"""The training loss of every model, chosen by the config's ``problem_type`` as transformers' heads choose it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import PretrainedConfig

from .heads import head_loss_terms

PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


def infer_problem_type(config: PretrainedConfig, labels: torch.Tensor) -> str:
    """``config.problem_type``, or when it is ``None`` the one transformers' heads infer from the labels: one
    output is a regression, integer labels are single-label classes, anything else is multi-label."""
    if config.problem_type is not None:
        return config.problem_type
    if config.num_labels == 1:
        return "regression"
    if labels.dtype in (torch.long, torch.int):
        return "single_label_classification"
    return "multi_label_classification"


def skill_loss_terms(
    logits: torch.Tensor, labels: torch.Tensor, config: PretrainedConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """The summed loss of a batch and what a mean divides it by (the sample count, or the sum of the class
    weights of the samples' labels). Summing both over several batches and dividing once gives exactly the
    loss of one big batch, which is how gradient accumulation stays exact with uneven batches.

    The loss follows :func:`infer_problem_type` and the config's head (:mod:`~surgical_skill.models.heads`):
    MSE for ``regression`` (one or several named scores, on the [0, 1] scale with ``normalize_scores``), KL
    divergence to Gaussian soft labels for a ``score_head="distribution"``, cross-entropy for
    ``single_label_classification`` (optional ``config.class_weights`` and ``config.label_smoothing``) or an
    ``ordinal_loss`` (cumulative-link or CORAL, class weights honoured), binary cross-entropy with logits for
    ``multi_label_classification``. The config is not changed.
    """
    problem_type = infer_problem_type(config, labels)
    count = torch.tensor(float(labels.numel()), device=logits.device)
    weights = getattr(config, "class_weights", None)
    weight = torch.tensor(weights, dtype=torch.float32, device=logits.device) if weights else None
    if problem_type in ("regression", "single_label_classification"):
        own = head_loss_terms(logits, labels, config, weight if problem_type != "regression" else None)
        if own is not None:
            return own
    if problem_type == "multi_label_classification":
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="sum"), count
    if problem_type != "single_label_classification":
        raise ValueError(f"unknown problem_type {problem_type!r}; known: {', '.join(PROBLEM_TYPES)}")
    labels = labels.reshape(-1).long()
    loss = F.cross_entropy(
        logits.float(),
        labels,
        weight=weight,
        reduction="sum",
        label_smoothing=float(getattr(config, "label_smoothing", 0.0) or 0.0),
    )
    return loss, (weight[labels].sum() if weight is not None else count)


def skill_loss(logits: torch.Tensor, labels: torch.Tensor, config: PretrainedConfig) -> torch.Tensor:
    """The mean loss of a batch (see :func:`skill_loss_terms`), computed in float32 whatever the autocast dtype."""
    total, normalizer = skill_loss_terms(logits, labels, config)
    return total / normalizer
