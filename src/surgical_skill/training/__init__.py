"""Training: recipe arguments, the Accelerate engine (``train_one_epoch``, ``validate_one_epoch``, ``fit``)."""

from .arguments import DataArguments, ModelArguments, TrainingArguments
from .cross_validation import cross_validation_folds, summarize_cross_validation
from .data import apply_data_overrides, class_weights_for, clip_datasets, label_info, load_data, make_loader
from .loop import (
    FitResult,
    TrainState,
    checkpoints_in,
    fit,
    make_accelerator,
    make_optimizer,
    make_scheduler,
    save_checkpoint,
    save_model,
    train_one_epoch,
    validate_one_epoch,
)
from .recipe import RecipeError, parse_recipe, recipe_to_dict, save_recipe
from .runs import EvaluationRefused, RunFolder, evaluate_saved_model, write_split_record

__all__ = [
    "DataArguments",
    "EvaluationRefused",
    "FitResult",
    "ModelArguments",
    "RecipeError",
    "RunFolder",
    "TrainState",
    "TrainingArguments",
    "apply_data_overrides",
    "checkpoints_in",
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
    "parse_recipe",
    "recipe_to_dict",
    "save_checkpoint",
    "save_model",
    "save_recipe",
    "summarize_cross_validation",
    "train_one_epoch",
    "validate_one_epoch",
    "write_split_record",
]
