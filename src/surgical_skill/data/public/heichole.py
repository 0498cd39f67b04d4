"""HeiChole (EndoVis 2019): laparoscopic cholecystectomies rated per phase on the modified GOALS.

The tree as distributed (folder names vary; files are found anywhere under the root)::

    Videos/Full/Hei-Chole<N>.mp4                      the whole operation
    Annotations/Phase/Hei-Chole<N>_Annotation_Phase.csv   one line per frame: frame,phase_id (a header allowed)
    Annotations/Skill/Hei-Chole<N>_<Phase>_Skill.csv  one row of integer item scores 1-5 (a header allowed;
                                                      comma or semicolon), for one phase (Calot, Dissection)
    Annotations/Skill/Hei-Chole<N>_Skill.csv          the same for the whole operation (phase "full")

HeiChole phases: 0 preparation, 1 calot triangle dissection, 2 clipping and cutting, 3 gallbladder dissection,
4 gallbladder packaging, 5 cleaning and coagulation, 6 gallbladder retraction. A skill file's phase name is
mapped to its id by prefix, case-insensitively (``Calot`` -> 1, ``Dissection`` -> 3, ``Clipping`` -> 2 ...).

One row per video and rated phase: ``video``, ``subject`` and ``trial`` (both the operation, ``Hei-Chole1``:
surgeon ids are not distributed), ``phase`` (the file name's, lower-case: ``calot``, ``dissection``, ``full``),
``phase_id`` (int, or None for ``full`` and unknown names), the item scores (ints, named by ``subscore_names``),
``total`` (their sum) and ``segment_start``/``segment_end``: the phase's frames in the video from its phase
annotation (first frame, one past the last), or None (the whole video: the ``full`` rating, a video without a
phase annotation, a phase name not known or not in the annotation). Training and evaluation sample a row's
clips inside its segment (see :mod:`surgical_skill.data.clips`).

Targets: ``total`` (default; the items' sum, 5-25 with five items) and each item (1-5).
Options: ``phase`` (keep one phase's rows: ``calot``, ``dissection``, ``full`` ...), ``subscore_names`` (the
items' names, in the files' order).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ..splits import SkillDatasetError
from .common import (
    Problem,
    PublicDataset,
    Target,
    check_options,
    parse_number,
    read_csv_lines,
    relative,
    snake_case,
    video_files,
)

FORMAT = "heichole"
OPTIONS = ("phase", "subscore_names")
PROTOCOLS: dict[str, str] = {}

# The modified GOALS items as the HeiChole paper lists them; the files do not name them (see NAMES_NOTE)
SUBSCORE_NAMES = ("depth_perception", "bimanual_dexterity", "efficiency", "tissue_handling", "difficulty")
SCORE_RANGE = (1, 5)
FULL = "full"  # the phase of a rating of the whole operation (a skill file without a phase in its name)
PHASES = {
    0: "preparation",
    1: "calot triangle dissection",
    2: "clipping and cutting",
    3: "gallbladder dissection",
    4: "gallbladder packaging",
    5: "cleaning and coagulation",
    6: "gallbladder retraction",
}
# prefixes of a phase name (lower-case letters and digits only, a leading "gallbladder" dropped) -> phase id
PHASE_PREFIXES = (
    ("prep", 0),
    ("calot", 1),
    ("clip", 2),
    ("cut", 2),
    ("dissect", 3),
    ("packag", 4),
    ("clean", 5),
    ("coag", 5),
    ("retract", 6),
)

VIDEO_NAME = re.compile(r"^hei-?chole[_-]?(\d+)$", re.IGNORECASE)
SKILL_FILE = re.compile(r"^hei-?chole[_-]?(\d+)(?:_(.+?))?_skill\.csv$", re.IGNORECASE)
PHASE_FILE = re.compile(r"^hei-?chole[_-]?(\d+)_annotation_phase\.csv$", re.IGNORECASE)
DETECT_DEPTH = 4  # folder levels below the root searched for skill files

SUBJECT_NOTE = (
    "no surgeon ids are distributed: subject is the operation (Hei-Chole<N>), so a video's phase ratings stay "
    "together in grouped splits, but two operations by one surgeon may land on both sides of a split (figures may "
    "be optimistic)"
)
SEGMENT_NOTE = (
    "a phase rating covers its phase's frames (segment_start/segment_end, from the first to the last frame of the "
    "phase in Hei-Chole<N>_Annotation_Phase.csv); the full rating covers the whole video, and a phase rating that "
    "cannot be placed on its frames is left out"
)


_UNPLACED_FIX = " (add the phase annotation, or read only the whole-operation ratings: phase='full')"


def names_note(names: Sequence[str]) -> str:
    """What a user must know about the items' names (the files do not name them)."""
    if tuple(names) != SUBSCORE_NAMES:
        return f"the skill files do not name their items; they are read as {', '.join(names)} (subscore_names)"
    return (
        f"the skill files do not name their items; they are read as {', '.join(names)} (the modified GOALS as the "
        "HeiChole paper lists them). The last is uncertain: the paper describes it as the operation's degree of "
        "difficulty, which rates the case, not the surgeon's skill, and it is part of total; pass "
        "subscore_names=[...] to name them otherwise"
    )


