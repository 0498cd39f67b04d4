"""AIxSuture and the OSS 2025 challenge: open suturing videos rated with OSATS by three raters each.

AIxSuture (Hoffmann et al., 2024) filmed 157 medical students suturing on a skin pad for five minutes before
and after a training course (314 videos; a few residents and experts once). Each video was rated by three of six
raters (A-F) on the eight OSATS items (1-5 each); the GRS (8-40) is their sum. The labels are one spreadsheet,
``OSATS.xlsx`` (``OSATS_MICCAI_trainset.xlsx`` in the Open Suturing Skills challenge), with one row PER RATER::

    STUDENT GROUP TIME SUTURES INVESTIGATOR VIDEO OSATS_RESPECT ... OSATSFINALQUALITY GLOBARATINGSCORE

and the videos are ``<VIDEO>.mp4`` anywhere under the root (``videos/`` as distributed).

The reader finds the sheet as any ``.xlsx`` (or a CSV export with the same header) at most two folders deep whose
header has ``VIDEO`` and a GRS column (``GLOBARATINGSCORE``, spelled so, or ``GLOBALRATINGSCORE``,
``GLOBA_RATING_SCORE``, ``GLOBAL_RATING_SCORE``); header names are matched ignoring case, spaces and
underscores. It returns one row per video, the raters averaged as the challenge does ("rater annotations will
be averaged"):

- ``video``, ``subject`` (``STUDENT``, so a student's PRE and POST videos share a subject and grouped splits keep
  them together), ``trial`` (``VIDEO``), ``group``, ``time`` (``"pre"``/``"post"``, other values as given),
  ``sutures`` (mean over raters, None when not given), ``raters`` (the rater letters, sorted), ``num_raters``;
- ``grs`` (the mean GRS) and ``grs_ratings`` (each rater's, in ``raters`` order); the same for each OSATS item
  (``osats_respect`` ... ``osatsfinalquality`` and ``<item>_ratings``);
- ``grs_bin``: the OSS challenge's Task 1 class of the MEAN GRS: novice 8-15, intermediate 16-23, proficient
  24-31, expert 32-40. The edges are lower bounds applied to the mean, so a mean of 15.67 is novice and 16.0 is
  intermediate (``score_bins`` gives other lower edges; the classes are then named by range, ``8-19`` ...).

Targets: ``grs_bins`` (the default), ``grs`` and each OSATS item; ``subscores`` = the eight items.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ...limits import exceeded, get_limits
from ..splits import SkillDatasetError
from .common import (
    Problem,
    PublicDataset,
    Target,
    bin_of,
    check_options,
    check_score_bins,
    parse_number,
    read_csv_lines,
    relative,
    score_bin_names,
    video_files,
)

FORMAT = "aixsuture"
OPTIONS = ("score_bins", "sheet")
PROTOCOLS: dict[str, str] = {}

GRS_RANGE = (8.0, 40.0)
ITEM_RANGE = (1.0, 5.0)
# the OSS 2025 challenge's Task 1 classes (lower edges on the mean GRS)
CHALLENGE_EDGES = (8.0, 16.0, 24.0, 32.0)
CHALLENGE_NAMES = ("novice", "intermediate", "proficient", "expert")
DOCUMENTED_RATERS = 3


def _key(name: Any) -> str:
    """A header cell as compared: upper case, without spaces and underscores."""
    return re.sub(r"[\s_]+", "", str(name or "")).upper()


# the eight OSATS items in the sheet's order: normalised header -> row column
ITEMS: dict[str, str] = {
    "OSATSRESPECT": "osats_respect",
    "OSATSMOTION": "osats_motion",
    "OSATSINSTRUMENT": "osats_instrument",
    "OSATSSUTURE": "osats_suture",
    "OSATSFLOW": "osats_flow",
    "OSATSKNOWLEDGE": "osats_knowledge",
    "OSATSPERFORMANCE": "osats_performance",
    "OSATSFINALQUALITY": "osatsfinalquality",
}
GRS_HEADERS = ("GLOBARATINGSCORE", "GLOBALRATINGSCORE")
REQUIRED = ("STUDENT", "INVESTIGATOR", "VIDEO")
HEADER_SCAN_ROWS = 10


def _text(value: Any) -> str:
    """A cell as text: ``""`` for an empty one, ``12`` for the number 12.0."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _header_columns(cells: Sequence[Any]) -> dict[str, int] | None:
    """Normalised header name -> column index when ``cells`` is the OSATS header (has VIDEO and a GRS), else None."""
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        columns.setdefault(_key(cell), index)
    if "VIDEO" in columns and any(name in columns for name in GRS_HEADERS):
        return columns
    return None


