"""Point a dataset at the training proxies made by :func:`surgical_skill.video.prepare_proxies`."""

from __future__ import annotations

import logging
import os

from datasets import Dataset, DatasetDict

from ..video.proxy import ProxySettings, lookup_proxy, read_index
from .building import METADATA_COLUMNS, RENAMED_METADATA_COLUMNS, add_video_metadata

logger = logging.getLogger(__name__)


def use_proxies(
    data: Dataset | DatasetDict, cache_dir: str | os.PathLike, settings: ProxySettings | None = None
) -> Dataset | DatasetDict:
    """Point a dataset's ``video`` column at prepared proxies; the original path moves to ``source_video``.

    Metadata columns (``total_num_frames``, ``fps`` ...) are re-probed on the proxies. A video without a proxy (never
    prepared, or changed since) keeps its original path, with a warning naming how many and how to fix it.
    """
    settings = settings or ProxySettings()
    if isinstance(data, DatasetDict):
        return DatasetDict({name: use_proxies(split, cache_dir, settings) for name, split in data.items()})
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
        data = add_video_metadata(data)
    return data