def trial_id(number: int) -> str:
    """``Hei-Chole1``: the dataset's name of operation ``number``."""
    return f"Hei-Chole{number}"


def phase_id(name: str) -> int | None:
    """The HeiChole phase id a skill file's phase name means (``Calot`` -> 1, ``Dissection`` -> 3,
    ``GallbladderPackaging`` -> 4, ``Phase2`` -> 2), or None when it is not known."""
    compact = re.sub(r"[^0-9a-z]", "", name.lower())
    digits = re.fullmatch(r"(?:phase|p)?([0-6])", compact)
    if digits:
        return int(digits.group(1))
    if compact.startswith("gallbladder") and len(compact) > len("gallbladder"):
        compact = compact[len("gallbladder") :]
    return next((phase for prefix, phase in PHASE_PREFIXES if compact.startswith(prefix)), None)


def _walk(root: Path, depth: int):
    """File names under ``root`` down to ``depth`` folder levels: ``(folder, names)``."""
    base = len(root.parts)
    for folder, subfolders, names in os.walk(root):
        if len(Path(folder).parts) - base >= depth:
            subfolders[:] = []
        subfolders[:] = sorted(s for s in subfolders if not s.startswith("."))
        yield Path(folder), sorted(names)


def detect(root: Path) -> bool:
    """A ``Hei-Chole<N>[_<Phase>]_Skill.csv`` file in the root or a few folders below it."""
    root = Path(root)
    return root.is_dir() and any(SKILL_FILE.match(name) for _, names in _walk(root, DETECT_DEPTH) for name in names)


def _files(root: Path, pattern: re.Pattern) -> list[tuple[Path, re.Match]]:
    return [
        (folder / name, match)
        for folder, names in _walk(root, 64)
        for name in names
        if not name.startswith(".") and (match := pattern.match(name))
    ]


def _subscore_names(value: Any) -> tuple[str, ...]:
    if value is None:
        return SUBSCORE_NAMES
    items = value.split(",") if isinstance(value, str) else value
    try:
        names = tuple(snake_case(item) for item in items)
    except TypeError:
        names = ()
    if not names or not all(names) or len(set(names)) != len(names):
        raise UsageError(
            f"{FORMAT}: subscore_names must be distinct item names in the files' order, e.g. "
            f"{list(SUBSCORE_NAMES)}; got {value!r}"
        )
    reserved = {"video", "subject", "trial", "phase", "phase_id", "total", "segment_start", "segment_end"}
    if reserved & set(names):
        raise UsageError(f"{FORMAT}: subscore_names may not use the row columns {sorted(reserved & set(names))}")
    return names


