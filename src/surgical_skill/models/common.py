"""Pieces shared by the model families: the loss, temporal pooling, torchvision backbones and the base classes."""

from __future__ import annotations

import socket
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers import initialization as init

TEMPORAL_POOLING = ("mean", "max", "attention")


def skill_loss_terms(
    logits: torch.Tensor, labels: torch.Tensor, config: PretrainedConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """The summed loss of a batch and what a mean divides it by (the sample count, or the sum of the class
    weights of the samples' labels). Summing both over several batches and dividing once gives exactly the
    loss of one big batch, which is how gradient accumulation stays exact with uneven batches."""
    if config.num_labels == 1 or config.problem_type == "regression":
        loss = F.mse_loss(logits.reshape(-1).float(), labels.reshape(-1).float(), reduction="sum")
        return loss, torch.tensor(float(labels.numel()), device=logits.device)
    labels = labels.reshape(-1).long()
    weights = getattr(config, "class_weights", None)
    weight = torch.tensor(weights, dtype=torch.float32, device=logits.device) if weights else None
    loss = F.cross_entropy(
        logits.float(),
        labels,
        weight=weight,
        reduction="sum",
        label_smoothing=float(getattr(config, "label_smoothing", 0.0) or 0.0),
    )
    normalizer = (
        weight[labels].sum() if weight is not None else torch.tensor(float(labels.numel()), device=logits.device)
    )
    return loss, normalizer


def skill_loss(logits: torch.Tensor, labels: torch.Tensor, config: PretrainedConfig) -> torch.Tensor:
    """Cross-entropy (optional ``config.class_weights`` and ``config.label_smoothing``) for classes, MSE for a
    score (``num_labels == 1``). Computed in float32 whatever the autocast dtype."""
    total, normalizer = skill_loss_terms(logits, labels, config)
    return total / normalizer


class TemporalPooling(nn.Module):
    """(B, T, D) -> (B, D) by mean, max or learned attention over time, ignoring padded frames.

    ``frame_mask`` (B, T) is True for real frames; ``None`` means all frames are real.
    """

    def __init__(self, mode: str, dim: int):
        super().__init__()
        if mode not in TEMPORAL_POOLING:
            raise ValueError(f"unknown temporal pooling {mode!r}; known: {', '.join(TEMPORAL_POOLING)}")
        self.mode = mode
        if mode == "attention":
            self.attention = nn.Sequential(nn.Linear(dim, max(dim // 4, 8)), nn.Tanh(), nn.Linear(max(dim // 4, 8), 1))

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = (
            torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)
            if frame_mask is None
            else frame_mask.bool()
        )
        if self.mode == "mean":
            weights = mask.unsqueeze(-1).to(features.dtype)
            return (features * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        if self.mode == "max":
            return features.masked_fill(~mask.unsqueeze(-1), torch.finfo(features.dtype).min).amax(1)
        scores = self.attention(features).squeeze(-1).masked_fill(~mask, torch.finfo(features.dtype).min)
        weights = scores.softmax(dim=1).unsqueeze(-1)  # (B, T, 1)
        return (weights * features).sum(1)


# --------------------------------------------------------------------------------------------- backbones


@dataclass(frozen=True)
class BackboneSpec:
    """How to turn a torchvision classifier into a feature extractor."""

    name: str  # torchvision's model name (and weights: get_model_weights(name).DEFAULT)
    extract: Callable[[nn.Module], tuple[nn.Module, int]]  # classifier -> (feature extractor, feature size)


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
    from torchvision.ops.misc import Permute

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


def build_backbone(name: str, table: dict[str, BackboneSpec], kind: str) -> tuple[nn.Module, int]:
    """A randomly initialised torchvision backbone without its classifier, and its feature size."""
    if name not in table:
        raise ValueError(f"unknown {kind} backbone {name!r}; known: {', '.join(sorted(table))}")
    import torchvision

    return table[name].extract(torchvision.models.get_model(table[name].name, weights=None))


def load_torchvision_weights(
    backbone: nn.Module, name: str, table: dict[str, BackboneSpec], timeout: float = 60.0
) -> None:
    """Load torchvision's pretrained weights (ImageNet or Kinetics) into a :class:`SequentialBackbone`.

    Downloads into torch's hub cache on first use. Without network the file can be placed there by hand; a
    failed download raises a clear error (with a socket timeout, so it never hangs).
    """
    import torch.hub
    import torchvision

    weights = torchvision.models.get_model_weights(table[name].name).DEFAULT
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        state = weights.get_state_dict(progress=False, check_hash=False)
    except Exception as err:  # URLError, HTTPError, OSError, a truncated download ...
        raise RuntimeError(
            f"could not fetch torchvision's pretrained weights for {name} from {weights.url}: "
            f"{type(err).__name__}: {err}. Without network, copy the file into "
            f"{torch.hub.get_dir()}/checkpoints/, or build the model with backbone_pretrained=False."
        ) from err
    finally:
        socket.setdefaulttimeout(previous)
    names = {key.split(".", 1)[0] for key in backbone.state_dict()}
    state = {key: value for key, value in state.items() if key.split(".", 1)[0] in names}
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(
            f"torchvision weights for {name} do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )


# ------------------------------------------------------------------------------------------ base classes


class SkillVideoConfig(PretrainedConfig):
    """Settings every family shares; family configs add their own and set ``model_type``.

    Args:
        backbone: which backbone (family-specific names).
        backbone_pretrained: load torchvision's pretrained backbone weights when the model is built by
            :func:`~surgical_skill.models.build_model` (needs network once, then the torch hub cache).
        freeze_backbone: train only the layers after the backbone.
        dropout: dropout before the classifier.
        class_weights: per-class loss weights for imbalanced data (``None``: equal).
        label_smoothing: cross-entropy label smoothing.
        num_frames, image_size: the clip the model was built for (informational for CNNs).
    """

    def __init__(
        self,
        backbone: str = "resnet18",
        backbone_pretrained: bool = False,
        freeze_backbone: bool = False,
        dropout: float = 0.2,
        class_weights: list[float] | None = None,
        label_smoothing: float = 0.0,
        num_frames: int = 16,
        image_size: int = 112,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        self.backbone = backbone
        self.backbone_pretrained = backbone_pretrained
        self.freeze_backbone = freeze_backbone
        self.dropout = dropout
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.label_smoothing = label_smoothing
        self.num_frames = num_frames
        self.image_size = image_size
        self.initializer_range = initializer_range
        super().__init__(**kwargs)
        if self.num_labels == 1 and self.problem_type is None:
            self.problem_type = "regression"
        if self.class_weights is not None and len(self.class_weights) != self.num_labels:
            raise ValueError(f"class_weights has {len(self.class_weights)} values for {self.num_labels} labels")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")


class SkillPreTrainedModel(PreTrainedModel):
    """Base of the package's own families: inputs, initialisation, backbone freezing and checkpointing."""

    config_class = SkillVideoConfig
    base_model_prefix = "backbone"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True
    _no_split_modules: list[str] = []

    def _init_weights(self, module: nn.Module) -> None:
        # Backbone convolutions and norms keep torchvision's own (kaiming) initialisation; only the layers this
        # package adds (linear heads, attention pooling, recurrent layers) are initialised here.
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LSTM | nn.GRU):
            for name, param in module.named_parameters():
                if "weight" in name:
                    init.xavier_uniform_(param)
                elif "bias" in name:
                    init.zeros_(param)

    def _freeze_backbone_if_asked(self) -> None:
        if self.config.freeze_backbone:
            for param in self.backbone.parameters():
                param.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.config.freeze_backbone:
            self.backbone.eval()  # a frozen backbone keeps its BatchNorm statistics too
        return self

    def load_pretrained_backbone(self) -> None:
        """Replace the backbone's random weights with torchvision's pretrained ones (see ``backbone_pretrained``)."""
        raise NotImplementedError
