"""Skill datasets on `datasets`: building, leakage-free splits, lazy clip decoding, transforms and collate."""

from .building import (
    KNOWN_LABEL_ORDERS,
    METADATA_COLUMNS,
    SkillDatasetError,
    add_video_metadata,
    load_skill_dataset,
    order_label_names,
)
from .clips import SAMPLING_STRATEGIES, ClipSampling, VideoClipLoader
from .collate import DecodeFailureMonitor, SkillCollator, TooManyDecodeFailuresError, is_empty_batch
from .proxy import use_proxies
from .splits import kfold_splits, leave_one_subject_out, make_splits
from .transforms import IMAGENET_MEAN, IMAGENET_STD, ClipTransforms

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KNOWN_LABEL_ORDERS",
    "METADATA_COLUMNS",
    "SAMPLING_STRATEGIES",
    "ClipSampling",
    "ClipTransforms",
    "DecodeFailureMonitor",
    "SkillCollator",
    "SkillDatasetError",
    "TooManyDecodeFailuresError",
    "VideoClipLoader",
    "add_video_metadata",
    "is_empty_batch",
    "kfold_splits",
    "leave_one_subject_out",
    "load_skill_dataset",
    "make_splits",
    "order_label_names",
    "use_proxies",
]
