"""JIGSAWS (the JHU-ISI Gesture and Skill Assessment Working Set) as distributed.

The tree: one folder per task (``Suturing``, ``Knot_Tying``, ``Needle_Passing``; some unzips nest one more
same-named folder, ``Suturing/Suturing/``), each with::

    video/<Task>_<U><NNN>_capture1.avi, _capture2.avi   two camera views; U = user B..I, NNN = supertrial 001..005
    meta_file_<Task>.txt                                 trial, self-proclaimed level N/I/E, GRS, six item scores
    transcriptions/<trial>.txt                           "start end G#" gesture segments (frame numbers)
    kinematics/AllGestures/<trial>.txt                   76 numbers a line

and, beside the task folders, ``Experimental_setup/<Task>/{Balanced,unBalanced}/<Setup>/{UserOut,SuperTrialOut}/
<k>_Out/itr_1/{Train,Test}.txt``: the published leave-one-user-out and leave-one-supertrial-out splits, as lists of
gesture segments ``<trial>_<start>_<end>.txt  <label>``.

One row per trial and camera view; its folds (``fold_louo``: ``user-B`` ...; ``fold_loso``: ``supertrial-1`` ...)
come from the official split files when present (compared with the folds the trial names give) and from the trial
names otherwise.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ..building import VIDEO_EXTENSIONS, read_text_within_budget
from ..splits import SkillDatasetError
from .common import (
    Problem,
    PublicDataset,
    Target,
    bin_of,
    check_options,
    check_score_bins,
    choose,
    relative,
    score_bin_names,
)

FORMAT = "jigsaws"
OPTIONS = ("task", "view", "fold_file", "score_bins")
PROTOCOLS = {"jigsaws-louo": "fold_louo", "jigsaws-loso": "fold_loso", "jigsaws-4fold": "fold_4fold"}

TASKS = ("Suturing", "Knot_Tying", "Needle_Passing")
VIEWS = ("capture1", "capture2", "both")
LEVELS = {"N": "novice", "I": "intermediate", "E": "expert"}
LEVEL_NAMES = ("novice", "intermediate", "expert")
# the six items of the modified OSATS global rating score, in the meta files' order
SUBSCORES = (
    "respect_for_tissue",
    "suture_needle_handling",
    "time_and_motion",
    "flow_of_operation",
    "overall_performance",
    "quality_of_final_product",
)
GRS_RANGE = (6, 30)
ITEM_RANGE = (1, 5)
KINEMATIC_COLUMNS = 76
# preference among the official split folders: the first balance/setup holding the scheme's folds is used
BALANCES = ("unBalanced", "Balanced")
SETUPS = ("SkillDetection", "GestureClassification")
SCHEMES = {"louo": "UserOut", "loso": "SuperTrialOut"}

TRIAL = re.compile(r"^(Suturing|Knot_Tying|Needle_Passing)_([A-Z])(\d{3})")
VIDEO_NAME = re.compile(r"^((?:Suturing|Knot_Tying|Needle_Passing)_[A-Z]\d{3})_(capture\d)$")
GESTURE_LINE = re.compile(r"^G\d+$")

LOSO_NOTE = (
    "jigsaws-loso (leave one supertrial out) measures new trials of surgeons seen in training, not new surgeons: "
    "every user is in every training fold; jigsaws-louo (leave one user out) is the protocol for new surgeons"
)
LEVEL_NOTE = (
    "skill_level is each user's self-proclaimed experience (the same for all their trials) and grs is rated per "
    "trial: they can disagree (an expert's trial may have a low GRS)"
)


def detect(root: Path) -> bool:
    """True when ``root`` holds a ``meta_file_<Task>.txt`` directly, in a task folder, or in a nested one."""
    root = Path(root)
    for task in TASKS:
        name = f"meta_file_{task}.txt"
        if (root / name).is_file() or (root / task / name).is_file() or (root / task / task / name).is_file():
            return True
    return False


def read(
    root: Path,
    *,
    task: str | None = None,
    view: str | None = "capture1",
    fold_file: str | os.PathLike | None = None,
    score_bins: list[float] | None = None,
    **unknown: Any,
) -> PublicDataset:
    """Read a JIGSAWS tree (the folder of task folders, or one task folder).

    Args:
        task: ``Suturing``, ``Knot_Tying`` or ``Needle_Passing`` (None: every task present; the ``task`` column
            tells them apart). Reading one task folder, it must be None or that task.
        view: ``capture1`` (default), ``capture2`` or ``both`` (two rows per trial, same folds).
        fold_file: a CSV ``trial,fold`` (header optional, ``#`` comments; a path relative to the working folder
            or to ``root``) of the 4-fold scheme of the action quality literature; adds the ``fold_4fold`` column
            (``fold-<fold>``) and the ``jigsaws-4fold`` protocol. Lines of tasks not read are skipped; a trial read
            but not in the file is an error for its row.
        score_bins: lower edges of GRS classes (e.g. ``[6, 14, 22]``), for the ``grs_bins`` label target.
    """
    check_options(
        FORMAT, {"task": task, "view": view, "fold_file": fold_file, "score_bins": score_bins, **unknown}, OPTIONS
    )
    view = choose(view, VIEWS, "view", FORMAT) or "capture1"
    choose(task, TASKS, "task", FORMAT)
    edges = check_score_bins(score_bins, FORMAT)
    if edges is not None and edges[-1] > GRS_RANGE[1]:
        raise UsageError(f"{FORMAT}: score_bins {list(edges)} go above the GRS scale's top ({GRS_RANGE[1]})")
    root = Path(root).expanduser().resolve()
    task_dirs = _task_folders(root, task)
    views = ("capture1", "capture2") if view == "both" else (view,)

    problems: list[Problem] = []
    rows: list[dict[str, Any]] = []
    sources: dict[str, dict[str, str]] = {"jigsaws-louo": {}, "jigsaws-loso": {}}
    known_trials: set[str] = set()
    for name, folder in task_dirs.items():
        entries, listed = _read_meta(folder, name, root, problems)
        known_trials |= listed
        task_rows = _rows(folder, name, entries, listed, views, root, problems)
        # a split line naming a trial the task has (a meta line, or a video) is not one naming an unknown trial
        present = listed | {trial for trial, _ in _videos(folder)}
        warned: set = set()  # an unknown trial is reported once per task, not on each of its lines in each file
        for protocol, scheme in (("jigsaws-louo", "louo"), ("jigsaws-loso", "loso")):
            sources[protocol][name] = _assign_folds(folder, name, scheme, present, task_rows, root, problems, warned)
        rows += task_rows

    protocols = {"jigsaws-louo": "fold_louo", "jigsaws-loso": "fold_loso"}
    protocol_sources = {protocol: _joined(by_task) for protocol, by_task in sources.items()}
    if fold_file is not None:
        path = _fold_file_path(fold_file, root)
        rows = _assign_4fold(path, rows, known_trials, set(task_dirs), root, problems)
        protocols["jigsaws-4fold"] = "fold_4fold"
        protocol_sources["jigsaws-4fold"] = f"fold file {path}"

    targets = {
        "skill_level": Target(
            "skill_level",
            "skill_level",
            "label",
            label_names=LEVEL_NAMES,
            description="the user's self-proclaimed experience (N/I/E in the meta file)",
        ),
        "grs": Target(
            "grs",
            "grs",
            "score",
            score_range=(float(GRS_RANGE[0]), float(GRS_RANGE[1])),
            description="global rating score: the sum of the six items (6-30)",
        ),
    }
    for column in SUBSCORES:
        targets[column] = Target(
            column,
            column,
            "score",
            score_range=(float(ITEM_RANGE[0]), float(ITEM_RANGE[1])),
            description=f"GRS item {column.replace('_', ' ')} (1-5)",
        )
    if edges is not None:
        names = score_bin_names(edges, GRS_RANGE[1])
        kept, below = [], set()
        for row in rows:
            index = bin_of(row["grs"], edges)
            if index is None:
                if row["trial"] not in below:  # one problem per trial, whatever the views
                    below.add(row["trial"])
                    problems.append(
                        Problem(
                            row["_meta_file"],
                            row["_meta_line"],
                            f"{row['trial']}: GRS {row['grs']} is below the first score bin "
                            f"({edges[0]:g}); lower the first edge of score_bins",
                        )
                    )
                continue
            row["grs_bins"] = names[index]
            kept.append(row)
        rows = kept
        targets["grs_bins"] = Target(
            "grs_bins",
            "grs_bins",
            "label",
            label_names=names,
            description=f"GRS in classes with lower edges {', '.join(f'{e:g}' for e in edges)}",
        )
    for row in rows:
        row.pop("_meta_file", None)
        row.pop("_meta_line", None)
    rows.sort(key=lambda row: (row["trial"], row["view"]))

    notes = [LEVEL_NOTE, LOSO_NOTE]
    if len(task_dirs) > 1:
        notes.append(
            f"rows of {len(task_dirs)} tasks ({', '.join(task_dirs)}): a user letter is the same surgeon in every "
            "task, so jigsaws-louo holds each user out of all tasks at once"
        )
    if view == "both":
        notes.append("two rows per trial (capture1 and capture2): a trial's two views are always in the same fold")
    return PublicDataset(
        format=FORMAT,
        root=root,
        rows=rows,
        targets=targets,
        default_target="skill_level",
        subscores=SUBSCORES,
        protocols=protocols,
        protocol_sources=protocol_sources,
        problems=problems,
        notes=notes,
    )


# the tree


def _task_folders(root: Path, task: str | None) -> dict[str, Path]:
    """Task name -> its folder (the one holding ``video/`` and the meta file), in TASKS order."""
    own = [t for t in TASKS if (root / f"meta_file_{t}.txt").is_file()]
    if not own and root.name in TASKS:
        own = [root.name]
    if own:  # root is a task folder (or its outer, same-named folder)
        name = own[0]
        if task is not None and task != name:
            raise UsageError(
                f"{root} is the JIGSAWS task folder {name}; task={task!r} cannot be read from it (give "
                f"the folder holding the task folders, or task={name!r} or none)"
            )
        return {name: _one_task_folder(root, name)}
    present = {t: root / t for t in TASKS if (root / t).is_dir()}
    if not present:
        raise SkillDatasetError(
            f"{root}: not a JIGSAWS tree: no task folder ({', '.join(TASKS)}) and no meta_file_<Task>.txt"
        )
    if task is not None:
        if task not in present:
            raise UsageError(f"{root} has no JIGSAWS task folder {task!r}; the tasks present are {', '.join(present)}")
        present = {task: present[task]}
    return {name: _one_task_folder(folder, name) for name, folder in present.items()}


def _one_task_folder(folder: Path, task: str) -> Path:
    meta = f"meta_file_{task}.txt"
    if not (folder / meta).is_file() and (folder / task / meta).is_file():
        folder = folder / task  # Suturing/Suturing/... as some unzips leave it
    if not (folder / meta).is_file():
        raise SkillDatasetError(
            f"{folder}: the JIGSAWS task folder has no {meta} (expected {folder / meta}); "
            "it holds every trial's skill level and scores"
        )
    return folder


def _read_meta(folder: Path, task: str, root: Path, problems: list[Problem]) -> tuple[list[dict], set[str]]:
    """The valid meta lines of a task as row dicts, and every trial name the file lists (valid or not)."""
    path = folder / f"meta_file_{task}.txt"
    where = relative(path, root)
    entries: list[dict] = []
    listed: set[str] = set()
    seen: dict[str, int] = {}
    text = read_text_within_budget(path, encoding="utf-8-sig", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue

        def bad(message: str, *, number: int = number) -> None:
            problems.append(Problem(where, number, message))

        match = TRIAL.match(fields[0])
        if not match or match.group(0) != fields[0]:
            bad(f"{fields[0]!r} is not a JIGSAWS trial name (<Task>_<user letter><3 digits>, e.g. {task}_B001)")
            continue
        trial, trial_task, user, number_text = fields[0], match.group(1), match.group(2), match.group(3)
        if trial_task != task:
            bad(
                f"{trial} is a {trial_task} trial, listed in the {task} meta file; move its line to "
                f"meta_file_{trial_task}.txt"
            )
            continue
        listed.add(trial)
        if trial in seen:
            bad(f"{trial} is listed twice (first on line {seen[trial]}); remove one of the lines")
            continue
        seen[trial] = number
        if len(fields) != 3 + len(SUBSCORES):
            bad(
                f"{trial}: expected {3 + len(SUBSCORES)} fields (trial, level N/I/E, GRS, six item scores), found "
                f"{len(fields)}"
            )
            continue
        level, numbers = fields[1], fields[2:]
        if level not in LEVELS:
            bad(f"{trial}: skill level {level!r} is not N, I or E")
            continue
        if not all(re.fullmatch(r"[+-]?\d+", value) for value in numbers):
            odd = next(value for value in numbers if not re.fullmatch(r"[+-]?\d+", value))
            bad(f"{trial}: score {odd!r} is not an integer")
            continue
        grs, *items = (int(value) for value in numbers)
        out_of_range = [
            f"{name} {value}" for name, value in zip(SUBSCORES, items) if not ITEM_RANGE[0] <= value <= ITEM_RANGE[1]
        ]
        if out_of_range:
            bad(
                f"{trial}: item score{'s' if len(out_of_range) > 1 else ''} {', '.join(out_of_range)} outside "
                f"{ITEM_RANGE[0]}-{ITEM_RANGE[1]}"
            )
            continue
        if not GRS_RANGE[0] <= grs <= GRS_RANGE[1]:
            bad(f"{trial}: GRS {grs} outside {GRS_RANGE[0]}-{GRS_RANGE[1]}")
            continue
        if grs != sum(items):
            problems.append(
                Problem(
                    where,
                    number,
                    f"{trial}: GRS {grs} is not the sum of its six items ({sum(items)}); the GRS as given is used",
                    "warning",
                )
            )
        entries.append(
            {
                "trial": trial,
                "subject": user,
                "task": task,
                "supertrial": int(number_text),
                "skill_level": LEVELS[level],
                "skill_level_code": level,
                "grs": grs,
                **dict(zip(SUBSCORES, items)),
                "_meta_file": where,
                "_meta_line": number,
            }
        )
    return entries, listed


def _videos(folder: Path) -> dict[tuple[str, str], Path]:
    """(trial, view) -> video file in the task's ``video/`` folder (.avi preferred when several)."""
    found: dict[tuple[str, str], Path] = {}
    video_dir = folder / "video"
    if not video_dir.is_dir():
        return found
    for path in sorted(video_dir.iterdir(), key=lambda p: (p.suffix.lower() != ".avi", p.name)):
        match = VIDEO_NAME.match(path.stem)
        if match and path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
            found.setdefault((match.group(1), match.group(2)), path)
    return found


