"""One way to feed clips to a model, and one way to tell a score model from a class model.

Training, evaluation and the pipeline all build a model's forward arguments with :func:`model_inputs` and score
clips with :func:`clip_logits`, so a batch reaches the model the same way wherever it comes from: the clips under
the model's ``main_input_name`` in the model's dtype, and ``frame_mask`` (which frames of a padded clip are real)
only for a model whose ``forward`` names it (transformers' video models do not take one).

This module is shipped inside model folders as remote code (:mod:`surgical_skill.remote_code`): it imports only
torch and transformers.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

import torch
from transformers import PretrainedConfig, PreTrainedModel

from .heads import scores_from_logits as _scores_from_logits

REGRESSION = "regression"


def is_regression_model(config: PretrainedConfig | Mapping[str, Any]) -> bool:
    """Whether the model predicts scores, not classes: its config's ``problem_type`` is ``"regression"``.

    A config saved without a ``problem_type`` (folders written before the package set one) is a score model
    when it has a single output. ``config`` may be a config object or a ``config.json`` read as a dict.
    """
    if isinstance(config, Mapping):
        problem_type = config.get("problem_type")
        num_labels = len(config["id2label"]) if config.get("id2label") else config.get("num_labels", 2)
    else:
        problem_type, num_labels = getattr(config, "problem_type", None), config.num_labels
    if problem_type is not None:
        return problem_type == REGRESSION
    return num_labels == 1


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside DDP, DataParallel, DeepSpeed or FSDP wrappers and ``torch.compile``: the module whose
    ``forward`` says which inputs it takes."""
    while not isinstance(model, PreTrainedModel):
        inner = getattr(model, "_orig_mod", None)  # torch.compile
        if inner is None:
            inner = getattr(model, "module", None)  # DDP, DataParallel, DeepSpeed, FSDP
        if not isinstance(inner, torch.nn.Module):
            break
        model = inner
    return model


@functools.lru_cache(maxsize=64)
def _forward_takes_frame_mask(model_class: type) -> bool:
    return "frame_mask" in inspect.signature(model_class.forward).parameters


def accepts_frame_mask(model: torch.nn.Module) -> bool:
    """Whether the (unwrapped) model's ``forward`` names a ``frame_mask`` argument."""
    return _forward_takes_frame_mask(type(unwrap_model(model)))


def model_inputs(
    model: torch.nn.Module,
    pixel_values: torch.Tensor,
    frame_mask: torch.Tensor | None = None,
    *,
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor]:
    """The keyword arguments of ``model(...)`` for a batch of clips ``pixel_values`` (B, T, C, H, W).

    The clips go under the model's ``main_input_name``, cast to the model's floating dtype (a half-precision
    model gets half-precision clips); ``frame_mask`` (B, T) goes along only when the model's ``forward`` takes
    one. Both are moved to ``device`` when given (under accelerate, batches are already there). ``model`` may be
    wrapped (DDP, ``torch.compile``): the inputs are read off the model inside.

    Example::

        logits = model(**model_inputs(model, batch["pixel_values"], batch.get("frame_mask"))).logits
    """
    inner = unwrap_model(model)
    dtype = getattr(inner, "dtype", None) if pixel_values.is_floating_point() else None
    inputs = {getattr(inner, "main_input_name", "pixel_values"): pixel_values.to(device=device, dtype=dtype)}
    if frame_mask is not None and accepts_frame_mask(inner):
        inputs["frame_mask"] = frame_mask.to(device=device)
    return inputs


@torch.no_grad()
def clip_logits(
    model: torch.nn.Module,
    pixel_values: torch.Tensor,
    frame_mask: torch.Tensor | None = None,
    *,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The model's float32 logits (N, num_labels) for ``pixel_values`` (N, T, C, H, W), ``batch_size`` clips per
    forward pass (all at once when None), without gradients. The model should be in eval mode."""
    size = batch_size or max(len(pixel_values), 1)
    masks = frame_mask.split(size) if frame_mask is not None else [None] * -(-len(pixel_values) // size)
    logits = [
        model(**model_inputs(model, chunk, mask, device=device)).logits.float()
        for chunk, mask in zip(pixel_values.split(size), masks)
    ]
    return torch.cat(logits)


def scores_from_logits(logits: torch.Tensor, config: PretrainedConfig) -> torch.Tensor:
    """What a clip's logits say: class probabilities (N, num_labels), or for a score model every reported
    score in its own units (N, number of scores), as the config's head reads them
    (:func:`surgical_skill.models.heads.scores_from_logits`)."""
    return _scores_from_logits(logits, config)


def batch_model_inputs(model: torch.nn.Module, batch: dict[str, Any], **kwargs: Any) -> dict[str, torch.Tensor]:
    """:func:`model_inputs` from a collated batch (``pixel_values``, and ``frame_mask`` when clips were padded)."""
    return model_inputs(model, batch["pixel_values"], batch.get("frame_mask"), **kwargs)
