"""Training proxies: each video transcoded once to a small, low-rate, seek-friendly copy, cached by content.

A raw 60 s 720p recording with long GOPs costs seconds per random clip; its proxy (short side 256, 10 fps,
a keyframe every second) costs a few hundredths. Proxies are keyed by the source file's content hash and the
proxy settings, written atomically (a killed run leaves no partial file; rerunning resumes), and recorded in
``index.jsonl`` in the cache folder so a dataset can be pointed at them without re-hashing every video
(:func:`surgical_skill.data.use_proxies`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from tqdm.auto import tqdm

from .decode import PassLog, describe_lost, iter_decoded_frames, lost_stretches, output_size
from .encode import write_video
from .errors import FramesLostError, VideoDecodeError
from .metadata import VideoMetadata, open_container, probe, select_video_stream

logger = logging.getLogger(__name__)
INDEX_NAME = "index.jsonl"
INDEX_FIELDS = ("source", "size", "mtime_ns", "settings", "hash", "proxy")


@dataclass(frozen=True)
class ProxySettings:
    """What a proxy looks like. Frame rate only goes down: a source slower than ``fps`` keeps its own rate."""

    short_side: int = 256
    fps: float = 10.0
    keyframe_interval_seconds: float = 1.0
    crf: int = 23
    preset: str = "veryfast"

    def key(self) -> str:
        """Short stable id of these settings, part of every proxy's file name."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