def _rows(
    folder: Path,
    task: str,
    entries: list[dict],
    listed: set[str],
    views: tuple[str, ...],
    root: Path,
    problems: list[Problem],
) -> list[dict]:
    videos = _videos(folder)
    rows = []
    for entry in entries:
        trial = entry["trial"]
        transcription = folder / "transcriptions" / f"{trial}.txt"
        kinematics = folder / "kinematics" / "AllGestures" / f"{trial}.txt"
        usable_views = []
        for view in views:
            if (trial, view) in videos:
                usable_views.append(view)
            else:
                problems.append(
                    Problem(
                        entry["_meta_file"],
                        entry["_meta_line"],
                        f"{trial}: its video {relative(folder / 'video', root)}/{trial}_{view}.avi (or another video "
                        "format) is missing",
                    )
                )
        if not usable_views:
            continue
        if transcription.is_file():
            _check_transcription(transcription, root, problems)
        if kinematics.is_file():
            _check_kinematics(kinematics, root, problems)
        for view in usable_views:
            rows.append(
                {
                    "video": str(videos[trial, view]),
                    "subject": entry["subject"],
                    "trial": trial,
                    "task": task,
                    "supertrial": entry["supertrial"],
                    "view": view,
                    **{
                        key: value
                        for key, value in entry.items()
                        if key not in ("trial", "subject", "task", "supertrial")
                    },
                    "transcription": str(transcription) if transcription.is_file() else "",
                    "kinematics": str(kinematics) if kinematics.is_file() else "",
                }
            )
    for (trial, view), path in sorted(videos.items()):
        if view in views and trial not in listed:
            problems.append(
                Problem(
                    relative(path, root),
                    None,
                    f"video of trial {trial} has no line in meta_file_{task}.txt: no skill level or scores, not used",
                    "warning",
                )
            )
    return rows


