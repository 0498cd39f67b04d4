"""`probe`: what a video file holds, read from its packets rather than from what the container claims."""

from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
import numpy as np

from ..deprecation import RenamedKeys, renamed_keywords, warn_renamed
from ..errors import UsageError
from ..limits import exceeded, get_limits
from .errors import VideoDecodeError
from .sources import check_source, is_url, url_scheme

_CLIP_LENGTH = "`num_frames` now always means a clip's length"
_RENAMED_FIELDS = {"num_frames": "total_num_frames", "num_frames_from_header": "total_num_frames_from_header"}


@dataclass(frozen=True, eq=False)
class VideoMetadata:
    """Facts about one video stream, all measured by :func:`probe`.

    ``total_num_frames`` counts the frames the file really holds (its packets), so it is right where the container
    header is missing or wrong (Matroska and MPEG-TS carry no count; a truncated MP4 claims frames it lost).
    ``width``/``height`` are the *displayed* size, after the rotation recorded in the file is applied;
    :func:`~surgical_skill.video.decode_frames` returns frames in that orientation.

    The fields ``total_num_frames``, ``fps``, ``width``, ``height`` and ``duration`` mean what they mean in
    ``transformers.video_utils.VideoMetadata``; ``num_frames``, everywhere in surgical-skill, is a clip's length.
    """

    path: str
    total_num_frames: int
    fps: float
    duration: float
    width: int
    height: int
    rotation: int
    codec: str
    pixel_format: str | None
    is_variable_frame_rate: bool
    total_num_frames_from_header: int | None = None
    nominal_fps: float | None = None
    start_time: float = 0.0
    bit_rate: int | None = None
    has_audio: bool = False
    stream_index: int = 0
    file_size: int | None = None
    # Frame-exact index, in presentation order: pts of every frame and the positions of keyframes (the
    # frames a decoder can start from after a seek). Kept as arrays: a 10-minute video has ~18k frames.
    time_base: Fraction = Fraction(1, 1)
    frame_pts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    keyframe_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    # Decode timestamp of each keyframe (its pts where the container has no dts): some containers seek by it.
    keyframe_dts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    # False when packets lack timestamps or repeat them; decoding then counts frames from the start.
    timestamps_reliable: bool = True

    @property
    def num_frames(self) -> int:
        """Deprecated name of :attr:`total_num_frames`."""
        warn_renamed("VideoMetadata.num_frames", "VideoMetadata.total_num_frames", note=_CLIP_LENGTH)
        return self.total_num_frames

    @property
    def num_frames_from_header(self) -> int | None:
        """Deprecated name of :attr:`total_num_frames_from_header`."""
        warn_renamed(
            "VideoMetadata.num_frames_from_header", "VideoMetadata.total_num_frames_from_header", note=_CLIP_LENGTH
        )
        return self.total_num_frames_from_header

    @property
    def header_frame_count_is_wrong(self) -> bool:
        """True when the container states a frame count that differs from the frames really present."""
        header = self.total_num_frames_from_header
        return bool(header) and header != self.total_num_frames

    @property
    def gop_sizes(self) -> np.ndarray:
        """Frames between consecutive keyframes (the last group runs to the end of the video)."""
        return np.diff(np.append(self.keyframe_indices, self.total_num_frames))

    def frame_timestamps(self) -> np.ndarray:
        """Presentation time of every frame in seconds, from the start of the stream."""
        return (self.frame_pts - self.frame_pts[0]).astype(np.float64) * float(self.time_base)

    def frame_index_of(self, pts: int | None) -> int | None:
        """The frame (presentation order) a decoded frame with this pts is, or ``None``: no such timestamp in the
        index, or no reliable timestamps. A binary search in ``frame_pts`` (sorted and unique when reliable), not a
        table of the whole video, which cost about 10 MB and 30 ms per call for an hour of 30 fps video."""
        if pts is None or not self.timestamps_reliable:
            return None
        i = int(np.searchsorted(self.frame_pts, pts))
        return i if i < len(self.frame_pts) and self.frame_pts[i] == pts else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no per-frame index), e.g. for dataset columns or ``surgical-skill probe``."""
        gops = self.gop_sizes
        summary = {
            "path": self.path,
            "total_num_frames": self.total_num_frames,
            "total_num_frames_from_header": self.total_num_frames_from_header,
            "fps": round(self.fps, 6),
            "nominal_fps": None if self.nominal_fps is None else round(self.nominal_fps, 6),
            "is_variable_frame_rate": self.is_variable_frame_rate,
            "duration": round(self.duration, 6),
            "start_time": round(self.start_time, 6),
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
            "codec": self.codec,
            "pixel_format": self.pixel_format,
            "bit_rate": self.bit_rate,
            "has_audio": self.has_audio,
            "num_keyframes": len(self.keyframe_indices),
            "max_gop": int(gops.max()) if len(gops) else 0,
            "file_size": self.file_size,
        }
        # the old names of the renamed fields still read, for one release
        return RenamedKeys(summary, _RENAMED_FIELDS, where="VideoMetadata.to_dict()", note=_CLIP_LENGTH)


# VideoMetadata(num_frames=..., num_frames_from_header=...), as code built it before the rename, still works.
VideoMetadata.__init__ = renamed_keywords(note=_CLIP_LENGTH, **_RENAMED_FIELDS)(VideoMetadata.__init__)


def check_readable_file(path: str | os.PathLike) -> str:
    """Return the local file ``path`` as a string, or raise :class:`VideoDecodeError` saying why it cannot be a
    video. (Whether a string names a local file at all is :func:`~surgical_skill.video.sources.check_source`'s
    question, asked first.)"""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VideoDecodeError(path, "file not found")
    if os.path.isdir(path):
        raise VideoDecodeError(path, "is a directory, not a video file")
    if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO, a socket or a device (/dev/zero) would block or never end
        raise VideoDecodeError(path, "is not a regular file (a device, pipe or socket); give a video file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise VideoDecodeError(path, "permission denied")
    return path


# Codec options for the decoder FFmpeg opens inside avformat_find_stream_info while it opens a file. For h264 that
# pass decodes up to seven frames single-threaded: 25-35 ms of CPU per open of a 720p file (more at 1080p), paid
# again by every clip a DataLoader worker reads. What it finds that matters here is the decoder's reordering delay
# (``has_b_frames``, which PyAV's decoding context starts from): `probe` takes format, size and rotation from a
# frame it decodes itself. An h264 stream that states its reordering depth in its headers (VUI
# bitstream_restriction, which x264 and most encoders write) gives that delay without decoding, so the pass is
# skipped (``skip_frame=all`` for it only: about 3 ms); a stream that does not (``has_b_frames`` unset, also every
# stream without B-frames) is opened again with the full pass, as before. For other codecs the pass guesses no
# delay. (One side effect: for Matroska, which stores no dts, the demuxer's reconstructed dts of B-frame streams can
# differ by a frame; `decode_frames` seeks by pts there.)
_NO_STREAM_INFO_DECODE = {"skip_frame": "all"}


def open_container(path: str, *, stream_info_decode: bool = True) -> av.container.InputContainer:
    """``av.open`` of a local file or an http(s) URL, confined (see :func:`_open`), with FFmpeg's failures turned
    into :class:`VideoDecodeError`.

    The file is first opened without decoding anything, and the frame size every video stream declares is checked
    against the ``max_frame_pixels`` budget (:mod:`surgical_skill.limits`) before any frame is decoded: a 200 kB
    file can declare 8192x8192 frames. ``stream_info_decode=False`` then keeps that container (unless a video
    stream needs FFmpeg's decoding pass: h264 without a stated reordering delay), for callers that read the frame
    format and size from decoded frames; otherwise the file is opened again with FFmpeg's full pass.
    """
    container = _open(path, _NO_STREAM_INFO_DECODE)
    try:
        for stream in container.streams.video:
            codec_context = stream.codec_context
            if codec_context is not None:
                check_frame_pixels(path, codec_context.width, codec_context.height, f"stream {stream.index} declares")
        if not stream_info_decode and not any(_delay_needs_decoding(stream) for stream in container.streams.video):
            return container
    except BaseException:
        container.close()
        raise
    container.close()
    return _open(path, None)


def check_frame_pixels(path: str, width: int, height: int, what: str = "a decoded frame is") -> None:
    """Refuse a frame of ``width`` x ``height`` over the ``max_frame_pixels`` budget, naming ``path``."""
    if width * height > get_limits().max_frame_pixels:
        raise exceeded(
            "max_frame_pixels", f"video {path!r}", f"{what} {width}x{height} ({width * height / 1e6:.1f} M pixels)"
        )


def _delay_needs_decoding(stream) -> bool:
    codec_context = stream.codec_context
    return codec_context is not None and codec_context.name == "h264" and not codec_context.has_b_frames


# The demuxers a video is read with (FFmpeg's names; "mov" is MP4/MOV/M4V/3GP, "matroska" also WebM). Not on the
# list: those that open other files or connections themselves (an HLS playlist, a DASH manifest, an ffconcat
# script, an image-sequence pattern, SDP/RTSP, IMF), so a ".mp4" that is really such a text cannot make this
# process read another local file or reach a host; and the many audio, image and subtitle formats.
VIDEO_FORMATS = (
    "mov",
    "matroska",
    "avi",
    "mpegts",
    "mpeg",
    "mpegvideo",
    "h264",
    "hevc",
    "vvc",
    "m4v",
    "obu",
    "ivf",
    "flv",
    "asf",
    "ogg",
    "nut",
    "mxf",
    "dv",
    "yuv4mpegpipe",
    "mjpeg",
)
# What an http(s) URL needs: https runs over tls, both over tcp. No file, no other protocol, and a redirect is
# opened under the same list (a server answering "Location: file:///..." gets nothing).
URL_PROTOCOLS = "http,https,tcp,tls,httpproxy"  # httpproxy: https through a proxy (http_proxy), as in hospitals


def _open(path: str, options: dict | None) -> av.container.InputContainer:
    """Open ``path`` with FFmpeg confined to what a video needs.

    A local path is opened as ``file:<absolute path>`` with only the ``file`` protocol allowed, so a file named
    ``concat:x.mp4`` or ``subfile,,...`` is just a file. An http(s) URL (already allowed by
    :func:`~surgical_skill.video.sources.check_source`) is opened with only the protocols it needs and with the
    connect and read timeouts of :mod:`surgical_skill.limits`. Either way only :data:`VIDEO_FORMATS` demuxers.
    """
    scheme = url_scheme(path)
    confined = {"format_whitelist": ",".join(VIDEO_FORMATS), **(options or {})}
    timeout = None
    if scheme is None:
        target = "file:" + os.path.realpath(path)  # what the OS opens: symlinks first, then ".."
        confined["protocol_whitelist"] = "file"
    else:
        check_source(path, allow_urls=True)  # every other protocol is refused here too, whoever called
        budget = get_limits()
        target, timeout = path, (budget.url_connect_timeout_s, budget.url_read_timeout_s)
        confined["protocol_whitelist"] = URL_PROTOCOLS
        confined["listen"] = "0"  # http's own server mode, off (its default) whatever a URL or option says
        # FFmpeg's own per-read timeout as well as PyAV's, in microseconds
        confined["rw_timeout"] = str(int(budget.url_read_timeout_s * 1e6))
    try:
        return av.open(target, mode="r", metadata_errors="ignore", options=confined, timeout=timeout)
    except (av.ExitError, av.error.TimeoutError) as err:  # PyAV's timeout interrupts FFmpeg: ExitError
        raise VideoDecodeError(
            path,
            f"the server did not answer in time (url_connect_timeout_s={timeout[0]}, url_read_timeout_s="
            f"{timeout[1]}; FFmpeg: {_ffmpeg_message(err)})"
            if timeout
            else f"timed out ({_ffmpeg_message(err)})",
        ) from err
    except av.ArgumentError as err:  # EINVAL: among others, a demuxer not on the list, a redirect off http(s)
        why = (
            "not a video container this toolkit opens; playlists (m3u8), concat scripts and image sequences are "
            "refused because they make FFmpeg open other files"
        )
        if timeout:  # EINVAL for a URL is as often the protocol list: a redirect or a proxy of another protocol
            why = f"either a redirect or proxy to a protocol other than {URL_PROTOCOLS}, or {why}"
        raise VideoDecodeError(path, f"not a readable video file (FFmpeg: {_ffmpeg_message(err)}): {why}") from err
    except av.FFmpegError as err:
        raise VideoDecodeError(path, f"not a readable video file (FFmpeg: {_ffmpeg_message(err)})") from err
    except OSError as err:
        raise VideoDecodeError(path, f"cannot open ({err.strerror or err})") from err


def select_video_stream(
    container: av.container.InputContainer, path: str, index: int | None = None
) -> av.video.stream.VideoStream:
    """The video stream to read: stream ``index`` when given (what :func:`probe` recorded, so decoding reads
    the stream that was measured), else the one FFmpeg calls best (``av_find_best_stream``, as ffprobe, the
    ffmpeg CLI and torchcodec choose: the default-flagged stream, then the largest), never cover art or a
    thumbnail stored as an attached picture."""
    real = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if index is not None:
        for stream in real:
            if stream.index == index:
                return stream
        video = ", ".join(str(s.index) for s in real) or "none"
        streams = list(container.streams)
        if 0 <= index < len(streams):
            what = f"stream {index} is {'cover art' if streams[index].type == 'video' else streams[index].type}"
        else:
            what = f"there is no stream {index} (the file has {len(streams)}: 0..{len(streams) - 1})"
        raise VideoDecodeError(path, f"{what}, not a video stream; pick one of the video streams: {video}")
    if not real:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoDecodeError(path, f"no video stream (streams found: {', '.join(kinds)})")
    best = container.streams.best("video")
    return best if best in real else real[0]


def _ffmpeg_message(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err)


def probe(path: str | os.PathLike, stream_index: int | None = None, *, allow_urls: bool = False) -> VideoMetadata:
    """Measure a video: frame count, frame rate, duration, size, rotation, codec and keyframe layout.

    A file with several video streams is measured on the one FFmpeg calls best (as ffprobe, the ffmpeg command
    and torchcodec choose: the stream flagged default, else the largest; cover art never), or on the stream
    numbered ``stream_index`` (FFmpeg's numbering, as ``ffprobe`` lists them) when given.

    The count and timestamps come from scanning the stream's packets (demuxing only: no frame is decoded
    except the first, which confirms the codec works and gives the displayed size and rotation). Results are
    cached per process, keyed by path, size and modification time, so repeated calls on one file are free (URLs
    are never cached).

    ``path`` is a local file; an ``http``/``https`` URL is opened only with ``allow_urls=True``, and no other
    FFmpeg protocol ever (:func:`~surgical_skill.video.sources.check_source`). The frame size is checked against
    the ``max_frame_pixels`` budget before any frame is decoded, and the frame count against ``max_video_frames``
    while the packets are read (:mod:`surgical_skill.limits`).

    Raises:
        VideoDecodeError: missing, empty, unreadable or non-video files, files where no frame decodes, a
            ``stream_index`` that is not a video stream of the file, a URL without ``allow_urls`` and any other
            protocol.
        ResourceLimitError: frames larger than ``max_frame_pixels`` or more than ``max_video_frames`` of them.

    Example:
        >>> meta = probe("suturing_01.mp4")
        >>> meta.total_num_frames, meta.fps, meta.duration, (meta.height, meta.width)
        (1800, 30.0, 60.0, (720, 1280))
    """
    path = check_source(path, allow_urls=allow_urls)
    stream_index = check_stream_index(stream_index)
    if is_url(path):  # an http(s) URL the caller opted into: never from the cache, which has no opt-in
        return _probe_uncached(path, stream_index)
    path = check_readable_file(path)
    status = os.stat(path)
    meta = _probe_cached(os.path.realpath(path), status.st_size, status.st_mtime_ns, stream_index)
    # measured perhaps under other budgets: the ones in force now decide
    check_frame_pixels(meta.path, meta.width, meta.height, "its frames are")
    if meta.total_num_frames > get_limits().max_video_frames:
        raise exceeded("max_video_frames", f"video {meta.path!r}", f"{meta.total_num_frames:,} frames")
    return meta


def check_stream_index(stream_index) -> int | None:
    """``stream_index`` as an int (``None``: FFmpeg's best stream), or a :class:`UsageError` saying what it must be."""
    if stream_index is None:
        return None
    if isinstance(stream_index, bool) or not isinstance(stream_index, int | np.integer) or stream_index < 0:
        raise UsageError(f"stream_index must be a stream number (0, 1, ...) or None, got {stream_index!r}")
    return int(stream_index)


@functools.lru_cache(maxsize=128)
def _probe_cached(path: str, size: int, mtime_ns: int, stream_index: int | None = None) -> VideoMetadata:
    return _probe_uncached(path, stream_index)


def _probe_uncached(path: str, stream_index: int | None = None) -> VideoMetadata:
    container = open_container(path, stream_info_decode=False)  # the first frame is decoded by _read_packets
    try:
        return _scan(container, path, stream_index)
    finally:
        container.close()


@dataclass
class _Packets:
    """What one demuxing pass saw of the video stream, packet by packet in decode order."""

    pts: list[int | None] = field(default_factory=list)  # the dts where a packet has no pts
    dts: list[int | None] = field(default_factory=list)
    is_keyframe: list[bool] = field(default_factory=list)
    durations: list[int] = field(default_factory=list)
    first_frame: av.VideoFrame | None = None
    decode_error: str | None = None


def _scan(container: av.container.InputContainer, path: str, stream_index: int | None = None) -> VideoMetadata:
    stream = select_video_stream(container, path, stream_index)
    packets = _read_packets(container, stream, path)
    reliable = all(p is not None for p in packets.pts) and len(set(packets.pts)) == len(packets.pts)
    frame_pts, keyframe_indices, seek_ts = _frame_index(packets, reliable)
    time_base = stream.time_base or Fraction(1, 1)
    nominal = stream.average_rate or stream.guessed_rate or stream.base_rate
    nominal_fps = float(nominal) if nominal else None
    duration, fps, is_vfr = _timing(frame_pts, packets.durations, reliable, time_base, nominal_fps)

    first_frame = packets.first_frame
    rotation = round(first_frame.rotation or 0) % 360
    width, height = first_frame.width, first_frame.height
    if rotation in (90, 270):
        width, height = height, width
    return VideoMetadata(
        path=path,
        total_num_frames=len(frame_pts),
        fps=fps,
        duration=duration,
        width=width,
        height=height,
        rotation=rotation,
        codec=stream.codec_context.name,
        pixel_format=first_frame.format.name if first_frame.format else None,
        is_variable_frame_rate=is_vfr,
        total_num_frames_from_header=int(stream.frames) or None,
        nominal_fps=nominal_fps,
        start_time=float(frame_pts[0] * time_base) if reliable else 0.0,
        bit_rate=int(container.bit_rate) if container.bit_rate else None,
        has_audio=bool(container.streams.audio),
        stream_index=stream.index,
        file_size=None if is_url(path) else os.path.getsize(path),
        time_base=Fraction(time_base),
        frame_pts=frame_pts,
        keyframe_indices=keyframe_indices.astype(np.int64),
        keyframe_dts=seek_ts.astype(np.int64),
        timestamps_reliable=reliable,
    )


def _read_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: str) -> _Packets:
    """Demux every packet of ``stream``, decoding only until the first frame comes out.

    Raises:
        VideoDecodeError: the stream holds no frames, or none of them decodes.
    """
    codec_context = stream.codec_context
    if codec_context is None:  # PyAV found no decoder: an unknown codec, or a header cut off before naming it
        raise VideoDecodeError(
            path, "FFmpeg has no decoder for its video stream (unknown codec, or a truncated or damaged header)"
        )
    packets = _Packets()
    max_frames = get_limits().max_video_frames
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the flush packet demux yields at end of stream
                continue
            if packet.is_discard:  # outside an MP4 edit list: decoded but never shown
                continue
            if packet.is_corrupt:  # e.g. the cut-off last packet of a truncated file: not a whole frame
                continue
            packets.pts.append(packet.pts if packet.pts is not None else packet.dts)
            packets.dts.append(packet.dts)
            packets.is_keyframe.append(bool(packet.is_keyframe))
            if packet.duration:
                packets.durations.append(int(packet.duration))
            if len(packets.pts) > max_frames:  # stop here: the rest of a huge stream is never read
                raise exceeded("max_video_frames", f"video {path!r}", f"more than {max_frames:,} frames")
            if packets.first_frame is None:
                _decode_first_frame(codec_context, packet, packets)
                if packets.first_frame is not None:
                    frame = packets.first_frame
                    check_frame_pixels(path, frame.width, frame.height, "its first decoded frame is")
    except av.FFmpegError as err:
        # A damaged tail: keep what was demuxed before it, as a sequential decode would.
        packets.decode_error = _ffmpeg_message(err)
    if packets.first_frame is None:
        # frames held back by the decoder for reordering come out on flush
        _decode_first_frame(codec_context, None, packets)
        if packets.first_frame is not None:
            check_frame_pixels(
                path, packets.first_frame.width, packets.first_frame.height, "its first decoded frame is"
            )
    if not packets.pts:
        raise VideoDecodeError(path, "the video stream holds no frames")
    if packets.first_frame is None:
        reason = "no frame could be decoded"
        detail = packets.decode_error
        raise VideoDecodeError(path, f"{reason} (FFmpeg: {detail})" if detail else reason)
    return packets


def _decode_first_frame(codec_context, packet: av.Packet | None, packets: _Packets) -> None:
    """Feed ``packet`` (``None``: flush) to the decoder; keep the first frame it gives, or FFmpeg's complaint."""
    try:
        frames = codec_context.decode(packet)
    except av.FFmpegError as err:
        packets.decode_error = _ffmpeg_message(err)
    else:
        if frames:
            packets.first_frame = frames[0]


def _frame_index(packets: _Packets, reliable: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Presentation-ordered pts of every frame, the positions of keyframes, and the timestamp to seek each by."""
    if reliable:
        pts = np.asarray(packets.pts, dtype=np.int64)
        order = np.argsort(pts, kind="stable")
        frame_pts = pts[order]
        # rank[i] = presentation index of the i-th packet in decode order
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        key_packets = np.flatnonzero(np.asarray(packets.is_keyframe))
        keyframe_indices = rank[key_packets]
        seek_ts = np.asarray(
            [packets.dts[i] if packets.dts[i] is not None else packets.pts[i] for i in key_packets], dtype=np.int64
        )
        by_position = np.argsort(keyframe_indices, kind="stable")
        keyframe_indices, seek_ts = keyframe_indices[by_position], seek_ts[by_position]
    else:
        frame_pts = np.arange(len(packets.pts), dtype=np.int64)
        keyframe_indices = np.zeros(1, np.int64)
        seek_ts = np.zeros(1, np.int64)
    if len(keyframe_indices) == 0 or keyframe_indices[0] != 0:
        # Streams that start on a recovery point carry no keyframe flag on frame 0; decoding from the very
        # start is always possible.
        keyframe_indices = np.insert(keyframe_indices, 0, 0)
        seek_ts = np.insert(seek_ts, 0, frame_pts[0])
    return frame_pts, keyframe_indices, seek_ts


def _timing(
    frame_pts: np.ndarray, durations: list[int], reliable: bool, time_base: Fraction, nominal_fps: float | None
) -> tuple[float, float, bool]:
    """Duration in seconds, mean frame rate, and whether the frame rate varies, from the frames' timestamps."""
    total_num_frames = len(frame_pts)
    diffs = np.diff(frame_pts) if reliable else np.zeros(0)
    if len(diffs):
        typical = float(np.median(diffs))
        last_duration = durations[-1] if durations else typical
        span_ticks = float(frame_pts[-1] - frame_pts[0]) + last_duration
        duration = span_ticks * float(time_base)
        tolerance = max(1.5, 0.1 * typical)
        is_vfr = bool(np.any(np.abs(diffs - typical) > tolerance))
    else:
        frame_ticks = durations[0] if durations else 0
        duration = frame_ticks * float(time_base) if frame_ticks else (1.0 / nominal_fps if nominal_fps else 0.0)
        is_vfr = False
    if not reliable:
        duration = total_num_frames / nominal_fps if nominal_fps else 0.0
    # rounded: 10.0, not 9.999999999999998
    fps = round(total_num_frames / duration, 9) if duration > 0 else (nominal_fps or 0.0)
    return duration, fps, is_vfr
