"""Deprecated: ``surgical_skill.models.common`` was split by what it holds. Import from
:mod:`~surgical_skill.models.losses` (``skill_loss``, ``skill_loss_terms``), :mod:`~surgical_skill.models.pooling`
(``TemporalPooling``, ``TEMPORAL_POOLING``), :mod:`~surgical_skill.models.backbones` (``BACKBONES_2D``,
``BACKBONES_3D``, ``BackboneSpec``, ``SequentialBackbone``, ``build_backbone``, ``load_torchvision_weights``),
:mod:`~surgical_skill.models.configuration_base` (``SkillVideoConfig``) and
:mod:`~surgical_skill.models.modeling_base` (``SkillPreTrainedModel``), or from :mod:`surgical_skill.models`.
This module re-exports them for one release.
"""

from ..deprecation import warn_renamed
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

warn_renamed(
    "surgical_skill.models.common",
    "surgical_skill.models",
    note="or its modules losses, pooling, backbones, configuration_base, modeling_base",
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
