"""The torchvision backbones by name: classifiers turned into feature extractors, and their pretrained weights."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torchvision
from torch import nn
from torchvision.ops.misc import Permute

from .reference_weights import WeightConversionError, hub_cache_file, read_reference_checkpoint


@dataclass(frozen=True)
class BackboneSpec:
    """How to turn a torchvision classifier into a feature extractor."""

    name: str  # torchvision's model name (and weights: get_model_weights(name).DEFAULT)
    extract: Callable[[nn.Module], tuple[nn.Module, int]]  # classifier -> (feature extractor, feature size)


class SequentialBackbone(nn.Sequential):
    """Backbone stages run in order; with gradient checkpointing on, each stage's activations are recomputed in
    the backward pass instead of stored (the ``gradient_checkpointing`` flag is set by transformers'
    ``gradient_checkpointing_enable``)."""

    def __init__(self, stages: OrderedDict):
        super().__init__(stages)
        self.gradient_checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self:
            if self.gradient_checkpointing and self.training and any(p.requires_grad for p in stage.parameters()):
                x = self._gradient_checkpointing_func(stage.__call__, x)
            else:
                x = stage(x)
        return x


def _sequential(names: tuple[str, ...], dim: Callable[[nn.Module], int], adaptive_3d_pool: bool = False):
    """Stages ``names`` of the torchvision model in order, then its average pool (or an adaptive 3D one) and a
    flatten: the classifier's input."""

    def extract(model: nn.Module) -> tuple[nn.Module, int]:
        stages = OrderedDict((n, getattr(model, n)) for n in names)
        stages["avgpool"] = nn.AdaptiveAvgPool3d(1) if adaptive_3d_pool else model.avgpool
        stages["flatten"] = nn.Flatten(1)
        return SequentialBackbone(stages), dim(model)

    return extract


def _swin3d(model: nn.Module) -> tuple[nn.Module, int]:
    stages = OrderedDict((n, getattr(model, n)) for n in ("patch_embed", "pos_drop", "features", "norm"))
    stages["permute"] = Permute([0, 4, 1, 2, 3])  # (B, T, H, W, C) -> (B, C, T, H, W)
    stages["avgpool"] = nn.AdaptiveAvgPool3d(1)
    stages["flatten"] = nn.Flatten(1)
    return SequentialBackbone(stages), model.head.in_features


def _mvit(model: nn.Module) -> tuple[nn.Module, int]:
    # MViT's blocks pass their (T, H, W) along, so it stays whole (and has no gradient checkpointing here).
    dim = model.head[-1].in_features
    model.head = nn.Identity()
    return model, dim


_RESNET = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
_VIDEO_RESNET = ("stem", "layer1", "layer2", "layer3", "layer4")

BACKBONES_2D: dict[str, BackboneSpec] = {
    name: BackboneSpec(name, extract)
    for name, extract in {
        "resnet18": _sequential(_RESNET, dim=lambda m: m.fc.in_features),
        "resnet34": _sequential(_RESNET, dim=lambda m: m.fc.in_features),
        "resnet50": _sequential(_RESNET, dim=lambda m: m.fc.in_features),
        "efficientnet_b0": _sequential(("features",), dim=lambda m: m.classifier[-1].in_features),
        "mobilenet_v3_small": _sequential(("features",), dim=lambda m: m.classifier[0].in_features),
        "mobilenet_v3_large": _sequential(("features",), dim=lambda m: m.classifier[0].in_features),
    }.items()
}

# Video backbones pool adaptively, so any clip length and frame size that survives the strides works.
BACKBONES_3D: dict[str, BackboneSpec] = {
    name: BackboneSpec(name, extract)
    for name, extract in {
        "r3d_18": _sequential(_VIDEO_RESNET, lambda m: m.fc.in_features, adaptive_3d_pool=True),
        "mc3_18": _sequential(_VIDEO_RESNET, lambda m: m.fc.in_features, adaptive_3d_pool=True),
        "r2plus1d_18": _sequential(_VIDEO_RESNET, lambda m: m.fc.in_features, adaptive_3d_pool=True),
        "s3d": _sequential(("features",), lambda m: m.classifier[1].in_channels, adaptive_3d_pool=True),
        "swin3d_t": _swin3d,
        "mvit_v2_s": _mvit,  # 16 frames at 224x224 only: its positional embeddings are sized for that
    }.items()
}


def build_backbone(name: str, table: dict[str, BackboneSpec], kind: str) -> tuple[nn.Module, int]:
    """A randomly initialised torchvision backbone without its classifier, and its feature size."""
    if name not in table:
        raise ValueError(f"unknown {kind} backbone {name!r}; known: {', '.join(sorted(table))}")
    return table[name].extract(torchvision.models.get_model(table[name].name, weights=None))


class TorchvisionWeightsError(WeightConversionError, RuntimeError):
    """torchvision's pretrained weights could not be read (no network and nothing cached, a damaged file, or a
    file that holds more than tensors); a ``RuntimeError`` as before."""


def load_torchvision_weights(
    backbone: nn.Module, name: str, table: dict[str, BackboneSpec], timeout: float = 60.0
) -> None:
    """Load torchvision's pretrained weights (ImageNet or Kinetics) into a :class:`SequentialBackbone`.

    Downloads into torch's hub cache on first use. Read by
    :func:`~surgical_skill.models.reference_weights.read_reference_checkpoint` (``weights_only=True``), not by
    torchvision's ``WeightsEnum.get_state_dict``, which unpickles with ``weights_only=False``: a file planted in
    the hub cache could run code there. Without network the file can be copied to the cache path the error names;
    a failed download raises a clear error (with a socket timeout, so it never hangs).

    Raises:
        TorchvisionWeightsError: the weights cannot be fetched or read safely (one line: which file, why, what to do).
    """
    weights = torchvision.models.get_model_weights(table[name].name).DEFAULT
    try:
        state = read_reference_checkpoint(
            weights.url, what=f"torchvision {name}", timeout=timeout, local_path_option=False
        )
    except WeightConversionError as err:
        raise TorchvisionWeightsError(str(err)) from err
    names = {key.split(".", 1)[0] for key in backbone.state_dict()}
    state = {key: value for key, value in state.items() if key.split(".", 1)[0] in names}
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise TorchvisionWeightsError(
            f"the torchvision {name} weights in {hub_cache_file(weights.url)} do not fit its backbone: missing "
            f"{missing[:5]}, unexpected {unexpected[:5]}; delete the file (it is downloaded again)"
        )
