"""`decode_frames`: exactly the frames a clip needs, decoded the cheapest way the keyframe layout allows."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter
from torchvision.transforms import v2

from ..errors import UsageError
from .errors import FramesLostError, VideoDecodeError
from .metadata import (
    VideoMetadata,
    _ffmpeg_message,
    check_stream_index,
    open_container,
    probe,
    select_video_stream,
)

logger = logging.getLogger(__name__)

BACKENDS = ("pyav", "torchcodec")
Size = int | tuple[int, int] | None


def output_size(size: Size, height: int, width: int) -> tuple[int, int]:
    """The (height, width) a frame of ``height`` x ``width`` is resized to.

    ``size`` is ``None`` (keep), an int (the short side becomes ``size``, aspect ratio kept) or an explicit
    ``(height, width)``.
    """
    if size is None:
        return height, width
    if isinstance(size, int):
        if size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        if height <= width:
            return size, max(1, round(width * size / height))
        return max(1, round(height * size / width)), size
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"size must be an int (short side) or a (height, width) pair of positive ints, got {size}")
    return int(size[0]), int(size[1])


@dataclass(frozen=True)
class _Run:
    """One pass of the decoder: optionally seek to a keyframe, then decode forward through ``targets``."""

    keyframe: int  # position in metadata.keyframe_indices to seek to; -1 = continue from where we are
    targets: list[int]


def plan_decode(metadata: VideoMetadata, targets: Sequence[int]) -> list[_Run]:
    """Group sorted unique frame indices into decoder runs.

    A new run (a seek) starts whenever the keyframe preceding the next wanted frame lies beyond the frame the
    decoder would produce next: then seeking skips at least the frames in between. Otherwise the decoder goes
    straight through, which also wins on short-GOP files where wanted frames sit close together.
    """
    keyframes = metadata.keyframe_indices
    runs: list[_Run] = []
    next_frame = 0  # the frame a straight-through decode would yield next
    for target in targets:
        k = int(np.searchsorted(keyframes, target, side="right")) - 1
        if not runs:
            runs.append(_Run(keyframe=k if keyframes[k] > 0 else -1, targets=[target]))
        elif keyframes[k] > next_frame:
            runs.append(_Run(keyframe=k, targets=[target]))
        else:
            runs[-1].targets.append(target)
        next_frame = target + 1
    return runs


def decode_frames(
    path: str | os.PathLike,
    indices: Sequence[int] | np.ndarray | torch.Tensor,
    size: Size = None,
    *,
    backend: str = "pyav",
    interpolation: str = "BILINEAR",
    threads: int = 0,
    metadata: VideoMetadata | None = None,
    stream_index: int | None = None,
    allow_urls: bool = False,
) -> torch.Tensor:
    """Decode the frames at ``indices`` (presentation order, 0-based) into a uint8 tensor (T, C, H, W).

    Frames come back in the order asked, duplicates included. Only the frames needed are decoded: the decoder
    seeks to the keyframe before a wanted frame when that skips frames, and otherwise decodes straight
    through; unwanted frames that no other frame references (most B-frames) are not decoded at all, and
    frames decoded only to reach a wanted one are never converted to RGB. With ``size``, frames are scaled
    inside the decoder's colour conversion (swscale), so a 1080p frame is never materialised at full size.
    Rotated videos come back upright, as a player shows them. Like torchcodec's, the tensor is a (T, C, H, W)
    view of channels-last memory; call ``.contiguous()`` where a kernel needs the other layout.

    A file with several video streams is read on the stream FFmpeg calls best (the one flagged default, else
    the largest, as ffprobe, the ffmpeg command and torchcodec choose), or on ``stream_index`` when given.

    A damaged stretch in the middle of a file does not stop decoding: the frames it took are reported by
    :class:`~surgical_skill.video.FramesLostError`, which carries the frames that did decode. A frame counts
    as lost when the decoder gives nothing for it, or when it is built on damage (after a packet the decoder
    rejects or the demuxer flags corrupt, or a frame flagged corrupt, up to the next keyframe): such frames
    differ with every decoder setting and often show an older picture. Every frame returned equals a plain
    sequential decode's. (Damage that nothing flags cannot be told from a picture; a container whose own
    structure is damaged may also hold fewer frames than were recorded.)

    Args:
        path: a video file (or URL).
        indices: frame numbers, 0 <= i < ``probe(path).total_num_frames``.
        size: ``None`` (native), an int (short side) or ``(height, width)``.
        backend: ``"pyav"`` (default) or ``"torchcodec"`` (where installed; same frames). torchcodec stops at
            a damaged stretch: the whole call fails with a :class:`VideoDecodeError`, no frame is returned.
        interpolation: swscale algorithm for resizing (``BILINEAR``, ``BICUBIC``, ``AREA``, ``LANCZOS`` ...).
        threads: decoder threads; 0 lets FFmpeg choose (cores + 1). Use 1 inside many DataLoader workers.
        metadata: this file's :class:`VideoMetadata` from :func:`probe`, to skip the (cached) probe.
        stream_index: the video stream to read (FFmpeg's numbering, as ``ffprobe`` lists streams); ``None``
            (default) reads FFmpeg's best video stream.

    Raises:
        FramesLostError: some asked-for frames could not be decoded (a damaged stretch); ``.lost`` lists them,
            ``.frames`` holds the clip with their rows zero and ``.decoded`` marks the others.
        VideoDecodeError: unreadable file, no video stream (or ``stream_index`` not a video stream), or an
            index out of range.

    Example:
        >>> meta = probe("suturing_01.mp4")
        >>> clip = decode_frames("suturing_01.mp4", sample_segment_indices(meta.total_num_frames, 16), size=224)
        >>> clip.shape, clip.dtype
        (torch.Size([16, 3, 224, 398]), torch.uint8)
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown decoding backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    wanted = _as_index_array(indices)
    stream_index = check_stream_index(stream_index)
    if metadata is None:
        meta = probe(path, stream_index)
    elif stream_index is not None and stream_index != metadata.stream_index:
        raise UsageError(
            f"stream_index={stream_index} but the metadata given was probed on stream {metadata.stream_index}; "
            "pass one or the other"
        )
    else:
        meta = metadata
    _check_range(meta.path, wanted, meta.total_num_frames)
    out_h, out_w = output_size(size, meta.height, meta.width)
    if len(wanted) == 0:
        return torch.empty((0, 3, out_h, out_w), dtype=torch.uint8)
    if backend == "torchcodec":
        return _decode_torchcodec(meta, wanted, size, threads)

    targets, inverse = np.unique(wanted, return_inverse=True)
    quarter_turns = meta.rotation // 90
    # swscale works on the stored (unrotated) frame, so ask it for the transposed size when rotated 90/270.
    stored_size = (out_w, out_h) if quarter_turns % 2 else (out_h, out_w)
    frames, decoded = _decode_rgb(meta, targets, stored_size, interpolation, threads)
    # (T, H, W, C) -> (T, C, H, W) as a view, not a copy: at full HD a copy costs as much as decoding does.
    clip = torch.from_numpy(frames).permute(0, 3, 1, 2)
    if quarter_turns:
        clip = torch.rot90(clip, k=quarter_turns, dims=(2, 3))  # counter-clockwise, as the display matrix says
    if len(targets) != len(wanted) or not np.array_equal(targets, wanted):
        clip = clip[torch.from_numpy(inverse.reshape(-1))]
    if not decoded.all():
        raise _frames_lost(meta, targets, decoded, clip, torch.from_numpy(decoded[inverse.reshape(-1)]))
    return clip


def _decode_rgb(
    meta: VideoMetadata, targets: np.ndarray, size: tuple[int, int], interpolation: str, threads: int
) -> tuple[np.ndarray, np.ndarray]:
    """The frames at ``targets`` (sorted, unique), unrotated, as RGB arrays (T, H, W, 3) scaled to ``size``, and
    whether each decoded (the rows of frames lost to a damaged stretch are zero)."""
    path = meta.path
    height, width = size
    frames = np.empty((len(targets), height, width, 3), dtype=np.uint8)
    decoded = np.zeros(len(targets), dtype=bool)
    reformatter = VideoReformatter()  # one swscale context reused for every frame
    container = open_container(path, stream_info_decode=False)  # probe() measured the stream already
    try:
        stream = select_video_stream(container, path, meta.stream_index)  # the stream probe() measured
        # Frame threads where the codec has them, slice threads otherwise. 0 lets FFmpeg pick (cores + 1),
        # which measured as good as any fixed count for both short seek runs and long straight decodes.
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        try:
            for slot, frame in _decode_targets(container, stream, meta, targets):
                try:
                    frames[slot] = reformatter.reformat(
                        frame, width=width, height=height, format="rgb24", interpolation=interpolation
                    ).to_ndarray()
                except (av.FFmpegError, ValueError) as err:
                    raise VideoDecodeError(path, f"cannot convert frame {targets[slot]} to RGB: {err}") from err
                decoded[slot] = True
        except av.FFmpegError as err:
            # a seek or a read the damaged file refuses (e.g. EPERM from a mangled index), not one bad packet:
            # those are skipped inside and counted as lost frames
            raise VideoDecodeError(
                path, f"the file is damaged where frames are read ({_ffmpeg_message(err)}); re-encode or replace it"
            ) from err
    finally:
        container.close()
    if not decoded.all():
        frames[~decoded] = 0
    return frames, decoded


def _as_index_array(indices) -> np.ndarray:
    if isinstance(indices, torch.Tensor):
        indices = indices.detach().cpu().numpy()
    array = np.asarray(indices)
    if array.ndim != 1:
        array = array.reshape(-1)
    is_integral = array.size == 0 or np.issubdtype(array.dtype, np.integer) or np.all(np.mod(array, 1) == 0)
    if not is_integral:
        raise ValueError(f"frame indices must be integers, got {array[:8].tolist()}")
    return array.astype(np.int64, copy=False)


def _check_range(path: str, wanted: np.ndarray, total_num_frames: int) -> None:
    if not wanted.size:
        return
    bad = wanted[(wanted < 0) | (wanted >= total_num_frames)]
    if bad.size:
        shown = ", ".join(str(i) for i in np.unique(bad)[:10])
        last = total_num_frames - 1
        raise VideoDecodeError(
            path,
            f"frame indices out of range: {shown} (the video has {total_num_frames} frame"
            f"{'' if total_num_frames == 1 else 's'}, 0..{last})",
        )


@dataclass
class PassLog:
    """What one pass of :func:`iter_decoded_frames` saw: where a seek really put the demuxer (the first packet's
    pts) and how many packets the decoder rejected (damage)."""

    started: bool = False
    first_pts: int | None = None
    errors: int = 0


def iter_decoded_frames(
    container, stream, wanted_pts: frozenset[int] | None = None, log: PassLog | None = None
) -> Iterator[av.VideoFrame]:
    """Decoded frames of ``stream`` from the container's current position, for decoding loops in this package.

    A damaged packet is skipped, as FFmpeg's CLI does, and packets flagged corrupt are left out; both count in
    ``log.errors`` (a corrupt packet only when a packet follows it: a truncated file's cut-off tail harms none).

    With ``wanted_pts``, packets of frames nobody asked for are decoded with ``skip_frame=NONREF``: the
    decoder then drops them when no other frame references them (a B-frame in a typical h264 GOP), which
    cannot change any frame that is returned, and saves a large share of the decoding work. The codec is
    always opened without skipping: PyAV opens it on the first packet, and some decoders (libdav1d, AV1) read
    ``skip_frame`` only then, so opening it skipping would drop every non-reference frame for good.
    """
    codec_context = stream.codec_context
    codec_context.skip_frame = "DEFAULT"  # the previous pass may have left it skipping
    skipping = False
    corrupt = False
    for packet in container.demux(stream):
        if packet.is_corrupt:
            corrupt = True  # not indexed by probe() either; feeding it to a frame-threaded decoder loses good frames
            continue
        if corrupt and packet.size and log is not None:
            log.errors += 1  # frames after it lack a reference; the cut-off last packet of a truncated file is not
        corrupt = False
        if log is not None and not log.started:
            log.started, log.first_pts = True, packet.pts
        if wanted_pts is not None:
            skip = packet.pts is not None and packet.pts not in wanted_pts and codec_context.is_open
            if skip != skipping:
                codec_context.skip_frame = "NONREF" if skip else "DEFAULT"
                skipping = skip
        try:
            frames = codec_context.decode(packet if packet.size else None)
        except av.FFmpegError as err:
            logger.debug("skipping undecodable packet at dts=%s: %s", packet.dts, _ffmpeg_message(err))
            if log is not None:
                log.errors += 1
            continue
        yield from frames


def _decode_targets(
    container, stream, meta: VideoMetadata, targets: np.ndarray
) -> Iterator[tuple[int, av.VideoFrame]]:
    """Yield ``(slot, frame)`` for each wanted frame, where ``targets[slot]`` is its index (sorted, unique)."""
    path = meta.path
    if not meta.timestamps_reliable:
        # No usable timestamps, so no seeking (and no skipping) either: count frames from the start.
        slot, position = 0, -1
        for position, frame in enumerate(iter_decoded_frames(container, stream)):
            if position == targets[slot]:
                yield slot, frame
                slot += 1
                if slot == len(targets):
                    return
        raise _missing(path, targets[slot:], position + 1, meta.total_num_frames)

    wanted_pts = frozenset(meta.frame_pts[targets].tolist())
    # Seek by a keyframe's pts (MP4, Matroska and AVI land exactly on it); a container that lands one
    # keyframe late (MPEG-TS searches by dts) is noticed on the first overshoot and then sought by dts.
    keyframe_set = frozenset(meta.keyframe_indices.tolist())
    seek_by_dts = False
    slot = 0
    for run in plan_decode(meta, targets.tolist()):
        run_end = slot + len(run.targets)
        keyframe = run.keyframe
        while slot < run_end:
            log = PassLog()
            start = 0
            if keyframe >= 0:
                start = int(meta.keyframe_indices[keyframe])
                position = meta.keyframe_dts[keyframe] if seek_by_dts else meta.frame_pts[start]
                container.seek(int(position), stream=stream, backward=True, any_frame=False)
            # Decoding from the top, or from a seek that landed at (or before) its keyframe, frames come out in
            # order, and a wanted frame skipped over was lost to damage. Only after a seek that landed late
            # (an imprecise demuxer) does an overshoot mean "seek again, earlier".
            in_order = None if keyframe >= 0 else True
            # Damage (a packet the decoder rejects, a frame it flags corrupt, a wanted frame that never comes out)
            # taints every frame after it up to the next keyframe: those are built on missing references, come
            # out differently with every thread setting, and often show an older picture (a frozen frame).
            tainted, errors_seen, overshot = False, 0, False
            for frame in iter_decoded_frames(container, stream, wanted_pts, log):
                if log.errors != errors_seen:
                    tainted, errors_seen = True, log.errors
                index = meta.frame_index_of(frame.pts)
                if index is None or index < start:
                    continue  # outside the index, or open-GOP leaders decoded without their references
                if index > targets[slot]:
                    if in_order is None:
                        in_order = log.first_pts is not None and log.first_pts <= meta.frame_pts[start]
                    if not in_order:
                        overshot = True
                        break
                    tainted = True  # a wanted frame never came out
                    while slot < run_end and targets[slot] < index:
                        slot += 1  # lost: never yielded
                    if slot == run_end:
                        break
                in_order = True
                if frame.key_frame or index in keyframe_set:
                    tainted = False
                if frame.is_corrupt:
                    tainted = True
                if index < targets[slot]:
                    continue  # decoded only to reach a wanted frame
                if not tainted:
                    yield slot, frame
                slot += 1
                if slot == run_end:
                    break
            if slot == run_end or not overshot:
                slot = run_end  # the stream ended (or a damaged tail decodes no further): the rest is lost
                break
            if not seek_by_dts:
                seek_by_dts = True
            elif keyframe > 0:
                keyframe -= 1
            else:  # even keyframe 0 overshot: decode from the top of the file
                container.seek(int(meta.keyframe_dts[0]), stream=stream, backward=True, any_frame=False)
                keyframe = -1


def _missing(path: str, pending: np.ndarray, decoded_count: int, total_num_frames: int) -> VideoDecodeError:
    shown = ", ".join(str(int(i)) for i in pending[:10]) + (" ..." if len(pending) > 10 else "")
    return VideoDecodeError(
        path,
        f"frames {shown} could not be decoded: only {decoded_count} of the {total_num_frames} frames decode, and "
        "without timestamps the stream cannot tell which were lost (a damaged or truncated file?)",
    )


def _ranges(indices: Sequence[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"``."""
    parts, start = [], None
    for i, value in enumerate(indices):
        if start is None:
            start = value
        if i + 1 == len(indices) or indices[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ", ".join(parts)


def lost_stretches(meta: VideoMetadata, targets: np.ndarray, decoded: np.ndarray) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of each damaged stretch: lost frames of ``targets`` (sorted) with no decoded one
    between them, from the first one's time to the end of the last one's."""
    times = meta.frame_timestamps() if meta.timestamps_reliable else np.arange(meta.total_num_frames) / meta.fps
    frame_seconds = 1.0 / meta.fps if meta.fps else 0.0
    stretches: list[tuple[float, float]] = []
    first = None
    for slot in range(len(targets)):
        if decoded[slot]:
            continue
        first = slot if first is None else first
        if slot + 1 == len(targets) or decoded[slot + 1]:
            stretches.append((float(times[targets[first]]), float(times[targets[slot]]) + frame_seconds))
            first = None
    return stretches


def describe_lost(lost: Sequence[int], stretches: Sequence[tuple[float, float]], out_of: int, what: str) -> str:
    """``"frames 16-25 (10 of 48 asked) could not be decoded: the file is damaged around 0.53-0.87 s"``."""
    shown = "; ".join(f"{a:.2f}-{b:.2f} s" for a, b in stretches[:5]) + (" ..." if len(stretches) > 5 else "")
    return (
        f"frames {_ranges(lost)} ({len(lost)} of {out_of}{what}) could not be decoded: "
        f"the file is damaged around {shown}"
    )


def _frames_lost(
    meta: VideoMetadata, targets: np.ndarray, decoded: np.ndarray, clip: torch.Tensor, decoded_asked: torch.Tensor
) -> FramesLostError:
    """The error for frames a damaged stretch took, with the frames that did decode."""
    lost = targets[~decoded].tolist()
    stretches = lost_stretches(meta, targets, decoded)
    kept = len(targets) - len(lost)
    reason = (
        describe_lost(lost, stretches, len(targets), " asked")
        + (f"; the other {kept} decode" if kept else "")
        + " (leave the video out, or replace it with an undamaged copy)"
    )
    return FramesLostError(meta.path, reason, lost=lost, frames=clip, decoded=decoded_asked, lost_seconds=stretches)


def _decode_torchcodec(meta: VideoMetadata, wanted: np.ndarray, size: Size, threads: int) -> torch.Tensor:
    """The same frames through torchcodec's exact-seek decoder (it applies rotation itself)."""
    try:  # optional: the [torchcodec] extra, and FFmpeg's shared libraries on the system
        from torchcodec.decoders import VideoDecoder
    except Exception as err:  # ImportError, or FFmpeg's shared libraries missing
        raise RuntimeError(
            "backend='torchcodec' needs the torchcodec package and FFmpeg's shared libraries "
            "(pip install torchcodec; apt-get install ffmpeg). The default backend='pyav' needs neither."
        ) from err
    targets, inverse = np.unique(wanted, return_inverse=True)
    transforms = None
    if size is not None:
        transforms = [v2.Resize(output_size(size, meta.height, meta.width))]
    try:
        decoder = VideoDecoder(
            meta.path,
            stream_index=meta.stream_index,  # the stream probe() measured, not torchcodec's own choice
            seek_mode="exact",
            dimension_order="NCHW",
            num_ffmpeg_threads=threads,
            transforms=transforms,
        )
        clip = decoder.get_frames_at(targets.tolist()).data
    except Exception as err:
        raise VideoDecodeError(meta.path, f"torchcodec: {err}") from err
    return clip[torch.from_numpy(inverse.reshape(-1))]
