"""The configuration every family of the package shares; each family's ``configuration_<name>.py`` extends it."""

from __future__ import annotations

from transformers import PretrainedConfig


class SkillVideoConfig(PretrainedConfig):
    """Settings every family shares; family configs add their own and set ``model_type``.

    Args:
        backbone: which backbone (family-specific names).
        backbone_pretrained: load torchvision's pretrained backbone weights when the model is built by
            :func:`~surgical_skill.models.build_model` (needs network once, then the torch hub cache).
        freeze_backbone: train only the layers after the backbone.
        dropout: dropout before the classifier.
        class_weights: per-class loss weights for imbalanced data (``None``: equal).
        label_smoothing: cross-entropy label smoothing.
        num_frames, image_size: the clip the model was built for (informational for CNNs).
    """

    def __init__(
        self,
        backbone: str = "resnet18",
        backbone_pretrained: bool = False,
        freeze_backbone: bool = False,
        dropout: float = 0.2,
        class_weights: list[float] | None = None,
        label_smoothing: float = 0.0,
        num_frames: int = 16,
        image_size: int = 112,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        self.backbone = backbone
        self.backbone_pretrained = backbone_pretrained
        self.freeze_backbone = freeze_backbone
        self.dropout = dropout
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.label_smoothing = label_smoothing
        self.num_frames = num_frames
        self.image_size = image_size
        self.initializer_range = initializer_range
        super().__init__(**kwargs)
        if self.num_labels == 1 and self.problem_type is None:
            self.problem_type = "regression"
        if self.class_weights is not None and len(self.class_weights) != self.num_labels:
            raise ValueError(f"class_weights has {len(self.class_weights)} values for {self.num_labels} labels")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
