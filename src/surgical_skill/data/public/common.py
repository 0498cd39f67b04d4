"""What every public-dataset reader returns, and the small parts they share.

A reader turns a dataset tree exactly as distributed into :class:`PublicDataset`: one row per video (per view or
phase where the dataset has several), the targets it offers, the folds of its published protocols, and every
problem it met (a malformed line, a label without its video, a video without a label), each with its file and
line. Readers never raise for a problem in the data: they list it, so ``surgical-skill inspect`` can show them all;
:func:`surgical_skill.data.load_skill_dataset` refuses data with errors, listing every one.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import UsageError
from ..building import VIDEO_EXTENSIONS, manifest_lines
from ..splits import SkillDatasetError

# A target name that is never a column: every sub-score of a row at once (several outputs; see load_skill_dataset)
ALL_SUBSCORES = "subscores"


@dataclass(frozen=True)
class Problem:
    """Something wrong or odd in a dataset tree, where it is, and whether the row it concerns can be used.

    ``severity`` is ``"error"`` (the row is left out of :attr:`PublicDataset.rows`: a malformed label line, a label
    whose video is missing) or ``"warning"`` (the data is usable but not as documented: a video without a label, a
    GRS that is not the sum of its items, official split files that differ from the derived folds).
    """

    file: str
    line: int | None
    message: str
    severity: str = "error"
    unit: str = "line"  # "row" for a spreadsheet row

    def __post_init__(self):
        if self.severity not in ("error", "warning"):
            raise ValueError(f"severity must be 'error' or 'warning', got {self.severity!r}")

    def __str__(self) -> str:
        where = f"{self.file}, {self.unit} {self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "unit": self.unit,
            "message": self.message,
            "severity": self.severity,
        }


@dataclass(frozen=True)
class Target:
    """A quantity a model can be trained to predict from a dataset's rows.

    ``column`` holds it in every row; ``kind`` is ``"label"`` (classes, in ``label_names`` order, least skilled
    first) or ``"score"`` (a number; ``score_range`` is the scale's documented range, e.g. GRS 6-30).
    """

    name: str
    column: str
    kind: str
    label_names: tuple[str, ...] | None = None
    score_range: tuple[float, float] | None = None
    description: str = ""

    def __post_init__(self):
        if self.kind not in ("label", "score"):
            raise ValueError(f"kind must be 'label' or 'score', got {self.kind!r}")
        if self.kind == "label" and not self.label_names:
            raise ValueError(f"target {self.name!r}: a label target needs label_names")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "column": self.column,
            "kind": self.kind,
            "label_names": list(self.label_names) if self.label_names else None,
            "score_range": list(self.score_range) if self.score_range else None,
            "description": self.description,
        }


@dataclass
class PublicDataset:
    """A public skill dataset read from its tree.

    Attributes:
        format: the reader's name (``jigsaws``, ``aixsuture``, ``cataract-lmm``, ``heichole``).
        root: the folder it was read from.
        rows: one dict per usable video (rows with an error problem are left out). Every row has ``video`` (an
            absolute path, as a string), ``subject`` (the person whose skill is rated; ``""`` when the dataset does
            not say) and ``trial`` (the dataset's own id of the recording), then the dataset's columns (scores,
            sub-scores, levels, raters ...) under snake_case names, and one ``fold_<protocol>`` column per protocol
            in :attr:`protocols` naming the fold that holds the row out.
        targets: the targets offered, by name (``grs``, ``skill_level``, one per sub-score, ``grs_bins`` ...).
        default_target: the name used when the caller asks for none.
        subscores: the sub-score columns, in the dataset's order (the target ``subscores`` is all of them).
        protocols: published protocol name (``jigsaws-louo`` ...) -> the row column holding each row's test fold.
        protocol_sources: protocol name -> where its folds came from (the official split files, or "derived from
            the trial names", or a fold file), said in every report.
        problems: everything wrong or odd, with file and line.
        notes: facts a user must know when reading figures on this dataset (e.g. that surgeon ids are not
            distributed), shown by ``surgical-skill inspect`` and logged when loading.
    """

    format: str
    root: Path
    rows: list[dict[str, Any]]
    targets: dict[str, Target]
    default_target: str
    subscores: tuple[str, ...] = ()
    protocols: dict[str, str] = field(default_factory=dict)
    protocol_sources: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def target(self, name: str | None) -> Target:
        """The target called ``name`` (``None``: the default); an unknown name lists the known ones."""
        name = self.default_target if name in (None, "auto") else name
        if name in self.targets:
            return self.targets[name]
        raise UsageError(
            f"{self.format} dataset at {self.root}: no target {name!r}; its targets are "
            f"{', '.join(self.targets)}"
            + (f", and {ALL_SUBSCORES} (all sub-scores at once, one named output each)" if self.subscores else "")
        )


def check_options(format_name: str, given: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Refuse options a reader does not take (a typo would otherwise be ignored), naming the ones it does."""
    allowed = tuple(allowed)
    unknown = [key for key, value in given.items() if key not in allowed and value is not None]
    if unknown:
        raise UsageError(
            f"the {format_name} reader has no option {', '.join(map(repr, unknown))}; its options are "
            f"{', '.join(allowed) or 'none'}"
        )


def choose(value: str | None, choices: Sequence[str], what: str, format_name: str) -> str | None:
    """``value`` when it is one of ``choices`` (or None), else a one-line error naming them."""
    if value is not None and value not in choices:
        raise UsageError(f"{format_name}: {what} {value!r} is not one of {', '.join(choices)}")
    return value


def snake_case(name: str) -> str:
    """A column name as a row key: ``OSATS_RESPECT`` -> ``osats_respect``, ``Tissue handling`` -> ``tissue_handling``."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def video_files(root: Path, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> dict[str, list[Path]]:
    """Every video under ``root`` by file stem (``Suturing_B001_capture1``), for matching label lines to files;
    several files with one stem (``A.mp4`` and ``A.avi``, or one in two folders) are all kept for the reader to
    report."""
    found: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in extensions and path.is_file() and not path.name.startswith("."):
            found.setdefault(path.stem, []).append(path)
    return found


def read_csv_lines(path: Path, delimiter: str | None = None) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of every non-empty record of a CSV file (UTF-8, BOM tolerated); the delimiter is
    sniffed among ``,``, ``;`` and tab when not given. The line number is the record's first line in the file (a
    quoted field may span lines). The file is read line by line within the manifest budgets
    (:func:`~surgical_skill.data.building.manifest_lines`).

    Raises:
        SkillDatasetError: the file is not UTF-8 text (saying how to save it so).
        ResourceLimitError: more lines than ``max_manifest_rows`` (and a header) or one longer than
            ``max_manifest_line_chars``.
    """
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = manifest_lines(handle, path)
        head = []  # the lines up to the first non-empty one, which the delimiter is sniffed from
        for line in lines:
            head.append(line)
            if line.strip():
                break
        if delimiter is None:
            first = head[-1] if head else ""
            candidates = [d for d in (",", ";", "\t") if d in first]
            delimiter = candidates[0] if candidates else ","
        reader = csv.reader(itertools.chain(head, lines), delimiter=delimiter)
        start = 1
        for fields in reader:
            if any(f.strip() for f in fields):
                yield start, [f.strip() for f in fields]
            start = reader.line_num + 1


def parse_number(text: Any) -> float | None:
    """A number from a cell (``"13"``, ``"13.5"``, ``"13,5"``, 13), or None when it is not one."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return float(text)
    try:
        return float(str(text).strip().replace(",", "."))
    except ValueError:
        return None


def score_bin_names(edges: Sequence[float], top: float) -> tuple[str, ...]:
    """Names of the bins whose lower edges are ``edges`` on a scale ending at ``top``: ``8-15``, ``16-23`` ..."""

    def fmt(x: float) -> str:
        return f"{x:g}"

    uppers = [e - 1 for e in edges[1:]] + [top]
    return tuple(f"{fmt(low)}-{fmt(high)}" for low, high in zip(edges, uppers))


def bin_of(value: float, edges: Sequence[float]) -> int | None:
    """The index of the bin (lower edges ``edges``, ascending) holding ``value``; None below the first edge."""
    index = None
    for i, edge in enumerate(edges):
        if value >= edge:
            index = i
    return index


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it (how problems name files), else as given."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def check_score_bins(edges: Sequence[float] | None, what: str) -> tuple[float, ...] | None:
    if edges is None:
        return None
    edges = tuple(float(e) for e in edges)
    if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
        raise UsageError(
            f"{what}: score_bins must be two or more ascending lower edges, e.g. [8, 16, 24, 32]; got {list(edges)}"
        )
    return edges


def raise_on_errors(data: PublicDataset, *, allow: bool = False) -> None:
    """Refuse a dataset whose tree had errors, listing every one with file and line (``allow``: leave those rows
    out, warning)."""
    if data.errors and not allow:
        shown = "\n  ".join(str(p) for p in data.errors[:30])
        more = f"\n  ... and {len(data.errors) - 30} more" if len(data.errors) > 30 else ""
        raise SkillDatasetError(
            f"{data.root}: the {data.format} tree has {len(data.errors)} problem"
            f"{'s' if len(data.errors) != 1 else ''} (their rows cannot be used):\n  {shown}{more}\n"
            "(fix them, or pass drop_invalid_rows=True / `drop_invalid_rows: true` to leave those rows out; "
            "`surgical-skill inspect ROOT` lists everything)"
        )
