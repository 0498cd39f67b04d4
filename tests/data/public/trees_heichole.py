"""A miniature HeiChole tree, laid out as distributed: ``Videos/Full/Hei-Chole<N>.mp4``,
``Annotations/Phase/Hei-Chole<N>_Annotation_Phase.csv`` (one ``frame,phase`` line per frame) and
``Annotations/Skill/Hei-Chole<N>[_<Phase>]_Skill.csv`` (one row of five integer scores 1-5).

Four operations of ``FRAMES`` frames each (24x32, ``FPS`` fps; every frame draws its own index, see
``testing_utils.textured_frames``): phases 0-6 in order, of ``PHASE_LENGTHS[n]`` frames, in the phase annotations
of operations 1-3; operation 4 has none. Every operation is rated for ``Calot`` and ``Dissection``; operations 1 and
2 for the whole operation too (``Hei-Chole<N>_Skill.csv``). The files vary as the real ones may: operation 2's skill
files have a header and semicolons, operation 3's phase annotation has a header.

Use: ``root = write_heichole_tree(tmp_path)``; ``heichole.read(root)`` then gives 10 rows, Hei-Chole1's calot
rating first, covering frames 6-11 (``segment_start=6``, ``segment_end=12``).
"""

from __future__ import annotations

from pathlib import Path

from surgical_skill.testing_utils import make_test_video

FRAMES = 42
FPS = 25
VIDEOS = (1, 2, 3, 4)
# phase lengths in frames, phases 0..6 in order; operation 4 has no phase annotation
PHASE_LENGTHS = {1: (6, 6, 6, 6, 6, 6, 6), 2: (4, 8, 5, 7, 6, 6, 6), 3: (6, 6, 6, 6, 6, 6, 6)}
# (operation, phase as in the file name) -> the five item scores
SCORES = {
    (1, "Calot"): (3, 4, 3, 4, 2),
    (1, "Dissection"): (4, 4, 3, 5, 2),
    (1, None): (3, 4, 3, 4, 2),
    (2, "Calot"): (2, 2, 3, 2, 4),
    (2, "Dissection"): (2, 3, 2, 2, 4),
    (2, None): (2, 3, 2, 2, 4),
    (3, "Calot"): (5, 5, 4, 5, 1),
    (3, "Dissection"): (5, 4, 5, 5, 1),
    (4, "Calot"): (1, 2, 1, 2, 3),
    (4, "Dissection"): (2, 1, 2, 1, 3),
}
HEADER = "Depth perception;Bimanual dexterity;Efficiency;Tissue handling;Difficulty"


def phase_starts(number: int) -> list[int]:
    """The first frame of each phase 0..6 of operation ``number``."""
    starts, frame = [], 0
    for length in PHASE_LENGTHS[number]:
        starts.append(frame)
        frame += length
    return starts


def video_path(root: Path, number: int) -> Path:
    return root / "Videos" / "Full" / f"Hei-Chole{number}.mp4"


def skill_path(root: Path, number: int, phase: str | None) -> Path:
    name = f"Hei-Chole{number}_{phase}_Skill.csv" if phase else f"Hei-Chole{number}_Skill.csv"
    return root / "Annotations" / "Skill" / name


def phase_path(root: Path, number: int) -> Path:
    return root / "Annotations" / "Phase" / f"Hei-Chole{number}_Annotation_Phase.csv"


def write_skill_file(root: Path, number: int, phase: str | None, lines: list[str]) -> Path:
    """``Hei-Chole<number>[_<phase>]_Skill.csv`` holding ``lines``."""
    path = skill_path(root, number, phase)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def write_phase_file(root: Path, number: int, lines: list[str]) -> Path:
    """``Hei-Chole<number>_Annotation_Phase.csv`` holding ``lines``."""
    path = phase_path(root, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def phase_lines(lengths: tuple[int, ...], phases: tuple[int, ...] = tuple(range(7))) -> list[str]:
    """``frame,phase`` lines: ``lengths[i]`` frames of ``phases[i]`` in turn."""
    lines, frame = [], 0
    for length, phase in zip(lengths, phases):
        for _ in range(length):
            lines.append(f"{frame},{phase}")
            frame += 1
    return lines


def write_heichole_tree(root: Path, *, videos: tuple[int, ...] = VIDEOS) -> Path:
    """The miniature tree under ``root`` (created), for operations ``videos`` (a subset of 1-4); returns ``root``."""
    root = Path(root)
    for number in videos:
        path = video_path(root, number)
        path.parent.mkdir(parents=True, exist_ok=True)
        make_test_video(path, FRAMES, height=24, width=32, fps=FPS, seed=number, keyframe_interval=8)
        if number in PHASE_LENGTHS:
            header = ["Frame,Phase"] if number == 3 else []
            write_phase_file(root, number, header + phase_lines(PHASE_LENGTHS[number]))
        for (operation, phase), scores in SCORES.items():
            if operation != number:
                continue
            if number == 2:
                write_skill_file(root, number, phase, [HEADER, ";".join(map(str, scores))])
            else:
                write_skill_file(root, number, phase, [",".join(map(str, scores))])
    return root
