"""surgical-skill: judge a surgeon's technical skill from video, on the Hugging Face stack."""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from ._lazy import lazy_exports

try:
    __version__ = version("surgical-skill")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

_EXPORTS = {
    "VideoDecodeError": ".video",
    "VideoMetadata": ".video",
    "decode_frames": ".video",
    "probe": ".video",
    "sample_clip_indices": ".video",
    "sample_multi_clip_indices": ".video",
    "sample_segment_indices": ".video",
    "write_video": ".video",
    "load_skill_dataset": ".data",
}
__all__ = ["__version__", *sorted(_EXPORTS)]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .data import load_skill_dataset
    from .video import (
        VideoDecodeError,
        VideoMetadata,
        decode_frames,
        probe,
        sample_clip_indices,
        sample_multi_clip_indices,
        sample_segment_indices,
        write_video,
    )
