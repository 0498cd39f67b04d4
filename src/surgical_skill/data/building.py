"""Build a skill `DatasetDict` from a folder per class, a CSV/JSONL manifest, the Hub, or an in-memory dataset.

Rows stay cheap (a video path, a label or score, a subject, probed metadata); frames are decoded only when a
clip is asked for (see :class:`~surgical_skill.data.clips.ClipDecoder`).
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import datasets
import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Value

from ..errors import UsageError
from ..files import write_bytes_atomic
from ..limits import exceeded, get_limits
from ..markup import CONTROL_CHARACTERS, visible_controls
from ..video import ProxySettings, VideoDecodeError, probe
from ..video.sources import check_source
from .splits import SPLIT_NAMES, SkillDatasetError, make_splits

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".ts")
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
}
# Ordered skill vocabularies: when a dataset's labels all come from one of these, classes keep this order
# (so class 0 is the least skilled and ordinal metrics make sense); otherwise names are sorted.
KNOWN_LABEL_ORDERS = (
    ("lower-skilled", "higher-skilled"),
    ("novice", "intermediate", "expert"),
    ("beginner", "intermediate", "advanced", "expert"),
    ("low", "medium", "high"),
    ("poor", "fair", "good", "excellent"),
)
# What probing a video stores; ``total_num_frames`` is the video's length (a clip's is ``num_frames``).
METADATA_COLUMNS = ("total_num_frames", "fps", "duration", "width", "height")
# Old name -> new name of metadata columns, for datasets, manifests and save_to_disk folders written before.
RENAMED_METADATA_COLUMNS = {"num_frames": "total_num_frames"}
# Read as the video path when a manifest or dataset has no ``video`` column and exactly one of these: datasets'
# own folder builders (videofolder, imagefolder) name it ``file_name`` in metadata.csv; ``path`` is common too.
PATH_COLUMN_ALIASES = ("file_name", "path", "video_path")


def with_current_column_names(dataset: Dataset) -> Dataset:
    """``dataset`` with its metadata columns under today's names (a dataset built or saved before
    ``total_num_frames`` was named so carries the video's length as ``num_frames``)."""
    renames = {
        old: new
        for old, new in RENAMED_METADATA_COLUMNS.items()
        if old in dataset.column_names and new not in dataset.column_names
    }
    return dataset.rename_columns(renames) if renames else dataset


def _list_problems(title: str, items: Sequence[str], limit: int = 20) -> str:
    shown = "\n  ".join(items[:limit])
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return f"{title} ({len(items)}):\n  {shown}{more}"


def _column_list(columns: Sequence[str]) -> str:
    # repr shows what a user cannot see otherwise: ' label' (a space after the comma) is not 'label'
    return ", ".join(repr(c) for c in columns) if columns else "none"


def _path_column(columns: Sequence[str], requested: str, origin: str) -> str:
    """The column holding the video paths: ``requested`` when there, else (for the default ``video``) the one
    of :data:`PATH_COLUMN_ALIASES` present; none or several is an error naming the columns found."""
    if requested in columns:
        return requested
    if requested != "video":
        raise SkillDatasetError(
            f"{origin}: no {requested!r} column (video_column) with the video paths; its columns are "
            f"{_column_list(columns)}"
        )
    found = [c for c in PATH_COLUMN_ALIASES if c in columns]
    if len(found) == 1:
        return found[0]
    if found:
        raise SkillDatasetError(
            f"{origin}: no 'video' column, and {len(found)} columns that could hold the video paths "
            f"({_column_list(found)}): rename the one with the paths to 'video' (or pass video_column=...)"
        )
    raise SkillDatasetError(
        f"{origin}: no column with the video paths: looked for 'video' and {_column_list(PATH_COLUMN_ALIASES)}, "
        f"found {_column_list(columns)}. Rename the column with the paths to 'video' (or pass video_column=...)"
    )


def order_label_names(names: set[str] | Sequence[str]) -> list[str]:
    """A stable class order: a known skill scale's own order when the labels fit one, numeric order when every
    label is a number (``1, 2, 10``, not ``1, 10, 2``), else sorted."""
    names = set(names)
    for scale in KNOWN_LABEL_ORDERS:
        if names <= set(scale):
            return [n for n in scale if n in names]
    try:
        return sorted(names, key=lambda name: (float(name), name))
    except ValueError:
        return sorted(names)


# --------------------------------------------------------------------------------------------- sources


def score_target_names(source: Dataset | DatasetDict | Any) -> list[str] | None:
    """The names of a dataset's scores, in order, when its ``labels`` are several named scores (a struct
    ``{name: score}``); None for classes or a single score. ``source`` is a dataset, a dataset dict (its first
    split) or a ``labels`` feature."""
    if isinstance(source, DatasetDict):
        source = next(iter(source.values()))
    feature = source.features["labels"] if isinstance(source, Dataset) else source
    return list(feature) if isinstance(feature, dict) else None


def label_values(dataset: Dataset) -> np.ndarray:
    """The ``labels`` of every row as an array: class ids or scores (N,), or several named scores (N, K) in
    the order of :func:`score_target_names`."""
    names = score_target_names(dataset)
    values = dataset["labels"]
    if names is None:
        return np.asarray(values)
    return np.asarray([[row[name] for name in names] for row in values], dtype=np.float64).reshape(-1, len(names))


def _rows_from_folder(root: Path) -> tuple[list[dict[str, Any]], str]:
    """Rows of a ``root/<class>/*.mp4`` tree, read with datasets' own ``videofolder`` builder.

    ``metadata.csv`` / ``metadata.jsonl`` beside the videos adds columns (``subject``, ``score`` ...), as in
    any datasets folder; the class still comes from the directory name when the metadata has no label.
    Split directories (``root/train/<class>``, ``root/test/<class>``) become the ``split`` column.
    """
    for metadata in root.rglob("metadata.*"):
        if metadata.suffix.lower() in (".csv", ".jsonl") and metadata.is_file():
            # datasets reads these whole: hold them to the manifest budgets first
            with metadata.open(encoding="utf-8-sig", newline="") as handle:
                for _ in manifest_lines(handle, metadata, header=int(metadata.suffix.lower() == ".csv")):
                    pass
    files, budget = [], get_limits().max_manifest_rows
    for path in root.rglob("*"):
        if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
            files.append(path)
            if len(files) > budget:  # counted while the tree is walked, as a manifest's rows are
                raise exceeded("max_manifest_rows", str(root), f"more than {budget:,} videos")
    if not files:
        raise SkillDatasetError(f"no videos ({', '.join(VIDEO_EXTENSIONS)}) found under {root}")
    loaded = datasets.load_dataset("videofolder", data_dir=str(root))
    rows: list[dict[str, Any]] = []
    for split_name, split in loaded.items():
        split = split.cast_column("video", datasets.Video(decode=False))
        label_feature = split.features.get("label")
        for row in split:
            video = row.pop("video")["path"]
            if isinstance(label_feature, ClassLabel):
                row["label"] = label_feature.int2str(row["label"])
            elif "label" not in row or row["label"] is None:
                row["label"] = Path(video).parent.name
            if split_name in SPLIT_ALIASES and len(loaded) > 1:
                row.setdefault("split", split_name)
            row["video"] = video
            rows.append(row)
    return rows, str(root)


