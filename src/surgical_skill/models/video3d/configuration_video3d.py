"""Configuration of the 3D CNNs: torchvision video backbones, or a small 3D CNN that trains on a CPU."""

from ..backbones import BACKBONES_3D
from ..configuration_base import SkillVideoConfig

VIDEO_BACKBONES = (*sorted(BACKBONES_3D), "small3d")


class Video3DCNNConfig(SkillVideoConfig):
    """A spatio-temporal backbone over the whole clip and a linear classifier.

    ``backbone`` is one of torchvision's video models (``r3d_18``, ``r2plus1d_18``, ``mc3_18``, ``s3d``,
    ``mvit_v2_s`` (16 frames at 224x224 only), ``swin3d_t``; Kinetics-400 weights with
    ``backbone_pretrained=True``) or ``small3d``: ``len(small3d_channels)`` blocks of 3D convolution,
    BatchNorm, ReLU and pooling, then average- and max-pooling over space and time (max keeps small, local
    movements such as an instrument's tremor from being averaged away). ``small3d`` trains from scratch in
    minutes on a CPU.

    Example:
        >>> config = Video3DCNNConfig(backbone="small3d", small3d_channels=[16, 32, 64], num_labels=2)
    """

    model_type = "surgical_3d_cnn"

    def __init__(self, backbone: str = "r3d_18", small3d_channels: list[int] | None = None, **kwargs):
        if backbone not in VIDEO_BACKBONES:
            raise ValueError(f"unknown video backbone {backbone!r}; known: {', '.join(VIDEO_BACKBONES)}")
        self.small3d_channels = list(small3d_channels) if small3d_channels is not None else [16, 32, 64]
        if not self.small3d_channels or min(self.small3d_channels) < 1:
            raise ValueError(f"small3d_channels must be positive channel counts, got {self.small3d_channels}")
        super().__init__(backbone=backbone, **kwargs)
