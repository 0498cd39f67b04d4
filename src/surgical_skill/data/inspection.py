"""What a user runs first on a dataset: how many videos and surgeons, which targets and how they are spread, what
is missing or odd, and for a cross-validation protocol which surgeons each fold holds out
(``surgical-skill inspect``).

Nothing is decoded and nothing is refused: a problem in the data is listed, with its file and line, not raised.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from datasets import ClassLabel, Dataset, Features, Value

from ..errors import UsageError
from .building import check_row_sources, load_skill_dataset
from .public import PROTOCOLS, detect_format, read_public_dataset
from .public.common import ALL_SUBSCORES, Problem, PublicDataset, Target
from .splits import SkillDatasetError, fold_indices, natural_key

GENERIC_PROTOCOLS = ("kfold", "leave-one-subject-out")


def inspect_dataset(
    source: str | os.PathLike,
    *,
    format: str | None = None,
    protocol: str | None = None,
    folds: int = 5,
    seed: int = 0,
    target: str | None = None,
    allow_urls: bool = False,
    root: str | os.PathLike | None = None,
    **options: Any,
) -> dict[str, Any]:
    """A JSON-able summary of ``source`` (a public dataset's tree, or any source
    :func:`~surgical_skill.data.load_skill_dataset` reads).

    Keys: ``source``, ``format``, ``num_videos``, ``subjects`` (videos per subject; ``""`` counts rows without
    one), ``columns``, ``targets`` (per target: kind, column, classes or range, and its distribution), ``protocols``
    (the published protocols the data offers and where their folds come from), ``folds`` (for ``protocol``: each
    fold's ``name``, ``test_subjects``, ``num_train``, ``num_test``), ``problems`` (``file``, ``line`` or ``row``,
    ``message``, ``severity``) and ``notes``.

    ``protocol`` is a published one (``jigsaws-louo``, ``jigsaws-loso``, ``jigsaws-4fold`` with
    ``fold_file=...``), ``kfold`` (``folds`` grouped folds, ``seed``, stratified by ``target`` as training with
    that target and ``cv_folds: k`` stratifies them; default: the dataset's default target) or
    ``leave-one-subject-out``. ``options`` go to the format's reader (``task``, ``view``, ``fold_file``,
    ``score_bins`` ...). A video path the dataset could not be built with (another protocol than a local file, an
    http(s) URL without ``allow_urls``, a path outside ``root``, a control character) is listed as a problem.

    Raises:
        UsageError: an unknown protocol, or one the data does not offer.
        SkillDatasetError: ``source`` is not a dataset at all (no such folder, no label file).
    """
    if protocol is not None and protocol not in (*PROTOCOLS, *GENERIC_PROTOCOLS):
        raise UsageError(
            f"unknown protocol {protocol!r}; the protocols are {', '.join((*PROTOCOLS, *GENERIC_PROTOCOLS))}"
        )
    path = Path(source).expanduser()
    if format is None and path.is_dir():
        format = detect_format(path)
    if format is not None:
        public = read_public_dataset(path, format, **{k: v for k, v in options.items() if v is not None})
        summary = _public_summary(public)
        rows = public.rows
        try:
            check_row_sources(rows, str(public.root), allow_urls=allow_urls, root=root)
        except SkillDatasetError as err:
            message = str(err).removeprefix(f"{public.root}, ")
            summary["problems"].append(Problem(str(public.root), None, message).to_dict())
    else:
        if any(v is not None for v in options.values()):
            raise UsageError(
                f"{source} is not one of the public dataset trees ({', '.join(sorted(options))} are their options)"
            )
        summary, rows = _generic_summary(source, target or "auto", allow_urls=allow_urls, root=root)
    default = next((name for name, t in summary["targets"].items() if t.get("default")), None)
    if target not in (None, "auto") and target not in summary["targets"] and format is not None:
        raise UsageError(
            f"{source}: no target {target!r}; its targets are {', '.join(n for n in summary['targets'] if n != ALL_SUBSCORES)}"
        )
    summary["stratified_by"] = target if target in summary["targets"] else default
    summary["folds"] = _folds(rows, summary, protocol, folds, seed) if protocol else []
    summary["protocol"] = protocol
    return summary


def _public_summary(public: PublicDataset) -> dict[str, Any]:
    rows = public.rows
    targets = {
        name: _target_summary(target, rows, name == public.default_target) for name, target in public.targets.items()
    }
    if public.subscores:
        targets[ALL_SUBSCORES] = {
            "kind": "scores",
            "columns": list(public.subscores),
            "description": "every sub-score at once, one named output each (add score_sum_name: grs for their sum)",
        }
    return {
        "source": str(public.root),
        "format": public.format,
        "num_videos": len(rows),
        "num_files": len({row["video"] for row in rows}),
        "subjects": _subjects(rows),
        "columns": list(dict.fromkeys(key for row in rows for key in row)),
        "targets": targets,
        "protocols": {
            name: {"column": column, "fold_source": public.protocol_sources.get(name)}
            for name, column in public.protocols.items()
        },
        "problems": [p.to_dict() for p in public.problems],
        "notes": list(public.notes),
    }


def _generic_summary(
    source: str | os.PathLike, target: str, *, allow_urls: bool = False, root: str | os.PathLike | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A manifest, class folder, saved or Hub dataset: read without probing videos; a problem that stops it from
    being read is the one problem listed."""
    base = {"source": str(source), "format": None, "protocols": {}, "notes": []}
    if not Path(source).expanduser().exists() and Path(str(source)).suffix:
        raise SkillDatasetError(f"{source}: no such folder or manifest")
    try:
        data = load_skill_dataset(
            source,
            target=target,
            split_ratios=None,
            probe_videos=False,
            allow_shared_subjects=True,
            allow_urls=allow_urls,
            root=root,
        )
    except SkillDatasetError as err:
        message = str(err).removeprefix(f"{source}: ")
        problem = Problem(str(source), None, message)
        return {
            **base,
            "num_videos": 0,
            "subjects": {},
            "columns": [],
            "targets": {},
            "problems": [problem.to_dict()],
        }, []
    split = next(iter(data.values()))
    rows = [dict(row) for name in data for row in data[name]]
    feature = split.features["labels"]
    if hasattr(feature, "names"):
        for row in rows:
            row["labels"] = feature.int2str(row["labels"])
        target = Target("label", "labels", "label", label_names=tuple(feature.names))
    else:
        target = Target("score", "labels", "score")
    return {
        **base,
        "num_videos": len(rows),
        "subjects": _subjects(rows),
        "columns": list(split.column_names),
        "targets": {target.name: _target_summary(target, rows, True)},
        "problems": [],
    }, rows