def _csv_delimiter(header: str) -> str:
    """``,``; or ``;`` / tab for a header with no comma and one of those (spreadsheets in many locales save so)."""
    if "," in header:
        return ","
    others = [d for d in (";", "\t") if d in header]
    return others[0] if len(others) == 1 else ","


def manifest_lines(handle: IO[str], path: str | os.PathLike, header: int = 1) -> Iterator[str]:
    """The lines of an open manifest or label file, read one at a time against the budgets of
    :mod:`surgical_skill.limits`: a line longer than ``max_manifest_line_chars`` or more than
    ``max_manifest_rows`` lines after the ``header`` lines are refused when reached, before the rest of the file is
    read (a million-row file is refused after reading the budget's worth, not after loading it all).

    Raises:
        ResourceLimitError: a budget exceeded, naming the file, the line and the budget.
        SkillDatasetError: the file is not UTF-8 text.
    """
    budget = get_limits()
    longest, most = budget.max_manifest_line_chars, budget.max_manifest_rows + header
    for number in itertools.count(1):
        try:
            # at most the budget and a line break ("\r\n"): a line with no end is never read whole
            line = handle.readline(longest + 2)
        except UnicodeDecodeError as err:
            raise SkillDatasetError(
                f"{path}: not UTF-8 text ({err.reason}, at or after line {number}); save it as UTF-8 (in Excel: "
                "CSV UTF-8) and read it again"
            ) from None
        if not line:
            return
        if number > most:
            raise exceeded(
                "max_manifest_rows",
                str(path),
                f"more than {budget.max_manifest_rows:,} rows (lines{' after the header' if header else ''})",
            )
        if len(line.rstrip("\r\n")) > longest:
            raise exceeded(
                "max_manifest_line_chars", f"{path}, line {number}", f"a line of more than {longest:,} characters"
            )
        yield line


def read_text_within_budget(path: str | os.PathLike, *, encoding: str = "utf-8", errors: str = "strict") -> str:
    """A whole label file as text, read through :func:`manifest_lines` (so its budgets apply)."""
    with Path(path).open(encoding=encoding, errors=errors, newline="") as handle:
        return "".join(manifest_lines(handle, path))


def read_manifest(path: Path, video_column: str = "video") -> tuple[list[dict[str, Any]], str]:
    """Rows of a CSV or JSONL manifest (as dicts of strings/values), video paths made absolute (relative paths
    are relative to the manifest).

    The paths are read from ``video_column``; when that is the default ``video`` and the manifest has no such
    column, from the one of ``file_name`` (what datasets' folder builders call it), ``path`` or ``video_path``
    it has, stored under ``video`` in the rows returned. A CSV whose header has no comma but semicolons (or tabs)
    is read with that separator, as spreadsheets in many locales save it. The file is read line by line within
    the manifest budgets (:func:`manifest_lines`).

    Raises:
        SkillDatasetError: not .csv/.jsonl, no rows, a line that is not a JSON object, or no column (or several
            candidate columns) with the video paths, naming the columns found.
        ResourceLimitError: more rows than ``max_manifest_rows`` or a line longer than ``max_manifest_line_chars``.
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            lines = manifest_lines(handle, path, header=1)
            first = next(lines, "")
            reader = csv.DictReader(itertools.chain([first], lines), delimiter=_csv_delimiter(first))
            try:
                rows = [dict(row) for row in reader]
            except csv.Error as err:
                raise SkillDatasetError(f"{path}, line {reader.line_num}: not readable as CSV ({err})") from None
            columns = [c for c in reader.fieldnames or [] if c is not None]
    elif path.suffix.lower() in (".jsonl", ".json"):
        rows = []
        with path.open(encoding="utf-8") as handle:
            for line_number, line in enumerate(manifest_lines(handle, path, header=0), start=1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise SkillDatasetError(f"{path}, line {line_number}: not valid JSON ({err.msg})") from err
                    if not isinstance(row, dict):
                        raise SkillDatasetError(
                            f"{path}, line {line_number}: not a JSON object (one object of column: value per line)"
                        )
                    rows.append(row)
        columns = list(dict.fromkeys(key for row in rows for key in row))
    else:
        raise SkillDatasetError(f"{path}: a manifest must be .csv or .jsonl")
    if not rows:
        raise SkillDatasetError(f"{path}: the manifest has no rows")
    column = _path_column(columns, video_column, str(path))
    base = path.parent
    out = []
    for row in rows:
        video = row.get(column)
        # a URL stays as written (check_source decides on it); any other relative path, "concat:x" or
        # "10:30.mp4" included, is a file beside the manifest, which FFmpeg then reads as a plain path
        if video and not os.path.isabs(str(video)) and "://" not in str(video):
            video = str((base / str(video)).resolve())
        # in place, so the columns keep their order (messages list them as the file has them)
        out.append({(video_column if key == column else key): value for key, value in row.items()})
        out[-1][video_column] = video
    return out, str(path)


def _rows_from_datasets(
    data: Dataset | DatasetDict, video_column: str, label_column: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of an existing dataset whose video column holds paths, or a ``Video`` feature (decoded or not), and
    where each is (``split 'train', index 3``: the dataset's own index, for messages)."""
    splits = data.items() if isinstance(data, DatasetDict) else [(None, data)]
    rows: list[dict[str, Any]] = []
    places: list[str] = []
    for split_name, split in splits:
        column = _path_column(
            split.column_names, video_column, "the dataset" if split_name is None else f"its {split_name} split"
        )
        if len(split) > get_limits().max_manifest_rows:
            where = "the dataset" if split_name is None else f"the dataset's {split_name} split"
            raise exceeded("max_manifest_rows", where, f"{len(split):,} rows")
        # Every media column undecoded: decoding a row would open its files or URLs (datasets' Video, Audio and
        # Image features fetch http(s), hf:// and file:// paths) before any path was checked. The video column
        # then gives the file path (or embedded bytes); any other is kept as the dataset has it.
        for name, feature in split.features.items():
            if isinstance(feature, datasets.Video | datasets.Audio | datasets.Image) and feature.decode:
                split = split.cast_column(name, type(feature)(decode=False))
        label_feature = split.features.get(label_column)
        for index, row in enumerate(split):
            places.append(f"index {index}" if split_name is None else f"split {split_name!r}, index {index}")
            video = row.pop(column)
            if isinstance(video, dict):
                video = (
                    video.get("path") if not video.get("bytes") else _materialize(video["bytes"], video.get("path"))
                )
            row["video"] = video
            if isinstance(label_feature, ClassLabel) and row.get(label_column) is not None:
                row[label_column] = label_feature.int2str(row[label_column])
            if split_name is not None:
                row.setdefault("split", split_name)
            rows.append(row)
    return rows, places


