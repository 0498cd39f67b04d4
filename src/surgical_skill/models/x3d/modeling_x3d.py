"""X3D (Feichtenhofer, "X3D: Expanding Architectures for Efficient Video Recognition", CVPR 2020) as a
transformers ``PreTrainedModel``: the network of PyTorchVideo's ``create_x3d``, layer for layer, so its Kinetics
checkpoints load through :mod:`.convert_x3d` and give the same features."""

from __future__ import annotations

import math
import os
from collections import OrderedDict

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

from ..backbones import SequentialBackbone
from ..modeling_base import SkillPreTrainedModel, SkillVideoClassificationMixin, init_like_pytorchvideo
from ..reference_weights import load_converted, read_reference_checkpoint
from .configuration_x3d import X3D_CHECKPOINT_URLS, X3DConfig
from .convert_x3d import convert_pytorchvideo_x3d_state_dict


def round_width(width: float, multiplier: float, min_width: int = 8, divisor: int = 8) -> int:
    """``width * multiplier`` rounded to a multiple of ``divisor`` (at least ``min_width``, and not below 90 % of
    the product): PyTorchVideo's ``round_width``, which fixes every channel count of the published models."""
    if not multiplier:
        return int(width)
    width *= multiplier
    rounded = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * width:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, multiplier: float) -> int:
    """Blocks in a stage after the depth expansion (PyTorchVideo's ``round_repeats``)."""
    return math.ceil(multiplier * repeats) if multiplier else repeats


def x3d_stage_widths(config: X3DConfig) -> tuple[int, list[tuple[int, int, int]]]:
    """The stem's output width and each stage's (blocks, output width, inner width), as ``create_x3d`` computes
    them: the base widths double from stage to stage, then ``width_factor`` widens them all."""
    stem_dim = round_width(config.stem_dim_in, config.width_factor)
    base = [config.stem_dim_in]
    for _ in config.stage_depths[1:]:
        base.append(round_width(base[-1], 2.0))
    stages = []
    for depth, width in zip(config.stage_depths, base):
        dim_out = round_width(width, config.width_factor)
        stages.append((round_repeats(depth, config.depth_factor), dim_out, int(config.bottleneck_factor * dim_out)))
    return stem_dim, stages


def _bn(channels: int, config: X3DConfig) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(channels, eps=config.norm_eps, momentum=config.norm_momentum)


class X3DStem(nn.Module):
    """(B, 3, T, H, W) -> (B, C, T, H/2, W/2): a 1xkxk convolution over space, a depthwise kx1x1 one over time,
    BatchNorm, ReLU."""

    def __init__(self, config: X3DConfig, out_channels: int):
        super().__init__()
        kt, kh, kw = config.stem_conv_kernel_size
        st, sh, sw = config.stem_conv_stride
        self.conv_xy = nn.Conv3d(
            3, out_channels, (1, kh, kw), stride=(1, sh, sw), padding=(0, kh // 2, kw // 2), bias=False
        )
        self.conv_t = nn.Conv3d(
            out_channels,
            out_channels,
            (kt, 1, 1),
            stride=(st, 1, 1),
            padding=(kt // 2, 0, 0),
            groups=out_channels,
            bias=False,
        )
        self.norm = _bn(out_channels, config)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv_t(self.conv_xy(x))))


