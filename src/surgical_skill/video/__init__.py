"""Video decoding, probing, frame sampling and encoding: the only part of surgical-skill that touches codecs."""

from .decode import BACKENDS, decode_frames, output_size, plan_decode
from .encode import write_video
from .errors import VideoDecodeError
from .metadata import VideoMetadata, probe
from .sampling import frame_stride_for, sample_clip_indices, sample_multi_clip_indices, sample_segment_indices

__all__ = [
    "BACKENDS",
    "VideoDecodeError",
    "VideoMetadata",
    "decode_frames",
    "frame_stride_for",
    "output_size",
    "plan_decode",
    "probe",
    "sample_clip_indices",
    "sample_multi_clip_indices",
    "sample_segment_indices",
    "write_video",
]
