"""PyTorchVideo's X3D checkpoints (``create_x3d``'s state dict, as in its model zoo) -> :class:`X3DModel`'s.

The reference is a ``Net`` whose ``blocks`` are the stem, the stages and the head::

    blocks.0.conv.conv_t.weight        -> backbone.stem.conv_xy.weight  (PyTorchVideo's Conv2plus1d names the
    blocks.0.conv.conv_xy.weight       -> backbone.stem.conv_t.weight    stem's two convolutions the other way round)
    blocks.0.norm.*                    -> backbone.stem.norm.*
    blocks.{s}.res_blocks.{b}.branch1_conv.weight       -> backbone.stage{s}.{b}.shortcut_conv.weight
    blocks.{s}.res_blocks.{b}.branch1_norm.*            -> backbone.stage{s}.{b}.shortcut_norm.*
    blocks.{s}.res_blocks.{b}.branch2.conv_{a,b,c}.*    -> backbone.stage{s}.{b}.conv_{a,b,c}.*
    blocks.{s}.res_blocks.{b}.branch2.norm_{a,c}.*      -> backbone.stage{s}.{b}.norm_{a,c}.*
    blocks.{s}.res_blocks.{b}.branch2.norm_b.0.*        -> backbone.stage{s}.{b}.norm_b.*
    blocks.{s}.res_blocks.{b}.branch2.norm_b.1.block.0.* -> backbone.stage{s}.{b}.se.reduce.*
    blocks.{s}.res_blocks.{b}.branch2.norm_b.1.block.2.* -> backbone.stage{s}.{b}.se.expand.*
    blocks.{H}.pool.{pre_conv,pre_norm,post_conv}.*     -> backbone.head.{pre_conv,pre_norm,post_conv}.*
    blocks.{H}.proj.*                                    dropped: the Kinetics-400 classifier
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch

from ..reference_weights import WeightConversionError

if TYPE_CHECKING:
    from .configuration_x3d import X3DConfig

_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_BLOCK = {
    r"branch1_conv\.weight": "shortcut_conv.weight",
    rf"branch1_norm\.{_BN}": r"shortcut_norm.\1",
    r"branch2\.conv_([abc])\.weight": r"conv_\1.weight",
    rf"branch2\.norm_([ac])\.{_BN}": r"norm_\1.\2",
    rf"branch2\.norm_b\.0\.{_BN}": r"norm_b.\1",
    r"branch2\.norm_b\.1\.block\.0\.(weight|bias)": r"se.reduce.\1",
    r"branch2\.norm_b\.1\.block\.2\.(weight|bias)": r"se.expand.\1",
}
_STEM = {
    r"conv\.conv_t\.weight": "conv_xy.weight",
    r"conv\.conv_xy\.weight": "conv_t.weight",
    rf"norm\.{_BN}": r"norm.\1",
}
_HEAD = {
    rf"pool\.(pre_conv\.weight|pre_norm\.{_BN}|post_conv\.weight)": r"\1",
}
_DROPPED_HEAD = r"proj\.(weight|bias)"


def convert_pytorchvideo_x3d_state_dict(
    reference_state: Mapping[str, torch.Tensor], config: X3DConfig
) -> dict[str, torch.Tensor]:
    """The state dict of an :class:`~.modeling_x3d.X3DModel` built from ``config``, from a state dict of
    PyTorchVideo's ``create_x3d`` (``x3d_s``/``x3d_m``/``x3d_l``; the model zoo's ``.pyth`` files hold it under
    ``"model_state"``, which :func:`~surgical_skill.models.reference_weights.read_reference_checkpoint`
    unwraps). Only renames: the tensors are the reference's own. The Kinetics-400 projection (``proj``) is
    dropped; the model gets its own classifier.

    Raises:
        WeightConversionError: a key this mapping does not know (another architecture, or a config with a
            different number of stages), naming the first ones. Shapes are checked when the result is loaded
            (:func:`~surgical_skill.models.reference_weights.load_converted`).

    Example:
        >>> state = read_reference_checkpoint("X3D_M.pyth", what="X3D-M")
        >>> load_converted(model.x3d, convert_pytorchvideo_x3d_state_dict(state, model.config), what="X3D-M")
    """
    stages = len(config.stage_depths)
    head = stages + 1
    converted: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, tensor in reference_state.items():
        new = _rename(key, stages, head)
        if new is None:
            unknown.append(key)
        elif new:
            if new in converted:
                raise WeightConversionError(f"the X3D checkpoint maps two tensors to {new} (second: {key})")
            converted[new] = tensor
    if unknown:
        raise WeightConversionError(
            f"the X3D checkpoint has {len(unknown)} tensor(s) this model has no place for (first: "
            f"{', '.join(unknown[:3])}): it is not a PyTorchVideo create_x3d state dict with "
            f"{stages} stages"
        )
    return converted


def _rename(key: str, stages: int, head: int) -> str | None:
    """The model's key for the reference's ``key``; ``""`` for a tensor that is dropped, ``None`` for one that
    has no place."""
    match = re.fullmatch(r"blocks\.(\d+)\.(.+)", key)
    if match is None:
        return None
    index, rest = int(match.group(1)), match.group(2)
    if index == 0:
        return _sub(_STEM, rest, "backbone.stem.")
    if 1 <= index <= stages:
        block = re.fullmatch(r"res_blocks\.(\d+)\.(.+)", rest)
        if block is None:
            return None
        return _sub(_BLOCK, block.group(2), f"backbone.stage{index}.{block.group(1)}.")
    if index == head:
        if re.fullmatch(_DROPPED_HEAD, rest):
            return ""
        return _sub(_HEAD, rest, "backbone.head.")
    return None


def _sub(table: dict[str, str], rest: str, prefix: str) -> str | None:
    for pattern, replacement in table.items():
        match = re.fullmatch(pattern, rest)
        if match is not None:
            return prefix + match.expand(replacement)
    return None
