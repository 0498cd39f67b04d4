"""Point a dataset at the training proxies made by :func:`surgical_skill.video.prepare_proxies`."""

from __future__ import annotations

import logging
import math
import os

from datasets import Dataset, DatasetDict

from ..video.proxy import ProxySettings, lookup_proxy, read_index
from .building import METADATA_COLUMNS, RENAMED_METADATA_COLUMNS, add_video_metadata
from .clips import SEGMENT_COLUMNS, segment_bounds

logger = logging.getLogger(__name__)


def use_proxies(
    data: Dataset | DatasetDict,
    cache_dir: str | os.PathLike,
    settings: ProxySettings | None = None,
    *,
    allow_urls: bool = False,
) -> Dataset | DatasetDict:
    """Point a dataset's ``video`` column at prepared proxies; the original path moves to ``source_video``.

    Metadata columns (``total_num_frames``, ``fps`` ...) are re-probed on the proxies. A video without a proxy (never
    prepared, or changed since) keeps its original path, with a warning naming how many and how to fix it.
    A row's segment (``segment_start``/``segment_end``, frames of the original) is carried over to the proxy's
    frames (a proxy has another frame rate): the proxy frames shown from the segment's start to its end.
    ``allow_urls``: whether a video without a proxy may be an http(s) URL (re-probed there).
    """
    settings = settings or ProxySettings()
    if isinstance(data, DatasetDict):
        return DatasetDict(
            {name: use_proxies(split, cache_dir, settings, allow_urls=allow_urls) for name, split in data.items()}
        )
    known = read_index(cache_dir)
    proxies, missing = [], []
    for path in data["video"]:
        proxy = lookup_proxy(known, path, settings)
        if proxy is None:
            missing.append(path)
        proxies.append(proxy or path)
    if missing:
        logger.warning(
            "%d of %d videos have no proxy in %s and stay at full size (run `surgical-skill prepare` on them; a "
            "damaged video gets none, its clips over the damage are dropped and counted): %s",
            len(missing),
            len(proxies),
            cache_dir,
            ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""),
        )
    data = data.add_column("source_video", list(data["video"])).remove_columns("video").add_column("video", proxies)
    if any(column in data.column_names for column in (*METADATA_COLUMNS, *RENAMED_METADATA_COLUMNS)):
        source_fps = data["fps"] if "fps" in data.column_names else None
        data = add_video_metadata(data, allow_urls=allow_urls)
        if source_fps is not None and any(c in data.column_names for c in SEGMENT_COLUMNS):
            data = _segments_on_proxies(data, source_fps)
    return data


def _segments_on_proxies(data: Dataset, source_fps: list[float | None]) -> Dataset:
    """Segments in frames of the original videos, moved to the frames of their proxies (re-probed ``fps`` and
    ``total_num_frames``): a segment's times stay, its frame numbers scale with the frame rate."""
    starts, ends = [], []
    rows = zip(data["source_video"], data["total_num_frames"], data["fps"], source_fps)
    for i, (source, total, fps, original_fps) in enumerate(rows):
        row = data[i]
        bounds = segment_bounds(row.get("segment_start"), row.get("segment_end"), None, source)
        if bounds is None or not fps or not original_fps or math.isclose(fps, original_fps):
            starts.append(None if bounds is None else bounds[0])
            ends.append(None if bounds is None else bounds[1])
            continue
        ratio = fps / original_fps
        start = min(math.floor(bounds[0] * ratio), total - 1)
        end = total if bounds[1] is None else min(max(math.ceil(bounds[1] * ratio), start + 1), total)
        starts.append(start)
        ends.append(end)
    data = data.remove_columns([c for c in SEGMENT_COLUMNS if c in data.column_names])
    return data.add_column("segment_start", starts).add_column("segment_end", ends)