def content_hash(path: str | os.PathLike, chunk_size: int = 8 << 20) -> str:
    """BLAKE2b of the file's bytes (hex): the same video under another name or path maps to the same proxy."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def proxy_path(cache_dir: str | os.PathLike, digest: str, settings: ProxySettings) -> Path:
    return Path(cache_dir) / f"{digest}-{settings.key()}.mp4"


def transcode_proxy(
    source: str | os.PathLike, target: str | os.PathLike, settings: ProxySettings, threads: int = 0
) -> Path:
    """Transcode ``source`` into ``target`` following ``settings`` (PyAV only; no ffmpeg binary needed).

    Frames are picked on a constant ``fps`` clock from their timestamps (variable frame rate sources become
    constant), scaled in the decoder's conversion straight to YUV (never RGB), and the display rotation is
    kept as metadata. Audio is dropped.

    A source with a damaged stretch (frames that cannot be decoded, by the rule of
    :func:`~surgical_skill.video.decode_frames`) gets no proxy: one would show a frozen picture there, which
    looks like a hesitation. :class:`~surgical_skill.video.FramesLostError` names the lost frames and seconds,
    and nothing is written.
    """
    meta = probe(source)  # local files only (no allow_urls): a proxy is a local copy of a local file
    out_fps = min(settings.fps, meta.fps) if meta.fps else settings.fps
    out_h, out_w = (
        output_size(settings.short_side, meta.height, meta.width)
        if min(meta.height, meta.width) > settings.short_side
        else (meta.height, meta.width)
    )
    out_h, out_w = out_h + out_h % 2, out_w + out_w % 2  # yuv420p needs even sizes
    if meta.rotation in (90, 270):
        out_h, out_w = out_w, out_h  # the stored frame is the transposed one
    container = open_container(meta.path)
    try:
        return write_video(
            target,
            _frames_on_clock(container, meta, out_fps, (out_h, out_w), threads),
            float(Fraction(out_fps).limit_denominator(1001)),
            keyframe_interval=max(1, round(out_fps * settings.keyframe_interval_seconds)),
            crf=settings.crf,
            preset=settings.preset,
            rotation=meta.rotation if meta.rotation else 0,
            threads=threads,
        )
    except av.FFmpegError as err:
        raise VideoDecodeError(str(source), f"transcoding to a proxy failed: {err}") from err
    finally:
        container.close()


def _frames_on_clock(
    container: av.container.InputContainer,
    meta: VideoMetadata,
    out_fps: float,
    size: tuple[int, int],
    threads: int,
) -> Iterator[av.VideoFrame]:
    """The video resampled to a constant ``out_fps``, each frame scaled to ``size`` (height, width) in yuv420p.

    Output frame k is the source frame on screen at time k / out_fps (the last one starting at or before it),
    as a player would show it; gaps in a variable-rate source repeat the frame, like FFmpeg's fps filter.
    """
    out_h, out_w = size
    slots = max(1, round(meta.duration * out_fps))
    epsilon = 1e-6
    stream = select_video_stream(container, meta.path, meta.stream_index)
    stream.thread_type = "AUTO"
    stream.thread_count = threads
    reformatter = VideoReformatter()
    next_slot, start, shown, small = 0, None, None, None
    watch = _DamageWatch(meta)
    for count, frame in enumerate(iter_decoded_frames(container, stream, log=watch.log, path=meta.path)):
        watch.see(frame)
        if frame.pts is not None and meta.timestamps_reliable:
            now = float(frame.pts * stream.time_base)
        else:  # no timestamps (a bare bitstream): count frames at the nominal rate instead
            now = count / (meta.nominal_fps or meta.fps or 25.0)
        start = now if start is None else start
        while next_slot < slots and next_slot / out_fps < now - start - epsilon:
            if small is None:
                small = reformatter.reformat(shown, width=out_w, height=out_h, format="yuv420p")
            yield small
            next_slot += 1
        if next_slot >= slots:
            watch.check(finished=False)
            return
        shown, small = frame, None
    watch.check(finished=True)
    while shown is not None and next_slot < slots:
        if small is None:
            small = reformatter.reformat(shown, width=out_w, height=out_h, format="yuv420p")
        yield small
        next_slot += 1


class _DamageWatch:
    """Follows a sequential decode of a whole video and tells the frames a damaged stretch took, by the rule
    :func:`~surgical_skill.video.decode_frames` applies: a frame is lost when it never comes out, or when it
    comes after a packet the decoder rejected (or a frame flagged corrupt) and before the next keyframe."""

    def __init__(self, meta: VideoMetadata):
        self.meta = meta
        self.log = PassLog()
        self.keyframes = frozenset(meta.keyframe_indices.tolist())
        self.good = np.zeros(meta.total_num_frames, dtype=bool)
        self.tainted, self.errors_seen, self.last = False, 0, -1

    def see(self, frame: av.VideoFrame) -> None:
        if self.log.errors != self.errors_seen:
            self.tainted, self.errors_seen = True, self.log.errors
        index = self.meta.frame_index_of(frame.pts)
        if index is None or index <= self.last:
            return
        if index > self.last + 1:
            self.tainted = True  # frames that never came out
        if frame.key_frame or index in self.keyframes:
            self.tainted = False
        self.tainted = self.tainted or frame.is_corrupt
        self.good[index] = not self.tainted
        self.last = index

    def check(self, finished: bool) -> None:
        """Raise :class:`FramesLostError` when frames up to the last one seen (all, when ``finished``) were lost:
        a proxy would show a frozen picture there, which looks like a hesitation."""
        meta = self.meta
        if not meta.timestamps_reliable:
            if self.log.errors:
                raise VideoDecodeError(
                    meta.path,
                    f"the decoder rejected {self.log.errors} damaged packet(s) and the stream has no timestamps to "
                    "tell which frames were lost; no proxy made (replace the file with an undamaged copy)",
                )
            return
        seen = meta.total_num_frames if finished else self.last + 1
        good = self.good[:seen]
        if good.all():
            return
        targets = np.arange(seen)
        lost = targets[~good].tolist()
        stretches = lost_stretches(meta, targets, good)
        raise FramesLostError(
            meta.path,
            describe_lost(lost, stretches, meta.total_num_frames, "")
            + "; no proxy made, as it would show frozen frames there (replace the file with an undamaged copy; "
            "unprepared, training reads the original, and drops and counts its clips over the damage)",
            lost=lost,
            lost_seconds=stretches,
        )


def _index_key(path: str) -> tuple[str, int, int]:
    stat = os.stat(path)
    return os.path.realpath(path), stat.st_size, stat.st_mtime_ns


def read_index(cache_dir: str | os.PathLike) -> dict[tuple[str, int, int, str], str]:
    """``(source, size, mtime_ns, settings key) -> proxy path`` for every proxy recorded in the cache."""
    index_path = Path(cache_dir).expanduser() / INDEX_NAME
    entries = {}
    if index_path.exists():
        for line in index_path.read_text().splitlines():
            if line.strip():
                e = json.loads(line)
                entries[(e["source"], e["size"], e["mtime_ns"], e["settings"])] = e["proxy"]
    return entries


def lookup_proxy(index: dict, source: str | os.PathLike, settings: ProxySettings) -> str | None:
    """The proxy of ``source`` recorded in ``index`` (from :func:`read_index`), if it exists and is current."""
    try:
        proxy = index.get((*_index_key(os.fspath(source)), settings.key()))
    except OSError:
        return None
    return proxy if proxy and os.path.exists(proxy) else None


def _prepare_one(source: str, cache_dir: str, settings: ProxySettings, threads: int) -> dict:
    digest = content_hash(source)
    target = proxy_path(cache_dir, digest, settings)
    made = False
    if not target.exists():
        transcode_proxy(source, target, settings, threads=threads)
        made = True
    abs_source, size, mtime_ns = _index_key(source)
    return {
        "source": abs_source,
        "size": size,
        "mtime_ns": mtime_ns,
        "settings": settings.key(),
        "hash": digest,
        "proxy": str(target),
        "made": made,
        "duration": probe(source).duration,
    }


@dataclass
class ProxyReport:
    """What :func:`prepare_proxies` did."""

    proxies: dict[str, str] = field(default_factory=dict)  # source path -> proxy path
    failures: dict[str, str] = field(default_factory=dict)  # source path -> reason
    damaged: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # failed for lost frames: stretches
    made: int = 0
    reused: int = 0
    seconds_of_video: float = 0.0  # duration of the videos transcoded in this run
    elapsed: float = 0.0

    @property
    def realtime_factor(self) -> float:
        """Seconds of video transcoded per second of wall time."""
        return self.seconds_of_video / self.elapsed if self.elapsed else 0.0

    def summary(self) -> str:
        text = f"{len(self.proxies)} proxies ready ({self.made} made, {self.reused} already there)"
        if self.made:
            text += (
                f"; {self.seconds_of_video:.0f} s of video in {self.elapsed:.1f} s, "
                f"{self.realtime_factor:.1f}x real time"
            )
        if self.failures:
            text += f"; {len(self.failures)} failed"
            if self.damaged:
                text += f" ({len(self.damaged)} damaged: frames lost, no proxy made)"
        return text


def prepare_proxies(
    videos: Sequence[str | os.PathLike],
    cache_dir: str | os.PathLike,
    settings: ProxySettings | None = None,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> ProxyReport:
    """Make (or find) the proxy of every video in ``cache_dir``.

    Runs ``workers`` processes (default: one per core). Each finished proxy is recorded in the cache's index
    at once, so an interrupted run resumes where it stopped. A video that cannot be read is reported in the
    result's ``failures`` (and logged) while the others carry on; one with a damaged stretch is among them (and
    in ``damaged``, with the lost seconds) and gets no proxy, so a dataset reads its original, whose clips over
    the damage are dropped and counted.

    Example:
        >>> report = prepare_proxies(paths, "~/.cache/surgical-skill/proxies", ProxySettings(short_side=256, fps=10))
        >>> report.summary()
        '12 proxies ready (12 made, 0 already there); 720 s of video in 41.3 s, 17.4x real time'
    """
    settings = settings or ProxySettings()
    cache = Path(cache_dir).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    sources = list(dict.fromkeys(os.path.abspath(v) for v in videos))
    workers = max(1, min(_available_cores() if workers is None else workers, len(sources) or 1))
    threads = 1 if workers > 1 else 0  # the workers are the parallelism
    known = read_index(cache)
    report = ProxyReport()
    started = time.perf_counter()
    bar = tqdm(total=len(sources), desc="Preparing proxies", unit="video", disable=not progress)
    with ProcessPoolExecutor(max_workers=workers) if workers > 1 else _InlineExecutor() as pool:
        futures = {}
        for source in sources:
            existing = lookup_proxy(known, source, settings)
            if existing:
                report.proxies[source] = existing
                report.reused += 1
                bar.update()
            elif not os.path.isfile(source):
                report.failures[source] = "file not found"
                bar.update()
            else:
                futures[pool.submit(_prepare_one, source, str(cache), settings, threads)] = source
        for future in as_completed(futures):
            _record(report, futures[future], future, cache / INDEX_NAME)
            bar.update()
    bar.close()
    report.elapsed = time.perf_counter() - started
    logger.info("%s", report.summary())
    if report.failures:
        listing = "\n  ".join(f"{k}: {v}" for k, v in report.failures.items())
        logger.warning("%d video(s) could not be turned into proxies:\n  %s", len(report.failures), listing)
    return report


def _available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _record(report: ProxyReport, source: str, future: Future, index_path: Path) -> None:
    """Add one finished :func:`_prepare_one` to ``report`` and, when it succeeded, to the cache's index."""
    try:
        entry = future.result()
    except VideoDecodeError as err:
        report.failures[source] = err.reason
        if isinstance(err, FramesLostError):
            report.damaged[source] = err.lost_seconds
        return
    except Exception as err:  # one bad file must not stop the others
        report.failures[source] = f"{type(err).__name__}: {err}"
        return
    report.proxies[source] = entry["proxy"]
    if entry.pop("made"):
        report.made += 1
        report.seconds_of_video += entry["duration"]
    else:
        report.reused += 1  # made before, but missing from the index (an interrupted run)
    # One appended line per proxy: a run killed here loses at most the line being written, never the index.
    with index_path.open("a") as handle:
        handle.write(json.dumps({k: entry[k] for k in INDEX_FIELDS}) + "\n")


class _InlineExecutor:
    """The ``ProcessPoolExecutor`` interface, run in this process (one worker: no process start cost)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as err:  # delivered through future.result(), as a process pool would
            future.set_exception(err)
        return future
