"""Build a skill `DatasetDict` from a folder per class, a CSV/JSONL manifest, the Hub, or an in-memory dataset.

Rows stay cheap (a video path, a label or score, a subject, probed metadata); frames are decoded only when a
clip is asked for (see :class:`~surgical_skill.data.clips.ClipDecoder`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, Value

from ..errors import SurgicalSkillError
from ..files import write_bytes_atomic
from ..video import ProxySettings, VideoDecodeError, probe
from .splits import make_splits

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


def with_current_column_names(dataset: Dataset) -> Dataset:
    """``dataset`` with its metadata columns under today's names (a dataset built or saved before
    ``total_num_frames`` was named so carries the video's length as ``num_frames``)."""
    renames = {
        old: new
        for old, new in RENAMED_METADATA_COLUMNS.items()
        if old in dataset.column_names and new not in dataset.column_names
    }
    return dataset.rename_columns(renames) if renames else dataset


class SkillDatasetError(SurgicalSkillError, ValueError):
    """A dataset cannot be built as given; the message lists every offending row or file."""


def _list_problems(title: str, items: Sequence[str], limit: int = 20) -> str:
    shown = "\n  ".join(items[:limit])
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return f"{title} ({len(items)}):\n  {shown}{more}"


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


def _rows_from_folder(root: Path) -> tuple[list[dict[str, Any]], str]:
    """Rows of a ``root/<class>/*.mp4`` tree, read with datasets' own ``videofolder`` builder.

    ``metadata.csv`` / ``metadata.jsonl`` beside the videos adds columns (``subject``, ``score`` ...), as in
    any datasets folder; the class still comes from the directory name when the metadata has no label.
    Split directories (``root/train/<class>``, ``root/test/<class>``) become the ``split`` column.
    """
    files = [p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()]
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


def read_manifest(path: Path, video_column: str = "video") -> tuple[list[dict[str, Any]], str]:
    """Rows of a CSV or JSONL manifest (as dicts of strings/values), video paths made absolute."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [dict(row) for row in csv.DictReader(handle)]
    elif path.suffix.lower() in (".jsonl", ".json"):
        rows = []
        with path.open(encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as err:
                        raise SkillDatasetError(f"{path}, line {line_number}: not valid JSON ({err.msg})") from err
    else:
        raise SkillDatasetError(f"{path}: a manifest must be .csv or .jsonl")
    if not rows:
        raise SkillDatasetError(f"{path}: the manifest has no rows")
    base = path.parent
    for row in rows:
        video = row.get(video_column)
        if video:  # relative paths are relative to the manifest
            row[video_column] = str((base / str(video)).resolve()) if not os.path.isabs(str(video)) else str(video)
    return rows, str(path)


def _rows_from_datasets(data: Dataset | DatasetDict, video_column: str, label_column: str) -> list[dict[str, Any]]:
    """Rows of an existing dataset whose video column holds paths, or a ``Video`` feature (decoded or not)."""
    splits = data.items() if isinstance(data, DatasetDict) else [(None, data)]
    rows: list[dict[str, Any]] = []
    for split_name, split in splits:
        if video_column not in split.column_names:
            raise SkillDatasetError(f"the dataset has no {video_column!r} column (columns: {split.column_names})")
        if isinstance(split.features[video_column], datasets.Video):
            # Decoded rows are torchcodec decoders; undecoded rows give the file path (or embedded bytes).
            split = split.cast_column(video_column, datasets.Video(decode=False))
        label_feature = split.features.get(label_column)
        for row in split:
            video = row.pop(video_column)
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
    return rows


def _materialize(data: bytes, name: str | None) -> str:
    """Write a video embedded in a dataset (Hub parquet rows carry bytes) to a cache file, once."""
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    suffix = Path(name).suffix if name else ".mp4"
    cache = Path(os.environ.get("SURGICAL_SKILL_CACHE", Path.home() / ".cache" / "surgical-skill")) / "videos"
    target = cache / f"{digest}{suffix}"
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(target, data)
    return str(target)


# ------------------------------------------------------------------------------------------ validation


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
) -> tuple[list[dict[str, Any]], str]:
    """Rename the user's columns to ``video``/``label``/``score``/``subject``/``split``, and older metadata
    columns to today's names, and pick the target."""
    renames = {
        video_column: "video",
        label_column: "label",
        score_column: "score",
        subject_column: "subject",
        split_column: "split",
    }
    out = []
    for row in rows:
        row = {renames.get(key, key): value for key, value in row.items()}
        for old, new in RENAMED_METADATA_COLUMNS.items():
            if old in row:
                row.setdefault(new, row.pop(old))
        out.append(row)
    has_label = any(row.get("label") not in (None, "") for row in out)
    has_score = any(row.get("score") not in (None, "") for row in out)
    if target == "auto":
        target = "label" if has_label else "score"
    if target not in ("label", "score"):
        raise ValueError(f"target must be 'auto', 'label' or 'score', got {target!r}")
    if target == "label" and not has_label:
        raise SkillDatasetError(f"{origin}: no {label_column!r} column with class labels (or give target='score')")
    if target == "score" and not has_score:
        raise SkillDatasetError(f"{origin}: no {score_column!r} column with scores and no {label_column!r} column")
    return out, target


