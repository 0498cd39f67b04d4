"""Cataract-LMM's skill-assessment subset: capsulorhexis clips scored on six indicators.

Two layouts are read:

``scores`` (as distributed, ``5_Skill_Assessment/``)::

    videos/SK_<ClipID>_S<Site>_P03.mp4        ClipID 4 digits, Site 1 (Farabi) or 2 (Noor), P03 = capsulorhexis
    annotations/skill_scores.csv              clip_key, instrument_handling, motion, tissue_handling,
                                              microscope_use, commencement_of_flap, circular_completion

The dataset says the CSV is "keyed by SK/TR stem" without showing a line, so a ``clip_key`` is matched to a
video when it is the video's file stem, the same stem with ``TR_`` for ``SK_``, or names the same clip by its
ClipID with or without the prefix, site and phase: ``SK_0002_S1_P03``, ``TR_0002_S1_P03``, ``SK_0002_S1``,
``SK_0002``, ``0002`` and ``2`` all name ``SK_0002_S1_P03.mp4`` (a bare ClipID that names clips of both sites
is an error). Scores are numbers; their range is not documented, so none is enforced. Columns beyond the six
are kept (snake_case); a ``surgeon`` / ``surgeon_id`` / ``operator`` column is the subject.
Rows: ``video``, ``subject``, ``trial`` (the file stem), ``clip_key``, ``clip_id`` (``"0002"``), ``site``
(``"S1"``), the six sub-scores and ``total`` (their sum). Targets: ``total`` (default) and each sub-score.

``clusters`` (the seed study's)::

    cluster_0/SK_0002_S1_1006_Capsulorhexis.avi
    cluster_1/...

labels made by k-means on the scores: one row per clip with ``cluster`` (the folder name); target ``cluster``
(classes = the folders in numeric order; the numbers are not an order of skill).

The root may be the skill subset's folder or the dataset's top folder holding ``5_Skill_Assessment/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..building import VIDEO_EXTENSIONS
from ..splits import SkillDatasetError
from .common import (
    Problem,
    PublicDataset,
    Target,
    check_options,
    choose,
    parse_number,
    read_csv_lines,
    relative,
    snake_case,
    video_files,
)

FORMAT = "cataract-lmm"
OPTIONS = ("layout",)
PROTOCOLS: dict[str, str] = {}
LAYOUTS = ("scores", "clusters")

SCORES_FILE = Path("annotations") / "skill_scores.csv"
SUBSET_FOLDER = "5_Skill_Assessment"
SUBSCORES = (
    "instrument_handling",
    "motion",
    "tissue_handling",
    "microscope_use",
    "commencement_of_flap",
    "circular_completion",
)
SURGEON_COLUMNS = ("surgeon", "surgeon_id", "operator")
# SK_<ClipID>_S<Site>_P03 (layout scores); SK_<ClipID>_S<Site>_<...> (layout clusters)
VIDEO_NAME = re.compile(r"^SK_(\d{4})_S([12])_P03$")
CLUSTER_VIDEO_NAME = re.compile(r"^SK_(\d{4})_S([12])(?:_.+)?$")
CLUSTER_FOLDER = re.compile(r"^cluster_(\d+)$")
# what a clip_key may be: [SK_|TR_]<ClipID>[_S<Site>[_P03]]
CLIP_KEY = re.compile(r"^(?:(?:SK|TR)_)?(\d+)(?:_S(\d+)(?:_P03)?)?$", re.IGNORECASE)
NO_SURGEON_NOTE = (
    "the skill files carry no surgeon id: subject is empty, splits are per clip, and figures are optimistic when a "
    "surgeon has several clips"
)


def _scores_base(root: Path) -> Path | None:
    """The folder holding ``annotations/skill_scores.csv``: the root or its ``5_Skill_Assessment/``."""
    for base in (root, root / SUBSET_FOLDER):
        if (base / SCORES_FILE).is_file():
            return base
    return None


def _cluster_folders(root: Path) -> list[tuple[int, Path]]:
    """``cluster_<k>/`` folders of ``root`` in numeric order."""
    found = []
    if root.is_dir():
        for path in root.iterdir():
            match = CLUSTER_FOLDER.match(path.name)
            if match and path.is_dir():
                found.append((int(match.group(1)), path))
    return sorted(found)


def _holds_sk_videos(folder: Path) -> bool:
    return any(p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file() for p in folder.glob("SK_*"))


def detect(root: Path) -> bool:
    """``annotations/skill_scores.csv`` (in the root or its ``5_Skill_Assessment/``), or ``cluster_<k>/`` folders
    holding ``SK_*`` videos."""
    root = Path(root)
    if _scores_base(root) is not None:
        return True
    return any(_holds_sk_videos(folder) for _, folder in _cluster_folders(root))


def read(root: Path, **options: Any) -> PublicDataset:
    """Read Cataract-LMM's skill subset (layout ``scores`` or ``clusters``, detected when not given)."""
    check_options(FORMAT, options, OPTIONS)
    root = Path(root)
    layout = choose(options.get("layout"), LAYOUTS, "layout", FORMAT)
    if layout is None:
        if _scores_base(root) is not None:
            layout = "scores"
        elif _cluster_folders(root):
            layout = "clusters"
        else:
            raise SkillDatasetError(
                f"{root}: no {SCORES_FILE} and no cluster_<k>/ folders; is this Cataract-LMM's skill subset "
                f"(its {SUBSET_FOLDER}/ folder)?"
            )
    return _read_scores(root) if layout == "scores" else _read_clusters(root)