def _subjects(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(str(row.get("subject") or "") for row in rows)
    return dict(sorted(counts.items()))


def _target_summary(target: Target, rows: list[dict[str, Any]], default: bool) -> dict[str, Any]:
    values = [row.get(target.column) for row in rows]
    out = {**target.to_dict(), "default": default}
    if target.kind == "label":
        counts = Counter(str(v) for v in values if v not in (None, ""))
        out["distribution"] = {name: counts.get(name, 0) for name in target.label_names}
        out["missing"] = sum(1 for v in values if v in (None, ""))
    else:
        numbers = np.asarray([float(v) for v in values if v is not None], dtype=np.float64)
        out["distribution"] = (
            {
                "count": int(numbers.size),
                "min": float(numbers.min()),
                "max": float(numbers.max()),
                "mean": round(float(numbers.mean()), 4),
                "median": float(np.median(numbers)),
                "std": round(float(numbers.std(ddof=1)), 4) if numbers.size > 1 else None,
            }
            if numbers.size
            else {"count": 0}
        )
        out["missing"] = sum(1 for v in values if v is None)
    return out


def _folds(rows: list[dict[str, Any]], summary: dict[str, Any], protocol: str, k: int, seed: int) -> list[dict]:
    if protocol in PROTOCOLS:
        dataset_format, column = PROTOCOLS[protocol]
        if summary["format"] != dataset_format or protocol not in summary["protocols"]:
            hint = " (give --fold-file: a CSV of trial,fold)" if protocol == "jigsaws-4fold" else ""
            raise UsageError(
                f"{summary['source']}: protocol {protocol} needs a {dataset_format} tree{hint}; this one offers "
                f"{', '.join((*summary['protocols'], *GENERIC_PROTOCOLS))}"
            )
        fold_of = [str(row.get(column) or "") for row in rows]
    elif protocol == "leave-one-subject-out":
        fold_of = [
            f"subject-{row.get('subject')}" if row.get("subject") else f"row-{i + 1}" for i, row in enumerate(rows)
        ]
    elif not rows:
        return []  # nothing could be read: the problems say why
    else:  # the folds training makes (cv_folds: k): grouped by subject, stratified by the target
        target = summary["targets"][summary["stratified_by"]]
        values = [row.get(target["column"]) for row in rows]
        if target["kind"] == "label":
            labels = ClassLabel(names=[str(n) for n in target["label_names"]])
            table = Dataset.from_dict(
                {"subject": [str(row.get("subject") or "") for row in rows], "labels": [str(v) for v in values]},
                features=Features({"subject": Value("string"), "labels": labels}),
            )
        else:
            table = Dataset.from_dict(
                {"subject": [str(row.get("subject") or "") for row in rows], "labels": [float(v) for v in values]}
            )
        fold_of = [""] * len(rows)
        for number, held in enumerate(fold_indices(table, k, seed=seed), start=1):
            for i in held:
                fold_of[int(i)] = f"fold-{number}"
    out = []
    for name in sorted({f for f in fold_of if f}, key=natural_key):
        test = [row for row, f in zip(rows, fold_of) if f == name]
        train = [row for row, f in zip(rows, fold_of) if f != name]
        test_subjects = sorted({str(r.get("subject")) for r in test if r.get("subject")})
        train_subjects = {str(r.get("subject")) for r in train if r.get("subject")}
        out.append(
            {
                "name": name,
                "test_subjects": test_subjects,
                "num_train": len(train),
                "num_test": len(test),
                "subjects_also_in_training": sorted(set(test_subjects) & train_subjects),
            }
        )
    return out


def inspection_text(summary: dict[str, Any], *, listed: int = 20) -> str:
    """The summary as the lines ``surgical-skill inspect`` prints."""
    subjects = summary["subjects"]
    named = {s: n for s, n in subjects.items() if s}
    lines = [
        f"{summary['source']}"
        + (f" ({summary['format']})" if summary["format"] else "")
        + ": "
        + (
            f"{summary['num_videos']} rows from {summary['num_files']} video files (each phase or view its own row), "
            if summary.get("num_files", summary["num_videos"]) != summary["num_videos"]
            else f"{summary['num_videos']} videos, "
        )
        + f"{len(named)} subjects"
        + (f" ({subjects['']} videos without a subject)" if subjects.get("") else "")
    ]
    if len(named) > 12:  # how many videos surgeons have, not a list of every one
        spread = Counter(named.values())
        lines.append(
            "videos per subject: "
            + ", ".join(f"{n} video{'s' if n != 1 else ''}: {m} subjects" for n, m in sorted(spread.items()))
        )
    elif named:
        lines.append("videos per subject: " + ", ".join(f"{s} {n}" for s, n in named.items()))
    if summary["columns"]:
        lines.append("columns: " + ", ".join(summary["columns"]))
    if summary["targets"]:
        lines.append("targets:")
    for name, target in summary["targets"].items():
        lines.append(f"  {name}{' (default)' if target.get('default') else ''}: {_describe_target(target)}")
    for name, info in summary["protocols"].items():
        lines.append(f"protocol {name}: {info['fold_source'] or 'folds from the data'}")
    if summary["folds"]:
        lines.append(f"folds of {summary['protocol']} ({len(summary['folds'])}):")
        for fold in summary["folds"]:
            shown = ", ".join(fold["test_subjects"][:8]) + (" ..." if len(fold["test_subjects"]) > 8 else "")
            shared = (
                f"; {len(fold['subjects_also_in_training'])} of them also in training"
                if fold["subjects_also_in_training"]
                else ""
            )
            lines.append(
                f"  {fold['name']}: test {fold['num_test']} videos of {shown or 'no named subject'}{shared}; "
                f"train {fold['num_train']}"
            )
    problems = summary["problems"]
    errors = [p for p in problems if p["severity"] == "error"]
    if problems:
        lines.append(f"problems: {len(errors)} errors (rows left out), {len(problems) - len(errors)} warnings")
        for p in problems[:listed]:
            where = f"{p['file']}, {p.get('unit', 'line')} {p['line']}" if p.get("line") is not None else p["file"]
            lines.append(f"  {p['severity']}: {where}: {p['message']}")
        if len(problems) > listed:
            lines.append(f"  ... and {len(problems) - listed} more (all in --json)")
    else:
        lines.append("problems: none")
    lines += [f"note: {note}" for note in summary["notes"]]
    return "\n".join(lines)


def _describe_target(target: dict[str, Any]) -> str:
    if target["kind"] == "scores":
        return f"{len(target['columns'])} scores at once ({', '.join(target['columns'])})"
    distribution = target["distribution"]
    missing = f", {target['missing']} missing" if target.get("missing") else ""
    if target["kind"] == "label":
        return "classes " + ", ".join(f"{name} {n}" for name, n in distribution.items()) + missing
    if not distribution.get("count"):
        return "score, no values" + missing
    scale = f" on {target['score_range'][0]:g}-{target['score_range'][1]:g}" if target.get("score_range") else ""
    return (
        f"score{scale}: {distribution['count']} values, {distribution['min']:.4g} to {distribution['max']:.4g}, mean "
        f"{distribution['mean']:.2f}" + missing
    )