def _xlsx_tables(path: Path, sheet: str | None = None, rows_wanted: int | None = None):
    """``[(sheet name, [(row number, cells), ...])]`` of a workbook (read-only, cached formula values)."""
    from openpyxl import load_workbook  # the only reader that needs it

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        names = workbook.sheetnames
        if sheet is not None and sheet not in names:
            raise UsageError(f"{FORMAT}: {path} has no worksheet {sheet!r}; its sheets are {', '.join(names)}")
        tables = []
        for name in [sheet] if sheet is not None else names:
            rows = []
            budget = get_limits().max_manifest_rows
            for number, cells in enumerate(workbook[name].iter_rows(values_only=True), start=1):
                if rows_wanted is not None and number > rows_wanted:
                    break
                if number > budget + 1:  # the header and max_manifest_rows rows, counted while reading
                    raise exceeded("max_manifest_rows", f"{path}, sheet {name!r}", f"more than {budget:,} rows")
                rows.append((number, list(cells)))
            tables.append((name, rows))
        return tables
    finally:
        workbook.close()


def _csv_head(path: Path, lines: int = HEADER_SCAN_ROWS) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        head = [handle.readline() for _ in range(lines)]
    head = [line for line in head if line.strip()]
    if not head:
        return []
    delimiter = next((d for d in (",", ";", "\t") if d in head[0]), ",")
    return list(csv.reader(head, delimiter=delimiter))


def _is_osats_sheet(path: Path) -> bool:
    """Whether the file's header (within its first rows) has VIDEO and a GRS column; unreadable files are not."""
    try:
        if path.suffix.lower() == ".csv":
            return any(_header_columns(cells) for cells in _csv_head(path))
        return any(
            _header_columns(cells) for _, rows in _xlsx_tables(path, rows_wanted=HEADER_SCAN_ROWS) for _, cells in rows
        )
    except Exception:  # a damaged or locked workbook, a binary file named .csv: not the sheet
        return False


def _candidates(root: Path):
    """.xlsx files, then .csv files, at most two folders below ``root``, shallowest first."""
    for suffix in (".xlsx", ".csv"):
        for pattern in ("*", "*/*", "*/*/*"):
            for path in sorted(root.glob(pattern + suffix)):
                if path.is_file() and not path.name.startswith((".", "~$")):
                    yield path


def find_sheets(root: Path) -> list[Path]:
    """Every OSATS sheet under ``root`` (at most two folders deep), .xlsx before .csv, shallowest first."""
    return [path for path in _candidates(root) if _is_osats_sheet(path)]


def detect(root: Path) -> bool:
    """An .xlsx or .csv at most two folders below ``root`` whose header has VIDEO and a GRS column."""
    root = Path(root)
    return root.is_dir() and any(_is_osats_sheet(path) for path in _candidates(root))


def _read_table(path: Path, root: Path, sheet: str | None) -> tuple[str, list[tuple[int, list[Any]]]]:
    """The unit of line numbers (``row`` for a workbook, ``line`` for CSV) and every line from the header on."""
    if path.suffix.lower() == ".csv":
        if sheet is not None:
            raise UsageError(f"{FORMAT}: the option sheet={sheet!r} applies to an .xlsx; {path} is a CSV export")
        return "line", list(read_csv_lines(path))
    tables = _xlsx_tables(path, sheet)
    for _, rows in tables:
        if any(_header_columns(cells) for _, cells in rows[:HEADER_SCAN_ROWS]):
            return "row", rows
    where = f"worksheet {sheet!r} does not have" if sheet is not None else "no worksheet has"
    raise SkillDatasetError(
        f"{relative(path, root)}: {where} the OSATS header (VIDEO and GLOBARATINGSCORE) in its first "
        f"{HEADER_SCAN_ROWS} rows; name the sheet that has it with sheet=..."
    )


