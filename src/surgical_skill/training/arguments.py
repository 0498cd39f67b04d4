"""The three argument groups of a training recipe: model, data and training. Every field documents itself
(``accelerate launch recipes/train.py --help`` lists them) and ``__post_init__`` says how to fix a bad value."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..deprecation import warn_renamed
from ..evaluation.metrics import ORDINAL_VALIDATION_METRICS, validation_metric_names
from ..models.factory import check_backbone_weights, check_model_config

MIXED_PRECISION = ("no", "fp16", "bf16")
OPTIMIZERS = ("adamw", "sgd")
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")
TRACKERS = ("tensorboard", "wandb", "mlflow", "none")


# Recipe keys renamed to transformers.TrainingArguments' names for the same thing. The old keys still work for one
# release, with a FutureWarning, in YAML, on the command line and as keyword arguments: every path goes through
# `rename_deprecated_keys`.
RENAMED_KEYS: dict[str, str] = {
    "num_epochs": "num_train_epochs",
    "lr_scheduler": "lr_scheduler_type",
    "warmup_ratio": "warmup_steps",  # a value below 1 is a share of the steps, as transformers reads it
    "optimizer": "optim",
    "save_every_steps": "save_steps",
}


def rename_deprecated_keys(values: Mapping[str, Any], where: str = "the recipe") -> dict[str, Any]:
    """``values`` with every old key (:data:`RENAMED_KEYS`) under its new name, warning once per old key.

    A key given under both names keeps the new one's value.
    """
    out = dict(values)
    for old, new in RENAMED_KEYS.items():
        if old in out:
            _warn_renamed(old, new, where)
            out.setdefault(new, out.pop(old))
    return out


def rename_deprecated_flags(argv: Sequence[str]) -> list[str]:
    """Command-line flags with every old ``--key`` (or ``--key=value``) under its new name, with a FutureWarning."""
    out = []
    for arg in argv:
        flag, sep, value = arg.partition("=")
        if flag.startswith("--") and flag[2:] in RENAMED_KEYS:
            new = RENAMED_KEYS[flag[2:]]
            _warn_renamed(flag[2:], new, "the command line")
            arg = f"--{new}{sep}{value}"
        out.append(arg)
    return out


def _warn_renamed(old: str, new: str, where: str, stacklevel: int = 5) -> None:
    # 5: the code that gave the old key, three calls up (rename_deprecated_keys, then __init__ or parse_recipe)
    warn_renamed(old, new, note=f"in {where}", stacklevel=stacklevel)


def _accepts_deprecated_keys(cls):
    """Let ``cls(old_key=...)`` and ``args.old_key`` keep working through :data:`RENAMED_KEYS`."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **rename_deprecated_keys(kwargs, where=cls.__name__))

    cls.__init__ = __init__
    for old, new in RENAMED_KEYS.items():
        setattr(cls, old, property(_deprecated_getter(old, new), _deprecated_setter(old, new)))
    return cls


def _deprecated_getter(old: str, new: str):
    def get(self):
        _warn_renamed(old, new, type(self).__name__, stacklevel=4)
        return getattr(self, new)

    return get


def _deprecated_setter(old: str, new: str):
    def set_(self, value):
        _warn_renamed(old, new, type(self).__name__, stacklevel=4)
        setattr(self, new, value)

    return set_