def read(root: Path, **options: Any) -> PublicDataset:
    """Read a HeiChole tree: one row per video and rated phase (see the module's docstring)."""
    check_options(FORMAT, options, OPTIONS)
    root = Path(root)
    names = _subscore_names(options.get("subscore_names"))
    wanted_phase = options.get("phase")
    skill_files = _files(root, SKILL_FILE)
    if not skill_files:
        raise SkillDatasetError(
            f"{root}: no Hei-Chole<N>_<Phase>_Skill.csv files; is this the HeiChole dataset (its skill annotations)?"
        )
    problems: list[Problem] = []
    videos: dict[int, list[Path]] = {}
    for stem, paths in video_files(root).items():
        match = VIDEO_NAME.match(stem)
        if match:
            videos.setdefault(int(match.group(1)), []).extend(paths)
    annotations: dict[int, list[Path]] = {}
    for path, match in _files(root, PHASE_FILE):
        annotations.setdefault(int(match.group(1)), []).append(path)
    phase_frames: dict[int, dict[int, list[tuple[int, int]]] | None] = {}  # video -> phase -> its stretches

    entries = []  # (number, phase name, phase id, scores, skill file)
    seen: dict[tuple[int, str | int], str] = {}
    header_mismatch: list[tuple[str, int, list[str]]] = []
    for path, match in sorted(skill_files, key=lambda item: (int(item[1].group(1)), str(item[0]))):
        number, file = int(match.group(1)), relative(path, root)
        raw_phase = match.group(2)
        phase = FULL if raw_phase is None else snake_case(raw_phase)
        if phase == FULL:
            raw_phase = None
        scores = _read_scores(path, file, names, problems, header_mismatch)
        if scores is None:
            continue
        if number not in videos:
            problems.append(
                Problem(
                    file,
                    None,
                    f"a rating of {trial_id(number)}, whose video {trial_id(number)}.mp4 is not "
                    "under the root; add the video or delete the file",
                )
            )
            continue
        if len(videos[number]) > 1:
            shown = ", ".join(relative(v, root) for v in videos[number])
            problems.append(Problem(file, None, f"{trial_id(number)} has several videos ({shown}); keep one"))
            continue
        known_id = None if raw_phase is None else phase_id(raw_phase)
        key = (number, phase if known_id is None else known_id)  # Calot and CalotTriangle rate one phase
        if key in seen:
            problems.append(
                Problem(file, None, f"{trial_id(number)}'s {phase} rating is in {seen[key]} already; delete one")
            )
            continue
        seen[key] = file
        entries.append((number, phase, known_id, scores, file))
    if header_mismatch:
        file, line, found = header_mismatch[0]
        others = f" (and {len(header_mismatch) - 1} other files)" if len(header_mismatch) > 1 else ""
        problems.append(
            Problem(
                file,
                line,
                f"the header names the items {', '.join(found)}{others}, read as "
                f"{', '.join(names)}; pass subscore_names=[...] to name them as the header does",
                "warning",
            )
        )

    if wanted_phase is not None:  # before placing phases on frames: a phase not asked for cannot be a problem
        phases = sorted({phase for _, phase, *_ in entries}, key=lambda p: (p == FULL, p))
        wanted = snake_case(wanted_phase)
        if wanted not in phases:
            raise UsageError(f"{FORMAT}: phase {wanted_phase!r} is not one of the rated phases {', '.join(phases)}")
        entries = [entry for entry in entries if entry[1] == wanted]

    # A phase rating is judged on its phase's frames; one that cannot be placed on them (an unknown phase name, no
    # phase annotation, a phase the annotation never shows) would put the whole operation's frames beside a
    # phase's score, and two such rows of one video would be the same input with two scores: left out, as errors.
    rows = []
    unplaced: dict[int, list[str]] = {}
    for number, phase, known_id, scores, file in entries:
        segment = None
        if phase != FULL and known_id is None:
            problems.append(
                Problem(
                    file,
                    None,
                    f"phase {phase!r} is not a HeiChole phase ({_phase_list()}), so the rating cannot be placed on "
                    f"its frames: left out{_UNPLACED_FIX}",
                )
            )
            continue
        if phase != FULL:
            if number not in phase_frames:
                phase_frames[number] = _read_phases(number, annotations, root, problems)
            stretches = (phase_frames[number] or {}).get(known_id)
            if phase_frames[number] is None:
                unplaced.setdefault(number, []).append(phase)  # said once per video below
                continue
            if not stretches:
                annotation = relative(annotations[number][0], root)
                problems.append(
                    Problem(
                        annotation,
                        None,
                        f"phase {known_id} ({PHASES[known_id]}) never occurs, so {trial_id(number)}'s {phase} rating "
                        f"({file}) cannot be placed on its frames: left out{_UNPLACED_FIX}",
                    )
                )
                continue
            segment = (stretches[0][0], stretches[-1][1] + 1)
            if len(stretches) > 1:
                shown = ", ".join(f"{a}-{b}" for a, b in stretches)
                problems.append(
                    Problem(
                        relative(annotations[number][0], root),
                        None,
                        f"phase {known_id} "
                        f"({PHASES[known_id]}) occurs in {len(stretches)} stretches (frames {shown}); "
                        f"{trial_id(number)}'s {phase} rating covers frames {segment[0]}-{segment[1] - 1}, "
                        "from its first to its last frame",
                        "warning",
                    )
                )
        rows.append(
            {
                "video": str(videos[number][0].resolve()),
                "subject": trial_id(number),
                "trial": trial_id(number),
                "phase": phase,
                "phase_id": known_id,
                **dict(zip(names, scores)),
                "total": sum(scores),
                "segment_start": None if segment is None else segment[0],
                "segment_end": None if segment is None else segment[1],
            }
        )
    for number, phases in sorted(unplaced.items()):
        problems.append(
            Problem(
                relative(videos[number][0], root),
                None,
                f"no readable {trial_id(number)}_Annotation_Phase.csv, so its phase ratings "
                f"({', '.join(sorted(phases))}) "
                f"cannot be placed on their frames: left out{_UNPLACED_FIX}",
            )
        )
    rated_videos = {number for number, *_ in entries} | {int(m.group(1)) for _, m in skill_files}
    for number in sorted(set(videos) - rated_videos):
        for path in videos[number]:
            problems.append(
                Problem(relative(path, root), None, "a video with no skill file; it is left out", "warning")
            )

    rows.sort(key=lambda row: (int(row["trial"][len("Hei-Chole") :]), _phase_order(row), row["phase"]))

    low, high = SCORE_RANGE
    targets = {
        "total": Target(
            "total",
            "total",
            "score",
            score_range=(float(low * len(names)), float(high * len(names))),
            description=f"sum of the {len(names)} modified GOALS items",
        )
    }
    for name in names:
        targets[name] = Target(
            name, name, "score", score_range=(float(low), float(high)), description="a modified GOALS item"
        )
    return PublicDataset(
        format=FORMAT,
        root=root,
        rows=rows,
        targets=targets,
        default_target="total",
        subscores=names,
        problems=problems,
        notes=[SUBJECT_NOTE, names_note(names), SEGMENT_NOTE],
    )


