"""The package's own code inside a saved model folder, for people who have not installed surgical-skill:

    >>> from transformers import pipeline
    >>> skill = pipeline("surgical-skill", model="org/name", trust_remote_code=True)

transformers loads remote code from flat files beside the weights whose package imports are single-level
relative ones (``from .x import y``). :func:`save_remote_code` writes every module the pipeline and the model
need (found by following their imports), flattened (``surgical_skill/video/decode.py`` becomes
``surgical_skill_video_decode.py``) with those imports rewritten, and records the entry points: ``auto_map``
(config, model) and ``custom_pipelines`` in ``config.json``, ``auto_map`` in the video processor's config.

A folder with ``custom_pipelines`` asks transformers for ``trust_remote_code=True`` even where the package is
installed, so folders written by training leave it out; the folder pushed to the Hub (``surgical-skill push``)
and ``SurgicalSkillPipeline.save_pretrained`` include it.

The import rule for shipped modules
-----------------------------------
The modules shipped are ``surgical_skill.pipeline``, the model family's ``configuration_*`` and ``modeling_*``
modules and the video processor's module, and every package module they import, directly or not, including
imports inside functions (see :func:`shipped_modules`). Each of them must:

1. import the package's modules only as ``from <module> import <names>`` (relative, ``from ..video.decode
   import decode_frames``, or absolute). ``import surgical_skill...`` cannot be rewritten into a flat file.
2. import each name from the module that defines it, or from a package ``__init__`` that re-exports it with
   a ``from .<module> import <name>`` statement.
   Package ``__init__`` files are never shipped: what they define or do at import (registration) is absent
   from a folder. Import names, not modules (``from . import sampling`` cannot be flattened).
3. import from outside the package only the standard library and :data:`REMOTE_REQUIREMENTS` (transformers,
   torch, torchvision, PyAV, NumPy): what a folder's user installs. transformers refuses to load remote code
   whose files import anything missing, even inside a function that never runs; an optional dependency
   (torchcodec) is imported inside a ``try:`` block, which that check skips.
4. not find package files or modules by path or name at run time (``__file__``-relative data,
   ``importlib.import_module("surgical_skill...")``): in a folder the modules sit flat, in a package that
   transformers names (``transformers_modules.<folder>``).

Everything a shipped module imports is shipped too, even for a path that never runs from a folder
(``SurgicalSkillPipeline.save_pretrained`` imports this module), so keep such imports light. Rules 1 to 3 and
unique flat file names are checked by :func:`check_import_rule`, on what is shipped at each save and, in
``tests/test_remote_code.py``, for every model family; the tests also import each flattened folder in a
Python where ``surgical_skill`` cannot be imported.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoModelForVideoClassification, AutoVideoProcessor
from transformers.dynamic_module_utils import get_imports
from transformers.pipelines import PIPELINE_REGISTRY

from .files import write_json_atomic, write_text_atomic
from .models.factory import register_auto_classes
from .models.loading import keep_own_code_entries

PACKAGE = "surgical_skill"
PIPELINE_MODULE = f"{PACKAGE}.pipeline"
TASK = "surgical-skill"
VIDEO_PROCESSOR_FILE = "video_preprocessor_config.json"
# The third-party packages shipped modules may import (rule 3): what a folder's README asks users to install.
REMOTE_REQUIREMENTS = ("av", "numpy", "torch", "torchvision", "transformers")


def flat_name(module: str) -> str:
    """``surgical_skill.video.decode`` → ``surgical_skill_video_decode`` (the file name in a model folder)."""
    return module.replace(".", "_")


def _source_file(module: str) -> Path:
    return Path(importlib.import_module(module).__file__)


def _is_package(module: str) -> bool:
    return hasattr(importlib.import_module(module), "__path__")


def _absolute(node: ast.ImportFrom, module: str) -> str:
    if node.level == 0:
        return node.module or ""
    parts = module.split(".") if _is_package(module) else module.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _defining_module(target: str, name: str) -> str:
    """The module whose flat copy provides ``name`` for ``from target import name``: ``target`` itself, or for
    a package the module its ``__init__`` imports ``name`` from (rule 2)."""
    if not _is_package(target):
        return target
    for node in ast.walk(ast.parse(_source_file(target).read_text())):
        if not isinstance(node, ast.ImportFrom) or _absolute(node, target).split(".")[0] != PACKAGE:
            continue
        for alias in node.names:
            if (alias.asname or alias.name) == name:
                return _defining_module(_absolute(node, target), alias.name)
    raise ValueError(
        f"`from {target} import {name}` cannot be flattened into remote code: import {name} from the module "
        "that defines it"
    )


def _package_imports(module: str) -> list[tuple[ast.ImportFrom, str, dict[str, list[ast.alias]]]]:
    """Every ``from <this package> import ...`` in ``module``: (node, absolute target, {defining module: names}).

    Raises:
        ValueError: an import that breaks rule 1 or 2 of the module docstring.
    """
    found = []
    for node in ast.walk(ast.parse(_source_file(module).read_text())):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == PACKAGE for a in node.names):
            raise ValueError(f"{module}: `import {PACKAGE}...` cannot be flattened; use `from ... import ...`")
        if not isinstance(node, ast.ImportFrom):
            continue
        target = _absolute(node, module)
        if target.split(".")[0] != PACKAGE:
            continue
        grouped: dict[str, list[ast.alias]] = {}
        for alias in node.names:
            grouped.setdefault(_defining_module(target, alias.name), []).append(alias)
        found.append((node, target, grouped))
    return found


def module_closure(roots: list[str]) -> list[str]:
    """The package modules ``roots`` import, directly or not (imports inside functions included)."""
    seen: list[str] = []
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.append(module)
        for _, _, grouped in _package_imports(module):
            todo.extend(m for m in grouped if m not in seen)
    return sorted(seen)


def shipped_modules(*classes: type | None) -> list[str]:
    """The modules a folder carries for the pipeline and those of ``classes`` (config, model, video processor)
    that belong to this package; the others are transformers' own and load from transformers."""
    ours = [cls.__module__ for cls in classes if cls is not None and _is_ours(cls)]
    return module_closure([PIPELINE_MODULE, *ours])


