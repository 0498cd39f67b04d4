"""Writing files and folders whole or not at all.

A run, a checkpoint, a report, a manifest or a video is either complete or absent: everything is written to a
temporary sibling first and renamed into place (``os.replace`` is atomic on one file system), so an interrupted
process never leaves half a file under the final name. Temporary names start with a dot; files and folders get
the usual permissions (the umask's), not the owner-only ones of ``tempfile``.

Every folder the toolkit makes carries a small marker file (:data:`MARKER`: who made it, what kind, which
version). An existing folder is replaced or deleted only when it carries the marker or the caller says
``overwrite`` (``--overwrite``): a mistyped ``--output-dir`` must never cost someone a folder of their own.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.metadata
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import UsageError

MARKER = ".surgical-skill.json"  # inside every folder the toolkit makes; what allows replacing it
MADE_BY = "surgical-skill"


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
def staged_folder(
    final: str | os.PathLike,
    *,
    kind: str = "folder",
    overwrite: bool = False,
    legacy: tuple[str, ...] = (),
) -> Iterator[Path]:
    """A fresh temporary folder beside ``final`` (marked as the toolkit's ``kind`` of folder) that replaces it
    when the block completes.

    On an exception the temporary folder is removed and ``final`` is left exactly as it was. An existing
    ``final`` is replaced only when it is empty, carries the toolkit's marker of the same ``kind`` (or, made
    before markers, holds only the ``legacy`` file names), or with ``overwrite``: checked before the block runs
    and again before the rename, so no work is done only to be refused.

    Raises:
        UsageError: ``final`` is a file, a folder the toolkit did not make, or one it made as another kind (a
            training run is no cross-validation summary), and ``overwrite`` is not given.

    Example::

        with staged_folder(run / "eval", kind="evaluation-report") as tmp:
            (tmp / "metrics.json").write_text(...)
    """
    final = Path(final)
    check_replaceable(final, kind=kind, overwrite=overwrite, legacy=legacy)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(final)
    tmp.mkdir()
    try:
        mark_folder(tmp, kind)
        yield tmp
        replace_folder(tmp, final, kind=kind, overwrite=overwrite, legacy=legacy)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def mark_folder(folder: str | os.PathLike, kind: str) -> Path:
    """Write the toolkit's marker into ``folder`` (which must exist): what lets a later call replace it."""
    try:  # from the installed metadata: this module is also copied into model folders as remote code
        version = importlib.metadata.version(MADE_BY)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return write_json_atomic(Path(folder) / MARKER, {"made_by": MADE_BY, "kind": kind, "version": version})


def folder_kind(folder: str | os.PathLike) -> str | None:
    """The kind written in ``folder``'s marker, or None when it has no readable marker of this toolkit."""
    try:
        marker = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("made_by") != MADE_BY:
        return None
    return str(marker.get("kind", ""))


def is_toolkit_folder(folder: str | os.PathLike, legacy: tuple[str, ...] = ()) -> bool:
    """Whether ``folder`` is one the toolkit made: it carries the marker, or (folders made before the marker)
    it is not empty and every entry in it is a plain file whose name matches one of the ``legacy`` patterns (so
    a folder holding anything else, e.g. someone's ``thesis.txt`` or a subfolder, is never taken for one)."""
    folder = Path(folder)
    if folder_kind(folder) is not None:
        return True
    if not legacy or not folder.is_dir():
        return False
    entries = list(folder.iterdir())
    return bool(entries) and all(
        p.is_file() and not p.is_symlink() and any(fnmatch.fnmatchcase(p.name, g) for g in legacy) for p in entries
    )


def check_replaceable(
    final: str | os.PathLike,
    *,
    kind: str | None = None,
    overwrite: bool = False,
    legacy: tuple[str, ...] = (),
) -> None:
    """Refuse to replace or delete ``final`` unless it is absent, an empty folder, a folder the toolkit made
    (:func:`is_toolkit_folder`) as ``kind`` (any kind when None), or ``overwrite`` is given. A file is never
    replaced by a folder.

    The kind matters because a marked folder holds more than the toolkit wrote: a training run keeps its model,
    checkpoints and whatever its owner put beside them, so a cross-validation summary or a model saved to the
    same path must not take its place unasked.

    Raises:
        UsageError: one line naming the folder and what to do.
    """
    final = Path(final)
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise UsageError(f"{final} is a file (or a link), not a folder: choose another folder")
    if not final.exists() or overwrite or not any(final.iterdir()):
        return
    found = folder_kind(final)
    if found is not None and kind is not None and found != kind:
        raise UsageError(
            f"{final} is a {found} folder of surgical-skill, not a {kind} one, so it is left alone: choose "
            "another folder, or pass --overwrite to replace it"
        )
    if is_toolkit_folder(final, legacy):
        return
    raise UsageError(
        f"{final} already exists and was not made by surgical-skill (no {MARKER} in it), so it is left alone: "
        "choose another folder, or pass --overwrite to replace it"
    )


def remove_toolkit_folder(folder: str | os.PathLike) -> bool:
    """Delete ``folder`` if the toolkit made it (its marker, or an empty folder); True when it was deleted.

    For leftovers (temporary and moved-aside siblings): anything else under such a name is someone else's and is
    left where it is."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return False
    if folder_kind(folder) is None and any(folder.iterdir()):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def stale_siblings(path: str | os.PathLike, kind: str = "tmp") -> list[Path]:
    """Siblings of ``path`` named exactly as :func:`temporary_sibling` names them (``.name.tmp-PID-8HEX``)."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.{re.escape(kind)}-\d+-[0-9a-f]{{8}}")
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir() if pattern.fullmatch(p.name))


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
                # an entry of the same name is replaced, as save_pretrained replaces the files it writes
                replace_folder(item, final / item.name, overwrite=True)
            else:
                os.replace(item, final / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_folder(
    tmp: str | os.PathLike,
    final: str | os.PathLike,
    *,
    kind: str | None = None,
    overwrite: bool = False,
    legacy: tuple[str, ...] = (),
) -> Path:
    """Move the finished folder ``tmp`` to ``final``; an existing ``final`` (only one :func:`check_replaceable`
    allows for ``kind``) is moved aside first, then removed.

    Raises:
        UsageError: ``final`` exists and is not the toolkit's ``kind`` of folder, and ``overwrite`` is not given.
    """
    tmp, final = Path(tmp), Path(final)
    if not final.exists() and not final.is_symlink():
        os.replace(tmp, final)
        return final
    check_replaceable(final, kind=kind, overwrite=overwrite, legacy=legacy)
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