def _phase_order(row: dict[str, Any]) -> int:
    """Rated phases in the operation's order, the whole-operation rating last."""
    return row["phase_id"] if row["phase_id"] is not None else (8 if row["phase"] == FULL else 7)


def _phase_list() -> str:
    return ", ".join(f"{k} {v}" for k, v in PHASES.items())


def _read_scores(
    path: Path, file: str, names: Sequence[str], problems: list[Problem], header_mismatch: list
) -> list[int] | None:
    """The item scores of a skill file (one row of integers 1-5, an optional header before it), or None after
    adding an error."""
    try:
        lines = list(read_csv_lines(path))
    except (SkillDatasetError, OSError) as err:
        problems.append(Problem(file, None, f"cannot be read ({err})"))
        return None
    if lines and all(parse_number(f) is None for f in lines[0][1] if f):  # a header
        header_line, header = lines[0]
        found = [snake_case(f) for f in header if f]
        if found != list(names):
            header_mismatch.append((file, header_line, found))
        lines = lines[1:]
    if not lines:
        problems.append(Problem(file, None, f"no scores; it should hold one row of {len(names)} integers 1-5"))
        return None
    if len(lines) > 1:
        problems.append(
            Problem(
                file,
                lines[1][0],
                f"{len(lines)} rows of scores where one is expected (lines "
                f"{', '.join(str(n) for n, _ in lines)}); keep one",
            )
        )
        return None
    number, fields = lines[0]
    while fields and not fields[-1]:
        fields = fields[:-1]  # a trailing separator
    if len(fields) != len(names):
        problems.append(
            Problem(
                file,
                number,
                f"{len(fields)} scores where {len(names)} items ({', '.join(names)}) are "
                "expected; fix the line, or pass subscore_names=[...] naming as many items",
            )
        )
        return None
    scores, bad = [], []
    for name, text in zip(names, fields):
        value = parse_number(text)
        if value is None or not value.is_integer():
            bad.append(f"{name} {text!r} is not an integer")
        elif not SCORE_RANGE[0] <= value <= SCORE_RANGE[1]:
            bad.append(f"{name} {text} is outside {SCORE_RANGE[0]}-{SCORE_RANGE[1]}")
        else:
            scores.append(int(value))
    if bad:
        problems.append(Problem(file, number, "; ".join(bad)))
        return None
    return scores


