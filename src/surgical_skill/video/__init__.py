"""Video decoding, probing, frame sampling and encoding: the only part of surgical-skill that touches codecs."""

from .decode import BACKENDS, decode_frames, output_size, plan_decode
from .encode import write_video
from .errors import VideoDecodeError
from .metadata import VideoMetadata, probe
from .proxy import ProxySettings, content_hash, prepare_proxies, transcode_proxy
from .sampling import frame_stride_for, sample_clip_indices, sample_multi_clip_indices, sample_segment_indices

__all__ = [
    "BACKENDS",
    "ProxySettings",
    "VideoDecodeError",
    "VideoMetadata",
    "content_hash",
    "decode_frames",
    "frame_stride_for",
    "output_size",
    "plan_decode",
    "prepare_proxies",
    "probe",
    "sample_clip_indices",
    "sample_multi_clip_indices",
    "sample_segment_indices",
    "transcode_proxy",
    "write_video",
]
