"""Configuration of Slow-R50 and SlowFast-R50 (PyTorchVideo's ``slow_r50`` and ``slowfast_r50``)."""

from __future__ import annotations

from ..configuration_base import SkillVideoConfig

SLOWFAST_BACKBONES = ("slow_r50", "slowfast_r50")

# The clip each published Kinetics-400 checkpoint was made for (PyTorchVideo's hub: frames of the fast pathway,
# or of the only one) and the size its head's average pools were sized for (a 224-pixel crop: 7x7 at the end).
REFERENCE_FRAMES = {"slow_r50": 8, "slowfast_r50": 32}
REFERENCE_HEAD_POOL = {"slow_r50": [[8, 7, 7]], "slowfast_r50": [[8, 7, 7], [32, 7, 7]]}
# PyTorchVideo's hub (pytorchvideo/models/hub/resnet.py and slowfast.py): dicts with the weights under "model_state"
SLOWFAST_CHECKPOINT_URLS = {
    "slow_r50": "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/SLOW_8x8_R50.pyth",
    "slowfast_r50": "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/SLOWFAST_8x8_R50.pyth",
}


class SlowFastConfig(SkillVideoConfig):
    """A 3D ResNet with a slow pathway (Slow-R50), or with a slow and a fast one joined by lateral connections
    (SlowFast-R50), as PyTorchVideo 0.1.5 builds them (``create_resnet``, ``create_slowfast``), so its published
    Kinetics-400 weights load (``backbone_pretrained=True``).

    The model takes one clip ``pixel_values`` (B, T, C, H, W). Slow-R50 runs on it as it is. SlowFast-R50's fast
    pathway sees all ``T`` frames and its slow pathway ``T / alpha`` of them, picked as PyTorchVideo's
    ``PackPathway`` does; ``T`` must therefore be a multiple of ``alpha``.

    Args:
        backbone: ``slow_r50`` or ``slowfast_r50``.
        stage_depths: bottleneck blocks per stage (R50: ``[3, 4, 6, 3]``); fewer make a small model for tests.
        stem_channels: the slow stem's output channels (R50: 64); each stage's output is ``4 * stem_channels *
            2**i`` (256 ... 2048), the bottlenecks a quarter of that.
        alpha: frames of the fast pathway per frame of the slow one (SlowFast only).
        beta_inv: how many times fewer channels the fast pathway has (SlowFast's 1/beta: 8).
        fusion_kernel_size: temporal kernel of the fast-to-slow lateral convolutions (stride ``alpha``; 7).
        fusion_channel_ratio: the lateral convolution's output channels per fast channel (2).
        head_pool_kernel_sizes: per pathway, the ``[T, H, W]`` window of PyTorchVideo's head average pool: the
            features are the mean over all such windows (stride 1), each window clamped to the feature map. At the
            reference size and at PyTorchVideo's 256-pixel test crops this gives the reference's features; any
            smaller clip gets a global average. ``None``: a global average always.
        num_frames: frames per clip (fast pathway); default the reference's (8 for Slow, 32 for SlowFast).
        image_size: the crop side the model is meant for (informational; any size the strides survive works).

    Example:
        >>> config = SlowFastConfig(backbone="slowfast_r50", stage_depths=[1, 1, 1, 1], stem_channels=8,
        ...     num_frames=8, num_labels=2)
    """

    model_type = "surgical_slowfast"

    def __init__(
        self,
        backbone: str = "slowfast_r50",
        stage_depths: list[int] | None = None,
        stem_channels: int = 64,
        alpha: int = 4,
        beta_inv: int = 8,
        fusion_kernel_size: int = 7,
        fusion_channel_ratio: int = 2,
        head_pool_kernel_sizes: list[list[int]] | str | None = "reference",
        num_frames: int | None = None,
        image_size: int = 256,
        dropout: float = 0.5,  # PyTorchVideo's head dropout for both models
        **kwargs,
    ):
        if backbone not in SLOWFAST_BACKBONES:
            raise ValueError(f"unknown SlowFast backbone {backbone!r}; known: {', '.join(SLOWFAST_BACKBONES)}")
        self.stage_depths = list(stage_depths) if stage_depths is not None else [3, 4, 6, 3]
        if len(self.stage_depths) != 4 or min(self.stage_depths) < 1:
            raise ValueError(f"stage_depths must be 4 positive block counts, got {self.stage_depths}")
        if stem_channels < 1 or alpha < 1 or beta_inv < 1 or fusion_channel_ratio < 1 or fusion_kernel_size < 1:
            raise ValueError(
                "stem_channels, alpha, beta_inv, fusion_kernel_size and fusion_channel_ratio must be >= 1"
            )
        if backbone == "slowfast_r50" and stem_channels % beta_inv:
            raise ValueError(f"stem_channels ({stem_channels}) must be a multiple of beta_inv ({beta_inv})")
        self.stem_channels = stem_channels
        self.alpha = alpha
        self.beta_inv = beta_inv
        self.fusion_kernel_size = fusion_kernel_size
        self.fusion_channel_ratio = fusion_channel_ratio
        if head_pool_kernel_sizes == "reference":
            head_pool_kernel_sizes = REFERENCE_HEAD_POOL[backbone]
        if head_pool_kernel_sizes is not None:
            head_pool_kernel_sizes = [list(map(int, kernel)) for kernel in head_pool_kernel_sizes]
            pathways = 2 if backbone == "slowfast_r50" else 1
            if len(head_pool_kernel_sizes) != pathways or any(len(k) != 3 for k in head_pool_kernel_sizes):
                raise ValueError(
                    f"head_pool_kernel_sizes needs one [T, H, W] per pathway ({pathways}), got {head_pool_kernel_sizes}"
                )
        self.head_pool_kernel_sizes = head_pool_kernel_sizes
        num_frames = REFERENCE_FRAMES[backbone] if num_frames is None else num_frames
        super().__init__(backbone=backbone, num_frames=num_frames, image_size=image_size, dropout=dropout, **kwargs)
        self.check_clip_frames(num_frames)

    def check_clip_frames(self, num_frames: int) -> None:
        """Raise ``ValueError`` (one line) unless clips of ``num_frames`` fit the model: for SlowFast, a multiple
        of ``alpha``. A recipe's ``num_frames`` is checked with it when the recipe is parsed."""
        if self.has_fast_pathway and (num_frames < self.alpha or num_frames % self.alpha):
            raise ValueError(
                f"slowfast_r50 takes clips of a multiple of alpha={self.alpha} frames (the slow pathway gets 1 in "
                f"{self.alpha}); num_frames={num_frames} is not"
            )

    @property
    def has_fast_pathway(self) -> bool:
        return self.backbone == "slowfast_r50"