def _is_ours(cls: type) -> bool:
    return cls.__module__.split(".")[0] == PACKAGE


def import_rule_violations(module: str) -> list[str]:
    """What in ``module`` breaks rules 1 to 3 of the import rule (module docstring), one line each."""
    problems = []
    try:
        _package_imports(module)
    except ValueError as err:
        problems.append(str(err))
    allowed = {PACKAGE, *REMOTE_REQUIREMENTS, *sys.stdlib_module_names}
    # transformers' own load-time check (it skips imports in `try:` blocks), run on the unflattened file
    for name in sorted(set(get_imports(_source_file(module))) - allowed):
        problems.append(
            f"{module} imports {name!r}, which a model folder's user need not have: only the standard library and "
            f"{', '.join(REMOTE_REQUIREMENTS)} (import optional packages inside a `try:` block)"
        )
    return problems


def check_import_rule(modules: list[str]) -> None:
    """Raise ``ValueError`` listing every break of the import rule in ``modules`` (and clashing flat names)."""
    problems = [problem for module in modules for problem in import_rule_violations(module)]
    names: dict[str, str] = {}
    for module in modules:
        if names.setdefault(flat_name(module), module) != module:
            problems.append(f"{names[flat_name(module)]} and {module} share the flat file name {flat_name(module)}")
    if problems:
        raise ValueError("cannot ship the package's code in a model folder:\n  " + "\n  ".join(problems))


