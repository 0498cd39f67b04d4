"""A miniature JIGSAWS tree, laid out and formatted as the dataset is distributed.

``write_jigsaws_tree(root)`` writes ``root/<Task>/{video,transcriptions,kinematics/AllGestures}``,
``root/<Task>/meta_file_<Task>.txt`` and ``root/Experimental_setup/<Task>/unBalanced/GestureClassification/
{UserOut,SuperTrialOut}/<k>_Out/itr_1/{Train,Test}.txt``, with tiny videos (24x32, 12 frames, AVI as distributed)
and the real dataset's irregularities: Suturing has no H002, Needle_Passing has no user G and misses some
supertrials of others (28 trials), an expert's trial has GRS 8 and a novice's GRS 27, the meta files' fields are
separated by tabs with empty fields between some of them, some lines end in whitespace and the files end with a
blank line. :func:`jigsaws_meta` gives what the files say, for tests to compare a reader's rows with.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from surgical_skill.testing_utils import make_test_video

TASKS = ("Suturing", "Knot_Tying", "Needle_Passing")
# the real users and their self-proclaimed levels: experts D, E; intermediate C; novices B, F, G, H, I
USER_LEVELS = {"B": "N", "C": "I", "D": "E", "E": "E", "F": "N", "G": "N", "H": "N", "I": "N"}
USERS = tuple(USER_LEVELS)
# trials the real dataset lacks
MISSING = {
    "Suturing": {"H002"},
    # as in the four folds of the USDL/MUSDL code (github.com/nzl-thu/MUSDL), which list every Knot_Tying trial
    "Knot_Tying": {"B005", "H001", "H002", "I004"},
    "Needle_Passing": {"B005", "E002", "F002", "F005", "H001", "H003", "I001"} | {f"G{k:03d}" for k in range(1, 6)},
}
# the irregular scores (items summing to the GRS): an expert's poor trial and a novice's good one
SPECIAL_ITEMS = {
    "Suturing_E003": (2, 1, 1, 2, 1, 1),  # E, GRS 8
    "Suturing_B005": (5, 4, 5, 4, 5, 4),  # N, GRS 27
    "Needle_Passing_D004": (2, 2, 1, 1, 1, 1),  # E, GRS 8
}
FRAMES = 12
SEGMENTS = ((1, 4, "G1"), (5, 8, "G5"), (9, 12, "G11"))
KINEMATIC_COLUMNS = 76


def jigsaws_trials(task: str, supertrials: Sequence[int] = (1, 2, 3, 4, 5)) -> list[str]:
    """The trials of ``task`` in the miniature tree, sorted (``Suturing_B001`` ...)."""
    return [f"{task}_{user}{k:03d}" for user in USERS for k in supertrials if f"{user}{k:03d}" not in MISSING[task]]


def jigsaws_meta(task: str, supertrials: Sequence[int] = (1, 2, 3, 4, 5)) -> dict[str, tuple[str, int, tuple]]:
    """trial -> (level code N/I/E, GRS, the six item scores) as the tree's meta file says."""
    meta = {}
    base = {"N": 2, "I": 3, "E": 4}
    for index, trial in enumerate(jigsaws_trials(task, supertrials)):
        user, k = trial[-4], int(trial[-3:])
        level = USER_LEVELS[user]
        items = SPECIAL_ITEMS.get(trial) or tuple(
            min(5, max(1, base[level] + (index + item + k) % 3 - 1)) for item in range(6)
        )
        meta[trial] = (level, sum(items), items)
    return meta


def meta_line(trial: str, level: str, grs: int, items: Sequence[int]) -> str:
    """A meta file line as distributed: ``Suturing_B001\\t\\tN\\t13\\t\\t3\\t2\\t1\\t2\\t2\\t3``."""
    return f"{trial}\t\t{level}\t{grs}\t\t" + "\t".join(str(i) for i in items)


def write_jigsaws_tree(
    root: str | Path,
    *,
    tasks: Sequence[str] = ("Suturing", "Needle_Passing"),
    official_splits: bool = True,
    views: Sequence[str] = ("capture1", "capture2"),
    supertrials: Sequence[int] = (1, 2, 3, 4, 5),
    kinematics: bool = True,
    nested: bool = False,
) -> Path:
    """Write a miniature JIGSAWS tree under ``root`` and return ``root``.

    Args:
        tasks: the task folders written.
        official_splits: write ``Experimental_setup/`` (the LOUO and LOSO split files) beside the task folders.
        views: the camera views written for every trial (``capture1``, ``capture2``).
        supertrials: the supertrial numbers written (fewer for a smaller tree).
        kinematics: write ``kinematics/AllGestures/<trial>.txt`` (3 lines of 76 numbers) for every trial.
        nested: lay each task out as some unzips do, ``<Task>/<Task>/video``.
    """
    root = Path(root)
    seed = 0
    for task in tasks:
        folder = root / task / task if nested else root / task
        meta = jigsaws_meta(task, supertrials)
        lines = []
        for number, (trial, (level, grs, items)) in enumerate(meta.items()):
            lines.append(meta_line(trial, level, grs, items) + ("\t " if number % 4 == 1 else ""))
            for view in views:
                make_test_video(
                    folder / "video" / f"{trial}_{view}.avi",
                    FRAMES,
                    height=24,
                    width=32,
                    fps=30,
                    seed=seed,
                    preset="ultrafast",
                    threads=1,
                    deterministic=True,
                )
                seed += 1
            transcription = folder / "transcriptions" / f"{trial}.txt"
            transcription.parent.mkdir(parents=True, exist_ok=True)
            transcription.write_text("".join(f"{start} {end} {gesture} \n" for start, end, gesture in SEGMENTS))
            if kinematics:
                path = folder / "kinematics" / "AllGestures" / f"{trial}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(
                    "".join(
                        "     "
                        + "     ".join(
                            f"{(row * 0.37 + col * 0.011) % 1 - 0.5:.6e}" for col in range(KINEMATIC_COLUMNS)
                        )
                        + "\n"
                        for row in range(3)
                    )
                )
        (folder / f"meta_file_{task}.txt").write_text("\n".join(lines) + "\n\n")
        if official_splits:
            write_official_splits(root / "Experimental_setup" / task, list(meta))
    return root


def segment_lines(trials: Sequence[str]) -> str:
    """Split-file lines as distributed: ``Suturing_B001_000001_000004.txt           G1``."""
    return "".join(
        f"{trial}_{start:06d}_{end:06d}.txt           {gesture}\n"
        for trial in trials
        for start, end, gesture in SEGMENTS
    )


def write_official_splits(task_setup: Path, trials: Sequence[str]) -> None:
    """``<task_setup>/unBalanced/GestureClassification/{UserOut,SuperTrialOut}/<k>_Out/itr_1/{Train,Test}.txt``:
    UserOut ``k`` holds out the k-th of users B..I (numbered as in the real set, only users present), SuperTrialOut
    ``k`` holds out supertrial k."""
    base = task_setup / "unBalanced" / "GestureClassification"
    present = sorted({trial[-4] for trial in trials})
    folds = {("UserOut", USERS.index(u) + 1): [t for t in trials if t[-4] == u] for u in present}
    for k in sorted({int(t[-3:]) for t in trials}):
        folds["SuperTrialOut", k] = [t for t in trials if int(t[-3:]) == k]
    for (scheme, k), test in folds.items():
        fold = base / scheme / f"{k}_Out" / "itr_1"
        fold.mkdir(parents=True, exist_ok=True)
        (fold / "Test.txt").write_text(segment_lines(test))
        (fold / "Train.txt").write_text(segment_lines([t for t in trials if t not in test]))
