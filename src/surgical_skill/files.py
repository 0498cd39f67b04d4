"""Writing files and folders whole or not at all.

A run, a checkpoint, a report or a manifest is either complete or absent: everything is written to a temporary
sibling first and renamed into place (``os.replace`` is atomic on one file system), so an interrupted process
never leaves half a file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary sibling renamed over it when complete."""
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """``write_text_atomic`` for bytes."""
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | os.PathLike, value: Any, *, sort_keys: bool = False) -> Path:
    """``value`` as indented JSON with a final newline (NumPy numbers as plain numbers), written atomically."""
    text = json.dumps(value, indent=2, sort_keys=sort_keys, default=_plain_number)
    return write_text_atomic(path, text + "\n")


def _plain_number(value: Any) -> Any:
    if hasattr(value, "item"):  # a NumPy or torch scalar
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@contextlib.contextmanager
def staged_folder(final: str | os.PathLike) -> Iterator[Path]:
    """A fresh temporary folder beside ``final`` that replaces it when the block completes.

    On an exception the temporary folder is removed and ``final`` is left exactly as it was. Whether ``final``
    may be replaced is the caller's decision, checked before entering.

    Example::

        with staged_folder(run / "eval") as tmp:
            (tmp / "metrics.json").write_text(...)
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".tmp-{final.name}-"))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_folder(tmp, final)


def replace_folder(tmp: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Move the finished folder ``tmp`` to ``final``; an existing ``final`` is moved aside first, then removed."""
    tmp, final = Path(tmp), Path(final)
    if final.exists():
        old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".old-{final.name}-"))
        os.replace(final, old / final.name)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    return final
