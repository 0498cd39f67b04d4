"""The three argument groups of a training recipe: model, data and training. Every field documents itself
(``accelerate launch recipes/train.py --help`` lists them) and ``__post_init__`` says how to fix a bad value."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MIXED_PRECISION = ("no", "fp16", "bf16")
OPTIMIZERS = ("adamw", "sgd")
SCHEDULERS = ("cosine", "linear", "constant")
TRACKERS = ("tensorboard", "wandb", "mlflow", "none")


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
        default=False, metadata={"help": "Start from torchvision's pretrained backbone weights (needs network once)."}
    )
    freeze_backbone: bool = field(default=False, metadata={"help": "Train only the layers after the backbone."})
    dropout: float | None = field(default=None, metadata={"help": "Dropout before the classifier (model default)."})
    label_smoothing: float = field(default=0.0, metadata={"help": "Cross-entropy label smoothing, in [0, 1)."})
    class_weights: str | None = field(
        default=None,
        metadata={"help": "'auto' (inverse class frequency of the training split), a JSON list, or none."},
    )

    def __post_init__(self):
        self.model_config = _mapping(self.model_config, "model_config")
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
        metadata={"help": "A CSV/JSONL manifest, a class folder, a save_to_disk folder, or a Hub dataset id."},
    )
    target: str = field(default="auto", metadata={"help": "'label' (classes), 'score' (regression) or 'auto'."})
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
        default=None, metadata={"help": "'kfold' (with cv_folds) or 'leave-one-subject-out': one model per surgeon."}
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
        _choice(self.target, ("auto", "label", "score"), "target")
        if self.sampling_strategy is not None:
            _choice(self.sampling_strategy, ("uniform", "clip"), "sampling_strategy")
        if len(self.split_ratios) != 3 or abs(sum(self.split_ratios) - 1) > 1e-6:
            raise ValueError(f"split_ratios must be three shares summing to 1, got {self.split_ratios}")
        if self.cv_folds is not None and self.cv is None:
            self.cv = "kfold"
        if self.cv is not None:
            _choice(self.cv, ("kfold", "leave-one-subject-out"), "cv")
            if self.cv == "kfold" and (self.cv_folds is None or self.cv_folds < 2):
                raise ValueError(f"cv: kfold needs cv_folds of at least 2, got {self.cv_folds}")
            if self.cv == "leave-one-subject-out" and self.cv_folds is not None:
                raise ValueError("set either cv_folds (k-fold) or cv: leave-one-subject-out, not both")
        if not 0 <= self.cv_validation_share < 1:
            raise ValueError(f"cv_validation_share must be in [0, 1), got {self.cv_validation_share}")
        if self.train_clips_per_video < 1 or self.eval_clips_per_video < 1:
            raise ValueError("train_clips_per_video and eval_clips_per_video must be at least 1")
        if not 0 < self.crop_scale_min <= 1:
            raise ValueError(f"crop_scale_min must be in (0, 1], got {self.crop_scale_min}")


@dataclass
class TrainingArguments:
    output_dir: str = field(default="runs/run", metadata={"help": "Run folder: model, checkpoints, logs, history."})
    seed: int = field(default=0, metadata={"help": "Seed for weights, data order and augmentation."})
    num_epochs: int = field(default=10, metadata={"help": "Epochs to train (early stopping may end sooner)."})
    max_steps: int | None = field(default=None, metadata={"help": "Stop after this many optimizer steps."})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Clips per batch on each process."})
    per_device_eval_batch_size: int = field(default=16, metadata={"help": "Clips per evaluation batch."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer step."})
    auto_find_batch_size: bool = field(
        default=False, metadata={"help": "Halve the batch size and retry when it runs out of memory."}
    )
    optimizer: str = field(default="adamw", metadata={"help": "adamw or sgd (momentum 0.9)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak learning rate."})
    weight_decay: float = field(default=1e-4, metadata={"help": "Decoupled weight decay (AdamW) / L2 (SGD)."})
    lr_scheduler: str = field(default="cosine", metadata={"help": "cosine, linear or constant, after warm-up."})
    warmup_ratio: float = field(default=0.05, metadata={"help": "Share of optimizer steps spent warming up."})
    max_grad_norm: float | None = field(default=1.0, metadata={"help": "Clip gradients to this norm (none: off)."})
    mixed_precision: str = field(
        default="no", metadata={"help": "no, fp16 (GPU; falls back to no on CPU, with a warning) or bf16."}
    )
    eval_every_epochs: int = field(default=1, metadata={"help": "Validate every n epochs (and at the end)."})
    metric_for_best_model: str = field(
        default="video_balanced_accuracy",
        metadata={
            "help": "Validation metric that picks the best model (video_* or clip_*; loss for lower-is-better)."
        },
    )
    early_stopping_patience: int | None = field(
        default=None, metadata={"help": "Stop after this many validations without improvement."}
    )
    save_every_steps: int | None = field(default=None, metadata={"help": "Checkpoint every n optimizer steps."})
    save_every_epochs: int | None = field(default=1, metadata={"help": "Checkpoint every n epochs."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Keep only the newest n checkpoints."})
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "'latest' or a checkpoint folder: continue exactly where it stopped."}
    )
    report_to: list[str] = field(
        default_factory=lambda: ["tensorboard"], metadata={"help": "tensorboard, wandb, mlflow, or none."}
    )
    logging_steps: int = field(default=10, metadata={"help": "Log training loss every n optimizer steps."})
    progress_bar: bool = field(default=True, metadata={"help": "Show a progress bar on the main process."})
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the best model to the Hub at the end."})
    hub_model_id: str | None = field(default=None, metadata={"help": "org/name for push_to_hub."})

    def __post_init__(self):
        _choice(self.optimizer, OPTIMIZERS, "optimizer")
        _choice(self.lr_scheduler, SCHEDULERS, "lr_scheduler")
        _choice(self.mixed_precision, MIXED_PRECISION, "mixed_precision")
        for tracker in self.report_to:
            _choice(tracker, TRACKERS, "report_to")
        for name in (
            "num_epochs",
            "per_device_train_batch_size",
            "per_device_eval_batch_size",
            "gradient_accumulation_steps",
            "eval_every_epochs",
            "logging_steps",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.push_to_hub and not self.hub_model_id:
            raise ValueError("push_to_hub needs hub_model_id (org/name)")
