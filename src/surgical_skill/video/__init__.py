"""Video decoding, probing, frame sampling, encoding and training proxies: the only part of surgical-skill that
touches codecs."""

from .decode import BACKENDS, decode_frames, output_size, plan_decode
from .encode import write_video
from .errors import FramesLostError, VideoDecodeError
from .metadata import VideoMetadata, probe
from .proxy import ProxyReport, ProxySettings, content_hash, prepare_proxies, transcode_proxy
from .sampling import (
    FPS_TOLERANCE,
    MIN_DISTINCT_SHARE,
    SAMPLING_STRATEGIES,
    ClipSampling,
    VideoTooShortError,
    frame_step_for,
    frame_stride_for,
    sample_clip_indices,
    sample_multi_clip_indices,
    sample_segment_indices,
)

__all__ = [
    "BACKENDS",
    "FPS_TOLERANCE",
    "MIN_DISTINCT_SHARE",
    "SAMPLING_STRATEGIES",
    "ClipSampling",
    "FramesLostError",
    "ProxyReport",
    "ProxySettings",
    "VideoDecodeError",
    "VideoMetadata",
    "VideoTooShortError",
    "content_hash",
    "decode_frames",
    "frame_step_for",
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
