"""Skill datasets on `datasets`: building, leakage-free splits, lazy clip decoding, transforms, collate, and the
built-in synthetic suturing videos."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "KNOWN_LABEL_ORDERS": ".building",
    "METADATA_COLUMNS": ".building",
    "SkillDatasetError": ".building",
    "add_video_metadata": ".building",
    "load_skill_dataset": ".building",
    "order_label_names": ".building",
    "read_manifest": ".building",
    "SAMPLING_STRATEGIES": ".clips",
    "ClipSampling": ".clips",
    "VideoClipLoader": ".clips",
    "expand_clips": ".clips",
    "DecodeFailureMonitor": ".collate",
    "SkillCollator": ".collate",
    "TooManyDecodeFailuresError": ".collate",
    "is_empty_batch": ".collate",
    "use_proxies": ".proxy",
    "kfold_splits": ".splits",
    "leave_one_subject_out": ".splits",
    "make_splits": ".splits",
    "IMAGENET_MEAN": ".transforms",
    "IMAGENET_STD": ".transforms",
    "ClipTransforms": ".transforms",
    "SyntheticConfig": ".synthetic",
    "generate_dataset": ".synthetic",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .building import (
        KNOWN_LABEL_ORDERS,
        METADATA_COLUMNS,
        SkillDatasetError,
        add_video_metadata,
        load_skill_dataset,
        order_label_names,
        read_manifest,
    )
    from .clips import SAMPLING_STRATEGIES, ClipSampling, VideoClipLoader, expand_clips
    from .collate import DecodeFailureMonitor, SkillCollator, TooManyDecodeFailuresError, is_empty_batch
    from .proxy import use_proxies
    from .splits import kfold_splits, leave_one_subject_out, make_splits
    from .synthetic import SyntheticConfig, generate_dataset
    from .transforms import IMAGENET_MEAN, IMAGENET_STD, ClipTransforms