class X3DSqueezeExcitation(nn.Module):
    """Channel gates from the clip's mean: (B, C, T, H, W) -> same shape (fvcore's ``SqueezeExcitation``)."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.reduce = nn.Conv3d(channels, reduced, 1)
        self.act = nn.ReLU()
        self.expand = nn.Conv3d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = x.mean(dim=(2, 3, 4), keepdim=True)  # (B, C, 1, 1, 1)
        return x * torch.sigmoid(self.expand(self.act(self.reduce(gate))))


class X3DBlock(nn.Module):
    """A residual bottleneck block: 1x1x1 conv, BN, ReLU; depthwise 3x3x3 conv (strided in a stage's first
    block), BN, optional squeeze-and-excitation, swish; 1x1x1 conv, BN; plus the shortcut, then ReLU.

    The shortcut is a strided 1x1x1 convolution where the shape changes, followed by BatchNorm only where the
    width changes (as in ``create_x3d_res_block``: X3D's first block has a convolution and no norm there)."""

    def __init__(
        self, config: X3DConfig, dim_in: int, dim_inner: int, dim_out: int, kernel: list[int], stride, use_se: bool
    ):
        super().__init__()
        stride = tuple(stride)
        self.shortcut_conv = (
            nn.Conv3d(dim_in, dim_out, 1, stride=stride, bias=False)
            if dim_in != dim_out or math.prod(stride) > 1
            else None
        )
        self.shortcut_norm = _bn(dim_out, config) if dim_in != dim_out else None
        self.conv_a = nn.Conv3d(dim_in, dim_inner, 1, bias=False)
        self.norm_a = _bn(dim_inner, config)
        self.act_a = nn.ReLU()
        self.conv_b = nn.Conv3d(
            dim_inner,
            dim_inner,
            tuple(kernel),
            stride=stride,
            padding=tuple(k // 2 for k in kernel),
            groups=dim_inner,
            bias=False,
        )
        self.norm_b = _bn(dim_inner, config)
        self.se = X3DSqueezeExcitation(dim_inner, round_width(dim_inner, config.se_ratio)) if use_se else None
        self.act_b = nn.SiLU()  # swish: x * sigmoid(x)
        self.conv_c = nn.Conv3d(dim_inner, dim_out, 1, bias=False)
        self.norm_c = _bn(dim_out, config)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        if self.shortcut_conv is not None:
            shortcut = self.shortcut_conv(x)
            if self.shortcut_norm is not None:
                shortcut = self.shortcut_norm(shortcut)
        x = self.act_a(self.norm_a(self.conv_a(x)))  # (B, C_inner, T, H, W)
        x = self.norm_b(self.conv_b(x))  # (B, C_inner, T / s_t, H / s, W / s)
        if self.se is not None:
            x = self.se(x)
        x = self.norm_c(self.conv_c(self.act_b(x)))  # (B, C_out, T / s_t, H / s, W / s)
        return self.act(shortcut + x)


class X3DHead(nn.Module):
    """(B, C, T, H, W) -> (B, head_dim_out): 1x1x1 conv to the last stage's inner width, BN, ReLU, global
    average pool, 1x1x1 conv, ReLU (PyTorchVideo's ``ProjectedPool``; its Kinetics projection is replaced by
    the classifier).

    The reference pools with a fixed ``AvgPool3d`` kernel sized for its training clip; pooling adaptively gives
    the same result on that clip and one feature vector on any other."""

    def __init__(self, config: X3DConfig, dim_in: int, dim_inner: int):
        super().__init__()
        self.pre_conv = nn.Conv3d(dim_in, dim_inner, 1, bias=False)
        self.pre_norm = _bn(dim_inner, config)
        self.pre_act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.post_conv = nn.Conv3d(dim_inner, config.head_dim_out, 1, bias=False)
        self.post_act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.pre_act(self.pre_norm(self.pre_conv(x))))  # (B, C_inner, 1, 1, 1)
        return self.post_act(self.post_conv(x)).flatten(1)  # (B, head_dim_out)


def x3d_backbone(config: X3DConfig) -> SequentialBackbone:
    """``stem``, ``stage1`` ... ``stageN`` (``nn.Sequential`` of :class:`X3DBlock`) and ``head``: the stages
    gradient checkpointing recomputes one at a time."""
    stem_dim, stages = x3d_stage_widths(config)
    modules: OrderedDict[str, nn.Module] = OrderedDict(stem=X3DStem(config, stem_dim))
    dim_in = stem_dim
    for i, (depth, dim_out, dim_inner) in enumerate(stages):
        stride = (config.stage_temporal_stride[i], config.stage_spatial_stride[i], config.stage_spatial_stride[i])
        blocks = [
            X3DBlock(
                config,
                dim_in if j == 0 else dim_out,
                dim_inner,
                dim_out,
                config.stage_conv_kernel_size[i],
                stride if j == 0 else (1, 1, 1),
                use_se=config.se_ratio > 0 and j % 2 == 0,
            )
            for j in range(depth)
        ]
        modules[f"stage{i + 1}"] = nn.Sequential(*blocks)
        dim_in = dim_out
    modules["head"] = X3DHead(config, dim_in, stages[-1][2])
    return SequentialBackbone(modules)


class X3DPreTrainedModel(SkillPreTrainedModel):
    config_class = X3DConfig
    base_model_prefix = "x3d"
    converts_reference_weights = True  # backbone_weights: a PyTorchVideo checkpoint file

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        init_like_pytorchvideo(module)

    def load_pretrained_backbone(self, source: str | os.PathLike | None = None) -> None:
        """Load PyTorchVideo's Kinetics-400 weights for ``config.backbone`` into the backbone (the Kinetics
        classifier is dropped): from ``source`` (a local ``.pyth`` file or URL), by default the model zoo's URL,
        downloaded once into torch's hub cache.

        Raises:
            WeightConversionError: the file cannot be read, or its tensors do not fit this configuration.
        """
        model = self.base_model
        source = source if source is not None else X3D_CHECKPOINT_URLS[self.config.backbone]
        what = f"PyTorchVideo {self.config.backbone} Kinetics-400"
        reference = read_reference_checkpoint(source, what=what)
        converted = convert_pytorchvideo_x3d_state_dict(reference, self.config)
        load_converted(model, converted, what=what)


class X3DModel(X3DPreTrainedModel):
    """``pooler_output`` (B, head_dim_out): the X3D head's features before the classification layer."""

    def __init__(self, config: X3DConfig):
        super().__init__(config)
        self.backbone = x3d_backbone(config)
        self.feature_dim = config.head_dim_out
        self._freeze_backbone_if_asked()
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, frame_mask: torch.Tensor | None = None, **kwargs):
        # frame_mask is ignored: padding frames are zeros, which 3D convolutions see as still
        features = self.backbone(pixel_values.transpose(1, 2))  # (B, T, C, H, W) -> (B, C, T, H, W) -> (B, D)
        return BaseModelOutputWithPooling(last_hidden_state=features, pooler_output=features)


class X3DForVideoClassification(SkillVideoClassificationMixin, X3DPreTrainedModel):
    """X3D with a linear head: logits (B, num_labels); ``loss`` when ``labels`` are given. A padded clip's
    ``frame_mask`` is accepted and ignored."""

    def __init__(self, config: X3DConfig):
        super().__init__(config)
        self.x3d = X3DModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.x3d.feature_dim, config.num_labels)
        self.post_init()

    def load_pretrained_backbone(self, source: str | os.PathLike | None = None) -> None:
        self.x3d.load_pretrained_backbone(source)