def _validate(rows: list[dict[str, Any]], origin: str, target: str, label_names: Sequence[str] | None) -> None:
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
    seen: dict[str, int] = {}
    duplicates = []
    for i, row in enumerate(rows):
        key = os.path.normpath(str(row.get("video")))
        if key in seen:
            duplicates.append(f"{where(i)} repeats {where(seen[key])}: {row['video']}")
        else:
            seen[key] = i
    if duplicates:
        problems.append(_list_problems("duplicated videos (each video must appear once)", duplicates))
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
        bad = []
        for i, row in enumerate(rows):
            try:
                float(row.get("score"))
            except (TypeError, ValueError):
                bad.append(f"{where(i)}: {row.get('score')!r}")
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


# ------------------------------------------------------------------------------------------- building


def _probe_columns(batch: dict[str, list]) -> dict[str, list]:
    out: dict[str, list] = {name: [] for name in (*METADATA_COLUMNS, "probe_error")}
    for path in batch["video"]:
        try:
            info = probe(path)
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


def add_video_metadata(dataset: Dataset, *, num_proc: int | None = None, drop_unreadable: bool = False) -> Dataset:
    """Probe every video once and store ``total_num_frames``, ``fps``, ``duration``, ``width`` and ``height``
    columns (replacing any there, a ``num_frames`` column of an older dataset included).

    Unreadable videos raise a :class:`SkillDatasetError` listing all of them, or are dropped with a warning
    when ``drop_unreadable=True``.
    """
    if len(dataset) < 2 * (num_proc or 1):
        num_proc = None
    replaced = (*METADATA_COLUMNS, *RENAMED_METADATA_COLUMNS, "probe_error")
    existing = [c for c in replaced if c in dataset.column_names]
    probed = dataset.remove_columns(existing).map(
        _probe_columns,
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
    score_column: str = "score",
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
    **hub_kwargs: Any,
) -> DatasetDict:
    """Build a ``DatasetDict`` of skill-rated videos whose rows are paths, labels and metadata (no frames).

    ``source`` is a folder (``root/<class>/*.mp4``, optionally with ``metadata.csv``), a CSV or JSONL manifest
    (columns ``video`` relative to the manifest, ``label`` or ``score``, optional ``subject`` and ``split``), a
    Hub dataset id (``hub_kwargs`` go to ``datasets.load_dataset``), a folder written by ``save_to_disk``, or
    a ``Dataset``/``DatasetDict``. A ``video`` column may hold paths or a ``Video`` feature; videos embedded as
    bytes (Hub parquet files) are written once to ``~/.cache/surgical-skill/videos``.

    The result has columns ``video`` (path), ``labels`` (``ClassLabel`` for classes, float for scores),
    ``subject`` (string, empty when unknown), ``video_id`` (stable row number), the probed metadata and any
    extra columns. Splits come from the source (``split`` column, split folders, or a ``DatasetDict``) when it
    has them, else from ``split_ratios`` with :func:`~surgical_skill.data.splits.make_splits` (stratified by
    label, grouped by subject, so no surgeon is in two splits). ``split_ratios=None`` keeps one ``train`` split.
    A supplied split that puts one surgeon in two splits is an error naming the surgeon and rows, unless
    ``allow_shared_subjects=True``. Without subjects, splits are made per video, with a loud warning (figures
    are optimistic when a surgeon has several videos); ``require_subjects=True`` makes that an error.
    With ``proxy_dir``, rows point at the proxies prepared there (``surgical-skill prepare``); the original
    path stays in ``source_video``.

    Raises:
        SkillDatasetError: listing every missing file, duplicated video, unknown label, empty class, bad
            score or unreadable video, every surgeon found in two supplied splits, or (``require_subjects``)
            every row without a subject.

    Example:
        >>> data = load_skill_dataset("ratings.csv", split_ratios=(0.7, 0.15, 0.15), seed=0)
        >>> data["train"].features["labels"].names
        ['novice', 'intermediate', 'expert']
    """
    rows, origin, video_column = _read_source(source, video_column, label_column, hub_kwargs)
    rows, target = _normalise_rows(
        rows,
        origin,
        video_column=video_column,
        label_column=label_column,
        score_column=score_column,
        subject_column=subject_column,
        split_column=split_column,
        target=target,
    )
    if label_names is not None:
        label_names = [str(name) for name in label_names]
    _validate(rows, origin, target, label_names)
    columns = _columns_from_rows(rows, origin, target)
    _check_subjects(columns["subject"], columns["split"], origin, require_subjects, allow_shared_subjects)
    dataset = _dataset_from_columns(columns, len(rows), target, label_names)
    if probe_videos:
        dataset = add_video_metadata(dataset, num_proc=num_proc, drop_unreadable=drop_unreadable)
    result = _split(dataset, origin, split_ratios, seed)
    if proxy_dir is not None:
        from .proxy import use_proxies  # here, not at the top: proxy.py imports this module

        result = use_proxies(result, proxy_dir, proxy_settings)
    _log_summary(result, origin)
    if len(result) > 1:
        warn_missing_classes(result, origin)
    return result


