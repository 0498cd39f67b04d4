"""Slow-R50 and SlowFast-R50 (Feichtenhofer et al., "SlowFast Networks for Video Recognition", 2019) as
PyTorchVideo 0.1.5 builds them, with a linear head; its published Kinetics-400 weights load through
:mod:`.convert_slowfast`.

Layout of the backbone (module names are this package's; :mod:`.convert_slowfast` maps PyTorchVideo's onto them)::

    slow.stem -> slow.stages[0] -> ... -> slow.stages[3] -> pool ┐
          ↑ fusions[0]     ↑ fusions[1] ...  ↑ fusions[3]        ├─ concat: (B, 2048 + 256)
    fast.stem -> fast.stages[0] -> ... -> fast.stages[3] -> pool ┘

Slow-R50 is the slow pathway alone (no fusions; features (B, 2048)).
"""

from __future__ import annotations

import os

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

from ..modeling_base import SkillPreTrainedModel, SkillVideoClassificationMixin, init_like_pytorchvideo
from .configuration_slowfast import SlowFastConfig


class SlowFastStem(nn.Module):
    """Conv (k_t x 7 x 7, stride 1x2x2), BatchNorm, ReLU, max pool 1x3x3 stride 1x2x2: (B, 3, T, H, W) ->
    (B, C, T, H/4, W/4)."""

    def __init__(self, out_channels: int, temporal_kernel: int):
        super().__init__()
        self.conv = nn.Conv3d(
            3,
            out_channels,
            (temporal_kernel, 7, 7),
            stride=(1, 2, 2),
            padding=(temporal_kernel // 2, 3, 3),
            bias=False,
        )
        self.norm = nn.BatchNorm3d(out_channels)
        self.activation = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.activation(self.norm(self.conv(x))))


