"""3D CNNs for video classification: torchvision video backbones or a small 3D CNN, with a linear head."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

from ..backbones import BACKBONES_3D, SequentialBackbone, build_backbone, load_torchvision_weights
from ..modeling_base import SkillPreTrainedModel, SkillVideoClassificationMixin
from .configuration_video3d import Video3DCNNConfig


class AvgMaxPool3d(nn.Module):
    """(B, C, T, H, W) -> (B, 2C): global average and global max, side by side."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=(2, 3, 4)), x.amax(dim=(2, 3, 4))], dim=1)


def small3d_backbone(channels: list[int]) -> tuple[SequentialBackbone, int]:
    """Conv3d-BN-ReLU-MaxPool blocks. The first block strides and pools only in space (a 5x5 kernel at stride 2:
    seven times cheaper than a stride-1 3x3 here, and still sees one-pixel movements), keeping every frame for
    motion; later blocks pool in space and time."""
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    in_channels = 3
    for i, out_channels in enumerate(channels):
        first = i == 0
        stages[f"block{i + 1}"] = nn.Sequential(
            nn.Conv3d(
                in_channels,
                out_channels,
                kernel_size=(3, 5, 5) if first else 3,
                stride=(1, 2, 2) if first else 1,
                padding=(1, 2, 2) if first else 1,
                bias=False,
            ),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 2, 2) if first else (2, 2, 2), ceil_mode=True),
        )
        in_channels = out_channels
    stages["pool"] = AvgMaxPool3d()
    return SequentialBackbone(stages), 2 * in_channels


class Video3DCNNPreTrainedModel(SkillPreTrainedModel):
    config_class = Video3DCNNConfig
    base_model_prefix = "video3d"

    def load_pretrained_backbone(self, source=None) -> None:
        self._refuse_weights_file(source)
        if self.config.backbone == "small3d":
            raise ValueError("small3d has no pretrained weights; build it with backbone_pretrained=False")
        load_torchvision_weights(self.backbone, self.config.backbone, BACKBONES_3D)


class Video3DCNNModel(Video3DCNNPreTrainedModel):
    """``pooler_output`` (B, D): the backbone's clip features."""

    def __init__(self, config: Video3DCNNConfig):
        super().__init__(config)
        if config.backbone == "small3d":
            self.backbone, self.feature_dim = small3d_backbone(config.small3d_channels)
        else:
            self.backbone, self.feature_dim = build_backbone(config.backbone, BACKBONES_3D, "video")
        self._freeze_backbone_if_asked()
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, frame_mask: torch.Tensor | None = None, **kwargs):
        # frame_mask is ignored: padding frames are zeros, which 3D convolutions see as still
        features = self.backbone(pixel_values.transpose(1, 2))  # (B, T, C, H, W) -> (B, C, T, H, W) -> (B, D)
        return BaseModelOutputWithPooling(last_hidden_state=features, pooler_output=features)


class Video3DCNNForVideoClassification(SkillVideoClassificationMixin, Video3DCNNPreTrainedModel):
    """3D CNN with a linear head: logits (B, num_labels); ``loss`` when ``labels`` are given. A padded clip's
    ``frame_mask`` is accepted and ignored (padding frames are zeros, which 3D convolutions see as still)."""

    def __init__(self, config: Video3DCNNConfig):
        super().__init__(config)
        self.video3d = Video3DCNNModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.video3d.feature_dim, config.num_labels)
        self.post_init()