def _clip_of(stem: str, pattern: re.Pattern) -> tuple[str, str]:
    """``("0002", "S1")`` from a file stem following ``pattern``, ``("", "")`` otherwise."""
    match = pattern.match(stem)
    return (match.group(1), f"S{match.group(2)}") if match else ("", "")


def _matches(key: str, stem: str) -> bool:
    """Whether ``clip_key`` ``key`` names the video with file stem ``stem`` (see the module's docstring)."""
    if key == stem or (key[:3].upper() == "TR_" and "SK_" + key[3:] == stem):
        return True
    wanted, clip = CLIP_KEY.match(key), VIDEO_NAME.match(stem)
    if not (wanted and clip):
        return False
    if int(wanted.group(1)) != int(clip.group(1)):
        return False
    return wanted.group(2) is None or int(wanted.group(2)) == int(clip.group(2))


def _read_scores(root: Path) -> PublicDataset:
    base = _scores_base(root)
    if base is None:
        raise SkillDatasetError(f"{root}: no {SCORES_FILE} (the layout 'scores' reads it)")
    path = base / SCORES_FILE
    csv_file = relative(path, root)
    problems: list[Problem] = []
    lines = list(read_csv_lines(path))
    if not lines:
        raise SkillDatasetError(
            f"{csv_file} is empty; it should start with the header clip_key,instrument_handling,..."
        )
    header_line, header = lines[0]
    names = [snake_case(h) for h in header]
    if "clip_key" not in names:
        raise SkillDatasetError(f"{csv_file}: the header has no clip_key column (found {', '.join(header)})")
    subscores = tuple(name for name in SUBSCORES if name in names)
    if not subscores:
        raise SkillDatasetError(
            f"{csv_file}: the header has none of the six skill indicators ({', '.join(SUBSCORES)}); found "
            f"{', '.join(header)}"
        )
    for name in SUBSCORES:
        if name not in names:
            problems.append(
                Problem(csv_file, header_line, f"no column {name}; total is the sum of the others", "warning")
            )
    surgeon = next((name for name in SURGEON_COLUMNS if name in names), None)
    extras = [n for n in dict.fromkeys(names) if n and n not in (*subscores, "clip_key", surgeon)]

    files = video_files(base)
    stems = sorted(files)
    for stem in stems:
        if not VIDEO_NAME.match(stem):
            for file in files[stem]:
                problems.append(
                    Problem(
                        relative(file, root),
                        None,
                        "the name does not follow SK_<ClipID>_S<Site>_P03 (no clip id or site is read from it)",
                        "warning",
                    )
                )

    where = f"under {relative(base, root)}" if base != root else "under the root"
    key_index = names.index("clip_key")
    entries = []  # (stem, clip_key, scores, subject, record)
    used: dict[str, int] = {}  # stem -> the line whose scores it has
    mentioned: set[str] = set()  # stems named by any line, usable or not (no "video with no scores" for them)
    for number, fields in lines[1:]:
        key = fields[key_index] if key_index < len(fields) else ""
        found = [stem for stem in stems if _matches(key, stem)] if key else []
        mentioned.update(found)
        if len(fields) != len(header):
            problems.append(
                Problem(csv_file, number, f"{len(fields)} fields where the header has {len(header)}; fix the line")
            )
            continue
        if not key:
            problems.append(Problem(csv_file, number, "no clip_key; fill it in or delete the line"))
            continue
        if not found:
            problems.append(Problem(csv_file, number, f"clip {key} has no video {where}; add it or delete the line"))
            continue
        if len(found) > 1 or len(files[found[0]]) > 1:
            shown = ", ".join(relative(f, root) for stem in found for f in files[stem])
            problems.append(Problem(csv_file, number, f"clip {key} matches several videos ({shown}); name one"))
            continue
        stem = found[0]
        if stem in used:
            problems.append(
                Problem(csv_file, number, f"clip {key}: {stem} is scored already on line {used[stem]}; delete one")
            )
            continue
        record = dict(zip(names, fields))
        scores, bad = {}, []
        for name in subscores:
            value = parse_number(record[name])
            if value is None:
                bad.append(f"{name} {record[name]!r} is not a number")
            else:
                scores[name] = value
        if bad:
            problems.append(Problem(csv_file, number, f"clip {key}: {'; '.join(bad)}"))
            continue
        used[stem] = number
        entries.append((stem, key, scores, record.get(surgeon, "") if surgeon else "", record))

    numeric = {
        name: all(parse_number(record[name]) is not None for *_, record in entries if record[name] != "")
        for name in extras
    }
    rows = []
    for stem, key, scores, subject, record in sorted(entries, key=lambda e: e[0]):
        clip_id, site = _clip_of(stem, VIDEO_NAME)
        row: dict[str, Any] = {
            "video": os.path.abspath(files[stem][0]),
            "subject": subject,
            "trial": stem,
            "clip_key": key,
            "clip_id": clip_id,
            "site": site,
            **scores,
            "total": sum(scores.values()),
        }
        for name in extras:
            if name not in row:
                row[name] = parse_number(record[name]) if numeric[name] else record[name]
        rows.append(row)
    for stem in stems:
        if stem not in mentioned:
            for file in files[stem]:
                problems.append(
                    Problem(
                        relative(file, root), None, f"a video with no line in {csv_file}; it is left out", "warning"
                    )
                )

    targets = {
        "total": Target(
            "total", "total", "score", description="sum of the six skill indicators (range not documented)"
        )
    }
    for name in subscores:
        targets[name] = Target(name, name, "score", description="a skill indicator (range not documented)")
    return PublicDataset(
        format=FORMAT,
        root=root,
        rows=rows,
        targets=targets,
        default_target="total",
        subscores=subscores,
        problems=problems,
        notes=[] if surgeon else [NO_SURGEON_NOTE],
    )


