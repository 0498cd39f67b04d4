"""Readers for the field's public skill datasets, exactly as distributed, with their published protocols.

========================  ==================================================================================
format                    tree it reads
========================  ==================================================================================
``jigsaws``               ``JIGSAWS/<Task>/{video,transcriptions,kinematics}``, ``meta_file_<Task>.txt`` and
                          ``Experimental_setup/`` (LOUO / LOSO split files); or one task folder
``aixsuture``             the OSATS spreadsheet (``.xlsx``, one row per rater) and ``<VIDEO>.mp4`` files
``cataract-lmm``          ``videos/SK_*.mp4`` with ``annotations/skill_scores.csv``; or ``cluster_<k>/`` folders
``heichole``              ``Hei-Chole<N>_<Phase>_Skill.csv`` files and ``Hei-Chole<N>.mp4`` videos
========================  ==================================================================================

Each format is a module here with ``FORMAT`` (its name), ``OPTIONS`` (the keyword options ``read`` takes),
``PROTOCOLS`` (the published cross-validation protocols it offers), ``detect(root) -> bool`` and
``read(root, **options) -> PublicDataset``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from ...errors import UsageError
from ..splits import SkillDatasetError
from .common import ALL_SUBSCORES, Problem, PublicDataset, Target, raise_on_errors

# format name -> module in this package (imported when first used)
FORMATS: dict[str, str] = {
    "jigsaws": "jigsaws",
    "aixsuture": "aixsuture",
    "cataract-lmm": "cataract_lmm",
    "heichole": "heichole",
}
# published protocol (a recipe's `cv:`) -> (format that offers it, row column with each row's test fold)
PROTOCOLS: dict[str, tuple[str, str]] = {
    "jigsaws-louo": ("jigsaws", "fold_louo"),
    "jigsaws-loso": ("jigsaws", "fold_loso"),
    "jigsaws-4fold": ("jigsaws", "fold_4fold"),
}


def format_module(name: str) -> ModuleType:
    """The reader module of format ``name``; an unknown name lists the known ones."""
    if name not in FORMATS:
        raise UsageError(f"unknown dataset format {name!r}; the formats are {', '.join(FORMATS)}")
    return importlib.import_module(f"{__name__}.{FORMATS[name]}")


def detect_format(root: str | os.PathLike) -> str | None:
    """The format whose documented layout ``root`` has (looked for in each reader's ``detect``), or None.

    Several matching is an error: the caller must say which (``format=``).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        return None
    found = [name for name in FORMATS if format_module(name).detect(root)]
    if len(found) > 1:
        raise UsageError(
            f"{root} looks like more than one dataset format ({', '.join(found)}); say which with format=... "
            "(`dataset_format:` in a recipe, --format on the command line)"
        )
    return found[0] if found else None


def read_public_dataset(root: str | os.PathLike, format: str | None = None, **options: Any) -> PublicDataset:
    """Read a public dataset tree (``format`` detected when None) into a :class:`PublicDataset`.

    Problems in the tree are listed in the result, not raised; a root that is not such a tree, or options the
    reader does not take, are errors.

    Example:
        >>> data = read_public_dataset("JIGSAWS", task="Suturing", view="capture1")
        >>> data.target("grs").score_range
        (6.0, 30.0)
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SkillDatasetError(f"{root}: no such folder (a {format or 'public'} dataset is read from its folder)")
    if format is None:
        format = detect_format(root)
        if format is None:
            raise SkillDatasetError(
                f"{root}: not a dataset tree this toolkit knows ({', '.join(FORMATS)}); give format=... if it is "
                "one of them laid out differently, or use a manifest (CSV/JSONL) or a folder per class"
            )
    return format_module(format).read(root, **{k: v for k, v in options.items() if v is not None})


__all__ = [
    "ALL_SUBSCORES",
    "FORMATS",
    "PROTOCOLS",
    "Problem",
    "PublicDataset",
    "Target",
    "detect_format",
    "format_module",
    "raise_on_errors",
    "read_public_dataset",
]
