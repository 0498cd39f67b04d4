"""Skill datasets on `datasets`: building, leakage-free splits, lazy clip decoding, transforms, collate, and the
built-in synthetic suturing videos."""

from .building import (
    KNOWN_LABEL_ORDERS,
    METADATA_COLUMNS,
    SkillDatasetError,
    add_video_metadata,
    label_values,
    load_skill_dataset,
    order_label_names,
    read_manifest,
    score_target_names,
)
from .clips import SAMPLING_STRATEGIES, ClipDecoder, ClipSampling, VideoClipLoader, clip_input_warnings, expand_clips
from .collate import DecodeFailureMonitor, SkillCollator, TooManyDecodeFailuresError, is_empty_batch
from .proxy import use_proxies
from .splits import kfold_splits, leave_one_subject_out, make_splits
from .synthetic import SyntheticConfig, generate_dataset
from .transforms import IMAGENET_MEAN, IMAGENET_STD, ClipTransforms

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KNOWN_LABEL_ORDERS",
    "METADATA_COLUMNS",
    "SAMPLING_STRATEGIES",
    "ClipDecoder",
    "ClipSampling",
    "ClipTransforms",
    "DecodeFailureMonitor",
    "SkillCollator",
    "SkillDatasetError",
    "SyntheticConfig",
    "TooManyDecodeFailuresError",
    "VideoClipLoader",
    "add_video_metadata",
    "clip_input_warnings",
    "expand_clips",
    "generate_dataset",
    "is_empty_batch",
    "kfold_splits",
    "label_values",
    "leave_one_subject_out",
    "load_skill_dataset",
    "make_splits",
    "order_label_names",
    "read_manifest",
    "score_target_names",
    "use_proxies",
]