def embedded_videos_folder() -> Path:
    """Where videos embedded in a dataset (Hub parquet rows carry bytes) are written, once each
    (``$SURGICAL_SKILL_CACHE/videos``, by default ``~/.cache/surgical-skill/videos``)."""
    return Path(os.environ.get("SURGICAL_SKILL_CACHE", Path.home() / ".cache" / "surgical-skill")) / "videos"


def video_roots(root: str | os.PathLike | None, *more: str | os.PathLike | None) -> list[str | os.PathLike] | None:
    """The folders a dataset confined to ``root`` may read videos from: ``root``, the folders the toolkit writes
    its videos into for it (``more``: its proxies'; always the embedded videos' cache), or ``None`` (no root)."""
    if root is None:
        return None
    return [root, *(folder for folder in more if folder), embedded_videos_folder()]


def _materialize(data: bytes, name: str | None) -> str:
    """Write a video embedded in a dataset (Hub parquet rows carry bytes) to a cache file, once."""
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    suffix = Path(name).suffix if name else ".mp4"
    cache = embedded_videos_folder()
    target = cache / f"{digest}{suffix}"
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(target, data)
    return str(target)


# ------------------------------------------------------------------------------------------ validation

# Control characters (markup.CONTROL_CHARACTERS: a newline, tab, CR, NUL, U+2028 ...) in a label, subject or file
# name split report lines and table cells, and make file names that other tools read as two: refused at build.
# The columns whose text ends up in reports, plots and file names (after _normalise_rows renamed them)
TEXT_COLUMNS = {"video": "video path", "label": "label", "subject": "subject"}


def _refuse(problems: list[str]) -> SkillDatasetError:
    """One line: the first problem, and how many rows have one too (a list would break the line)."""
    others = len(problems) - 1
    return SkillDatasetError(problems[0] + (f" (and {others} more such row{'s' * (others > 1)})" if others else ""))


def check_row_sources(
    rows: list[dict[str, Any]],
    origin: str,
    places: Sequence[str] | None = None,
    *,
    allow_urls: bool = False,
    root: str | os.PathLike | None = None,
) -> None:
    """Refuse a dataset whose rows could make this process open something other than the videos meant, or put
    invisible characters into reports: every video path goes through
    :func:`~surgical_skill.video.sources.check_source` (a local file; an http(s) URL only with ``allow_urls``;
    never ``file:``, ``concat:``, ``tcp:`` or another FFmpeg protocol; with ``root``, a path that resolves,
    symlinks included, inside it), and video paths, labels and subjects may hold no control character.

    With ``root``, a relative path (of a dataset; a manifest's are already relative to the manifest) is taken
    as relative to ``root`` and written back to its row as such.

    ``places`` names each row in messages (``row 3``, ``split 'train', index 2``); one line names the first
    offending row and counts the others.

    Raises:
        SkillDatasetError: the row, the value and what to do.
    """
    if root is not None and not Path(root).expanduser().is_dir():
        raise UsageError(f"root {str(root)!r} is not a folder: give the folder every video of {origin} must be inside")
    places = places or [f"row {i + 1}" for i in range(len(rows))]
    controls, sources = [], []
    for row, place in zip(rows, places, strict=True):
        for column, what in TEXT_COLUMNS.items():
            value = row.get(column)
            if isinstance(value, str) and CONTROL_CHARACTERS.search(value):
                controls.append(
                    f"{origin}, {place}: the {what} '{visible_controls(value)}' holds a control character "
                    "(a newline, tab, carriage return, NUL ...); remove it from the data"
                    + (" (rename the file)" if column == "video" else "")
                )
        video = row.get("video")
        if video in (None, "") or CONTROL_CHARACTERS.search(str(video)):
            continue  # a missing path is _validate's to report; a control character is reported above
        video = str(video)
        if root is not None and not os.path.isabs(video) and "://" not in video:
            video = row["video"] = str(Path(root).expanduser() / video)
        try:
            check_source(video, allow_urls=allow_urls, root=video_roots(root))
        except VideoDecodeError as err:
            sources.append(f"{origin}, {place}: video {video!r} {_reason(err.reason)}")
    if controls:
        raise _refuse(controls)
    if sources:
        raise _refuse(sources)


def _reason(reason: str) -> str:
    # check_source's reasons read as "is a URL ..." or "resolves to ..." after the path, else as a clause
    return reason if reason.startswith(("is ", "resolves ")) else f"is refused: {reason}"