def read(root: Path, **options: Any) -> PublicDataset:
    """Read an AIxSuture / OSS 2025 tree: the OSATS sheet (one row per rater) and ``<VIDEO>.mp4`` files.

    Options:
        score_bins: lower edges of the ``grs_bins`` classes on the mean GRS (default the challenge's 8, 16, 24,
            32, named novice, intermediate, proficient, expert; other edges give range-named classes).
        sheet: the worksheet to read (default the first whose first rows have the header).
    """
    check_options(FORMAT, options, OPTIONS)
    root = Path(root)
    edges = check_score_bins(options.get("score_bins"), FORMAT)
    if edges is not None and (edges[0] > GRS_RANGE[0] or edges[-1] > GRS_RANGE[1]):
        raise UsageError(
            f"{FORMAT}: score_bins must start at 8 or below and end at 40 or below (the GRS is 8-40) so every "
            f"video has a class; got {list(edges)}"
        )
    label_names = CHALLENGE_NAMES if edges is None else score_bin_names(edges, GRS_RANGE[1])
    edges = edges or CHALLENGE_EDGES

    sheets = find_sheets(root)
    if not sheets:
        raise SkillDatasetError(
            f"{root}: no OSATS sheet (an .xlsx or .csv, at most two folders deep, whose header has VIDEO and "
            "GLOBARATINGSCORE); is this the AIxSuture / OSS 2025 folder?"
        )
    path = sheets[0]
    sheet_file = relative(path, root)
    problems: list[Problem] = [
        Problem(relative(other, root), None, f"another OSATS sheet, not read ({sheet_file} was)", "warning")
        for other in sheets[1:]
    ]
    unit, lines = _read_table(path, root, options.get("sheet"))

    header_at = next(i for i, (_, cells) in enumerate(lines) if _header_columns(cells))
    columns = _header_columns(lines[header_at][1])
    assert columns is not None
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise SkillDatasetError(
            f"{sheet_file}: the OSATS header has no column {', '.join(missing)} (it needs STUDENT, INVESTIGATOR, "
            "VIDEO and GLOBARATINGSCORE)"
        )
    grs_column = next(columns[name] for name in GRS_HEADERS if name in columns)
    items = {column: columns[key] for key, column in ITEMS.items() if key in columns}

    def problem(line: int | None, message: str, severity: str = "error") -> None:
        problems.append(Problem(sheet_file, line, message, severity, unit))

    def cell(cells: list[Any], key: str) -> Any:
        index = columns.get(key)
        return cells[index] if index is not None and index < len(cells) else None

    # one entry per usable rater row, grouped by video (sheet order)
    ratings: dict[str, list[dict[str, Any]]] = {}
    first_line: dict[str, int] = {}
    for number, cells in lines[header_at + 1 :]:
        if all(_text(c) == "" for c in cells):
            continue
        video = _text(cell(cells, "VIDEO"))
        if not video:
            problem(number, "no VIDEO id; fill it in or delete the row")
            continue
        first_line.setdefault(video, number)
        scores: dict[str, float] = {}
        bad = []
        for name, index, (low, high) in [("grs", grs_column, GRS_RANGE)] + [
            (column, index, ITEM_RANGE) for column, index in items.items()
        ]:
            raw = cells[index] if index < len(cells) else None
            value = parse_number(raw)
            if value is None or not low <= value <= high:
                label = "GLOBARATINGSCORE" if name == "grs" else name.upper()
                bad.append(f"{label} {_text(raw)!r} is not a number from {low:g} to {high:g}")
            else:
                scores[name] = value
        sutures_raw = cell(cells, "SUTURES")
        sutures = parse_number(sutures_raw)
        if _text(sutures_raw) and (sutures is None or sutures < 0):
            bad.append(f"SUTURES {_text(sutures_raw)!r} is not a count")
        if bad:
            problem(number, f"video {video}: {'; '.join(bad)}")
            continue
        rater = _text(cell(cells, "INVESTIGATOR"))
        earlier = [r for r in ratings.get(video, []) if r["rater"] == rater]
        if earlier:
            problem(number, f"video {video}: rater {rater!r} rated it already (row {earlier[0]['line']}); delete one")
            continue
        if len(scores) == len(ITEMS) + 1 and abs(sum(scores[c] for c in items) - scores["grs"]) > 1e-6:
            problem(
                number,
                f"video {video}, rater {rater}: GLOBARATINGSCORE {scores['grs']:g} is not the sum of the eight "
                f"OSATS items ({sum(scores[c] for c in items):g}); the GRS as given is used",
                "warning",
            )
        ratings.setdefault(video, []).append(
            {
                "line": number,
                "rater": rater,
                "student": _text(cell(cells, "STUDENT")),
                "group": _text(cell(cells, "GROUP")),
                "time": _text(cell(cells, "TIME")),
                "sutures": sutures,
                "scores": scores,
            }
        )

    files = video_files(root)
    rows = []
    videos_of_student: dict[str, list[tuple[int, str]]] = {}
    for video in sorted(ratings):
        entries = ratings[video]
        line = entries[0]["line"]
        students = sorted({e["student"] for e in entries})
        if len(students) > 1:
            where = ", ".join(f"{e['student'] or '(empty)'} in row {e['line']}" for e in entries)
            problem(line, f"video {video}: its rows name different STUDENTs ({where}); correct them")
            continue
        paths = files.get(video, [])
        if len(paths) != 1:
            found = ", ".join(relative(p, root) for p in paths)
            problem(
                line,
                f"video {video} has no file {video}.mp4 under the root; add it or delete its rows"
                if not paths
                else f"video {video} matches several files ({found}); keep one",
            )
            continue
        entries = sorted(entries, key=lambda e: e["rater"])
        raters = [e["rater"] for e in entries]
        if len(entries) != DOCUMENTED_RATERS:
            problem(
                line,
                f"video {video} is rated by {len(entries)} rater{'s' if len(entries) != 1 else ''} "
                f"({', '.join(raters)}), not the documented {DOCUMENTED_RATERS}; the mean is over those",
                "warning",
            )
        videos_of_student.setdefault(students[0], []).append((line, video))
        time = entries[0]["time"]
        sutures = [e["sutures"] for e in entries if e["sutures"] is not None]
        grs_ratings = [e["scores"]["grs"] for e in entries]
        grs = sum(grs_ratings) / len(grs_ratings)
        row: dict[str, Any] = {
            "video": os.path.abspath(paths[0]),
            "subject": students[0],
            "trial": video,
            "group": entries[0]["group"],
            "time": time.lower() if time.upper() in ("PRE", "POST") else time,
            "sutures": sum(sutures) / len(sutures) if sutures else None,
            "raters": raters,
            "num_raters": len(entries),
            "grs": grs,
            "grs_ratings": grs_ratings,
            "grs_bin": label_names[bin_of(grs, edges)],
        }
        for column in items:
            values = [e["scores"][column] for e in entries]
            row[column] = sum(values) / len(values)
            row[f"{column}_ratings"] = values
        rows.append(row)

    for student, videos in sorted(videos_of_student.items()):
        if len(videos) > 2:
            videos = sorted(videos)
            problem(
                videos[2][0],
                f"student {student} has {len(videos)} videos ({', '.join(v for _, v in videos)}); AIxSuture films "
                "each student twice (PRE and POST)",
                "warning",
            )
    for stem, paths in sorted(files.items()):
        if stem not in first_line:
            for path in paths:
                problems.append(
                    Problem(
                        relative(path, root), None, f"a video with no row in {sheet_file}; it is left out", "warning"
                    )
                )

    targets = {
        "grs_bins": Target(
            "grs_bins",
            "grs_bin",
            "label",
            label_names=tuple(label_names),
            description="the mean GRS in bins with lower edges "
            + ", ".join(f"{e:g}" for e in edges)
            + (" (the OSS 2025 challenge's Task 1 classes)" if label_names == CHALLENGE_NAMES else ""),
        ),
        "grs": Target("grs", "grs", "score", score_range=GRS_RANGE, description="mean over raters of the OSATS GRS"),
    }
    for column in items:
        targets[column] = Target(column, column, "score", score_range=ITEM_RANGE, description="mean over raters")
    notes = [
        "subject is the STUDENT: a student's PRE and POST videos share it, so grouped splits keep them on one side",
        "scores are means over the raters (three per video), as the OSS 2025 challenge averages them; each rater's "
        "scores are in the *_ratings columns",
        "grs_bins bins the mean GRS with the edges as lower bounds (a mean of 15.67 is below 16, so novice)",
    ]
    return PublicDataset(
        format=FORMAT,
        root=root,
        rows=rows,
        targets=targets,
        default_target="grs_bins",
        subscores=tuple(items),
        problems=problems,
        notes=notes,
    )