class SlowFastBottleneck(nn.Module):
    """A residual bottleneck: conv_a (k_t x 1 x 1), conv_b (1 x 3 x 3, the stage's spatial stride), conv_c
    (1 x 1 x 1), each with BatchNorm, ReLU between; a projection shortcut where the shape changes."""

    def __init__(self, dim_in: int, dim_inner: int, dim_out: int, temporal_kernel: int, spatial_stride: int):
        super().__init__()
        if dim_in != dim_out or spatial_stride != 1:
            self.shortcut_conv = nn.Conv3d(dim_in, dim_out, 1, stride=(1, spatial_stride, spatial_stride), bias=False)
            self.shortcut_norm = nn.BatchNorm3d(dim_out)
        else:
            self.shortcut_conv = self.shortcut_norm = None
        self.conv_a = nn.Conv3d(
            dim_in, dim_inner, (temporal_kernel, 1, 1), padding=(temporal_kernel // 2, 0, 0), bias=False
        )
        self.norm_a = nn.BatchNorm3d(dim_inner)
        self.conv_b = nn.Conv3d(
            dim_inner, dim_inner, (1, 3, 3), stride=(1, spatial_stride, spatial_stride), padding=(0, 1, 1), bias=False
        )
        self.norm_b = nn.BatchNorm3d(dim_inner)
        self.conv_c = nn.Conv3d(dim_inner, dim_out, 1, bias=False)
        self.norm_c = nn.BatchNorm3d(dim_out)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.shortcut_conv is None else self.shortcut_norm(self.shortcut_conv(x))
        x = self.activation(self.norm_a(self.conv_a(x)))
        x = self.activation(self.norm_b(self.conv_b(x)))
        x = self.norm_c(self.conv_c(x))
        return self.activation(x + shortcut)


class SlowFastPathway(nn.Module):
    """A stem and four stages of bottlenecks. ``lateral_channels`` [per stage] are the channels the fast
    pathway's lateral connection adds to this pathway's input of that stage (0 for a pathway without)."""

    def __init__(
        self,
        stem_channels: int,
        stem_temporal_kernel: int,
        stage_depths: list[int],
        stage_temporal_kernels: list[int],
        lateral_channels: list[int],
    ):
        super().__init__()
        self.stem = SlowFastStem(stem_channels, stem_temporal_kernel)
        stages = []
        dim_in, dim_out = stem_channels, 4 * stem_channels
        for i, depth in enumerate(stage_depths):
            blocks = []
            for j in range(depth):
                blocks.append(
                    SlowFastBottleneck(
                        dim_in + lateral_channels[i] if j == 0 else dim_out,
                        dim_out // 4,
                        dim_out,
                        stage_temporal_kernels[i],
                        spatial_stride=2 if i > 0 and j == 0 else 1,
                    )
                )
            stages.append(nn.Sequential(*blocks))
            dim_in, dim_out = dim_out, 2 * dim_out
        self.stages = nn.ModuleList(stages)
        self.out_channels = dim_in


class FastToSlowFusion(nn.Module):
    """The lateral connection: a temporal convolution (stride alpha) of the fast features, BatchNorm, ReLU,
    concatenated to the slow features along channels."""

    def __init__(self, fast_channels: int, ratio: int, kernel_size: int, alpha: int):
        super().__init__()
        self.conv = nn.Conv3d(
            fast_channels,
            fast_channels * ratio,
            (kernel_size, 1, 1),
            stride=(alpha, 1, 1),
            padding=(kernel_size // 2, 0, 0),
            bias=False,
        )
        self.norm = nn.BatchNorm3d(fast_channels * ratio)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        return torch.cat([slow, self.activation(self.norm(self.conv(fast)))], dim=1)


def reference_average_pool(x: torch.Tensor, kernel: list[int] | None) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C): PyTorchVideo's head pool (an average over ``kernel`` windows at stride 1) then
    the mean over window positions, with each side of ``kernel`` clamped to the map (a global average when the
    map is no larger than the kernel, or when ``kernel`` is ``None``)."""
    if kernel is not None:
        window = [min(k, s) for k, s in zip(kernel, x.shape[2:], strict=True)]
        if window != list(x.shape[2:]):
            x = nn.functional.avg_pool3d(x, window, stride=1)
    return x.mean(dim=(2, 3, 4))


class SlowFastBackbone(nn.Module):
    """Stems and stages of one or two pathways, their lateral connections, and the head's pooling: clip(s) ->
    features (B, D). With gradient checkpointing on, each stage of all pathways together with its fusion is
    recomputed in the backward pass (the flag is set by transformers' ``gradient_checkpointing_enable``)."""

    def __init__(self, config: SlowFastConfig):
        super().__init__()
        self.gradient_checkpointing = False
        depths, width = config.stage_depths, config.stem_channels
        self.head_pool_kernel_sizes = config.head_pool_kernel_sizes
        if not config.has_fast_pathway:
            self.slow = SlowFastPathway(width, 1, depths, [1, 1, 3, 3], [0, 0, 0, 0])
            self.fast, self.fusions = None, None
            self.out_channels = self.slow.out_channels
            return
        fast_width = width // config.beta_inv
        # the fast channels entering each fusion: after the stem, then after stages 1-3 (none after stage 4)
        fused = [fast_width * (4 * 2 ** (i - 1) if i else 1) for i in range(4)]
        self.slow = SlowFastPathway(width, 1, depths, [1, 1, 3, 3], [c * config.fusion_channel_ratio for c in fused])
        self.fast = SlowFastPathway(fast_width, 5, depths, [3, 3, 3, 3], [0, 0, 0, 0])
        self.fusions = nn.ModuleList(
            FastToSlowFusion(c, config.fusion_channel_ratio, config.fusion_kernel_size, config.alpha) for c in fused
        )
        self.out_channels = self.slow.out_channels + self.fast.out_channels

    def _run(self, index: int, slow: torch.Tensor, fast: torch.Tensor | None):
        """Stem (``index`` 0) or stage ``index`` of every pathway, then the lateral connection after it."""
        slow_block = self.slow.stem if index == 0 else self.slow.stages[index - 1]
        slow = slow_block(slow)
        if fast is None:
            return slow
        fast = (self.fast.stem if index == 0 else self.fast.stages[index - 1])(fast)
        if index < len(self.fusions):
            slow = self.fusions[index](slow, fast)
        return slow, fast

    def forward_features(
        self, slow: torch.Tensor, fast: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The last feature maps: slow (B, C_s, T/alpha, H/32, W/32) and fast (B, C_f, T, H/32, W/32) or ``None``."""
        for index in range(5):
            if self.gradient_checkpointing and self.training:
                out = self._gradient_checkpointing_func(self._run, index, slow, fast)
            else:
                out = self._run(index, slow, fast)
            slow, fast = out if fast is not None else (out, None)
        return slow, fast

    def pool(self, slow: torch.Tensor, fast: torch.Tensor | None) -> torch.Tensor:
        kernels = self.head_pool_kernel_sizes or [None, None]
        pooled = [reference_average_pool(slow, kernels[0])]  # (B, C_s)
        if fast is not None:
            pooled.append(reference_average_pool(fast, kernels[1]))  # (B, C_f)
        return torch.cat(pooled, dim=1)  # (B, C_s + C_f)


def pack_pathways(clip: torch.Tensor, alpha: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One clip (B, C, T, H, W) -> (slow (B, C, T/alpha, H, W), fast: the clip), as PyTorchVideo's
    ``PackPathway`` picks the slow frames (``torch.linspace`` over the clip, truncated)."""
    frames = clip.shape[2]
    if frames % alpha or frames < alpha:
        raise ValueError(
            f"SlowFast takes clips of a multiple of alpha={alpha} frames (its slow pathway sees 1 in {alpha}); "
            f"got {frames}: sample {max(alpha, frames - frames % alpha)} frames (the video processor's num_frames)"
        )
    index = torch.linspace(0, frames - 1, frames // alpha, device=clip.device).long()
    return clip.index_select(2, index), clip


class SlowFastPreTrainedModel(SkillPreTrainedModel):
    config_class = SlowFastConfig
    base_model_prefix = "slowfast"
    converts_reference_weights = True  # backbone_weights: a PyTorchVideo checkpoint file

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        # as PyTorchVideo initialises them (without its zero-initialised last BatchNorm of each block, which
        # would keep a block's convolutions from learning in the first step)
        init_like_pytorchvideo(module)

    def load_pretrained_backbone(self, source: str | os.PathLike | None = None) -> None:
        """Load PyTorchVideo's Kinetics-400 weights for ``config.backbone`` (downloaded once into torch's hub
        cache) or those of ``source`` (a local checkpoint file or URL; ``backbone_weights`` of
        :func:`~surgical_skill.models.build_model`); see :func:`.convert_slowfast.load_reference_weights`.

        Raises:
            WeightConversionError: the file cannot be read, or its tensors do not fit this configuration."""
        from .convert_slowfast import load_reference_weights

        load_reference_weights(self.backbone, self.config, source)


class SlowFastModel(SlowFastPreTrainedModel):
    """``pooler_output`` (B, D): the pooled features of all pathways (D = 2048 for Slow-R50, 2048 + 256 for
    SlowFast-R50); ``last_hidden_state``: the slow pathway's last feature map (B, C_s, T', H', W')."""

    def __init__(self, config: SlowFastConfig):
        super().__init__(config)
        self.backbone = SlowFastBackbone(config)
        self.feature_dim = self.backbone.out_channels
        self._freeze_backbone_if_asked()
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, frame_mask: torch.Tensor | None = None, **kwargs):
        # frame_mask is ignored: padding frames are zeros, which 3D convolutions see as still
        clip = pixel_values.transpose(1, 2)  # (B, T, C, H, W) -> (B, C, T, H, W)
        if self.config.has_fast_pathway:
            slow, fast = pack_pathways(clip, self.config.alpha)  # (B, C, T/alpha, H, W), (B, C, T, H, W)
        else:
            slow, fast = clip, None
        slow, fast = self.backbone.forward_features(slow, fast)
        pooled = self.backbone.pool(slow, fast)  # (B, D)
        return BaseModelOutputWithPooling(last_hidden_state=slow, pooler_output=pooled)


class SlowFastForVideoClassification(SkillVideoClassificationMixin, SlowFastPreTrainedModel):
    """Slow-R50 or SlowFast-R50 with a linear head: logits (B, num_labels); ``loss`` when ``labels`` are given.
    A padded clip's ``frame_mask`` is accepted and ignored."""

    def __init__(self, config: SlowFastConfig):
        super().__init__(config)
        self.slowfast = SlowFastModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.slowfast.feature_dim, config.num_labels)
        self.post_init()

    def load_pretrained_backbone(self, source: str | os.PathLike | None = None) -> None:
        self.slowfast.load_pretrained_backbone(source)
