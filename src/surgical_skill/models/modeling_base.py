"""The base classes of the package's own families: the pretrained-model base (inputs, initialisation, backbone
freezing, gradient checkpointing) and the classification head the ``...ForVideoClassification`` classes share."""

from __future__ import annotations

import os

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ImageClassifierOutput

from ..errors import UsageError
from .configuration_base import SkillVideoConfig
from .losses import infer_problem_type, skill_loss


class SkillPreTrainedModel(PreTrainedModel):
    """Base of the package's own families: inputs, initialisation, backbone freezing and checkpointing."""

    config_class = SkillVideoConfig
    base_model_prefix = "backbone"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True
    _no_split_modules: list[str] = []
    # True for families whose pretrained backbone is a published reference checkpoint, converted
    # (load_pretrained_backbone(source) takes a file or URL: build_model's backbone_weights)
    converts_reference_weights = False

    def _init_weights(self, module: nn.Module) -> None:
        # Backbone convolutions and norms keep torchvision's own (kaiming) initialisation; only the layers this
        # package adds (linear heads, attention pooling, recurrent layers) are initialised here.
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LSTM | nn.GRU):
            for name, param in module.named_parameters():
                if "weight" in name:
                    init.xavier_uniform_(param)
                elif "bias" in name:
                    init.zeros_(param)

    def _freeze_backbone_if_asked(self) -> None:
        if self.config.freeze_backbone:
            for param in self.backbone.parameters():
                param.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.config.freeze_backbone:
            self.backbone.eval()  # a frozen backbone keeps its BatchNorm statistics too
        return self

    def load_pretrained_backbone(self, source: str | os.PathLike | None = None) -> None:
        """Replace the backbone's random weights with pretrained ones (see ``backbone_pretrained``): torchvision's
        for torchvision backbones; a reference checkpoint (``source``: a local file or URL, default the published
        one) for the families converted from one (X3D, Slow/SlowFast, I3D)."""
        raise NotImplementedError

    def _refuse_weights_file(self, source: str | os.PathLike | None) -> None:
        """For families whose pretrained weights come from torchvision only."""
        if source is not None:
            raise UsageError(
                f"backbone_weights ({os.fspath(source)}) is for models converted from a published checkpoint "
                f"(x3d_*, slow_r50, slowfast_r50, i3d); {type(self).__name__}'s pretrained weights come from "
                "torchvision: use backbone_pretrained=True (a file goes into torch's hub cache, checkpoints/)"
            )


def init_like_pytorchvideo(module: nn.Module) -> None:
    """PyTorchVideo's initialisation of a 3D CNN trained from scratch (X3D, Slow/SlowFast): He-normal 3D
    convolutions (fan out), zero convolution biases, BatchNorm at the identity. Call it from a family's
    ``_init_weights`` after the base class's."""
    if isinstance(module, nn.Conv3d):
        init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if module.bias is not None:
            init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm3d):
        init.ones_(module.weight)
        init.zeros_(module.bias)


class SkillVideoClassificationMixin:
    """The head of the families' ``...ForVideoClassification`` classes: the base model's pooled clip features,
    dropout, a linear classifier, and the loss by ``config.problem_type``.

    A head lists its modules in its own ``__init__`` (so each modeling file shows its state-dict keys): the base
    model under the family's ``base_model_prefix`` (``self.base_model`` is then that model), a ``dropout`` and a
    ``classifier``. Put the mixin first among the bases:
    ``class FooForVideoClassification(SkillVideoClassificationMixin, FooPreTrainedModel)``.
    """

    config: SkillVideoConfig
    dropout: nn.Dropout
    classifier: nn.Linear

    @property
    def backbone(self) -> nn.Module:
        return self.base_model.backbone

    def load_pretrained_backbone(self, source: str | os.PathLike | None = None) -> None:
        self.base_model.load_pretrained_backbone(source)

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> ImageClassifierOutput:
        """Logits (B, num_labels) for clips ``pixel_values`` (B, T, C, H, W), whose padded frames ``frame_mask``
        (B, T) marks False; with ``labels``, the loss chosen by ``config.problem_type``, which is set from the
        labels when it is ``None``, as transformers' heads do."""
        pooled = self.base_model(pixel_values, frame_mask=frame_mask).pooler_output  # (B, D)
        logits = self.classifier(self.dropout(pooled))  # (B, num_labels)
        loss = None
        if labels is not None:
            if self.config.problem_type is None:
                self.config.problem_type = infer_problem_type(self.config, labels)
            loss = skill_loss(logits, labels, self.config)
        return ImageClassifierOutput(loss=loss, logits=logits)