def flattened_source(module: str) -> str:
    """``module``'s source with its package imports pointed at the flat files beside it."""
    lines = _source_file(module).read_text().splitlines(keepends=True)
    for node, _, grouped in sorted(_package_imports(module), key=lambda item: -item[0].lineno):
        indent = " " * node.col_offset
        replacement = [
            f"{indent}from .{flat_name(owner)} import "
            + ", ".join(a.name if a.asname is None else f"{a.name} as {a.asname}" for a in aliases)
            + "\n"
            for owner, aliases in grouped.items()
        ]
        lines[node.lineno - 1 : node.end_lineno] = replacement
    header = f"# Copied from {module} (surgical-skill) by surgical_skill.remote_code; imports flattened.\n"
    return header + "".join(lines)


def _entry(cls: type) -> str:
    return f"{flat_name(cls.__module__)}.{cls.__name__}"


def save_remote_code(folder: str | os.PathLike, model: Any = None) -> list[Path]:
    """Write the pipeline's and the model's code into ``folder`` (a saved model: ``config.json`` and the video
    processor config) and record it there, so it loads with ``trust_remote_code=True`` and only transformers,
    torch, torchvision and PyAV installed. ``model`` (optional) names the model class; else the class
    registered for the config's ``model_type`` is used. Returns the files written.

    Raises:
        FileNotFoundError: ``folder`` holds no ``config.json``.
        ValueError: a module to ship breaks the import rule (module docstring); nothing is written then.
    """
    # pipeline.py imports this module (SurgicalSkillPipeline.save_pretrained): imported here, not at the top
    from .pipeline import SurgicalSkillPipeline, register_pipeline

    register_auto_classes()
    register_pipeline()
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(f"{folder} holds no config.json: save the model there first")
    config_dict = json.loads(config_path.read_text())
    config_class = type(AutoConfig.for_model(config_dict["model_type"]))
    model_class = type(model) if model is not None else AutoModelForVideoClassification._model_mapping[config_class]
    processor_path = folder / VIDEO_PROCESSOR_FILE
    processor_class = (
        type(AutoVideoProcessor.from_pretrained(folder, trust_remote_code=False)) if processor_path.exists() else None
    )

    # the model's code only with its config's: a transformers config cannot name a class of ours in auto_map
    modules = shipped_modules(*((config_class, model_class) if _is_ours(config_class) else ()), processor_class)
    check_import_rule(modules)
    written = [write_text_atomic(folder / f"{flat_name(module)}.py", flattened_source(module)) for module in modules]

    # only the entries written here: one another tool or author left (code of another module, another repository's
    # org/repo--module.Class) would run for whoever loads this folder with trust_remote_code=True
    own = {"AutoConfig": config_class, "AutoModelForVideoClassification": model_class}
    config_dict, _ = keep_own_code_entries(config_dict, own, where=str(config_path))
    if _is_ours(config_class):
        config_dict["auto_map"] = {
            "AutoConfig": _entry(config_class),
            "AutoModelForVideoClassification": _entry(model_class),
        }
    config_dict["custom_pipelines"] = {TASK: _custom_pipeline_entry(SurgicalSkillPipeline)}
    write_json_atomic(config_path, config_dict, sort_keys=True)
    if processor_class is not None:
        processor_dict = json.loads(processor_path.read_text())
        processor_dict, dropped = keep_own_code_entries(
            processor_dict, {"AutoVideoProcessor": processor_class}, where=str(processor_path)
        )
        if _is_ours(processor_class):
            processor_dict["auto_map"] = {"AutoVideoProcessor": _entry(processor_class)}
        if dropped or _is_ours(processor_class):
            write_json_atomic(processor_path, processor_dict, sort_keys=True)
    return written


def _custom_pipeline_entry(pipeline_class: type) -> dict[str, Any]:
    """The task's registration, with its classes named the way ``custom_pipelines`` in ``config.json`` names them."""
    task = dict(PIPELINE_REGISTRY.supported_tasks[TASK])
    return {
        **{k: v for k, v in task.items() if k not in ("impl", "pt", "tf")},
        "impl": _entry(pipeline_class),
        "pt": [c.__name__ for c in task["pt"]],
        "tf": [],
    }
