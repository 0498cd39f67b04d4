"""Configuration of the frame CNN: a 2D backbone per frame, pooled over time."""

from ..backbones import BACKBONES_2D
from ..configuration_base import SkillVideoConfig
from ..pooling import TEMPORAL_POOLING


class FrameCNNConfig(SkillVideoConfig):
    """A torchvision 2D backbone (``resnet18/34/50``, ``efficientnet_b0``, ``mobilenet_v3_small/large``) applied
    to every frame, then ``temporal_pooling`` (``mean``, ``max`` or ``attention``) and a linear classifier.

    Example:
        >>> config = FrameCNNConfig(backbone="resnet18", temporal_pooling="attention", num_labels=2)
        >>> model = FrameCNNForVideoClassification(config)
    """

    model_type = "surgical_frame_cnn"

    def __init__(self, backbone: str = "resnet18", temporal_pooling: str = "mean", **kwargs):
        if backbone not in BACKBONES_2D:
            raise ValueError(f"unknown frame backbone {backbone!r}; known: {', '.join(sorted(BACKBONES_2D))}")
        if temporal_pooling not in TEMPORAL_POOLING:
            raise ValueError(f"unknown temporal_pooling {temporal_pooling!r}; known: {', '.join(TEMPORAL_POOLING)}")
        self.temporal_pooling = temporal_pooling
        super().__init__(backbone=backbone, **kwargs)