def _read_phases(
    number: int, annotations: dict[int, list[Path]], root: Path, problems: list[Problem]
) -> dict[int, list[tuple[int, int]]] | None:
    """Each phase's stretches ``[(first frame, last frame), ...]`` in video ``number``'s phase annotation, or None
    when it has none. Malformed lines are warnings (file and line) and skipped."""
    paths = annotations.get(number)
    if not paths:
        return None
    path, file = paths[0], relative(paths[0], root)
    if len(paths) > 1:
        shown = ", ".join(relative(p, root) for p in paths)
        problems.append(
            Problem(
                file, None, f"{trial_id(number)} has several phase annotations ({shown}); this one is read", "warning"
            )
        )
    try:
        lines = list(read_csv_lines(path))
    except (SkillDatasetError, OSError) as err:
        problems.append(Problem(file, None, f"cannot be read ({err}); phases unknown", "warning"))
        return None  # as if there were none: its phase ratings cannot be placed
    frames: dict[int, int] = {}
    for index, (line, fields) in enumerate(lines):
        values = [parse_number(f) for f in fields if f]
        if index == 0 and all(v is None for v in values):
            continue  # a header
        if len(values) != 2 or any(v is None or not v.is_integer() for v in values):
            problems.append(
                Problem(
                    file, line, f"not a 'frame,phase' line of two integers: {','.join(fields)!r}; skipped", "warning"
                )
            )
            continue
        frame, phase = int(values[0]), int(values[1])
        if phase not in PHASES or frame < 0:
            what = f"phase {phase} is not a HeiChole phase (0-6)" if phase not in PHASES else f"frame {frame} < 0"
            problems.append(Problem(file, line, f"{what}; skipped", "warning"))
            continue
        if frame in frames:
            problems.append(Problem(file, line, f"frame {frame} is annotated twice; the first is kept", "warning"))
            continue
        frames[frame] = phase
    stretches: dict[int, list[tuple[int, int]]] = {}
    previous = None
    for frame in sorted(frames):
        phase = frames[frame]
        runs = stretches.setdefault(phase, [])
        if previous is not None and previous[1] == phase and runs:
            runs[-1] = (runs[-1][0], frame)
        else:
            runs.append((frame, frame))
        previous = (frame, phase)
    return stretches
