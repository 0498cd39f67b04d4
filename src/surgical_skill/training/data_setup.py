"""From a recipe's data arguments and a model's video processor to clip datasets and loaders for training.

(Formerly ``training/data.py``, renamed so it is not mistaken for the top-level ``surgical_skill.data`` package,
which builds the datasets this module turns into clips.)
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import numpy as np
import torch
from datasets import ClassLabel, Dataset, DatasetDict
from torch.utils.data import DataLoader
from transformers.video_processing_utils import BaseVideoProcessor

from ..data import (
    ClipDecoder,
    ClipSampling,
    ClipTransforms,
    SkillCollator,
    clip_input_warnings,
    expand_clips,
    load_skill_dataset,
)
from ..data.building import check_training_data, label_values, score_target_names, video_roots
from ..data.raters import expand_rater_rows, rater_scores
from ..models import add_sampling
from .arguments import DataArguments, ModelArguments
from .recipe import RecipeError

logger = logging.getLogger(__name__)


def load_data(args: DataArguments) -> DatasetDict:
    """The recipe's dataset with its splits (see :func:`surgical_skill.data.load_skill_dataset`); one
    ``train`` split for cross-validation, which makes its own folds.

    Refused before any model is built (:func:`~surgical_skill.data.building.check_training_data`): no training
    videos, one class only, a class with no training video; too few subjects for the split is refused while
    splitting, and for the folds by :func:`~surgical_skill.training.cross_validation.cross_validation_folds`.
    """
    data = load_skill_dataset(
        args.dataset,
        **({"score_column": list(args.score_columns)} if args.score_columns else {}),
        target=args.target,
        label_names=args.label_names,
        split_ratios=None if args.cv else tuple(args.split_ratios),
        seed=args.split_seed,
        require_subjects=args.require_subjects,
        allow_shared_subjects=args.allow_shared_subjects,
        proxy_dir=args.proxy_dir,
        **public_dataset_options(args),
    )
    check_training_data(data, args.dataset)
    return data


def video_sources(args: DataArguments) -> dict[str, Any]:
    """What the recipe's video paths may open, for every decoder of its data (training, evaluation, baselines):
    ``allow_urls`` and ``root``. Decoders check every path again (a dataset may have been edited since it was
    built); proxies live in their own folder, which the root then includes."""
    return {"allow_urls": args.allow_urls, "root": video_roots(args.root, args.proxy_dir)}


def public_dataset_options(args: DataArguments) -> dict[str, Any]:
    """The recipe's options for reading a public dataset's tree (:func:`load_skill_dataset`'s ``format``, ``task``
    ...) and for what its rows may open (``allow_urls``, ``root``), the same wherever a recipe's data is read
    again (evaluation of a run, a resume)."""
    return {
        "allow_urls": args.allow_urls,
        "root": args.root,
        "format": args.dataset_format,
        "task": args.task,
        "view": args.view,
        "fold_file": args.cv_fold_file,
        "score_bins": args.score_bins,
        "drop_invalid_rows": args.drop_invalid_rows,
        "format_options": args.dataset_options,
    }


def label_info(data: DatasetDict) -> dict[str, Any]:
    """``num_labels`` and ``id2label`` for a class model, from the dataset's ``labels`` feature; for scores,
    ``target_names`` (the struct's field names for several named scores, ``["score"]`` for one), which
    ``build_model`` turns into the head's outputs.

    Raises:
        SkillDatasetError: no ``train`` split, or class labels of one class only (a one-output model would be a
            regression model without anyone asking for one).
    """
    if "train" not in data or not len(data["train"]):
        check_training_data(data)  # raises, with the counts
    feature = data["train"].features["labels"]
    if isinstance(feature, ClassLabel):
        if feature.num_classes < 2:
            check_training_data(data)  # raises, with the counts
        return {"num_labels": feature.num_classes, "id2label": dict(enumerate(feature.names))}
    return {"target_names": score_target_names(data) or ["score"]}


def trained_label_names(config: dict[str, Any] | Any) -> list[str]:
    """What a model's outputs are, for comparing runs: its classes, or its score names."""
    get = config.get if isinstance(config, dict) else lambda key, default=None: getattr(config, key, default)
    if get("problem_type") == "regression" or get("target_names"):
        return [str(n) for n in (get("target_names") or ["score"])]
    id2label = get("id2label") or {}
    return [str(id2label[k]) for k in sorted(id2label, key=int)]


def score_head_options(model_args: ModelArguments, data_args: DataArguments, data: DatasetDict) -> dict[str, Any]:
    """The head settings ``build_model`` takes (:data:`~surgical_skill.models.heads.HEAD_OPTIONS`) for this
    data: for scores each target's range (the recipe's ``score_ranges``, else the range of the training and
    validation videos, never the test's), the head and ``score_sum_name``; for classes the ordinal settings.

    Raises:
        RecipeError: a setting for the other kind of target (``score_head`` on classes, ``ordinal_loss`` on
            scores), or ``score_ranges`` naming a score the data does not have.
    """
    classes = isinstance(data["train"].features["labels"], ClassLabel)
    score_settings = {
        "score_head": model_args.score_head != "linear",
        "normalize_scores": bool(model_args.normalize_scores),
        "score_ranges": bool(data_args.score_ranges),
        "score_sum_name": bool(data_args.score_sum_name),
        "rater_scores": data_args.rater_scores != "mean",
    }
    if classes:
        misplaced = [key for key, given in score_settings.items() if given]
        if misplaced:
            raise RecipeError(f"{', '.join(misplaced)}: for score targets, and this data's target is classes")
        options: dict[str, Any] = {}
        if model_args.ordinal_loss != "cross_entropy":
            options["ordinal_loss"] = model_args.ordinal_loss
        if model_args.ordinal or model_args.ordinal_loss != "cross_entropy":
            options["ordinal"] = True
        return options
    if model_args.ordinal_loss != "cross_entropy" or model_args.ordinal:
        raise RecipeError("ordinal_loss and ordinal are for ordered classes, and this data's target is scores")
    names = score_target_names(data) or ["score"]
    unknown = sorted(set(data_args.score_ranges) - set(names))
    if unknown:
        raise RecipeError(
            f"score_ranges names {', '.join(unknown)}, which the data does not predict ({', '.join(names)})"
        )
    seen = [split for name, split in data.items() if name in ("train", "validation")]
    values = np.concatenate([label_values(split).reshape(len(split), -1) for split in seen])
    ranges = []
    for k, name in enumerate(names):
        observed = values[:, k]
        if data_args.rater_scores == "each":  # training learns each rater's score: the range must hold them all
            ratings = [rater_scores(split, name) for split in seen]
            observed = np.concatenate([observed, *(m.reshape(-1) for m, _ in filter(None, ratings))])
            observed = observed[np.isfinite(observed)]
        if name in data_args.score_ranges:
            low, high = (float(v) for v in data_args.score_ranges[name])
        else:
            low, high = float(observed.min()), float(observed.max())
            if high <= low:
                high = low + 1.0
            logger.info("score range of %s: [%g, %g], as seen in the training and validation videos", name, low, high)
        ranges.append([low, high])
    options = {"target_names": names, "score_ranges": ranges}
    if model_args.normalize_scores or (model_args.normalize_scores is None and len(names) > 1):
        options["normalize_scores"] = True
    if model_args.score_head == "distribution":
        options.update(score_head="distribution", distribution_bins=model_args.distribution_bins)
        if model_args.distribution_sigma is not None:
            options["distribution_sigma"] = model_args.distribution_sigma
    if data_args.score_sum_name:
        if data_args.score_sum_name in names:
            raise RecipeError(
                f"score_sum_name {data_args.score_sum_name!r} is one of the predicted scores; name the sum apart"
            )
        options["score_sum_name"] = data_args.score_sum_name
    return options


def class_weights_for(train: Dataset, num_labels: int) -> list[float]:
    """Inverse-frequency weights (mean 1 over samples): rare classes count more in the loss."""
    counts = Counter(train["labels"])
    total = sum(counts.values())
    return [total / (num_labels * counts[c]) if counts.get(c) else 0.0 for c in range(num_labels)]


def apply_data_overrides(processor: BaseVideoProcessor, args: DataArguments) -> BaseVideoProcessor:
    """Write the recipe's clip settings into the processor, so the saved processor is what training used."""
    sampling = {
        key: getattr(args, key)
        for key in ("sampling_strategy", "frame_stride", "target_fps")
        if getattr(args, key) is not None
    }
    add_sampling(processor, num_frames=args.num_frames, **sampling)
    if args.image_size is not None:
        processor.size = {"shortest_edge": args.image_size}
    if args.crop_size is not None or args.image_size is not None:
        crop = args.crop_size or args.image_size
        processor.crop_size = {"height": crop, "width": crop}
    return processor


def clip_datasets(
    data: DatasetDict, processor: BaseVideoProcessor, args: DataArguments, seed: int
) -> tuple[Dataset, dict[str, Dataset], ClipDecoder]:
    """Training clips (random, augmented, ``train_clips_per_video`` per video and epoch) and evaluation clips
    (``eval_clips_per_video`` windows spread over each video) for every other split. Returns the training
    loader-transform too: call its ``set_epoch`` each epoch. Videos too short for the clips (left out, as
    videos that cannot be decoded), shorter than one clip, or at another frame rate are logged once per split."""
    sampling = ClipSampling.from_video_processor(processor)
    for name, split in data.items():
        for warning in clip_input_warnings(split, sampling):
            logger.warning("%s split: %s", name, warning)
    jitter = (args.color_jitter,) * 3 + (0.0,) if args.color_jitter > 0 else None
    train_transforms = ClipTransforms.from_video_processor(
        processor,
        training=True,
        crop_scale=(args.crop_scale_min, 1.0),
        flip_prob=args.flip_prob,
        color_jitter=jitter,
    )
    eval_transforms = ClipTransforms.from_video_processor(processor, training=False)
    sources = video_sources(args)
    train_decoder = ClipDecoder(sampling, train_transforms, training=True, seed=seed, **sources)
    train_rows = data["train"]
    if args.rater_scores == "each":  # one training row per rater; validation and test keep the raters' mean
        train_rows = expand_rater_rows(train_rows)
        logger.info("training on every rater's score: %d rows from %d videos", len(train_rows), len(data["train"]))
    train = expand_clips(train_rows, args.train_clips_per_video).with_transform(train_decoder)
    evaluation = {
        name: expand_clips(split, args.eval_clips_per_video).with_transform(
            ClipDecoder(
                sampling, eval_transforms, training=False, clips_per_video=args.eval_clips_per_video, **sources
            )
        )
        for name, split in data.items()
        if name != "train" and len(split)
    }
    return train, evaluation, train_decoder


def make_loader(dataset: Dataset, batch_size: int, *, shuffle: bool, num_workers: int, seed: int) -> DataLoader:
    """A ``DataLoader`` of skill batches (``SkillCollator``) with its own seeded generator."""
    # Its own generator: creating an iterator (a new epoch, a resume) then never draws from the global RNG,
    # which dropout uses, so a resumed run sees the same dropout masks as an uninterrupted one.
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=SkillCollator(),
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=False,
    )
