"""The layering of docs/architecture.md, checked: data flows video → data → models → evaluation → training, and
no module imports a layer above its own (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "surgical_skill"
BASE = {"files", "deprecation", "errors", "limits", "markup"}

# layer -> the package's layers it may import (docs/architecture.md, "Layers")
ALLOWED = {
    "files": {"errors"},
    "errors": set(),
    "deprecation": set(),
    "limits": {"errors"},
    "markup": set(),
    "video": BASE,
    "data": BASE | {"video"},
    "models": BASE | {"video"},
    "evaluation": BASE | {"video", "data", "models"},
    "training": BASE | {"video", "data", "models", "evaluation"},
    "pipeline": BASE | {"video", "data", "models", "remote_code"},
    "remote_code": BASE | {"models", "pipeline"},
    "hub": BASE | {"evaluation", "remote_code", "models"},
    "testing_utils": BASE | {"video"},
    "app": BASE | {"video", "data", "models", "evaluation", "pipeline", "hub"},
    "space": BASE | {"hub", "pipeline"},
}


def _module_name(path: Path) -> tuple[str, bool]:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def package_imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module) of every import of the package in ``source``, the text of ``module``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [(line, target) for line, target in found if target.split(".")[0] == "surgical_skill"]


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_layer_has_a_rule():
    layers = {layer_of(_module_name(p)[0]) for p in SRC.rglob("*.py")}
    assert layers - set(ALLOWED) <= {"__init__", "cli"}, "a new layer: give it a row in ALLOWED and the docs"


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_imports_a_layer_above_its_own(path):
    module, is_package = _module_name(path)
    own = layer_of(module)
    if own in ("__init__", "cli"):  # the public names and the command sit on top of everything
        return
    for line, target in package_imports(path.read_text(), module, is_package):
        other = layer_of(target)
        assert other == own or other in ALLOWED[own], (
            f"{path.relative_to(SRC)}:{line} imports {target}: the {own} layer may import only "
            f"{sorted(ALLOWED[own]) or 'nothing of the package'} (docs/architecture.md)"
        )


def test_the_checker_sees_relative_imports_inside_functions():
    source = "import os\n\ndef f():\n    from ..training import train\n    from . import decode\n"
    assert package_imports(source, "surgical_skill.video.example") == [
        (4, "surgical_skill.training"),
        (5, "surgical_skill.video"),
    ]
    assert package_imports("from .errors import X\n", "surgical_skill.video", is_package=True) == [
        (1, "surgical_skill.video.errors")
    ]