def _normalise_rows(
    rows: list[dict[str, Any]],
    origin: str,
    *,
    video_column: str,
    label_column: str,
    score_column: str,
    subject_column: str,
    split_column: str,
    target: str,
    score_columns: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Rename the user's columns to ``video``/``label``/``score``/``subject``/``split``, and older metadata
    columns to today's names, and pick the target. ``score_columns`` (several named scores) keep their names.

    Checked here, before any file is looked at: a column named by the caller that is not there, and a target
    without its column; each message names the columns the source has.
    """
    if target not in ("auto", "label", "score"):
        raise UsageError(
            f"{origin}: target must be 'auto', 'label' or 'score', got {target!r} (named targets such as 'grs' are "
            "for the public dataset formats: jigsaws, aixsuture, cataract-lmm, heichole)"
        )
    columns = list(dict.fromkeys(key for row in rows for key in row))
    named = {"label_column": label_column, "score_column": score_column, "subject_column": subject_column}
    named["split_column"] = split_column
    defaults = {"label_column": "label", "score_column": "score", "subject_column": "subject", "split_column": "split"}
    absent = [f"{arg}={name!r}" for arg, name in named.items() if name != defaults[arg] and name not in columns]
    if score_columns is not None:
        absent += [f"score column {name!r}" for name in score_columns if name not in columns]
        if target == "label":
            raise UsageError(
                f"{origin}: several score columns ({', '.join(score_columns)}) are scores: target 'score'"
            )
    if absent:
        raise SkillDatasetError(
            f"{origin}: no such column: {', '.join(absent)}; its columns are {_column_list(columns)}"
        )
    renames = {
        video_column: "video",
        label_column: "label",
        score_column: "score",
        subject_column: "subject",
        split_column: "split",
    }
    # a column named like one of ours but not the one asked for (a 'label' column beside label_column='grade')
    # gives way to the one asked for
    shadowed = set(renames.values()) - set(renames)
    out = []
    for row in rows:
        row = {renames.get(key, key): value for key, value in row.items() if key not in shadowed}
        for old, new in RENAMED_METADATA_COLUMNS.items():
            if old in row:
                row.setdefault(new, row.pop(old))
        out.append(row)
    if score_columns is not None:
        return out, "score"
    has_label = any(row.get("label") not in (None, "") for row in out)
    has_score = any(row.get("score") not in (None, "") for row in out)
    if target == "auto":
        target = "label" if has_label else "score"
    if target == "label" and not has_label:
        raise SkillDatasetError(
            f"{origin}: no {label_column!r} column with class labels (its columns are {_column_list(columns)}); "
            f"name the class column {label_column!r}, or for scores use a {score_column!r} column and target 'score'"
        )
    if target == "score" and not has_score:
        raise SkillDatasetError(
            f"{origin}: no {score_column!r} column with scores (its columns are {_column_list(columns)}); name the "
            f"score column {score_column!r}, or for class labels use a {label_column!r} column and target 'label'"
        )
    return out, target


def _validate(
    rows: list[dict[str, Any]],
    origin: str,
    target: str,
    label_names: Sequence[str] | None,
    score_columns: Sequence[str] | None = None,
) -> None:
    """Check everything at once and report every offending row, not only the first."""

    def where(i: int) -> str:
        return f"row {i + 1}"

    problems: list[str] = []
    no_video = [where(i) for i, row in enumerate(rows) if not row.get("video")]
    if no_video:
        problems.append(_list_problems("rows without a video path", no_video))
    missing = [
        f"{where(i)}: {row['video']}"
        for i, row in enumerate(rows)
        if row.get("video") and "://" not in str(row["video"]) and not os.path.isfile(row["video"])
    ]
    if missing:
        problems.append(_list_problems("video files not found", missing))
    seen: dict[tuple, int] = {}
    duplicates = []
    for i, row in enumerate(rows):
        # a row covering a segment (segment_start/segment_end: a phase of an operation) is one of its video's rows
        segment = tuple(str(row.get(k) or "") for k in ("segment_start", "segment_end"))
        key = (os.path.normpath(str(row.get("video"))), segment)
        if key in seen:
            duplicates.append(f"{where(i)} repeats {where(seen[key])}: {row['video']}")
        else:
            seen[key] = i
    if duplicates:
        problems.append(
            _list_problems("duplicated videos (each video, or each segment of one, must appear once)", duplicates)
        )
    if target == "label":
        empty = [where(i) for i, row in enumerate(rows) if row.get("label") in (None, "")]
        if empty:
            problems.append(_list_problems("rows without a label", empty))
        if label_names is not None:
            unknown = [
                f"{where(i)}: {row['label']!r}"
                for i, row in enumerate(rows)
                if row.get("label") not in (None, "") and str(row["label"]) not in label_names
            ]
            if unknown:
                problems.append(_list_problems(f"labels not in label_names {list(label_names)}", unknown))
            present = {str(row.get("label")) for row in rows}
            absent = [name for name in label_names if name not in present]
            if absent:
                problems.append(_list_problems("classes with no videos", absent))
        else:
            problems += _label_spelling_problems(rows)
    else:
        bad = []
        for i, row in enumerate(rows):
            for column in score_columns or ["score"]:
                if not _is_number(row.get(column)) or not math.isfinite(float(row[column])):
                    bad.append(f"{where(i)}: {row.get(column)!r}" + (f" ({column})" if score_columns else ""))
        if bad:
            problems.append(_list_problems("scores that are not numbers", bad))
    if problems:
        raise SkillDatasetError(f"{origin}: cannot build the dataset\n" + "\n".join(problems))

    if target == "label":
        labels_by_subject: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            if row.get("subject") not in (None, ""):
                labels_by_subject[str(row["subject"])].add(str(row["label"]))
        conflicting = {s: sorted(labels) for s, labels in labels_by_subject.items() if len(labels) > 1}
        if conflicting:
            shown = ", ".join(f"{s}: {labels}" for s, labels in list(conflicting.items())[:10])
            logger.warning(
                "%s: %d subject(s) appear with more than one label (%s). That can be right (skill changes between "
                "trials), but check the ratings if it is not expected.",
                origin,
                len(conflicting),
                shown,
            )


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _label_spelling_problems(rows: list[dict[str, Any]]) -> list[str]:
    """Class labels that cannot all be meant: numbers mixed with names (``3`` beside ``novice``: a score typed
    into the class column, or the other way round), and one number written two ways (``3`` and ``3.0``)."""
    labelled = [(i, str(row["label"])) for i, row in enumerate(rows) if row.get("label") not in (None, "")]
    numbers = [(i, label) for i, label in labelled if _is_number(label)]
    names = [(i, label) for i, label in labelled if not _is_number(label)]
    if numbers and names:
        fewer = numbers if len(numbers) <= len(names) else names
        what = "numbers" if fewer is numbers else "names"
        return [
            _list_problems(
                f"labels that mix numbers and names ({len(numbers)} rows have numbers, {len(names)} names); "
                f"the rows with {what}",
                [f"row {i + 1}: {label!r}" for i, label in fewer],
            )
            + "\n(class labels are all names or all numbers: fix these rows; if the numbers are scores, put them in "
            "a 'score' column and use target 'score')"
        ]
    spellings: dict[float, set[str]] = defaultdict(set)
    for _, label in numbers:
        spellings[float(label)].add(label)
    twice = [" and ".join(repr(s) for s in sorted(found)) for found in spellings.values() if len(found) > 1]
    if twice:
        return [
            _list_problems("class labels that are one number written in two ways (they would be two classes)", twice)
        ]
    return []


# More distinct numbers than any skill scale has classes: more likely a score (GRS 8-40, OSATS) than classes
MAX_NUMERIC_CLASSES = 10


def _warn_if_scores_look_like_classes(rows: list[dict[str, Any]], origin: str) -> None:
    labels = {str(row["label"]) for row in rows}
    if not all(_is_number(label) for label in labels):
        return
    fractional = any(not float(label).is_integer() for label in labels)
    if len(labels) > MAX_NUMERIC_CLASSES or fractional:
        logger.warning(
            "%s: the label column holds %d different numbers%s, each read as a class. If they are scores, put them "
            "in a 'score' column and use target 'score' (regression); give target 'label' to keep them as classes",
            origin,
            len(labels),
            " (some not whole)" if fractional else "",
        )


# ------------------------------------------------------------------------------------------- building


def _probe_columns(batch: dict[str, list], allow_urls: bool = False, root: str | None = None) -> dict[str, list]:
    out: dict[str, list] = {name: [] for name in (*METADATA_COLUMNS, "probe_error")}
    for path in batch["video"]:
        try:
            info = probe(check_source(path, allow_urls=allow_urls, root=video_roots(root)), allow_urls=allow_urls)
        except VideoDecodeError as err:
            for name in METADATA_COLUMNS:
                out[name].append(None)
            out["probe_error"].append(err.reason)
            continue
        values = (info.total_num_frames, info.fps, info.duration, info.width, info.height)
        for name, value in zip(METADATA_COLUMNS, values, strict=True):
            out[name].append(value)
        out["probe_error"].append(None)
    return out


def add_video_metadata(
    dataset: Dataset,
    *,
    num_proc: int | None = None,
    drop_unreadable: bool = False,
    allow_urls: bool = False,
    root: str | os.PathLike | None = None,
) -> Dataset:
    """Probe every video once and store ``total_num_frames``, ``fps``, ``duration``, ``width`` and ``height``
    columns (replacing any there, a ``num_frames`` column of an older dataset included).

    Each path is checked with :func:`~surgical_skill.video.sources.check_source` first (``allow_urls``,
    ``root``), so a refused one counts as unreadable. Unreadable videos raise a :class:`SkillDatasetError` listing all of them, or are dropped with a warning
    when ``drop_unreadable=True``.
    """
    if len(dataset) < 2 * (num_proc or 1):
        num_proc = None
    replaced = (*METADATA_COLUMNS, *RENAMED_METADATA_COLUMNS, "probe_error")
    existing = [c for c in replaced if c in dataset.column_names]
    probed = dataset.remove_columns(existing).map(
        _probe_columns,
        fn_kwargs={"allow_urls": allow_urls, "root": None if root is None else str(root)},
        batched=True,
        batch_size=16,
        num_proc=num_proc,
        desc="Probing videos",
        features=datasets.Features(
            {
                **{k: v for k, v in dataset.features.items() if k not in existing},
                "total_num_frames": Value("int64"),
                "fps": Value("float64"),
                "duration": Value("float64"),
                "width": Value("int64"),
                "height": Value("int64"),
                "probe_error": Value("string"),
            }
        ),
    )
    errors = [
        (i, path, reason)
        for i, (path, reason) in enumerate(zip(probed["video"], probed["probe_error"]))
        if reason is not None
    ]
    if errors:
        listing = [f"row {i + 1}: {path}: {reason}" for i, path, reason in errors]
        if not drop_unreadable:
            raise SkillDatasetError(
                _list_problems("unreadable videos", listing) + "\n(pass drop_unreadable=True to leave them out)"
            )
        logger.warning(_list_problems("leaving out unreadable videos", listing))
        bad = {i for i, _, _ in errors}
        probed = probed.select([i for i in range(len(probed)) if i not in bad])
    return probed.remove_columns("probe_error")


def load_skill_dataset(
    source: str | os.PathLike | Dataset | DatasetDict,
    *,
    video_column: str = "video",
    label_column: str = "label",
    score_column: str | Sequence[str] = "score",
    subject_column: str = "subject",
    split_column: str = "split",
    target: str = "auto",
    label_names: Sequence[str] | None = None,
    split_ratios: tuple[float, float, float] | None = (0.7, 0.15, 0.15),
    seed: int = 0,
    require_subjects: bool = False,
    allow_shared_subjects: bool = False,
    probe_videos: bool = True,
    drop_unreadable: bool = False,
    num_proc: int | None = None,
    proxy_dir: str | os.PathLike | None = None,
    proxy_settings: ProxySettings | None = None,
    format: str | None = None,
    task: str | None = None,
    view: str | None = None,
    fold_file: str | os.PathLike | None = None,
    score_bins: Sequence[float] | None = None,
    drop_invalid_rows: bool = False,
    format_options: dict[str, Any] | None = None,
    allow_urls: bool = False,
    root: str | os.PathLike | None = None,
    **hub_kwargs: Any,
) -> DatasetDict:
    """Build a ``DatasetDict`` of skill-rated videos whose rows are paths, labels and metadata (no frames).

    ``source`` is a folder (``root/<class>/*.mp4``, optionally with ``metadata.csv``), a CSV or JSONL manifest
    (columns ``video`` relative to the manifest, ``label`` or ``score``, optional ``subject`` and ``split``), a
    Hub dataset id (``hub_kwargs`` go to ``datasets.load_dataset``), a folder written by ``save_to_disk``, or
    a ``Dataset``/``DatasetDict``. A ``video`` column may hold paths or a ``Video`` feature; videos embedded as
    bytes (Hub parquet files) are written once to ``~/.cache/surgical-skill/videos``.

    The result has columns ``video`` (path), ``labels`` (``ClassLabel`` for classes, float for a score, and
    for several named scores, ``score_column=[...]`` or a public dataset's ``target="subscores"``, a struct
    ``{name: score}`` whose field order is the model's output order; see :func:`score_target_names`),
    ``subject`` (string, empty when unknown), ``video_id`` (stable row number), the probed metadata and any
    extra columns. Splits come from the source (``split`` column, split folders, or a ``DatasetDict``) when it
    has them, else from ``split_ratios`` with :func:`~surgical_skill.data.splits.make_splits` (stratified by
    label, grouped by subject, so no surgeon is in two splits). ``split_ratios=None`` keeps one ``train`` split.
    A supplied split that puts one surgeon in two splits is an error naming the surgeon and rows, unless
    ``allow_shared_subjects=True``. Without subjects, splits are made per video, with a loud warning (figures
    are optimistic when a surgeon has several videos); ``require_subjects=True`` makes that an error.
    With ``proxy_dir``, rows point at the proxies prepared there (``surgical-skill prepare``); the original
    path stays in ``source_video``.

    **The field's public datasets** are read from their trees as distributed: ``format`` is ``jigsaws``,
    ``aixsuture``, ``cataract-lmm`` or ``heichole`` (detected from the tree when ``source`` is a folder and
    ``format`` is None; see :mod:`surgical_skill.data.public`). ``target`` is then one of the dataset's targets
    (JIGSAWS: ``skill_level`` (N/I/E), ``grs``, each sub-score, ``grs_bins`` with ``score_bins``; ``auto``: the
    dataset's default), ``task`` and ``view`` pick a JIGSAWS task and camera (``capture1``, ``capture2``,
    ``both``), ``fold_file`` is a CSV of ``trial,fold`` for JIGSAWS's 4-fold scheme, ``score_bins`` the lower
    edges of score classes, and ``format_options`` the reader's other options. Rows carry subject, trial, every
    label column, sub-score and rater column, and the folds of the dataset's published protocols
    (``fold_louo``, ``fold_loso`` ...). A malformed label line or a missing video is an error listing every one
    with its file and line, unless ``drop_invalid_rows=True`` (those rows are left out, with a warning).

    **What a row may open**: a video path is a local file. An ``http``/``https`` URL is opened only with
    ``allow_urls=True``; any other protocol FFmpeg knows (``file:``, ``concat:``, ``tcp:`` ...) is refused, as a
    dataset from the Hub or from someone else could otherwise make this process read other files or open
    connections. With ``root``, every path must resolve (``..`` and symlinks followed) inside that folder, and a
    relative path of a dataset is relative to it. Control characters (newline, tab, NUL ...) in a video path,
    label or subject are refused too. Each refusal names the row (see :func:`check_row_sources`). Manifests are
    read within the budgets of :mod:`surgical_skill.limits` (``max_manifest_rows``, ``max_manifest_line_chars``).

    Raises:
        SkillDatasetError: listing every missing file, duplicated video, unknown label, empty class, bad
            score or unreadable video, every surgeon found in two supplied splits, or (``require_subjects``)
            every row without a subject; a refused video path or a control character, naming the row.
        ResourceLimitError: a manifest over the manifest budgets.

    Example:
        >>> data = load_skill_dataset("ratings.csv", split_ratios=(0.7, 0.15, 0.15), seed=0)
        >>> data["train"].features["labels"].names
        ['novice', 'intermediate', 'expert']
    """
    score_columns = None if isinstance(score_column, str) else [str(c) for c in score_column]
    if score_columns is not None:
        repeated = sorted({c for c in score_columns if score_columns.count(c) > 1})
        if not score_columns or repeated:
            raise UsageError(f"score_column lists no column or repeats one: {score_columns}")
        score_column = "score"
    clash = sorted(set(format_options or {}) & {"task", "view", "fold_file", "score_bins", "format"})
    if clash:
        raise UsageError(
            f"format_options may not hold {', '.join(clash)}: pass them as load_skill_dataset's own arguments"
        )
    public = _public_dataset(
        source,
        format,
        drop_invalid_rows=drop_invalid_rows,
        task=task,
        view=view,
        fold_file=fold_file,
        score_bins=score_bins,
        **(format_options or {}),
    )
    if public is not None:
        renamed = {
            name: value
            for name, value, default in (
                ("video_column", video_column, "video"),
                ("label_column", label_column, "label"),
                ("score_column", score_column, "score"),
                ("subject_column", subject_column, "subject"),
                ("split_column", split_column, "split"),
            )
            if value != default
        }
        if renamed:
            raise UsageError(
                f"{source}: {', '.join(f'{k}={v!r}' for k, v in renamed.items())}: a {public.format} tree's columns "
                "are named by its reader; choose what to predict with target=... (`surgical-skill inspect` lists them)"
            )
        # every column name is its default (checked above), as the reader's rows use them
        rows, origin, target, label_names, score_columns = _rows_for_target(public, target, label_names, score_columns)
        places = [f"row {i + 1} (trial {row.get('trial')})" for i, row in enumerate(rows)]
    else:
        rows, origin, video_column, places = _read_source(source, video_column, label_column, hub_kwargs)
    target_asked = target
    rows, target = _normalise_rows(
        rows,
        origin,
        video_column=video_column,
        label_column=label_column,
        score_column=score_column,
        subject_column=subject_column,
        split_column=split_column,
        target=target,
        score_columns=score_columns,
    )
    if label_names is not None:
        label_names = [str(name) for name in label_names]
    check_row_sources(rows, origin, places, allow_urls=allow_urls, root=root)
    _validate(rows, origin, target, label_names, score_columns)
    if target_asked == "auto" and target == "label" and label_names is None:
        _warn_if_scores_look_like_classes(rows, origin)
    columns = _columns_from_rows(rows, origin, target, score_columns)
    _check_subjects(columns["subject"], columns["split"], origin, require_subjects, allow_shared_subjects)
    dataset = _dataset_from_columns(columns, len(rows), target, label_names)
    if probe_videos:
        dataset = add_video_metadata(
            dataset, num_proc=num_proc, drop_unreadable=drop_unreadable, allow_urls=allow_urls
        )
    result = _split(dataset, origin, split_ratios, seed)
    if proxy_dir is not None:
        from .proxy import use_proxies  # here, not at the top: proxy.py imports this module

        result = use_proxies(result, proxy_dir, proxy_settings, allow_urls=allow_urls)
    _log_summary(result, origin)
    if len(result) > 1:
        warn_missing_classes(result, origin)
    return result


def _public_dataset(source, format: str | None, *, drop_invalid_rows: bool, **options: Any):
    """The :class:`~surgical_skill.data.public.PublicDataset` of a public dataset tree (``format``, or detected
    in a folder that is not a ``save_to_disk`` folder), checked: errors refused (listing every one) or, with
    ``drop_invalid_rows``, their rows left out with a warning; warnings and notes logged. None for other sources.

    Raises:
        UsageError: reader options (``task``, ``view`` ...) for a source that is not a public dataset tree.
    """
    from .public import detect_format, raise_on_errors, read_public_dataset  # here: public imports this module

    given = {key: value for key, value in options.items() if value is not None}
    path = Path(source).expanduser() if isinstance(source, str | os.PathLike) else None
    is_tree = (
        path is not None
        and path.is_dir()
        and not (path / "dataset_dict.json").exists()
        and not (path / "state.json").exists()
    )
    if format is None and is_tree:
        format = detect_format(path)
    if format is None:
        if given:
            raise UsageError(
                f"{source}: {', '.join(sorted(given))} appl{'ies' if len(given) == 1 else 'y'} to the public dataset "
                "formats (jigsaws, aixsuture, cataract-lmm, heichole), and this source is not one of their trees; "
                "give format=... (`dataset_format:` in a recipe) if it is one laid out differently"
            )
        return None
    if path is None:
        raise UsageError(f"format={format!r} reads a dataset folder; got {type(source).__name__}")
    public = read_public_dataset(path, format, **given)
    raise_on_errors(public, allow=drop_invalid_rows)
    if public.errors:
        logger.warning(
            _list_problems(
                f"{path}: leaving out rows of the {format} tree (drop_invalid_rows)", [str(p) for p in public.errors]
            )
        )
    if public.warnings:
        logger.warning(
            _list_problems(f"{path}: the {format} tree is not quite as documented", [str(p) for p in public.warnings])
        )
    for note in public.notes:
        logger.warning("%s (%s): %s", path, format, note)
    if not public.rows:
        raise SkillDatasetError(f"{path}: the {format} tree has no usable rows")
    return public


def _rows_for_target(public, target: str, label_names: Sequence[str] | None, score_columns: Sequence[str] | None):
    """(rows, origin, "label" or "score", class order, score columns) of a public dataset for the chosen target:
    its column becomes the row's ``label`` (classes in the target's order unless ``label_names`` says otherwise)
    or ``score``; for several scores (``target="subscores"``: every sub-score; or ``score_columns`` naming the
    dataset's score targets) each keeps a column of its own name. Every other column stays as it is."""
    from .public import ALL_SUBSCORES

    if target == ALL_SUBSCORES or score_columns is not None:
        if target not in (ALL_SUBSCORES, "auto", "score"):
            raise UsageError(f"give either target={target!r} or score columns {list(score_columns)}, not both")
        if score_columns is None and not public.subscores:
            raise UsageError(f"the {public.format} tree has no sub-scores; its targets: {', '.join(public.targets)}")
        names = list(score_columns if score_columns is not None else public.subscores)
        chosen = [public.targets.get(name) for name in names]
        wrong = [name for name, t in zip(names, chosen) if t is None or t.kind != "score"]
        if wrong:
            scores = [t.name for t in public.targets.values() if t.kind == "score"]
            raise UsageError(
                f"{', '.join(map(repr, wrong))}: not a score target of the {public.format} tree; its score targets: "
                f"{', '.join(scores)}"
            )
        rows = [{**row, **{t.name: row.get(t.column) for t in chosen}} for row in public.rows]
        origin = f"{public.root} ({public.format}, targets {', '.join(names)})"
        return rows, origin, "score", None, names
    if target in ("label", "score"):  # the dataset's own target of that kind (its default when it is one)
        kinds = [public.targets[public.default_target], *public.targets.values()]
        target = next((t.name for t in kinds if t.kind == target), target)
    chosen = public.target(None if target in ("auto", None) else target)
    key = "label" if chosen.kind == "label" else "score"
    # a score that is the raters' mean keeps every rater's own (evaluation reports the raters' agreement)
    ratings = f"{chosen.column}_ratings"
    rated = key == "score" and all(ratings in row and "raters" in row for row in public.rows)
    rows = []
    for row in public.rows:
        row = dict(row)
        value = row.get(chosen.column)
        row[key] = "" if value is None else (str(value) if key == "label" else value)
        if rated:
            row["label_ratings"], row["label_raters"] = list(row[ratings]), [str(r) for r in row["raters"]]
        rows.append(row)
    if chosen.kind == "label" and label_names is None:
        present = {row["label"] for row in rows}
        label_names = [name for name in chosen.label_names if name in present]
    origin = f"{public.root} ({public.format}, target {chosen.name})"
    return rows, origin, chosen.kind, label_names, None


def _read_source(
    source: str | os.PathLike | Dataset | DatasetDict, video_column: str, label_column: str, hub_kwargs: dict
) -> tuple[list[dict[str, Any]], str, str, list[str]]:
    """(rows, where they came from, their video column, where each row is) of any source
    :func:`load_skill_dataset` takes.

    Rows of a dataset (given, saved with ``save_to_disk`` or on the Hub) already have their video in ``video``, and
    are placed by split and index; rows of a manifest or folder by row number.
    """
    if isinstance(source, Dataset | DatasetDict):
        rows, places = _rows_from_datasets(source, video_column, label_column)
        return rows, "the given dataset", "video", places
    path = Path(source).expanduser()
    if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "state.json").exists()):
        rows, places = _rows_from_datasets(datasets.load_from_disk(str(path)), video_column, label_column)
        return rows, str(path), "video", places
    if path.is_dir():
        rows, origin = _rows_from_folder(path)
    elif path.is_file():
        rows, origin = read_manifest(path, video_column)
    elif path.suffix.lower() in (".csv", ".jsonl", ".json") or path.is_absolute() or str(source).startswith("."):
        raise SkillDatasetError(f"{source}: no such folder or manifest")
    else:
        try:
            hub = datasets.load_dataset(str(source), **hub_kwargs)
        except Exception as err:  # offline, no such repo, no access: say which and why
            raise SkillDatasetError(
                f"{source}: not a local folder or manifest, and loading it from the Hub failed: "
                f"{type(err).__name__}: {err}"
            ) from err
        rows, places = _rows_from_datasets(hub, video_column, label_column)
        return rows, str(source), "video", places
    return rows, origin, video_column, [f"row {i + 1}" for i in range(len(rows))]


def _columns_from_rows(
    rows: list[dict[str, Any]], origin: str, target: str, score_columns: Sequence[str] | None = None
) -> dict[str, list]:
    """The dataset's columns: ``video``, ``subject``, ``video_id``, ``labels`` (the target: a class, a score,
    or ``{name: score}`` for several ``score_columns``, which also stay columns of their own, as numbers), the
    other of label and score, ``split`` (canonical names, "" when not given) and every extra column of the
    source."""
    columns: dict[str, list] = defaultdict(list)
    # video_id is numbered afresh (a saved skill dataset has one already)
    extra = [
        key
        for key in dict.fromkeys(k for row in rows for k in row)
        # a saved skill dataset's own labels (and the class name beside a score) are rebuilt from the target
        if key not in ("video", "label", "score", "subject", "split", "video_id", "labels")
        and not (key == "label_name" and any(row.get("label") not in (None, "") for row in rows))
    ]
    for i, row in enumerate(rows):
        columns["video"].append(str(row["video"]))
        columns["subject"].append("" if row.get("subject") in (None, "") else str(row["subject"]))
        columns["video_id"].append(i)
        if score_columns is not None:
            columns["labels"].append({name: float(row[name]) for name in score_columns})
            if row.get("label") not in (None, ""):
                columns["label_name"].append(str(row["label"]))
        elif target == "label":
            columns["labels"].append(str(row["label"]))
            if row.get("score") not in (None, ""):
                columns["score"].append(float(row["score"]))
        else:
            columns["labels"].append(float(row["score"]))
            if row.get("label") not in (None, ""):
                columns["label_name"].append(str(row["label"]))
        split_value = row.get("split")
        columns["split"].append(SPLIT_ALIASES.get(str(split_value).strip().lower(), "") if split_value else "")
        for key in extra:
            columns[key].append(float(row[key]) if key in (score_columns or ()) else row.get(key))
    bad_splits = [
        f"row {i + 1}: {row.get('split')!r}"
        for i, row in enumerate(rows)
        if row.get("split") not in (None, "") and columns["split"][i] == ""
    ]
    if bad_splits:
        raise SkillDatasetError(
            f"{origin}: " + _list_problems("unknown split names (use train, validation or test)", bad_splits)
        )
    return columns


def _dataset_from_columns(
    columns: dict[str, list], num_rows: int, target: str, label_names: Sequence[str] | None
) -> Dataset:
    """One ``Dataset`` of every row; class labels become a ``ClassLabel`` in skill order."""
    for key in ("score", "label_name"):
        if key in columns and len(columns[key]) != num_rows:
            del columns[key]  # only some rows have it: not a usable column
    dataset = Dataset.from_dict(dict(columns))
    if target == "label":
        names = label_names or order_label_names(set(columns["labels"]))
        dataset = dataset.cast_column("labels", ClassLabel(names=list(names)))
    return dataset


def _split(dataset: Dataset, origin: str, split_ratios: tuple[float, float, float] | None, seed: int) -> DatasetDict:
    """The splits the source gave (its ``split`` column), else one made by ratio, else all of it as ``train``."""
    if any(dataset["split"]):
        missing = [f"row {i + 1}" for i, value in enumerate(dataset["split"]) if not value]
        if missing:
            raise SkillDatasetError(f"{origin}: " + _list_problems("rows without a split value", missing))
        result = DatasetDict(
            {
                name: dataset.filter(lambda s, name=name: s == name, input_columns="split")
                for name in SPLIT_NAMES
                if name in set(dataset["split"])
            }
        )
    elif split_ratios is None:
        result = DatasetDict({"train": dataset})
    else:
        try:
            result = make_splits(dataset, split_ratios, seed=seed)
        except SkillDatasetError as err:
            raise SkillDatasetError(f"{origin}: {err}") from err
    return result.remove_columns("split")


def _check_subjects(
    subjects: list[str], splits: list[str], origin: str, require_subjects: bool, allow_shared_subjects: bool
) -> None:
    """No surgeon in two supplied splits; say loudly (or refuse) when surgeons are unknown."""
    unknown = [i for i, subject in enumerate(subjects) if not subject]
    if unknown and require_subjects and len(unknown) == len(subjects):
        raise SkillDatasetError(
            f"{origin}: no row has a subject (surgeon id): add a 'subject' column, or subject_column=... to name "
            "yours (require_subjects is set)"
        )
    if unknown and require_subjects:
        raise SkillDatasetError(
            f"{origin}: "
            + _list_problems("rows without a subject (surgeon id)", [f"row {i + 1}" for i in unknown])
            + "\n(add a subject column, or subject_column=... to name yours; require_subjects is set)"
        )
    if len(unknown) == len(subjects):
        logger.warning(
            "%s: no subject (surgeon) column: every video is its own group, so one surgeon's videos can land in "
            "both training and test and every figure is optimistic when surgeons have several videos. Add a "
            "subject column (require_subjects=True / `require_subjects: true` in a recipe makes this an error).",
            origin,
        )
    elif unknown:
        logger.warning(
            "%s: %d of %d rows have no subject: each is its own group in splits (optimistic if they share a "
            "surgeon with other rows)",
            origin,
            len(unknown),
            len(subjects),
        )
    if allow_shared_subjects or not any(splits):
        return
    rows_by_subject: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, (subject, split) in enumerate(zip(subjects, splits)):
        if subject and split:
            rows_by_subject[subject][split].append(i + 1)
    shared = [
        f"subject {subject!r}: "
        + ", ".join(
            f"{split} (row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows))})" for split, rows in by.items()
        )
        for subject, by in rows_by_subject.items()
        if len(by) > 1
    ]
    if shared:
        raise SkillDatasetError(
            f"{origin}: "
            + _list_problems(
                "surgeons in more than one split (their videos would be evaluated by a model that saw them)", shared
            )
            + "\n(fix the split column; allow_shared_subjects=True / `allow_shared_subjects: true` if you know why)"
        )


def class_counts(data: DatasetDict) -> str:
    """Videos per class in each split, e.g. ``train (novice: 6, expert: 0), test (novice: 2, expert: 2)``."""
    parts = []
    for name, split in data.items():
        feature = split.features["labels"]
        counts = Counter(split["labels"])
        per_class = ", ".join(f"{feature.int2str(k)}: {counts.get(k, 0)}" for k in range(feature.num_classes))
        parts.append(f"{name} ({per_class})")
    return ", ".join(parts)


def warn_missing_classes(data: DatasetDict, origin: str = "the dataset") -> dict[str, list[str]]:
    """Warn about every split that lacks a class (naming both, with the class counts of every split); returns
    {split: [missing class names]}."""
    missing: dict[str, list[str]] = {}
    for name, split in data.items():
        feature = split.features["labels"]
        if not isinstance(feature, ClassLabel) or not len(split):
            continue
        present = set(split["labels"])
        absent = [feature.int2str(k) for k in range(feature.num_classes) if k not in present]
        if absent:
            missing[name] = absent
            logger.warning(
                "%s: the %s split has no %s video (too few surgeons of that class to go round; videos per class: "
                "%s); %s",
                origin,
                name,
                " or ".join(repr(a) for a in absent),
                class_counts(data),
                "metrics that need every class (ROC-AUC, per-class recall) will be undefined on it"
                if name == "test"
                else "the model is trained or validated without that class",
            )
    return missing


def check_training_data(data: DatasetDict, origin: str = "the dataset") -> None:
    """Refuse data a model cannot be trained on, before anything is built from it: no training videos, class
    labels of one class only (a one-output model would silently be a regression), or a class with no training
    video (the model could never predict it). Each message gives the counts and what to change.

    A split other than ``train`` that lacks a class is only warned about (:func:`warn_missing_classes`).

    Raises:
        SkillDatasetError: as above.
    """
    sizes = ", ".join(f"{name} {len(split)}" for name, split in data.items())
    if "train" not in data or not len(data["train"]):
        raise SkillDatasetError(
            f"{origin}: no training videos (videos per split: {sizes or 'none'}); mark the training rows with "
            "split 'train', or leave out the split column to split by split_ratios"
        )
    feature = data["train"].features["labels"]
    if not isinstance(feature, ClassLabel):
        return
    if feature.num_classes < 2:
        only = feature.names[0] if feature.names else "?"
        total = sum(len(split) for split in data.values())
        raise SkillDatasetError(
            f"{origin}: every video has the label {only!r} ({total} videos): a classifier needs at least two "
            "classes. Add videos of another class; or, if the labels are scores, train a regression: put them in a "
            "'score' column and set target 'score' (`target: score` in a recipe)"
        )
    counts = Counter(data["train"]["labels"])
    absent = [feature.int2str(k) for k in range(feature.num_classes) if not counts.get(k)]
    if absent:
        raise SkillDatasetError(
            f"{origin}: the train split has no {' or '.join(repr(a) for a in absent)} video, so the model could "
            f"never predict {'it' if len(absent) == 1 else 'them'} (videos per class: {class_counts(data)}). Add "
            "surgeons of that class, change split_ratios or split_seed, or fix the split column"
        )


def _log_summary(data: DatasetDict, origin: str) -> None:
    for name, split in data.items():
        labels = split.features["labels"]
        if isinstance(labels, ClassLabel):
            counts = Counter(split["labels"])
            detail = ", ".join(f"{labels.int2str(k)}: {counts.get(k, 0)}" for k in range(labels.num_classes))
        else:
            detail = "scores"
        subjects = len({s for s in split["subject"] if s})
        logger.info("%s: %s split, %d videos (%s), %d subjects", origin, name, len(split), detail, subjects)
