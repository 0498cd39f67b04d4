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
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

PACKAGE = "surgical_skill"
PIPELINE_MODULE = f"{PACKAGE}.pipeline"
TASK = "surgical-skill"
VIDEO_PROCESSOR_FILE = "video_preprocessor_config.json"


def flat_name(module: str) -> str:
    """``surgical_skill.video.decode`` → ``surgical_skill_video_decode`` (the file name in a model folder)."""
    return module.replace(".", "_")


def _is_package(module: str) -> bool:
    return hasattr(importlib.import_module(module), "__path__")


def _absolute(node: ast.ImportFrom, module: str) -> str:
    if node.level == 0:
        return node.module or ""
    parts = module.split(".") if _is_package(module) else module.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _defining_module(target: str, name: str) -> str:
    """The module whose flat copy provides ``name`` for ``from target import name``."""
    if not _is_package(target):
        return target
    package = importlib.import_module(target)
    exports = getattr(package, "_EXPORTS", {})
    if name in exports:  # the lazy re-exports of a package __init__
        return importlib.util.resolve_name(exports[name], target)
    value = getattr(package, name, None)
    owner = getattr(value, "__module__", None)
    if owner and owner.startswith(PACKAGE) and owner != target:
        return owner
    raise ValueError(
        f"`from {target} import {name}` cannot be flattened into remote code: import {name} from the module "
        "that defines it"
    )


def _package_imports(module: str) -> list[tuple[ast.ImportFrom, str, dict[str, list[ast.alias]]]]:
    """Every ``from <this package> import ...`` in ``module``: (node, absolute target, {defining module: names})."""
    source = Path(importlib.import_module(module).__file__).read_text()
    found = []
    for node in ast.walk(ast.parse(source)):
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


def flattened_source(module: str) -> str:
    """``module``'s source with its package imports pointed at the flat files beside it."""
    source = Path(importlib.import_module(module).__file__).read_text()
    lines = source.splitlines(keepends=True)
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
    registered for the config's ``model_type`` is used. Returns the files written."""
    from transformers import AutoConfig, AutoModelForVideoClassification

    from .models.factory import register_auto_classes
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
    roots = [PIPELINE_MODULE]
    ours = config_class.__module__.startswith(PACKAGE)
    if ours:
        roots += [config_class.__module__, model_class.__module__]
    processor_config = folder / VIDEO_PROCESSOR_FILE
    processor_dict = json.loads(processor_config.read_text()) if processor_config.exists() else None
    processor_class = None
    if processor_dict is not None:
        from transformers import AutoVideoProcessor

        processor_class = type(AutoVideoProcessor.from_pretrained(folder))
        if processor_class.__module__.startswith(PACKAGE):
            roots.append(processor_class.__module__)

    written = []
    for module in module_closure(roots):
        path = folder / f"{flat_name(module)}.py"
        path.write_text(flattened_source(module))
        written.append(path)

    if ours:
        config_dict["auto_map"] = {
            "AutoConfig": _entry(config_class),
            "AutoModelForVideoClassification": _entry(model_class),
        }
    from transformers.pipelines import PIPELINE_REGISTRY

    task = dict(PIPELINE_REGISTRY.supported_tasks[TASK])
    config_dict["custom_pipelines"] = {
        TASK: {
            **{k: v for k, v in task.items() if k not in ("impl", "pt", "tf")},
            "impl": _entry(SurgicalSkillPipeline),
            "pt": [c.__name__ for c in task["pt"]],
            "tf": [],
        }
    }
    _write_json(config_path, config_dict)
    if processor_dict is not None and processor_class.__module__.startswith(PACKAGE):
        processor_dict["auto_map"] = {"AutoVideoProcessor": _entry(processor_class)}
        _write_json(processor_config, processor_dict)
    return written


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
