"""A miniature Cataract-LMM skill subset in either layout.

``scores`` (as distributed): ``videos/SK_<ClipID>_S<Site>_P03.mp4`` and ``annotations/skill_scores.csv``;
``clusters`` (the seed study's): ``cluster_<k>/SK_<ClipID>_S<Site>_<RawVideoID>_Capsulorhexis.avi``.
Five clips, three from site 1 (Farabi) and two from site 2 (Noor).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from surgical_skill.testing_utils import make_test_video

HEADER = (
    "clip_key",
    "instrument_handling",
    "motion",
    "tissue_handling",
    "microscope_use",
    "commencement_of_flap",
    "circular_completion",
)
# (ClipID, site, raw video id) of each clip
CLIPS: tuple[tuple[str, int, str], ...] = (
    ("0002", 1, "1006"),
    ("0003", 1, "0412"),
    ("0005", 2, "2931"),
    ("0007", 1, "0077"),
    ("0011", 2, "2990"),
)
# the six indicators of each clip (ClipID -> scores)
SCORES: dict[str, tuple[float, ...]] = {
    "0002": (4, 3, 4, 5, 3, 4),
    "0003": (2, 2, 3, 3, 2, 1.5),
    "0005": (5, 5, 4, 5, 5, 5),
    "0007": (3, 4, 3, 4, 3, 3),
    "0011": (1, 2, 2, 3, 1, 2),
}
# the seed study's k-means clusters (folder -> ClipIDs)
CLUSTERS: dict[str, tuple[str, ...]] = {
    "cluster_0": ("0003", "0011"),
    "cluster_1": ("0002", "0007"),
    "cluster_2": ("0005",),
}


def video_stem(clip_id: str, site: int) -> str:
    return f"SK_{clip_id}_S{site}_P03"


def score_lines(header: Sequence[str] = HEADER) -> list[list[str]]:
    """The CSV's lines (header first): one per clip, keyed by its SK stem, scores as written (``4``, ``1.5``)."""
    lines = [list(header)]
    for clip_id, site, _ in CLIPS:
        lines.append([video_stem(clip_id, site), *(f"{s:g}" for s in SCORES[clip_id])])
    return lines


def write_scores_csv(root: Path, lines: Iterable[Sequence[str] | str]) -> Path:
    """Write ``annotations/skill_scores.csv``: each line a list of fields (joined by commas) or raw text."""
    path = Path(root) / "annotations" / "skill_scores.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((line if isinstance(line, str) else ",".join(line)) + "\n" for line in lines))
    return path


def write_cataract_lmm_tree(
    root: str | Path,
    layout: str = "scores",
    *,
    lines: Iterable[Sequence[str] | str] | None = None,
    videos: Iterable[str] | None = None,
    clusters: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Write the miniature tree under ``root`` and return ``root``.

    ``layout="scores"``: ``videos/<stem>.mp4`` for each stem of ``videos`` (default one per clip of
    :data:`CLIPS`) and the CSV from ``lines`` (default :func:`score_lines`). ``layout="clusters"``:
    ``<folder>/SK_<ClipID>_S<Site>_<RawVideoID>_Capsulorhexis.avi`` for each folder -> ClipIDs of ``clusters``
    (default :data:`CLUSTERS`). Videos are 12 frames of 24x32.
    """
    root = Path(root)
    clip = {clip_id: (site, raw) for clip_id, site, raw in CLIPS}
    if layout == "scores":
        stems = [video_stem(clip_id, site) for clip_id, site, _ in CLIPS] if videos is None else list(videos)
        for seed, stem in enumerate(stems):
            make_test_video(root / "videos" / f"{stem}.mp4", 12, height=24, width=32, fps=10, seed=seed)
        write_scores_csv(root, score_lines() if lines is None else lines)
    elif layout == "clusters":
        seed = 0
        for folder, clip_ids in (CLUSTERS if clusters is None else clusters).items():
            (root / folder).mkdir(parents=True, exist_ok=True)
            for clip_id in clip_ids:
                site, raw = clip[clip_id]
                name = f"SK_{clip_id}_S{site}_{raw}_Capsulorhexis.avi"
                make_test_video(root / folder / name, 12, height=24, width=32, fps=10, seed=seed)
                seed += 1
    else:
        raise ValueError(f"layout must be 'scores' or 'clusters', got {layout!r}")
    return root
