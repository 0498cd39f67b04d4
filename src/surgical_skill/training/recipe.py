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
from ..files import write_text_atomic
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
    return model_args, data_args, training_args


def recipe_to_dict(*groups: Any) -> dict[str, Any]:
    """The resolved recipe (every key, defaults included), as saved in the run folder."""
    out: dict[str, Any] = {}
    for group in groups:
        out.update(dataclasses.asdict(group))
    return out


def save_recipe(path: str | Path, *groups: Any) -> None:
    """Write the resolved recipe (:func:`recipe_to_dict`) as YAML, atomically."""
    write_text_atomic(path, yaml.safe_dump(recipe_to_dict(*groups), sort_keys=False))
