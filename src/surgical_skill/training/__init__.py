"""Training: recipe arguments, the one entry point ``train``, and the Accelerate engine (``train_one_epoch``,
``validate_one_epoch``, ``fit``) with its checkpoints."""

from .arguments import RENAMED_KEYS, DataArguments, ModelArguments, TrainingArguments
from .checkpoints import (
    CheckpointError,
    check_checkpoint_fits,
    checkpoints_in,
    resolve_checkpoint,
    save_checkpoint,
    save_model,
)
from .cross_validation import cross_validation_folds, summarize_cross_validation
from .data_setup import apply_data_overrides, class_weights_for, clip_datasets, label_info, load_data, make_loader
from .entry import TrainingSetup, TrainOutput, model_overrides, prepare_training, train
from .loop import (
    FitResult,
    NonFiniteLossError,
    TrainingInterrupted,
    TrainState,
    fit,
    make_accelerator,
    make_optimizer,
    make_scheduler,
    train_one_epoch,
    validate_one_epoch,
)
from .recipe import RecipeError, parse_recipe, recipe_to_dict, save_recipe
from .runs import (
    EvaluationRefused,
    RunFolder,
    check_resume,
    check_resumed_data,
    claim_output_dir,
    evaluate_saved_model,
    write_split_record,
)

__all__ = [
    "RENAMED_KEYS",
    "CheckpointError",
    "DataArguments",
    "EvaluationRefused",
    "FitResult",
    "ModelArguments",
    "NonFiniteLossError",
    "RecipeError",
    "RunFolder",
    "TrainOutput",
    "TrainState",
    "TrainingArguments",
    "TrainingInterrupted",
    "TrainingSetup",
    "apply_data_overrides",
    "check_checkpoint_fits",
    "check_resume",
    "check_resumed_data",
    "checkpoints_in",
    "claim_output_dir",
    "class_weights_for",
    "clip_datasets",
    "cross_validation_folds",
    "evaluate_saved_model",
    "fit",
    "label_info",
    "load_data",
    "make_accelerator",
    "make_loader",
    "make_optimizer",
    "make_scheduler",
    "model_overrides",
    "parse_recipe",
    "prepare_training",
    "recipe_to_dict",
    "resolve_checkpoint",
    "save_checkpoint",
    "save_model",
    "save_recipe",
    "summarize_cross_validation",
    "train",
    "train_one_epoch",
    "validate_one_epoch",
    "write_split_record",
]
