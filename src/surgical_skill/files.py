"""Writing files and folders whole or not at all.

A run, a checkpoint, a report, a manifest or a video is either complete or absent: everything is written to a
temporary sibling first and renamed into place (``os.replace`` is atomic on one file system), so an interrupted
process never leaves half a file under the final name. Temporary names start with a dot; files and folders get
the usual permissions (the umask's), not the owner-only ones of ``tempfile``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def temporary_sibling(path: str | os.PathLike, kind: str = "tmp") -> Path:
    """A fresh hidden name beside ``path`` (``.name.tmp-1a2b3c4d``), unique across processes; nothing is created."""
    path = Path(path)
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def staged_file(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary name beside ``path`` for the block to write (an encoder, a writer that wants a file name);
    renamed over ``path`` when the block completes, removed on an exception (``path`` is then left as it was).

    The temporary name keeps ``path``'s suffix, for writers that pick a format by it.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary sibling renamed over it when complete."""
    with staged_file(path) as tmp, open(tmp, "x", newline="") as out:
        out.write(text)
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """:func:`write_text_atomic` for bytes."""
    with staged_file(path) as tmp, open(tmp, "xb") as out:
        out.write(data)
    return Path(path)


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
    tmp = temporary_sibling(final)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_folder(tmp, final)


@contextlib.contextmanager
def staged_contents(folder: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder whose entries move into ``folder`` when the block completes, replacing entries of the
    same name and keeping the others (as transformers' ``save_pretrained`` keeps files it does not write).

    For a folder that must not be replaced as a whole (it may be the working directory); a failure inside the
    block leaves ``folder`` as it was.
    """
    final = Path(folder).resolve()  # "." has no name to put a temporary folder beside
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(final)
    tmp.mkdir()
    try:
        yield tmp
        final.mkdir(exist_ok=True)
        for item in tmp.iterdir():
            if item.is_dir() and (final / item.name).is_dir():
                replace_folder(item, final / item.name)
            else:
                os.replace(item, final / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_folder(tmp: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Move the finished folder ``tmp`` to ``final``; an existing ``final`` is moved aside first, then removed."""
    tmp, final = Path(tmp), Path(final)
    if not final.exists():
        os.replace(tmp, final)
        return final
    old = temporary_sibling(final, "old")
    os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        os.replace(old, final)  # put the old one back: never neither
        raise
    if old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)
    return final


def unwritable_reason(path: str | os.PathLike, *, folder: bool = False) -> str | None:
    """Why ``path`` (a file, or with ``folder`` a folder) cannot be written by the writers here, or None.

    Checked before expensive work, so that a result is never computed only to be lost: the writers stage beside
    the target and rename, so its closest existing ancestor must be a folder this process may write into, and an
    existing target must be of the right kind. Nothing is created.
    """
    target = Path(path).expanduser()
    if target.is_dir() and not folder:
        return f"{target} is a folder; give a file name"
    if target.exists() and not target.is_dir() and folder:
        return f"{target} is a file; give a folder"
    parent = target.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is a file, so {target} cannot be created under it"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} is not writable by this user (or is on a read-only file system)"
    return None