def _read_source(
    source: str | os.PathLike | Dataset | DatasetDict, video_column: str, label_column: str, hub_kwargs: dict
) -> tuple[list[dict[str, Any]], str, str]:
    """(rows, where they came from, their video column) of any source :func:`load_skill_dataset` takes.

    Rows of a dataset (given, saved with ``save_to_disk`` or on the Hub) already have their video in ``video``.
    """
    if isinstance(source, Dataset | DatasetDict):
        return _rows_from_datasets(source, video_column, label_column), "the given dataset", "video"
    path = Path(source).expanduser()
    if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "state.json").exists()):
        return _rows_from_datasets(datasets.load_from_disk(str(path)), video_column, label_column), str(path), "video"
    if path.is_dir():
        return (*_rows_from_folder(path), video_column)
    if path.is_file():
        return (*read_manifest(path, video_column), video_column)
    if path.suffix.lower() in (".csv", ".jsonl", ".json") or path.is_absolute() or str(source).startswith("."):
        raise SkillDatasetError(f"{source}: no such folder or manifest")
    try:
        hub = datasets.load_dataset(str(source), **hub_kwargs)
    except Exception as err:  # offline, no such repo, no access: say which and why
        raise SkillDatasetError(
            f"{source}: not a local folder or manifest, and loading it from the Hub failed: {type(err).__name__}: {err}"
        ) from err
    return _rows_from_datasets(hub, video_column, label_column), str(source), "video"


def _columns_from_rows(rows: list[dict[str, Any]], origin: str, target: str) -> dict[str, list]:
    """The dataset's columns: ``video``, ``subject``, ``video_id``, ``labels`` (the target), the other of label
    and score, ``split`` (canonical names, "" when not given) and every extra column of the source."""
    columns: dict[str, list] = defaultdict(list)
    # video_id is numbered afresh (a saved skill dataset has one already)
    extra = [
        key
        for key in dict.fromkeys(k for row in rows for k in row)
        if key not in ("video", "label", "score", "subject", "split", "video_id")
    ]
    for i, row in enumerate(rows):
        columns["video"].append(str(row["video"]))
        columns["subject"].append("" if row.get("subject") in (None, "") else str(row["subject"]))
        columns["video_id"].append(i)
        if target == "label":
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
            columns[key].append(row.get(key))
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
                for name in ("train", "validation", "test")
                if name in set(dataset["split"])
            }
        )
    elif split_ratios is None:
        result = DatasetDict({"train": dataset})
    else:
        result = make_splits(dataset, split_ratios, seed=seed)
    return result.remove_columns("split")


def _check_subjects(
    subjects: list[str], splits: list[str], origin: str, require_subjects: bool, allow_shared_subjects: bool
) -> None:
    """No surgeon in two supplied splits; say loudly (or refuse) when surgeons are unknown."""
    unknown = [i for i, subject in enumerate(subjects) if not subject]
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


def warn_missing_classes(data: DatasetDict, origin: str = "the dataset") -> dict[str, list[str]]:
    """Warn about every split that lacks a class (naming both); returns {split: [missing class names]}."""
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
                "%s: the %s split has no %s video (too few surgeons of that class to go round); %s",
                origin,
                name,
                " or ".join(repr(a) for a in absent),
                "metrics that need every class (ROC-AUC, per-class recall) will be undefined on it"
                if name == "test"
                else "the model is trained or validated without that class",
            )
    return missing


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
