"""One entry point: ``train(model_args, data_args, training_args)``, the five steps every run takes.

Build the model (recipe overrides, class weights) -> its video processor (the recipe's clip settings written
into it, so the saved processor is what training used) -> clip datasets -> ``fit``. ``recipes/train.py`` calls it
for a run and for each cross-validation fold; the tests call it (or :func:`prepare_training`, for the steps
before ``fit``) for their tiny runs.

    >>> model_args, data_args, training_args = parse_recipe(["recipes/demo/config_demo.yaml"])
    >>> output = train(model_args, data_args, training_args)
    >>> output.result.model_dir
    PosixPath('runs/demo/model')
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from datasets import Dataset, DatasetDict
from transformers.video_processing_utils import BaseVideoProcessor

from ..data import ClipDecoder
from ..models import build_model, build_video_processor, record_training_fps
from .arguments import DataArguments, ModelArguments, TrainingArguments
from .data_setup import (
    apply_data_overrides,
    class_weights_for,
    clip_datasets,
    label_info,
    load_data,
    score_head_options,
)
from .loop import FitResult, fit

logger = logging.getLogger(__name__)

# ModelArguments fields that are model config options, passed on when set
_MODEL_OPTIONS = ("freeze_backbone", "backbone_pretrained", "backbone_weights", "dropout", "label_smoothing")


@dataclass
class TrainingSetup:
    """What a run trains: the model, its video processor, and the clip datasets built from ``data``."""

    model: torch.nn.Module
    processor: BaseVideoProcessor
    train_dataset: Dataset
    eval_datasets: dict[str, Dataset]  # every split but train, as evaluation clips
    clip_decoder: ClipDecoder  # the training transform: ``fit`` gives it each epoch's number
    data: DatasetDict

    @property
    def eval_dataset(self) -> Dataset | None:
        """The validation clips ``fit`` validates on (``None`` without a validation split)."""
        return self.eval_datasets.get("validation")


@dataclass
class TrainOutput(TrainingSetup):
    """:class:`TrainingSetup` after training, with ``fit``'s :class:`FitResult`."""

    result: FitResult


def model_overrides(model_args: ModelArguments, data: DatasetDict, num_labels: int) -> dict[str, Any]:
    """Config fields for ``build_model``: ``model_config``, the options that are set, and class weights
    (``auto``: inverse class frequency of ``data["train"]``)."""
    overrides = dict(model_args.model_config)
    for key in _MODEL_OPTIONS:
        if getattr(model_args, key) not in (None, False, 0.0):
            overrides[key] = getattr(model_args, key)
    if model_args.class_weights == "auto":
        overrides["class_weights"] = class_weights_for(data["train"], num_labels)
    elif model_args.class_weights:
        overrides["class_weights"] = model_args.class_weights
    return overrides


def prepare_training(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: TrainingArguments,
    data: DatasetDict | None = None,
) -> TrainingSetup:
    """The steps before ``fit``: the data (``load_data(data_args)`` unless given), the model (seeded with
    ``training_args.seed``: every fold starts from the same weights), its video processor and the clip datasets."""
    data = load_data(data_args) if data is None else data
    labels = label_info(data)
    labels.update(score_head_options(model_args, data_args, data))
    set_seed(training_args.seed)
    overrides = model_overrides(model_args, data, labels.get("num_labels", 1))
    model = build_model(model_args.model_name_or_path, **labels, **overrides, allow_pickle=model_args.allow_pickle)
    logger.info("model: %s, %.2f M parameters", type(model).__name__, model.num_parameters() / 1e6)
    processor = build_video_processor(model_args.model_name_or_path, config=model.config)
    processor = apply_data_overrides(processor, data_args)
    if "fps" in data["train"].column_names:  # inference warns when a video's rate makes clips cover other times
        record_training_fps(processor, data["train"]["fps"])
    train_dataset, eval_datasets, clip_decoder = clip_datasets(data, processor, data_args, seed=training_args.seed)
    return TrainingSetup(model, processor, train_dataset, eval_datasets, clip_decoder, data)


def train(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: TrainingArguments,
    *,
    data: DatasetDict | None = None,
    accelerator: Accelerator | None = None,
) -> TrainOutput:
    """Build the model, its processor and clip datasets (:func:`prepare_training`), then ``fit`` them: the best
    model (by ``metric_for_best_model`` on validation) lands in ``<output_dir>/model``.

    ``data`` defaults to ``load_data(data_args)``, ``accelerator`` to ``make_accelerator(training_args)``.
    """
    setup = prepare_training(model_args, data_args, training_args, data)
    result = fit(
        accelerator=accelerator,
        model=setup.model,
        processor=setup.processor,
        train_dataset=setup.train_dataset,
        eval_dataset=setup.eval_dataset,
        args=training_args,
        clip_decoder=setup.clip_decoder,
        num_workers=data_args.num_workers,
        max_decode_failure_share=data_args.max_decode_failure_share,
    )
    return TrainOutput(**vars(setup), result=result)
