"""PyTorchVideo's published Slow-R50 / SlowFast-R50 checkpoints -> this package's :class:`SlowFastModel`.

PyTorchVideo 0.1.5 names the modules of ``create_resnet`` / ``create_slowfast`` ``blocks.<i>...``; this module
renames every tensor of such a state dict onto :class:`~.modeling_slowfast.SlowFastBackbone` and drops the
Kinetics-400 classifier (``proj``): the skill model has its own head.

Example:
    >>> model = build_model("slowfast_r50", id2label=labels)
    >>> model.load_pretrained_backbone("SLOWFAST_8x8_R50.pyth")    # or no argument: the published URL
"""

from __future__ import annotations

import os
import re

import torch
from torch import nn

from ..reference_weights import WeightConversionError, load_converted, read_reference_checkpoint
from .configuration_slowfast import SLOWFAST_CHECKPOINT_URLS, SlowFastConfig

REFERENCE_NAMES = {"slow_r50": "Slow-R50 Kinetics-400", "slowfast_r50": "SlowFast-R50 Kinetics-400"}

_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
# inside one pathway's stem (blocks.0) or stage (blocks.1-4), PyTorchVideo's names -> ours
_STEM = re.compile(rf"(conv\.weight|norm\.{_BN})")
_BLOCK = re.compile(
    rf"res_blocks\.(\d+)\.(branch1_conv\.weight|branch1_norm\.{_BN}|branch2\.(conv_[abc]\.weight|norm_[abc]\.{_BN}))"
)
_FUSION = re.compile(rf"multipathway_fusion\.(conv_fast_to_slow\.weight|norm\.{_BN})")


def _pathway_key(block: int, rest: str) -> str | None:
    """Our key inside one pathway for PyTorchVideo's ``blocks.<block>.<rest>`` (``None``: not a pathway tensor)."""
    if block == 0 and _STEM.fullmatch(rest):
        return f"stem.{rest}"
    match = _BLOCK.fullmatch(rest)
    if 1 <= block <= 4 and match:
        name = match.group(2)
        name = name.replace("branch1_conv", "shortcut_conv").replace("branch1_norm", "shortcut_norm")
        name = name.removeprefix("branch2.")
        return f"stages.{block - 1}.{match.group(1)}.{name}"
    return None


def convert_pytorchvideo_slowfast_state_dict(
    reference_state: dict[str, torch.Tensor], config: SlowFastConfig
) -> dict[str, torch.Tensor]:
    """PyTorchVideo's ``slow_r50`` or ``slowfast_r50`` state dict (``checkpoint["model_state"]``) -> the state
    dict of :class:`~.modeling_slowfast.SlowFastBackbone` (``model.backbone``), without the Kinetics classifier.

    Raises:
        WeightConversionError: a tensor this mapping does not know (another architecture's checkpoint, a Slow
            checkpoint for SlowFast or the reverse), naming the first ones. Missing tensors and shapes are
            checked when the result is loaded (:func:`~surgical_skill.models.reference_weights.load_converted`).
    """
    two_pathways = config.has_fast_pathway
    head = "blocks.6." if two_pathways else "blocks.5."
    converted: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, tensor in reference_state.items():
        if key.startswith(head) and key[len(head) :] in ("proj.weight", "proj.bias"):
            continue  # the Kinetics-400 classifier: the skill model has its own head
        match = re.fullmatch(r"blocks\.(\d+)\.(.+)", key)
        ours = None
        if match:
            block, rest = int(match.group(1)), match.group(2)
            if not two_pathways:
                inner = _pathway_key(block, rest)
                ours = f"slow.{inner}" if inner else None
            elif (fusion := _FUSION.fullmatch(rest)) and block <= 3:
                ours = f"fusions.{block}.{fusion.group(1).replace('conv_fast_to_slow', 'conv')}"
            elif pathway := re.fullmatch(r"multipathway_blocks\.([01])\.(.+)", rest):
                inner = _pathway_key(block, pathway.group(2))
                ours = f"{('slow', 'fast')[int(pathway.group(1))]}.{inner}" if inner else None
        if ours is None:
            unknown.append(key)
        else:
            converted[ours] = tensor
    if unknown:
        other = "slowfast_r50" if not two_pathways else "slow_r50"
        raise WeightConversionError(
            f"{len(unknown)} tensors of the checkpoint do not map onto {config.backbone} (first: "
            f"{', '.join(unknown[:3])}); is it PyTorchVideo's {config.backbone} checkpoint (not {other}'s or "
            "another model's)?"
        )
    return converted


def load_reference_weights(backbone: nn.Module, config: SlowFastConfig, source: str | os.PathLike | None = None):
    """Read PyTorchVideo's checkpoint for ``config.backbone`` (``source``: a local file or URL; default the
    published Kinetics-400 one, downloaded once into torch's hub cache), convert it and load it into
    ``backbone`` (all of it or nothing; :class:`WeightConversionError` says what does not fit)."""
    what = REFERENCE_NAMES[config.backbone]
    state = read_reference_checkpoint(source or SLOWFAST_CHECKPOINT_URLS[config.backbone], what=what)
    load_converted(backbone, convert_pytorchvideo_slowfast_state_dict(state, config), what=what)
