"""Deprecated: ``surgical_skill.models.common`` was split by what it holds. Import from
:mod:`~surgical_skill.models.losses` (``skill_loss``, ``skill_loss_terms``), :mod:`~surgical_skill.models.pooling`
(``TemporalPooling``, ``TEMPORAL_POOLING``), :mod:`~surgical_skill.models.backbones` (``BACKBONES_2D``,
``BACKBONES_3D``, ``BackboneSpec``, ``SequentialBackbone``, ``build_backbone``, ``load_torchvision_weights``),
:mod:`~surgical_skill.models.configuration_base` (``SkillVideoConfig``) and
:mod:`~surgical_skill.models.modeling_base` (``SkillPreTrainedModel``), or from :mod:`surgical_skill.models`.
This module re-exports them for one release.
"""

import warnings

from .backbones import (
    BACKBONES_2D,
    BACKBONES_3D,
    BackboneSpec,
    SequentialBackbone,
    build_backbone,
    load_torchvision_weights,
)
from .configuration_base import SkillVideoConfig
from .losses import skill_loss, skill_loss_terms
from .modeling_base import SkillPreTrainedModel
from .pooling import TEMPORAL_POOLING, TemporalPooling

warnings.warn(
    "surgical_skill.models.common is deprecated and will be removed in the next release: import from "
    "surgical_skill.models.losses, .pooling, .backbones, .configuration_base or .modeling_base "
    "(or from surgical_skill.models)",
    FutureWarning,
    stacklevel=2,
)

__all__ = [
    "BACKBONES_2D",
    "BACKBONES_3D",
    "TEMPORAL_POOLING",
    "BackboneSpec",
    "SequentialBackbone",
    "SkillPreTrainedModel",
    "SkillVideoConfig",
    "TemporalPooling",
    "build_backbone",
    "load_torchvision_weights",
    "skill_loss",
    "skill_loss_terms",
]
