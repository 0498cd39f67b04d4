"""surgical-skill: judge a surgeon's technical skill from video, on the Hugging Face stack."""

from importlib.metadata import PackageNotFoundError, version

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

try:
    __version__ = version("surgical-skill")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = [
    "VideoDecodeError",
    "VideoMetadata",
    "__version__",
    "decode_frames",
    "probe",
    "sample_clip_indices",
    "sample_multi_clip_indices",
    "sample_segment_indices",
    "write_video",
]