def _check_transcription(path: Path, root: Path, problems: list[Problem]) -> None:
    text = read_text_within_budget(path, encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        ok = (
            len(fields) == 3
            and fields[0].isdigit()
            and fields[1].isdigit()
            and GESTURE_LINE.match(fields[2])
            and int(fields[0]) <= int(fields[1])
        )
        if not ok:
            problems.append(
                Problem(
                    relative(path, root),
                    number,
                    f"not a gesture segment 'start end G<n>' (frame numbers, start <= end): {line.strip()[:60]!r}",
                    "warning",
                )
            )


def _check_kinematics(path: Path, root: Path, problems: list[Problem]) -> None:
    with path.open(encoding="utf-8", errors="replace") as handle:
        first = handle.readline()
    columns = len(first.split())
    if columns != KINEMATIC_COLUMNS:
        problems.append(
            Problem(
                relative(path, root),
                1,
                f"{columns} columns; JIGSAWS kinematics have {KINEMATIC_COLUMNS} a line",
                "warning",
            )
        )


# the folds


def _derived(row: dict, scheme: str) -> str:
    return f"user-{row['subject']}" if scheme == "louo" else f"supertrial-{row['supertrial']}"


def _joined(by_task: dict[str, str]) -> str:
    if len(by_task) == 1:
        return next(iter(by_task.values()))
    return "; ".join(f"{task}: {source}" for task, source in by_task.items())


def _child(folder: Path, name: str) -> Path | None:
    """``folder/name``, matched without regard to case."""
    if (folder / name).is_dir():
        return folder / name
    if not folder.is_dir():
        return None
    return next((p for p in sorted(folder.iterdir()) if p.name.lower() == name.lower() and p.is_dir()), None)


def _experimental_setup(folder: Path, task: str) -> Path | None:
    """``Experimental_setup/<task>`` beside the task folder (or beside its outer same-named folder)."""
    parents = [folder.parent]
    if folder.parent.name == task:
        parents.append(folder.parent.parent)
    for parent in parents:
        setup = _child(parent, "Experimental_setup")
        if setup is not None:
            nested = _child(setup, "Experimental_setup")
            for candidate in (setup, nested):
                if candidate is not None and _child(candidate, task) is not None:
                    return _child(candidate, task)
    return None


def _official_scheme_folder(folder: Path, task: str, scheme: str) -> Path | None:
    """The preferred ``<balance>/<setup>/<UserOut|SuperTrialOut>`` folder with ``<k>_Out`` folds, if any."""
    setups = _experimental_setup(folder, task)
    if setups is None:
        return None
    for balance_name in BALANCES:
        balance = _child(setups, balance_name)
        if balance is None:
            continue
        others = sorted(p.name for p in balance.iterdir() if p.is_dir() and p.name not in SETUPS)
        for setup_name in (*SETUPS, *others):
            setup = _child(balance, setup_name)
            scheme_folder = _child(setup, SCHEMES[scheme]) if setup is not None else None
            if scheme_folder is not None and _fold_folders(scheme_folder):
                return scheme_folder
    return None


def _fold_folders(scheme_folder: Path) -> list[tuple[int, Path]]:
    found = []
    for path in scheme_folder.iterdir():
        match = re.fullmatch(r"(\d+)_Out", path.name, re.IGNORECASE)
        if match and path.is_dir():
            iterations = sorted(p for p in path.iterdir() if p.is_dir() and p.name.lower().startswith("itr_"))
            chosen = next((p for p in iterations if p.name.lower() == "itr_1"), iterations[0] if iterations else path)
            found.append((int(match.group(1)), chosen))
    return sorted(found)


def _split_file(fold: Path, name: str) -> Path | None:
    return next((p for p in sorted(fold.iterdir()) if p.name.lower() == f"{name.lower()}.txt" and p.is_file()), None)


def _split_trials(
    path: Path | None, task: str, listed: set[str], root: Path, problems: list[Problem], warned: set
) -> dict[str, int]:
    """Trial -> first line naming it (a segment or a whole trial) in a Train/Test file."""
    trials: dict[str, int] = {}
    if path is None:
        return trials
    where = relative(path, root)
    text = read_text_within_budget(path, encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        match = TRIAL.match(fields[0])
        if not match:
            if (where, "line") not in warned:
                warned.add((where, "line"))
                problems.append(
                    Problem(where, number, f"does not name a JIGSAWS trial: {line.strip()[:60]!r}", "warning")
                )
            continue
        trial = match.group(0)
        if trial not in listed:
            if trial not in warned:
                warned.add(trial)
                problems.append(
                    Problem(
                        where,
                        number,
                        f"names trial {trial}, which has neither a line in "
                        f"meta_file_{task}.txt nor a video (reported once; other split files may "
                        "name it too)",
                        "warning",
                    )
                )
            continue
        trials.setdefault(trial, number)
    return trials


def _assign_folds(
    folder: Path,
    task: str,
    scheme: str,
    listed: set[str],
    rows: list[dict],
    root: Path,
    problems: list[Problem],
    warned: set,
) -> str:
    """Set ``fold_<scheme>`` on the task's rows (official split files when present) and say where it came from."""
    column = f"fold_{scheme}"
    scheme_folder = _official_scheme_folder(folder, task, scheme)
    if scheme_folder is None:
        for row in rows:
            row[column] = _derived(row, scheme)
        what = "user letter" if scheme == "louo" else "supertrial number"
        return f"derived from the trial names ({what}; no Experimental_setup/{task}/.../{SCHEMES[scheme]} found)"

    unit = "user" if scheme == "louo" else "supertrial"
    key = (
        (lambda trial: TRIAL.match(trial).group(2))
        if scheme == "louo"
        else (lambda trial: str(int(TRIAL.match(trial).group(3))))
    )
    official: dict[str, tuple[str, str, int]] = {}  # trial -> (fold name, Test.txt, line)
    for _, fold in _fold_folders(scheme_folder):
        train_path, test_path = _split_file(fold, "Train"), _split_file(fold, "Test")
        if test_path is None:
            problems.append(Problem(relative(fold, root), None, "fold folder without Test.txt: not used", "warning"))
            continue
        train = _split_trials(train_path, task, listed, root, problems, warned)
        test = _split_trials(test_path, task, listed, root, problems, warned)
        where = relative(test_path, root)
        for trial in sorted(set(train) & set(test), key=test.get):
            problems.append(
                Problem(
                    where,
                    test[trial],
                    f"{trial} is in both this Test.txt and the fold's Train.txt (line {train[trial]})",
                    "warning",
                )
            )
        if not test:
            problems.append(Problem(where, None, "holds out no trial: fold not used", "warning"))
            continue
        held = Counter(key(trial) for trial in test)
        name = f"{unit}-{held.most_common(1)[0][0]}"
        if len(held) > 1:
            others = sorted((trial for trial in test if f"{unit}-{key(trial)}" != name), key=test.get)
            problems.append(
                Problem(
                    where,
                    test[others[0]],
                    f"the fold does not hold out exactly one {unit}: "
                    f"{', '.join(f'{unit} {k}' for k in sorted(held))} (trials of others: "
                    f"{', '.join(others)}); named {name}",
                    "warning",
                )
            )
        for trial, number in sorted(test.items(), key=lambda item: item[1]):
            if trial in official:
                first = official[trial]
                problems.append(
                    Problem(
                        where,
                        number,
                        f"{trial} is held out by two folds ({first[0]} in {first[1]}, "
                        f"line {first[2]}, and {name}); the first is used",
                        "warning",
                    )
                )
                continue
            official[trial] = (name, where, number)

    source = relative(scheme_folder, root)
    missing = sorted({row["trial"] for row in rows} - set(official))
    for trial in missing:
        problems.append(
            Problem(source, None, f"{trial} is in no fold's Test.txt: its fold is derived from its name", "warning")
        )
    differ = []
    for row in rows:
        derived = _derived(row, scheme)
        row[column] = official[row["trial"]][0] if row["trial"] in official else derived
        if row[column] != derived and row["trial"] not in [d[0] for d in differ]:
            differ.append((row["trial"], row[column], derived))
    if differ:
        problems.append(
            Problem(
                source,
                None,
                f"the official {SCHEMES[scheme]} folds differ from the trial names for "
                + ", ".join(f"{t} (official {o}, by name {d})" for t, o, d in differ)
                + "; the official folds are used",
                "warning",
            )
        )
    return f"the official split files in {source}"


def _fold_file_path(fold_file: str | os.PathLike, root: Path) -> Path:
    path = Path(fold_file).expanduser()
    if not path.is_absolute() and not path.is_file() and (root / path).is_file():
        path = root / path
    if not path.is_file():
        raise UsageError(f"{FORMAT}: fold_file {os.fspath(fold_file)!r} is not a file (a CSV of trial,fold lines)")
    return path.resolve()


def _assign_4fold(
    path: Path, rows: list[dict], known: set[str], tasks: set[str], root: Path, problems: list[Problem]
) -> list[dict]:
    """Set ``fold_4fold`` from the fold file; rows it does not place (missing, conflicting) are left out."""
    where = relative(path, root)
    folds: dict[str, tuple[str, int]] = {}
    conflicting: set[str] = set()
    first_data_line = True
    text = read_text_within_budget(path, encoding="utf-8-sig", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = [f.strip() for f in re.split(r"[,;\t]", stripped)]
        match = TRIAL.match(fields[0])
        header = first_data_line and not match  # an optional header line: trial,fold or any other names
        first_data_line = False
        if header:
            continue
        if len(fields) != 2 or not fields[1] or not match:
            problems.append(
                Problem(where, number, f"expected 'trial,fold' (e.g. Suturing_B001,1), found {stripped[:60]!r}")
            )
            continue
        trial = match.group(0)
        if match.group(1) not in tasks:
            continue  # a trial of a task not read
        if trial not in known:
            problems.append(Problem(where, number, f"names trial {trial}, which no meta file lists"))
            continue
        fold = fields[1] if fields[1].startswith("fold-") else f"fold-{fields[1]}"
        if trial in folds and folds[trial][0] != fold:
            conflicting.add(trial)
            problems.append(
                Problem(
                    where,
                    number,
                    f"{trial} is given fold {fields[1]!r} here and "
                    f"{folds[trial][0].removeprefix('fold-')!r} on line {folds[trial][1]}",
                )
            )
            continue
        folds.setdefault(trial, (fold, number))
    kept = []
    missing_reported: set[str] = set()
    for row in rows:
        trial = row["trial"]
        if trial in conflicting:
            continue
        if trial not in folds:
            if trial not in missing_reported:
                missing_reported.add(trial)
                problems.append(
                    Problem(
                        where,
                        None,
                        f"{trial} is not in the fold file: it cannot be placed in a "
                        "jigsaws-4fold fold; add a line for it",
                    )
                )
            continue
        row["fold_4fold"] = folds[trial][0]
        kept.append(row)
    return kept
