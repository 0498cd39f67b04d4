"""A miniature AIxSuture / OSS 2025 tree: the OSATS spreadsheet (one row per rater) and ``videos/<VIDEO>.mp4``.

Six students: four filmed PRE and POST, one only PRE, one resident only POST; three of the raters A-F per video
except ``E19M`` (two); the rows of ``C07D`` and ``K82T`` not in rater order; mean GRS in all four challenge bins,
with means just under an edge (``C07D`` 15.67, ``J70S`` 23.67) and one on an edge (``H63R`` 16.0).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from surgical_skill.testing_utils import make_test_video

HEADER = (
    "STUDENT",
    "GROUP",
    "TIME",
    "SUTURES",
    "INVESTIGATOR",
    "VIDEO",
    "OSATS_RESPECT",
    "OSATS_MOTION",
    "OSATS_INSTRUMENT",
    "OSATS_SUTURE",
    "OSATS_FLOW",
    "OSATS_KNOWLEDGE",
    "OSATS_PERFORMANCE",
    "OSATSFINALQUALITY",
    "GLOBARATINGSCORE",
)

# video -> (student, group, time, sutures (one count, or one per rater), {rater: GRS})
VIDEOS: dict[str, tuple[int, str, str, int | tuple[int, ...], dict[str, int]]] = {
    "A31H": (101, "A", "PRE", 3, {"A": 10, "B": 12, "C": 11}),
    "B12K": (101, "A", "POST", 5, {"A": 22, "D": 24, "E": 23}),
    "C07D": (102, "A", "PRE", 4, {"F": 16, "B": 15, "C": 16}),  # mean 15.67: novice; raters not in order
    "D44F": (102, "A", "POST", 6, {"C": 30, "D": 32, "E": 31}),
    "E19M": (103, "B", "PRE", 4, {"A": 18, "F": 20}),  # two raters only
    "F28P": (103, "B", "POST", 6, {"B": 26, "D": 25, "F": 27}),
    "G55Q": (104, "B", "PRE", 2, {"C": 8, "E": 9, "F": 9}),
    "H63R": (105, "B", "PRE", 4, {"A": 16, "B": 16, "D": 16}),  # mean 16.0: intermediate
    "J70S": (105, "B", "POST", 5, {"D": 24, "E": 24, "F": 23}),  # mean 23.67: intermediate
    "K82T": (201, "RESIDENT", "POST", (8, 8, 9), {"E": 40, "A": 36, "C": 38}),
}


def items_of(grs: int, rater: str) -> list[int]:
    """Eight OSATS items (1-5) summing to ``grs``; which items get the remainder depends on the rater."""
    base, extra = divmod(grs - 8, 8)
    shift = "ABCDEF".index(rater) if rater in "ABCDEF" else 0
    return [1 + base + (1 if (i - shift) % 8 < extra else 0) for i in range(8)]


def osats_rows(videos: dict[str, tuple] = VIDEOS) -> list[list[Any]]:
    """The sheet's data rows (without the header), one per rater, in video then rater order."""
    rows = []
    for video, (student, group, time, sutures, grs_by_rater) in videos.items():
        counts = sutures if isinstance(sutures, tuple) else (sutures,) * len(grs_by_rater)
        for (rater, grs), count in zip(grs_by_rater.items(), counts):
            rows.append([student, group, time, count, rater, video, *items_of(grs, rater), grs])
    return rows


def write_osats_sheet(
    path: Path,
    rows: Iterable[Sequence[Any]],
    *,
    header: Sequence[str] = HEADER,
    sheet_name: str = "Tabelle1",
    extra_sheets: Sequence[str] = (),
) -> Path:
    """Write ``header`` and ``rows`` as an .xlsx (first sheet ``sheet_name``, after ``extra_sheets``, which are
    empty but for a note) or, for a .csv path, as a comma-separated export."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(["" if c is None else c for c in row] for row in rows)
        return path
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for name in extra_sheets:
        workbook.create_sheet(name).append(["notes", "not the ratings"])
    sheet = workbook.create_sheet(sheet_name)
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


def write_aixsuture_tree(
    root: str | Path,
    *,
    xlsx_name: str = "OSATS.xlsx",
    rows: Iterable[Sequence[Any]] | None = None,
    videos: Iterable[str] | None = None,
    header: Sequence[str] = HEADER,
    sheet_name: str = "Tabelle1",
    extra_sheets: Sequence[str] = (),
) -> Path:
    """Write the miniature tree under ``root`` and return ``root``.

    ``rows``: the sheet's data rows (default :func:`osats_rows`); ``videos``: the video ids to write as
    ``videos/<id>.mp4`` (default those of :data:`VIDEOS`); ``xlsx_name`` may end in ``.csv`` for a CSV export.
    Videos are 12 frames of 24x32, seeded by their position.
    """
    root = Path(root)
    write_osats_sheet(
        root / xlsx_name,
        osats_rows() if rows is None else rows,
        header=header,
        sheet_name=sheet_name,
        extra_sheets=extra_sheets,
    )
    for seed, video in enumerate(VIDEOS if videos is None else videos):
        make_test_video(root / "videos" / f"{video}.mp4", 12, height=24, width=32, fps=10, seed=seed)
    return root
