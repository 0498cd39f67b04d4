"""Recipes: a YAML file parsed into the argument dataclasses by ``HfArgumentParser``; flags override keys.

    accelerate launch recipes/train.py recipes/demo/config_demo.yaml --learning_rate 3e-3 --num_train_epochs 5

Unknown keys fail with the closest known name, so a typo in a recipe never silently does nothing. Keys renamed
to transformers' names (``num_epochs`` -> ``num_train_epochs`` ..., see ``arguments.RENAMED_KEYS``) are read
under their old names too, with a ``FutureWarning``: a run folder's ``recipe.yaml`` from before still parses.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser

from ..errors import SurgicalSkillError
from ..evaluation.metrics import ORDINAL_VALIDATION_METRICS, validation_metric_names
from ..files import write_text_atomic
from ..models.factory import MODEL_REGISTRY, build_video_processor
from .arguments import (
    DataArguments,
    ModelArguments,
    TrainingArguments,
    rename_deprecated_flags,
    rename_deprecated_keys,
)

ARGUMENT_CLASSES = (ModelArguments, DataArguments, TrainingArguments)


class RecipeError(SurgicalSkillError, ValueError):
    """A recipe that cannot be used as written."""


def known_keys() -> list[str]:
    """Every recipe key, under its current name."""
    return [f.name for cls in ARGUMENT_CLASSES for f in dataclasses.fields(cls)]


def load_recipe_file(path: str | Path) -> dict[str, Any]:
    """A recipe YAML as a mapping of current keys (renamed ones moved, with a warning); unknown keys fail."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe {path} not found")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise RecipeError(f"recipe {path} is not valid YAML: {err}") from err
    if not isinstance(values, dict):
        raise RecipeError(f"recipe {path} must be a mapping of keys to values")
    values = rename_deprecated_keys(values, where=f"recipe {path}")
    unknown = [key for key in values if key not in known_keys()]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known_keys(), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise RecipeError(
            f"recipe {path} has unknown keys: {', '.join(hints)}. Known keys: {', '.join(sorted(known_keys()))}"
        )
    return values


def parse_recipe(
    argv: Sequence[str] | None = None,
) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """Parse ``[recipe.yaml] [--key value ...]``: YAML values first, command-line flags win.

    Without a YAML file, flags alone (and the defaults) make the recipe. ``--help`` lists every key.
    """
    argv = rename_deprecated_flags(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(ARGUMENT_CLASSES, allow_abbrev=False)  # a typo never matches a longer key
    values: dict[str, Any] = {}
    if argv and argv[0].endswith((".yaml", ".yml")):
        values = load_recipe_file(argv.pop(0))
    # YAML values become the parser's defaults, so flags override them and types are checked once.
    parser.set_defaults(**values)
    try:
        model_args, data_args, training_args, remaining = parser.parse_args_into_dataclasses(
            args=argv, return_remaining_strings=True
        )
    except ValueError as err:  # a __post_init__ check
        raise RecipeError(str(err)) from err
    if remaining:
        raise RecipeError(f"unknown arguments {remaining}; see --help for the known ones")
    check_recipe(model_args, data_args, training_args)
    return model_args, data_args, training_args


def check_recipe(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments) -> None:
    """The checks that need keys of two groups, made before any data is loaded (each group checks its own keys
    when it is made): a ``crop_size`` larger than the frames a registry model's processor resizes to (the crop
    would be padded with black), a ``num_frames`` the model cannot take (SlowFast: a multiple of alpha), and a ``metric_for_best_model`` the task will not compute, when ``target`` (and
    ``label_names``) say the task.

    Raises:
        RecipeError: naming the keys and the values allowed.
    """
    name = model_args.model_name_or_path
    if data_args.crop_size is not None and data_args.image_size is None and name in MODEL_REGISTRY:
        edge = build_video_processor(name).size.shortest_edge
        if edge is not None and data_args.crop_size > edge:
            raise RecipeError(
                f"crop_size ({data_args.crop_size}) is larger than the image_size {name!r} uses ({edge}): frames "
                f"are resized to a short side of {edge} and the crop would be padded with black. Set image_size to "
                f"at least {data_args.crop_size}, or make crop_size at most {edge}"
            )
    spec = MODEL_REGISTRY.get(name)
    if data_args.num_frames is not None and hasattr(getattr(spec, "config_class", None), "check_clip_frames"):
        try:  # SlowFast: a clip must be a multiple of alpha frames
            config = spec.config_class(**{**spec.config_defaults, **model_args.model_config})
            config.check_clip_frames(data_args.num_frames)
        except ValueError as err:
            raise RecipeError(f"num_frames: {err}") from err
    metric = training_args.metric_for_best_model
    ordinal = model_args.ordinal or model_args.ordinal_loss != "cross_entropy"
    ordinal_names = {f"{level}_{name}" for level in ("video", "clip") for name in ORDINAL_VALIDATION_METRICS}
    if metric is not None and (
        (ordinal and metric in ordinal_names)
        or ("/" in metric and metric.split("_", 1)[-1].split("/")[0] in (data_args.score_columns or []))
    ):
        return  # an ordered-class figure, or one named score's own: computed for such models
    if metric is None or data_args.target not in ("label", "score"):
        # auto, or a public dataset's target (grs, skill_level ...): the data decides the task, checked once the
        # model is built, still before the first epoch
        return
    regression = data_args.target == "score"
    num_classes = None if regression or not data_args.label_names else len(data_args.label_names)
    allowed = validation_metric_names(regression, num_classes)
    if metric not in allowed:  # worded as the check at training time words it
        if regression:
            task = "a score (regression) model (target: score)"
        elif num_classes:
            task = f"a class model of {num_classes} classes (target: label, {num_classes} label_names)"
        else:
            task = "a class model (target: label)"
        raise RecipeError(
            f"metric_for_best_model={metric!r} is not computed for {task}; choose one of {', '.join(allowed)}"
        )


def recipe_to_dict(*groups: Any) -> dict[str, Any]:
    """The resolved recipe (every key, defaults included), as saved in the run folder."""
    out: dict[str, Any] = {}
    for group in groups:
        out.update(dataclasses.asdict(group))
    return out


def save_recipe(path: str | Path, *groups: Any) -> None:
    """Write the resolved recipe (:func:`recipe_to_dict`) as YAML, atomically."""
    write_text_atomic(path, yaml.safe_dump(recipe_to_dict(*groups), sort_keys=False))