def _read_clusters(root: Path) -> PublicDataset:
    folders = _cluster_folders(root)
    if not folders:
        raise SkillDatasetError(f"{root}: no cluster_<k>/ folders (the layout 'clusters' reads them)")
    problems: list[Problem] = []
    rows = []
    seen: dict[str, Path] = {}
    for _, folder in folders:
        videos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
        if not videos:
            problems.append(Problem(relative(folder, root), None, "a cluster folder with no videos", "warning"))
        for path in videos:
            clip_id, site = _clip_of(path.stem, CLUSTER_VIDEO_NAME)
            if not clip_id:
                problems.append(
                    Problem(
                        relative(path, root),
                        None,
                        "the name does not follow SK_<ClipID>_S<Site>_... (no clip id or site is read from it)",
                        "warning",
                    )
                )
            clip = f"{clip_id}_{site}" if clip_id else path.stem
            if clip in seen:
                problems.append(
                    Problem(
                        relative(path, root),
                        None,
                        f"the same clip is in {relative(seen[clip], root)} already; keep it in one cluster",
                    )
                )
                continue
            seen[clip] = path
            rows.append(
                {
                    "video": os.path.abspath(path),
                    "subject": "",
                    "trial": path.stem,
                    "clip_id": clip_id,
                    "site": site,
                    "cluster": folder.name,
                }
            )
    rows.sort(key=lambda row: row["trial"])
    names = tuple(folder.name for _, folder in folders)
    return PublicDataset(
        format=FORMAT,
        root=root,
        rows=rows,
        targets={
            "cluster": Target(
                "cluster",
                "cluster",
                "label",
                label_names=names,
                description="k-means cluster of the six skill scores (the seed study's labels)",
            )
        },
        default_target="cluster",
        problems=problems,
        notes=[
            NO_SURGEON_NOTE,
            "the clusters are k-means groups of the skill scores: their numbers are not an order of skill",
        ],
    )
