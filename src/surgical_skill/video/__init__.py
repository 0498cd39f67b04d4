"""Video decoding, probing, frame sampling, encoding and training proxies: the only part of surgical-skill that
touches codecs."""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "BACKENDS": ".decode",
    "decode_frames": ".decode",
    "output_size": ".decode",
    "plan_decode": ".decode",
    "write_video": ".encode",
    "VideoDecodeError": ".errors",
    "VideoMetadata": ".metadata",
    "probe": ".metadata",
    "ProxyReport": ".proxy",
    "ProxySettings": ".proxy",
    "content_hash": ".proxy",
    "prepare_proxies": ".proxy",
    "transcode_proxy": ".proxy",
    "SAMPLING_STRATEGIES": ".sampling",
    "ClipSampling": ".sampling",
    "frame_stride_for": ".sampling",
    "sample_clip_indices": ".sampling",
    "sample_multi_clip_indices": ".sampling",
    "sample_segment_indices": ".sampling",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .decode import BACKENDS, decode_frames, output_size, plan_decode
    from .encode import write_video
    from .errors import VideoDecodeError
    from .metadata import VideoMetadata, probe
    from .proxy import ProxyReport, ProxySettings, content_hash, prepare_proxies, transcode_proxy
    from .sampling import (
        SAMPLING_STRATEGIES,
        ClipSampling,
        frame_stride_for,
        sample_clip_indices,
        sample_multi_clip_indices,
        sample_segment_indices,
    )
