"""One way to feed clips to a model (and, from :mod:`~surgical_skill.models.heads`, one way to tell a score model
from a class model and to read its logits: ``is_regression_model``, ``scores_from_logits``).

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
from typing import Any

import torch
from transformers import PreTrainedModel

# one reading of a model's outputs, in heads.py: whether it gives scores, and what its logits say
from .heads import is_regression_model, scores_from_logits

__all__ = [
    "accepts_frame_mask",
    "batch_model_inputs",
    "clip_logits",
    "is_regression_model",
    "model_inputs",
    "scores_from_logits",
    "unwrap_model",
]


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


def batch_model_inputs(model: torch.nn.Module, batch: dict[str, Any], **kwargs: Any) -> dict[str, torch.Tensor]:
    """:func:`model_inputs` from a collated batch (``pixel_values``, and ``frame_mask`` when clips were padded)."""
    return model_inputs(model, batch["pixel_values"], batch.get("frame_mask"), **kwargs)
