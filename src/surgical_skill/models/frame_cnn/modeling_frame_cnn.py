"""The frame CNN: per-frame 2D features, pooled over time, classified."""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

from ..backbones import BACKBONES_2D, build_backbone, load_torchvision_weights
from ..modeling_base import SkillPreTrainedModel, SkillVideoClassificationMixin
from ..pooling import TemporalPooling
from .configuration_frame_cnn import FrameCNNConfig


class FrameCNNPreTrainedModel(SkillPreTrainedModel):
    config_class = FrameCNNConfig
    base_model_prefix = "frame_cnn"

    def load_pretrained_backbone(self, source=None) -> None:
        self._refuse_weights_file(source)
        load_torchvision_weights(self.backbone, self.config.backbone, BACKBONES_2D)


class FrameCNNModel(FrameCNNPreTrainedModel):
    """Backbone and temporal pooling: ``last_hidden_state`` (B, T, D) per-frame features, ``pooler_output`` (B, D)."""

    def __init__(self, config: FrameCNNConfig):
        super().__init__(config)
        self.backbone, self.feature_dim = build_backbone(config.backbone, BACKBONES_2D, "frame")
        self.pooling = TemporalPooling(config.temporal_pooling, self.feature_dim)
        self._freeze_backbone_if_asked()
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, frame_mask: torch.Tensor | None = None, **kwargs):
        batch, frames = pixel_values.shape[:2]
        features = self.backbone(pixel_values.flatten(0, 1))  # (B, T, C, H, W) -> (B*T, C, H, W) -> (B*T, D)
        features = features.unflatten(0, (batch, frames))  # (B, T, D)
        return BaseModelOutputWithPooling(last_hidden_state=features, pooler_output=self.pooling(features, frame_mask))


class FrameCNNForVideoClassification(SkillVideoClassificationMixin, FrameCNNPreTrainedModel):
    """Frame CNN with a linear head: logits (B, num_labels); ``loss`` when ``labels`` are given."""

    def __init__(self, config: FrameCNNConfig):
        super().__init__(config)
        self.frame_cnn = FrameCNNModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.frame_cnn.feature_dim, config.num_labels)
        self.post_init()
