"""The CNN-RNN: per-frame 2D features, a recurrent layer over time, attention pooling, a classifier."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers.modeling_outputs import BaseModelOutputWithPooling

from ..backbones import BACKBONES_2D, build_backbone, load_torchvision_weights
from ..modeling_base import SkillPreTrainedModel, SkillVideoClassificationMixin
from ..pooling import TemporalPooling
from .configuration_cnn_rnn import CNNRNNConfig


class CNNRNNPreTrainedModel(SkillPreTrainedModel):
    config_class = CNNRNNConfig
    base_model_prefix = "cnn_rnn"

    def load_pretrained_backbone(self, source=None) -> None:
        self._refuse_weights_file(source)
        load_torchvision_weights(self.backbone, self.config.backbone, BACKBONES_2D)


class CNNRNNModel(CNNRNNPreTrainedModel):
    """``last_hidden_state`` (B, T, H) recurrent outputs per frame, ``pooler_output`` (B, H) attention-pooled."""

    def __init__(self, config: CNNRNNConfig):
        super().__init__(config)
        self.backbone, feature_dim = build_backbone(config.backbone, BACKBONES_2D, "frame")
        rnn_class = nn.LSTM if config.rnn_type == "lstm" else nn.GRU
        self.rnn = rnn_class(
            feature_dim,
            config.rnn_hidden_size,
            num_layers=config.rnn_num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.rnn_dropout if config.rnn_num_layers > 1 else 0.0,
        )
        self.output_dim = config.rnn_hidden_size * (2 if config.bidirectional else 1)
        self.pooling = TemporalPooling("attention", self.output_dim)
        self._freeze_backbone_if_asked()
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, frame_mask: torch.Tensor | None = None, **kwargs):
        batch, frames = pixel_values.shape[:2]
        features = self.backbone(pixel_values.flatten(0, 1)).unflatten(0, (batch, frames))  # (B, T, D)
        if frame_mask is None:
            outputs, _ = self.rnn(features)  # (B, T, H)
        else:
            # Padded clips: pack so that neither direction of the RNN reads the padding.
            lengths = frame_mask.sum(1).clamp(min=1).cpu()
            packed = pack_padded_sequence(features, lengths, batch_first=True, enforce_sorted=False)
            outputs, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=frames)
        return BaseModelOutputWithPooling(last_hidden_state=outputs, pooler_output=self.pooling(outputs, frame_mask))


class CNNRNNForVideoClassification(SkillVideoClassificationMixin, CNNRNNPreTrainedModel):
    """CNN-RNN with a linear head: logits (B, num_labels); ``loss`` when ``labels`` are given."""

    def __init__(self, config: CNNRNNConfig):
        super().__init__(config)
        self.cnn_rnn = CNNRNNModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(self.cnn_rnn.output_dim, config.num_labels)
        self.post_init()
