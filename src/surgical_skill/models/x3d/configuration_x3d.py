"""Configuration of X3D (Feichtenhofer 2020), the architecture of PyTorchVideo's ``create_x3d``."""

from __future__ import annotations

from ..configuration_base import SkillVideoConfig

# PyTorchVideo 0.1.5's model zoo (pytorchvideo/models/hub/x3d.py): Kinetics-400 checkpoints, {"model_state": ...}
X3D_CHECKPOINT_URLS = {
    "x3d_s": "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/X3D_S.pyth",
    "x3d_m": "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/X3D_M.pyth",
    "x3d_l": "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/X3D_L.pyth",
}

# The sizes differ in their input clip only, except X3D-L, which is also deeper (PyTorchVideo's hub functions;
# the clips are PySlowFast's X3D configs: frames x sample rate, training crop).
X3D_PRESETS = {
    "x3d_s": {"backbone": "x3d_s", "depth_factor": 2.2, "num_frames": 13, "image_size": 160},
    "x3d_m": {"backbone": "x3d_m", "depth_factor": 2.2, "num_frames": 16, "image_size": 224},
    "x3d_l": {"backbone": "x3d_l", "depth_factor": 5.0, "num_frames": 16, "image_size": 312},
}


class X3DConfig(SkillVideoConfig):
    """X3D: a stem (a spatial convolution, then a depthwise temporal one), four stages of residual bottleneck
    blocks with depthwise 3x3x3 convolutions (squeeze-and-excitation on every other block, swish inside), and
    the X3D head (1x1x1 convolution, BatchNorm, ReLU, global average pool, 1x1x1 convolution, ReLU), whose
    ``head_dim_out`` features feed a linear classifier.

    The field names are those of PyTorchVideo's ``create_x3d``, and the defaults give X3D-M; X3D-S is the same
    network on a shorter, smaller clip (13 frames at 160), X3D-L uses ``depth_factor=5.0`` on 16 frames at 312.
    Unlike the reference, the head pools adaptively, so any clip length and frame size work (at the reference
    clip size the two are the same).

    Args:
        backbone: which published Kinetics-400 checkpoint ``backbone_pretrained`` loads (``x3d_s``, ``x3d_m``,
            ``x3d_l``); the other fields must describe that architecture.
        width_factor: channel expansion of every stage (X3D's gamma_w).
        depth_factor: block-count expansion of every stage (gamma_d): ``ceil(depth_factor * stage_depths[i])``
            blocks.
        bottleneck_factor: inner width of a bottleneck block over its output width (gamma_b).
        stem_dim_in: the base width before ``width_factor`` (the stem's output is its rounded multiple).
        stem_conv_kernel_size, stem_conv_stride: the stem's (T, H, W) kernel and stride.
        stage_depths: blocks per stage before ``depth_factor``.
        stage_conv_kernel_size: each stage's (T, H, W) kernel of the depthwise convolution.
        stage_spatial_stride, stage_temporal_stride: each stage's stride (in its first block).
        se_ratio: squeeze-and-excitation width over the block's inner width (0: no SE); blocks 1, 3, 5 ... of a
            stage have it.
        head_dim_out: the feature size (``pooler_output``).
        norm_eps, norm_momentum: BatchNorm settings.

    Example:
        >>> config = X3DConfig(**X3D_PRESETS["x3d_l"], num_labels=2)
        >>> tiny = X3DConfig(width_factor=1.0, depth_factor=1.0, stem_dim_in=8, stage_depths=[1, 2, 1, 1],
        ...                  head_dim_out=32, num_frames=4, image_size=32)
    """

    model_type = "surgical_x3d"

    def __init__(
        self,
        backbone: str = "x3d_m",
        width_factor: float = 2.0,
        depth_factor: float = 2.2,
        bottleneck_factor: float = 2.25,
        stem_dim_in: int = 12,
        stem_conv_kernel_size: list[int] | None = None,
        stem_conv_stride: list[int] | None = None,
        stage_depths: list[int] | None = None,
        stage_conv_kernel_size: list[list[int]] | None = None,
        stage_spatial_stride: list[int] | None = None,
        stage_temporal_stride: list[int] | None = None,
        se_ratio: float = 0.0625,
        head_dim_out: int = 2048,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
        num_frames: int = 16,
        image_size: int = 224,
        dropout: float = 0.5,
        **kwargs,
    ):
        if backbone not in X3D_CHECKPOINT_URLS:
            raise ValueError(f"unknown X3D backbone {backbone!r}; known: {', '.join(X3D_CHECKPOINT_URLS)}")
        self.width_factor = float(width_factor)
        self.depth_factor = float(depth_factor)
        self.bottleneck_factor = float(bottleneck_factor)
        self.stem_dim_in = int(stem_dim_in)
        self.stem_conv_kernel_size = list(stem_conv_kernel_size or [5, 3, 3])
        self.stem_conv_stride = list(stem_conv_stride or [1, 2, 2])
        self.stage_depths = list(stage_depths or [1, 2, 5, 3])
        stages = len(self.stage_depths)
        self.stage_conv_kernel_size = [list(k) for k in (stage_conv_kernel_size or [[3, 3, 3]] * stages)]
        self.stage_spatial_stride = list(stage_spatial_stride or [2] * stages)
        self.stage_temporal_stride = list(stage_temporal_stride or [1] * stages)
        self.se_ratio = float(se_ratio)
        self.head_dim_out = int(head_dim_out)
        self.norm_eps = norm_eps
        self.norm_momentum = norm_momentum
        self._check()
        super().__init__(backbone=backbone, num_frames=num_frames, image_size=image_size, dropout=dropout, **kwargs)

    def _check(self) -> None:
        if min(self.width_factor, self.depth_factor, self.bottleneck_factor) <= 0:
            raise ValueError("width_factor, depth_factor and bottleneck_factor must be positive")
        if self.stem_dim_in < 1 or self.head_dim_out < 1 or not self.stage_depths or min(self.stage_depths) < 1:
            raise ValueError("stem_dim_in, head_dim_out and every stage depth must be at least 1")
        per_stage = {
            "stage_conv_kernel_size": self.stage_conv_kernel_size,
            "stage_spatial_stride": self.stage_spatial_stride,
            "stage_temporal_stride": self.stage_temporal_stride,
        }
        for name, values in per_stage.items():
            if len(values) != len(self.stage_depths):
                raise ValueError(f"{name} has {len(values)} entries for {len(self.stage_depths)} stages")
        kernels = [self.stem_conv_kernel_size, *self.stage_conv_kernel_size]
        if any(len(k) != 3 or min(k) < 1 or k[0] % 2 == 0 for k in kernels) or len(self.stem_conv_stride) != 3:
            raise ValueError("kernel sizes and the stem stride are (T, H, W) triples; temporal kernels are odd")
        if self.se_ratio < 0:
            raise ValueError(f"se_ratio must be >= 0, got {self.se_ratio}")