def _mapping(value: Any, name: str) -> dict[str, Any]:
    """A YAML mapping, or a JSON object given on the command line."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return dict(value)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as err:
        raise ValueError(f"{name} must be a mapping (YAML) or a JSON object (command line), got {value!r}") from err
    if not isinstance(parsed, dict):
        raise ValueError(f"{name} must be a mapping, got {parsed!r}")
    return parsed


def _choice(value: str, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of: {', '.join(choices)}")
    return value


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="small3d",
        metadata={"help": "A registry name (see `surgical_skill.models.list_models()`), a folder, or a Hub id."},
    )
    model_config: str | None = field(
        default=None,
        metadata={
            "help": "Config fields for the model, e.g. {backbone: resnet34, temporal_pooling: attention} "
            "(a YAML mapping, or JSON on the command line)."
        },
    )
    backbone_pretrained: bool = field(
        default=False,
        metadata={
            "help": "Start from pretrained backbone weights: torchvision's, or for x3d_*, slow_r50, slowfast_r50 "
            "and i3d the published Kinetics checkpoint, converted (needs network once, or the file in torch's hub "
            "cache, or backbone_weights)."
        },
    )
    backbone_weights: str | None = field(
        default=None,
        metadata={
            "help": "A local file (or URL) of the published checkpoint to start x3d_*, slow_r50, slowfast_r50 or "
            "i3d from (PyTorchVideo's .pyth, I3D's rgb_imagenet.pt); implies backbone_pretrained. Only the fact "
            "that the backbone was pretrained is saved, not the path."
        },
    )
    freeze_backbone: bool = field(default=False, metadata={"help": "Train only the layers after the backbone."})
    allow_pickle: bool = field(
        default=False,
        metadata={
            "help": "Load a starting model folder that holds only a pickle checkpoint (pytorch_model.bin), read "
            "with torch.load(weights_only=True). Off: safetensors weights only (unpickling can run code)."
        },
    )
    dropout: float | None = field(default=None, metadata={"help": "Dropout before the classifier (model default)."})
    label_smoothing: float = field(default=0.0, metadata={"help": "Cross-entropy label smoothing, in [0, 1)."})
    class_weights: str | None = field(
        default=None,
        metadata={"help": "'auto' (inverse class frequency of the training split), a JSON list, or none."},
    )
    score_head: str = field(
        default="linear",
        metadata={
            "help": "For scores: 'linear' (one output per score, MSE) or 'distribution' (USDL: a softmax over "
            "distribution_bins bins of each score's range, trained against a Gaussian soft label with KL "
            "divergence; the prediction is its expectation)."
        },
    )
    distribution_bins: int = field(default=21, metadata={"help": "Bins per score of the distribution head."})
    distribution_sigma: float | None = field(
        default=None,
        metadata={
            "help": "Width of the distribution head's Gaussian soft label, in the score's units (default: 2 bins)."
        },
    )
    normalize_scores: bool | None = field(
        default=None,
        metadata={
            "help": "Learn scores scaled to [0, 1] by their range (score_ranges), every output scaled back (default: "
            "on for several scores, so a 6-30 GRS does not outweigh 1-5 items in the loss; off for one)."
        },
    )
    ordinal_loss: str = field(
        default="cross_entropy",
        metadata={
            "help": "For ordered classes (novice < intermediate < expert, score bins): 'cross_entropy' (plain), "
            "'cumulative_link' or 'coral' (rank-consistent ordinal losses). Either ordinal loss implies ordinal."
        },
    )
    ordinal: bool = field(
        default=False,
        metadata={"help": "The classes are ordered: report quadratic kappa, Expected Cost and class error too."},
    )

    def __post_init__(self):
        from ..models.heads import ORDINAL_LOSSES, SCORE_HEADS

        _choice(self.score_head, SCORE_HEADS, "score_head")
        _choice(self.ordinal_loss, ORDINAL_LOSSES, "ordinal_loss")
        if self.distribution_bins < 2:
            raise ValueError(f"distribution_bins must be at least 2, got {self.distribution_bins}")
        if self.distribution_sigma is not None and not self.distribution_sigma > 0:
            raise ValueError(f"distribution_sigma must be above 0 (score units), got {self.distribution_sigma}")
        self.model_config = _mapping(self.model_config, "model_config")
        # typos in model_config would otherwise be kept as unused config attributes, silently
        check_model_config(self.model_name_or_path, self.model_config)
        self.backbone_weights = self.backbone_weights or None  # "" on the command line: none
        if self.backbone_weights is not None:
            check_backbone_weights(self.model_name_or_path)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if isinstance(self.class_weights, str) and self.class_weights not in ("auto", ""):
            self.class_weights = json.loads(self.class_weights)
        if self.class_weights == "":
            self.class_weights = None


@dataclass
class DataArguments:
    dataset: str = field(
        default="data/synthetic/metadata.csv",
        metadata={
            "help": "A CSV/JSONL manifest, a class folder, a save_to_disk folder, a Hub dataset id, or a public "
            "dataset's folder as distributed (JIGSAWS, AIxSuture, Cataract-LMM, HeiChole)."
        },
    )
    dataset_format: str | None = field(
        default=None,
        metadata={
            "help": "jigsaws, aixsuture, cataract-lmm or heichole: read `dataset` as that dataset's tree (default: "
            "detected from the folder)."
        },
    )
    target: str = field(
        default="auto",
        metadata={
            "help": "'label' (classes), 'score' (regression) or 'auto'; for a public dataset one of its targets "
            "(JIGSAWS: skill_level, grs, a sub-score such as respect_for_tissue, grs_bins; `surgical-skill inspect` "
            "lists them)."
        },
    )
    task: str | None = field(
        default=None, metadata={"help": "JIGSAWS task: Suturing, Knot_Tying or Needle_Passing (default: every one)."}
    )
    view: str | None = field(
        default=None,
        metadata={
            "help": "JIGSAWS camera: capture1 (default), capture2, or both (two rows per trial, kept together)."
        },
    )
    score_bins: list[float] | None = field(
        default=None,
        metadata={"help": "Lower edges of the score classes of the grs_bins target, e.g. [8, 16, 24, 32]."},
    )
    score_columns: list[str] | None = field(
        default=None,
        metadata={
            "help": "Several scores to predict at once (one output each, named in the saved model), e.g. "
            "[respect_for_tissue, suture_needle_handling, grs]: a manifest's columns, or a public dataset's score "
            "targets (`target: subscores` takes all its sub-scores)."
        },
    )
    score_ranges: str | None = field(
        default=None,
        metadata={
            "help": "Each score's scale, e.g. {grs: [6, 30]} (a YAML mapping): the distribution head's bins and "
            "normalize_scores use it (default: the range seen in the training and validation videos)."
        },
    )
    score_sum_name: str | None = field(
        default=None,
        metadata={
            "help": "Also report the sum of the predicted scores under this name (e.g. grs: the JIGSAWS GRS is the sum "
            "of its six items); evaluated against the dataset's column of that name."
        },
    )
    rater_scores: str = field(
        default="mean",
        metadata={
            "help": "For scores rated by several raters: train on their 'mean' (the score column), or on 'each' "
            "rater's score (a training row per rater; validation and test stay on the mean)."
        },
    )
    dataset_options: str | None = field(
        default=None,
        metadata={"help": "Other options of the public dataset's reader, e.g. {phase: calot} (a YAML mapping)."},
    )
    drop_invalid_rows: bool = field(
        default=False,
        metadata={
            "help": "Leave out the rows of a public dataset's tree that have a malformed label line or a missing "
            "video (with a warning listing them) instead of refusing the dataset."
        },
    )
    label_names: list[str] | None = field(
        default=None, metadata={"help": "Class names in order (default: a known skill scale, else sorted)."}
    )
    split_ratios: list[float] = field(
        default_factory=lambda: [0.7, 0.15, 0.15],
        metadata={"help": "train/validation/test shares, grouped by subject (ignored when the data has splits)."},
    )
    split_seed: int = field(default=0, metadata={"help": "Seed of the split (keep it fixed across models)."})
    require_subjects: bool = field(
        default=False,
        metadata={"help": "Refuse data whose rows lack a subject (surgeon) id instead of splitting per video."},
    )
    allow_shared_subjects: bool = field(
        default=False,
        metadata={"help": "Accept a supplied split column that puts one surgeon in two splits (leaks; know why)."},
    )
    cv_folds: int | None = field(
        default=None,
        metadata={"help": "Cross-validate: train K models on K folds grouped by subject (every split pooled)."},
    )
    cv: str | None = field(
        default=None,
        metadata={
            "help": "'kfold' (with cv_folds), 'leave-one-subject-out' (one model per surgeon), or a published "
            "protocol: jigsaws-louo (leave one user out), jigsaws-loso (leave one supertrial out), jigsaws-4fold "
            "(with cv_fold_file)."
        },
    )
    cv_fold_file: str | None = field(
        default=None,
        metadata={"help": "CSV of trial,fold for cv: jigsaws-4fold (the AQA papers' four folds)."},
    )
    cv_validation_share: float = field(
        default=0.15,
        metadata={
            "help": "Share of each fold's training subjects held out for validation (0: none) in cross-validation."
        },
    )
    proxy_dir: str | None = field(
        default=None, metadata={"help": "Folder of proxies made by `surgical-skill prepare` (faster decoding)."}
    )
    allow_urls: bool = field(
        default=False,
        metadata={
            "help": "Let the dataset's video paths be http(s) URLs (off: every video is a local file; other "
            "protocols such as file:, concat: or tcp: are always refused)."
        },
    )
    root: str | None = field(
        default=None,
        metadata={
            "help": "Folder every video path must resolve inside (.. and symlinks followed); a dataset's relative "
            "paths are relative to it. For data from someone else (a Hub dataset, a shared manifest)."
        },
    )
    num_frames: int | None = field(default=None, metadata={"help": "Frames per clip (default: the model's)."})
    sampling_strategy: str | None = field(
        default=None, metadata={"help": "'uniform' (over the whole video) or 'clip' (consecutive frames)."}
    )
    frame_stride: int | None = field(default=None, metadata={"help": "Take every n-th frame in a 'clip'."})
    target_fps: float | None = field(default=None, metadata={"help": "Resample 'clip' frames to this rate."})
    image_size: int | None = field(
        default=None, metadata={"help": "Short side frames are resized to (default: the model's processor)."}
    )
    crop_size: int | None = field(
        default=None, metadata={"help": "Square crop fed to the model (default: processor)."}
    )
    crop_scale_min: float = field(default=0.6, metadata={"help": "Smallest random-crop area share in training."})
    flip_prob: float = field(default=0.5, metadata={"help": "Horizontal flip probability in training."})
    color_jitter: float = field(default=0.2, metadata={"help": "Brightness/contrast/saturation jitter (0: off)."})
    train_clips_per_video: int = field(default=1, metadata={"help": "Random clips of each video per epoch."})
    eval_clips_per_video: int = field(default=4, metadata={"help": "Clips spread over each video in evaluation."})
    static_baselines: bool = field(
        default=True,
        metadata={
            "help": "Show the static baselines (duration, file size, single frames) fitted on the training surgeons "
            "beside the test figures (`surgical-skill audit`)."
        },
    )
    num_workers: int = field(default=2, metadata={"help": "DataLoader worker processes (decoding happens there)."})
    max_decode_failure_share: float = field(
        default=0.1, metadata={"help": "Stop when more than this share of samples cannot be decoded."}
    )

    def __post_init__(self):
        from ..data.public import FORMATS, PROTOCOLS  # the readers' names; imported here to keep startup light
        from ..data.public.common import check_score_bins

        if self.dataset_format is not None:
            _choice(self.dataset_format, tuple(FORMATS), "dataset_format")
        if not self.target or not str(self.target).replace("_", "").replace("-", "").isalnum():
            raise ValueError(
                f"target must be 'auto', 'label', 'score' or a public dataset's target name, got {self.target!r}"
            )
        if self.view is not None:
            _choice(self.view, ("capture1", "capture2", "both"), "view")
        self.dataset_options = _mapping(self.dataset_options, "dataset_options")
        self.score_ranges = _mapping(self.score_ranges, "score_ranges")
        for name, bounds in self.score_ranges.items():
            if not isinstance(bounds, list | tuple) or len(bounds) != 2 or not float(bounds[0]) < float(bounds[1]):
                raise ValueError(f"score_ranges: {name} must be [low, high] with low < high, got {bounds!r}")
        _choice(self.rater_scores, ("mean", "each"), "rater_scores")
        if self.score_columns is not None:
            repeated = sorted({c for c in self.score_columns if self.score_columns.count(c) > 1})
            if not self.score_columns or repeated:
                raise ValueError(f"score_columns must name one or more different columns, got {self.score_columns}")
            if self.target not in ("auto", "score"):
                raise ValueError(f"set either score_columns or target: {self.target}, not both")
            if self.label_names is not None:
                raise ValueError("label_names orders classes; score_columns are scores: leave label_names out")
        own = {"task": "task", "view": "view", "score_bins": "score_bins", "fold_file": "cv_fold_file"}
        own["format"] = "dataset_format"
        clash = [key for key in self.dataset_options if key in own]
        if clash:
            raise ValueError(
                f"dataset_options may not hold {', '.join(clash)}: set "
                f"{', '.join(f'{own[key]}:' for key in clash)} as {'its own key' if len(clash) == 1 else 'their own keys'}"
            )
        check_score_bins(self.score_bins, "the recipe")  # the readers' own check, said the same way
        if self.sampling_strategy is not None:
            _choice(self.sampling_strategy, ("uniform", "clip"), "sampling_strategy")
        if len(self.split_ratios) != 3 or abs(sum(self.split_ratios) - 1) > 1e-6:
            raise ValueError(f"split_ratios must be three shares summing to 1, got {self.split_ratios}")
        if min(self.split_ratios) < 0 or self.split_ratios[0] <= 0:
            raise ValueError(
                f"split_ratios (train, validation, test) must be shares of at least 0 and train above 0, got "
                f"{self.split_ratios}"
            )
        if self.label_names is not None:
            names = [str(name) for name in self.label_names]
            repeated = sorted({name for name in names if names.count(name) > 1})
            if len(set(names)) < 2 or repeated:
                raise ValueError(
                    f"label_names must name two or more different classes, got {self.label_names}"
                    + (f" ({', '.join(map(repr, repeated))} repeated)" if repeated else "")
                    + "; for scores leave label_names out and set target: score"
                )
        if self.cv_folds is not None and self.cv is None:
            self.cv = "kfold"
        if self.cv is not None:
            _choice(self.cv, ("kfold", "leave-one-subject-out", *PROTOCOLS), "cv")
            if self.cv == "kfold" and (self.cv_folds is None or self.cv_folds < 2):
                raise ValueError(f"cv: kfold needs cv_folds of at least 2, got {self.cv_folds}")
            if self.cv != "kfold" and self.cv_folds is not None:
                raise ValueError(f"set either cv_folds (k-fold) or cv: {self.cv}, not both")
            protocol_format = PROTOCOLS.get(self.cv, (None,))[0]
            if protocol_format and self.dataset_format not in (None, protocol_format):
                raise ValueError(
                    f"cv: {self.cv} is a {protocol_format} protocol, but dataset_format is {self.dataset_format}"
                )
        if self.cv == "jigsaws-4fold" and not self.cv_fold_file:
            raise ValueError(
                "cv: jigsaws-4fold needs cv_fold_file: a CSV of trial,fold (the four folds are not distributed "
                "with JIGSAWS; use the file of the paper you compare with)"
            )
        if self.cv_fold_file and self.cv != "jigsaws-4fold":
            raise ValueError(f"cv_fold_file is read for cv: jigsaws-4fold only (cv is {self.cv})")
        if not 0 <= self.cv_validation_share < 1:
            raise ValueError(f"cv_validation_share must be in [0, 1), got {self.cv_validation_share}")
        if self.train_clips_per_video < 1 or self.eval_clips_per_video < 1:
            raise ValueError("train_clips_per_video and eval_clips_per_video must be at least 1")
        for name in ("num_frames", "image_size", "crop_size", "frame_stride"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(
                    f"{name} must be at least 1 (or left out for the model's own), got {getattr(self, name)}"
                )
        if self.image_size is not None and self.crop_size is not None and self.crop_size > self.image_size:
            raise ValueError(
                f"crop_size ({self.crop_size}) is larger than image_size ({self.image_size}): the crop is cut from "
                "frames resized to image_size; make crop_size at most image_size"
            )
        if not 0 < self.crop_scale_min <= 1:
            raise ValueError(f"crop_scale_min must be in (0, 1], got {self.crop_scale_min}")


@_accepts_deprecated_keys
@dataclass
class TrainingArguments:
    """How to train: the fields that mean what a field of ``transformers.TrainingArguments`` means carry its name
    (``num_train_epochs``, ``lr_scheduler_type``, ``warmup_steps``, ``optim``, ``save_steps`` ...); the old
    names (:data:`RENAMED_KEYS`) still work for one release, with a ``FutureWarning``."""

    output_dir: str = field(default="runs/run", metadata={"help": "Run folder: model, checkpoints, logs, history."})
    seed: int = field(default=0, metadata={"help": "Seed for weights, data order and augmentation."})
    num_train_epochs: int = field(default=10, metadata={"help": "Epochs to train (early stopping may end sooner)."})
    max_steps: int | None = field(default=None, metadata={"help": "Stop after this many optimizer steps."})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Clips per batch on each process."})
    per_device_eval_batch_size: int = field(default=16, metadata={"help": "Clips per evaluation batch."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer step."})
    auto_find_batch_size: bool = field(
        default=False, metadata={"help": "Halve the batch size and retry when it runs out of memory."}
    )
    optim: str = field(default="adamw", metadata={"help": "adamw or sgd (momentum 0.9)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak learning rate."})
    weight_decay: float = field(default=1e-4, metadata={"help": "Decoupled weight decay (AdamW) / L2 (SGD)."})
    lr_scheduler_type: str = field(
        default="cosine",
        metadata={
            "help": "cosine, linear or constant, after warm-up (constant keeps the warm-up: transformers' "
            "constant_with_warmup, also accepted)."
        },
    )
    warmup_steps: float = field(
        default=0.05,
        metadata={"help": "Warm-up: a share of the optimizer steps when below 1, else a number of steps."},
    )
    max_grad_norm: float | None = field(default=1.0, metadata={"help": "Clip gradients to this norm (none: off)."})
    mixed_precision: str = field(
        default="no", metadata={"help": "no, fp16 (GPU; falls back to no on CPU, with a warning) or bf16."}
    )
    eval_every_epochs: int = field(default=1, metadata={"help": "Validate every n epochs (and at the end)."})
    metric_for_best_model: str | None = field(
        default=None,
        metadata={
            "help": "Validation metric that picks the best model: video_* or clip_* (e.g. video_f1_macro, "
            "video_spearman) or loss (default: video_balanced_accuracy for classes, video_mae for scores)."
        },
    )
    early_stopping_patience: int | None = field(
        default=None, metadata={"help": "Stop after this many validations without improvement."}
    )
    save_steps: int | None = field(default=None, metadata={"help": "Checkpoint every n optimizer steps."})
    save_every_epochs: int | None = field(default=1, metadata={"help": "Checkpoint every n epochs."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Keep only the newest n checkpoints."})
    nonfinite_loss: str = field(
        default="stop",
        metadata={
            "help": "A batch whose loss is NaN or infinite: 'stop' (naming the step and the batch's videos) or "
            "'skip' it (with a warning; skipped batches are counted in the epoch's record)."
        },
    )
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={
            "help": "'latest' or a checkpoint folder: continue exactly where it stopped (a recipe that changes the "
            "model, the data or the optimizer is refused; more epochs, logging and workers may change)."
        },
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Train into an output_dir that is not empty: an earlier run there is deleted first (default: "
            "refuse, so no run is ever replaced by accident; a resume continues it instead)."
        },
    )
    report_to: list[str] = field(
        default_factory=lambda: ["tensorboard"], metadata={"help": "tensorboard, wandb, mlflow, or none."}
    )
    logging_steps: int = field(default=10, metadata={"help": "Log training loss every n optimizer steps."})
    progress_bar: bool = field(default=True, metadata={"help": "Show a progress bar on the main process."})
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the best model to the Hub at the end."})
    hub_model_id: str | None = field(default=None, metadata={"help": "org/name for push_to_hub."})

    def __post_init__(self):
        _choice(self.optim, OPTIMIZERS, "optim")
        _choice(self.lr_scheduler_type, SCHEDULERS, "lr_scheduler_type")
        _choice(self.mixed_precision, MIXED_PRECISION, "mixed_precision")
        _choice(self.nonfinite_loss, ("stop", "skip"), "nonfinite_loss")
        for tracker in self.report_to:
            _choice(tracker, TRACKERS, "report_to")
        for name in (
            "num_train_epochs",
            "per_device_train_batch_size",
            "per_device_eval_batch_size",
            "gradient_accumulation_steps",
            "eval_every_epochs",
            "logging_steps",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup_steps < 0 or (self.warmup_steps >= 1 and self.warmup_steps != int(self.warmup_steps)):
            raise ValueError(
                f"warmup_steps must be a share in [0, 1) or a whole number of steps, got {self.warmup_steps}"
            )
        if self.push_to_hub and not self.hub_model_id:
            raise ValueError("push_to_hub needs hub_model_id (org/name)")
        known = set(validation_metric_names(regression=False)) | set(validation_metric_names(regression=True))
        known |= {f"{level}_{name}" for level in ("video", "clip") for name in ORDINAL_VALIDATION_METRICS}
        # a named score's own figure (video_grs/spearman) is checked once the model's score names are known
        per_target = "/" in (self.metric_for_best_model or "")
        if self.metric_for_best_model is not None and self.metric_for_best_model not in known and not per_target:
            raise ValueError(
                f"metric_for_best_model={self.metric_for_best_model!r} is not a validation metric; choose loss, "
                f"or video_/clip_ + one of {', '.join(sorted({m.split('_', 1)[1] for m in known if '_' in m}))}"
            )

    def num_warmup_steps(self, total_steps: int) -> int:
        """Warm-up steps for a run of ``total_steps`` optimizer steps (``warmup_steps`` below 1 is a share)."""
        if self.warmup_steps < 1:
            return math.ceil(self.warmup_steps * total_steps)
        return int(self.warmup_steps)
