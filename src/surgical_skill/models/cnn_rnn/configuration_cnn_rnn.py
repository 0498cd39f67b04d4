"""Configuration of the CNN-RNN: per-frame 2D features, a recurrent layer over time, attention pooling."""

from ..backbones import BACKBONES_2D
from ..configuration_base import SkillVideoConfig

RNN_TYPES = ("lstm", "gru")


class CNNRNNConfig(SkillVideoConfig):
    """A torchvision 2D backbone per frame, an ``lstm`` or ``gru`` over the frame features, attention pooling
    over its outputs (padded frames masked) and a linear classifier.

    Example:
        >>> config = CNNRNNConfig(backbone="mobilenet_v3_small", rnn_type="gru", rnn_hidden_size=128, num_labels=3)
    """

    model_type = "surgical_cnn_rnn"

    def __init__(
        self,
        backbone: str = "resnet18",
        rnn_type: str = "lstm",
        rnn_hidden_size: int = 256,
        rnn_num_layers: int = 1,
        bidirectional: bool = True,
        rnn_dropout: float = 0.0,
        **kwargs,
    ):
        if backbone not in BACKBONES_2D:
            raise ValueError(f"unknown frame backbone {backbone!r}; known: {', '.join(sorted(BACKBONES_2D))}")
        if rnn_type not in RNN_TYPES:
            raise ValueError(f"unknown rnn_type {rnn_type!r}; known: {', '.join(RNN_TYPES)}")
        if rnn_hidden_size < 1 or rnn_num_layers < 1:
            raise ValueError("rnn_hidden_size and rnn_num_layers must be at least 1")
        self.rnn_type = rnn_type
        self.rnn_hidden_size = rnn_hidden_size
        self.rnn_num_layers = rnn_num_layers
        self.bidirectional = bidirectional
        self.rnn_dropout = rnn_dropout
        super().__init__(backbone=backbone, **kwargs)
