"""Property tests (hypothesis): the samplers keep the promises of their docstrings for any video length, clip
shape and seed; ``decode_frames`` returns exactly the frames asked for any index list; and decoding a file with
bytes flipped, overwritten, inserted, deleted or cut off returns in bounded time with frames of the right shape
or a one-line VideoDecodeError, never another exception, a crash or a hang (with either backend where torchcodec
runs).

Examples are derandomized and no example database is kept, so every run (and CI) tries the same cases.
"""

from __future__ import annotations

import faulthandler
import itertools
import multiprocessing
import os
import signal
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from surgical_skill.testing_utils import make_test_video, sequential_decode
from surgical_skill.video import (
    ClipSampling,
    VideoDecodeError,
    decode_frames,
    frame_stride_for,
    output_size,
    probe,
    sample_clip_indices,
    sample_multi_clip_indices,
    sample_segment_indices,
)

# Pure functions: many cheap examples.
SAMPLER = settings(max_examples=150, deadline=None, derandomize=True, database=None)

lengths = st.integers(1, 400)  # a video's total_num_frames
clip_lengths = st.integers(1, 40)
strides = st.integers(1, 6)
seeds = st.integers(0, 2**32 - 1)


# --- sample_segment_indices -------------------------------------------------------------------------------------


@SAMPLER
@given(total=lengths, count=clip_lengths, random=st.booleans(), seed=seeds)
def test_segment_indices_one_frame_from_each_segment(total, count, random, seed):
    indices = sample_segment_indices(total, count, random=random, generator=seed)
    assert indices.dtype == np.int64 and indices.shape == (count,)
    assert indices.min() >= 0 and indices.max() < total
    assert np.all(np.diff(indices) >= 0)  # in order: segment k before segment k + 1
    edges = np.linspace(0, total, count + 1)
    # frame k comes from segment k, [edges[k], edges[k + 1]) (a frame straddling an edge belongs to both)
    assert np.all(indices >= np.floor(edges[:-1])) and np.all(indices < np.maximum(np.ceil(edges[1:]), 1))
    if total >= count:
        assert len(set(indices.tolist())) == count, "a frame was taken twice though the video has enough"
    elif not random:
        assert set(indices.tolist()) == set(range(total)), "a short video repeats frames but skips none"
    if not random:  # centres: the clip spans the whole video
        assert indices[0] <= total / count and indices[-1] >= total - total / count - 1


@SAMPLER
@given(total=lengths, count=clip_lengths, seed=seeds)
def test_segment_indices_are_reproducible_from_a_seed(total, count, seed):
    first = sample_segment_indices(total, count, random=True, generator=seed)
    assert np.array_equal(first, sample_segment_indices(total, count, random=True, generator=seed))
    from_generator = sample_segment_indices(total, count, random=True, generator=np.random.default_rng(seed))
    assert np.array_equal(first, from_generator)
    assert np.array_equal(sample_segment_indices(total, count), sample_segment_indices(total, count, generator=seed))


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(total=st.integers(1, 30), count=st.integers(1, 8))
def test_segment_sampling_reaches_every_frame(total, count):
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        seen.update(sample_segment_indices(total, count, random=True, generator=rng).tolist())
    # each frame lies in some segment and is drawn with probability >= count / total >= 1/30 per draw
    assert seen == set(range(total))


# --- sample_clip_indices ----------------------------------------------------------------------------------------


@SAMPLER
@given(total=lengths, clip_len=clip_lengths, stride=strides, random=st.booleans(), seed=seeds)
def test_clip_indices_are_a_strided_run_in_range(total, clip_len, stride, random, seed):
    clip = sample_clip_indices(total, clip_len, frame_stride=stride, random=random, generator=seed)
    assert clip.dtype == np.int64 and clip.shape == (clip_len,)
    assert clip.min() >= 0 and clip.max() < total
    span = (clip_len - 1) * stride + 1
    if total >= span:
        assert np.all(np.diff(clip) == stride)
        if not random:  # centred: the margins before and after differ by at most one frame
            assert abs(int(clip[0]) - (total - 1 - int(clip[-1]))) <= 1
    else:  # shorter than the clip: from the first frame, the last frame repeated
        assert clip[0] == 0
        assert np.array_equal(clip, np.minimum(stride * np.arange(clip_len), total - 1))
    assert np.array_equal(
        clip, sample_clip_indices(total, clip_len, frame_stride=stride, random=random, generator=seed)
    )


@SAMPLER
@given(
    total=lengths,
    clip_len=clip_lengths,
    fps=st.floats(1, 240),
    target_fps=st.floats(0.5, 120),
    frame_stride=strides,
    random=st.booleans(),
    seed=seeds,
)
def test_target_fps_clips_are_in_range_and_in_order(total, clip_len, fps, target_fps, frame_stride, random, seed):
    assert frame_stride_for(fps, target_fps, frame_stride) == max(1, round(fps / target_fps))
    assert (
        frame_stride_for(None, target_fps, frame_stride) == frame_stride == frame_stride_for(fps, None, frame_stride)
    )
    clip = sample_clip_indices(total, clip_len, fps=fps, target_fps=target_fps, random=random, generator=seed)
    assert clip.shape == (clip_len,) and clip.min() >= 0 and clip.max() < total
    assert np.all(np.diff(clip) >= 0)
    again = sample_clip_indices(total, clip_len, fps=fps, target_fps=target_fps, random=random, generator=seed)
    assert np.array_equal(clip, again)


@SAMPLER
@given(
    total=lengths,
    clip_len=clip_lengths,
    target_fps=st.integers(1, 30),
    ratio=st.integers(1, 6),
    random=st.booleans(),
    seed=seeds,
)
def test_target_fps_dividing_the_rate_is_that_stride(total, clip_len, target_fps, ratio, random, seed):
    # 30 fps to 10 fps: every third frame, exactly as frame_stride=3
    fps = float(target_fps * ratio)
    by_rate = sample_clip_indices(total, clip_len, fps=fps, target_fps=target_fps, random=random, generator=seed)
    by_stride = sample_clip_indices(total, clip_len, frame_stride=ratio, random=random, generator=seed)
    assert np.array_equal(by_rate, by_stride)


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(total=st.integers(1, 40), clip_len=st.integers(1, 8), stride=st.integers(1, 3))
def test_random_clip_start_reaches_every_position(total, clip_len, stride):
    rng = np.random.default_rng(0)
    room = max(0, total - ((clip_len - 1) * stride + 1))
    starts = {int(sample_clip_indices(total, clip_len, frame_stride=stride, random=True, generator=rng)[0])}
    for _ in range(400):
        starts.add(int(sample_clip_indices(total, clip_len, frame_stride=stride, random=True, generator=rng)[0]))
    assert starts == set(range(room + 1))  # "uniform over all positions where the clip fits"


# --- sample_multi_clip_indices ----------------------------------------------------------------------------------


@SAMPLER
@given(total=lengths, clip_len=clip_lengths, stride=strides, num_clips=st.integers(1, 12))
def test_multi_clips_cover_the_video_from_first_to_last_frame(total, clip_len, stride, num_clips):
    clips = sample_multi_clip_indices(total, clip_len, num_clips=num_clips, frame_stride=stride)
    assert clips.dtype == np.int64 and clips.shape == (num_clips, clip_len)
    assert clips.min() >= 0 and clips.max() < total
    assert clips[0, 0] == 0
    if num_clips > 1:  # one clip starts at frame 0 and cannot also end on the last frame
        assert clips[-1, -1] == total - 1
    assert np.all(np.diff(clips[:, 0]) >= 0) and np.all(np.diff(clips, axis=1) >= 0)
    if total >= (clip_len - 1) * stride + 1:
        assert np.all(np.diff(clips, axis=1) == stride)
    again = sample_multi_clip_indices(total, clip_len, num_clips=num_clips, frame_stride=stride)
    assert np.array_equal(clips, again)


@SAMPLER
@given(
    total=lengths,
    clip_len=clip_lengths,
    stride=strides,
    fps=st.floats(1, 120),
    clip_stride_seconds=st.floats(0.01, 20),
)
def test_clip_stride_in_seconds_bounds_every_gap(total, clip_len, stride, fps, clip_stride_seconds):
    clips = sample_multi_clip_indices(
        total, clip_len, frame_stride=stride, fps=fps, clip_stride_seconds=clip_stride_seconds
    )
    assert clips[0, 0] == 0 and (len(clips) == 1 or clips[-1, -1] == total - 1)
    gaps = np.diff(clips[:, 0])
    # "no gap between clips exceeds it" (clip starts are whole frames: a gap can never be under one frame)
    assert np.all(gaps <= max(clip_stride_seconds * fps, 1)), (gaps.max(), clip_stride_seconds * fps)


# --- ClipSampling -----------------------------------------------------------------------------------------------


@SAMPLER
@given(
    total=lengths,
    num_frames=clip_lengths,
    strategy=st.sampled_from(["uniform", "clip"]),
    stride=strides,
    num_clips=st.integers(1, 8),
    random=st.booleans(),
    seed=seeds,
)
def test_clip_sampling_is_the_samplers(total, num_frames, strategy, stride, num_clips, random, seed):
    sampling = ClipSampling(num_frames=num_frames, strategy=strategy, frame_stride=stride)
    indices = sampling.indices(total, 30.0, random=random, generator=seed)
    if strategy == "uniform":
        assert np.array_equal(indices, sample_segment_indices(total, num_frames, random=random, generator=seed))
    else:
        expected = sample_clip_indices(total, num_frames, frame_stride=stride, random=random, generator=seed)
        assert np.array_equal(indices, expected)
    windows = sampling.windows(total, 30.0, num_clips=num_clips)
    assert windows.shape == (num_clips, num_frames)
    assert windows.min() >= 0 and windows.max() < total
    assert np.all(np.diff(windows, axis=1) >= 0)
    if strategy == "uniform":  # clip j takes its frame k from segment k, like the training draws
        edges = np.linspace(0, total, num_frames + 1)
        assert np.all(windows >= np.floor(edges[:-1])) and np.all(windows < np.maximum(np.ceil(edges[1:]), 1))


# --- decode_frames on valid files: exact for any index list -----------------------------------------------------

# Tiny files of several codecs and containers, B-frames and short GOPs where the codec has them.
BASES = {
    "h264.mp4": {"codec": "libx264", "keyframe_interval": 4, "preset": "ultrafast"},
    "h264.ts": {"codec": "libx264", "keyframe_interval": 4, "preset": "ultrafast"},
    "vp9.mkv": {"codec": "libvpx-vp9", "codec_options": {"deadline": "realtime", "cpu-used": "8", "g": "5"}},
    "mpeg4.avi": {"codec": "mpeg4", "keyframe_interval": 5, "max_b_frames": 2},
    "av1.webm": {"codec": "libsvtav1", "codec_options": {"preset": "12"}},
}


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mutation_bases")
    return {
        name: make_test_video(
            root / name, 12, height=32 if "av1" not in name else 64, width=48 if "av1" not in name else 64, **kwargs
        )
        for name, kwargs in BASES.items()
    }


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_index_list_decodes_exactly(bases, data):
    name = data.draw(st.sampled_from(sorted(bases)), label="file")
    reference = sequential_decode(bases[name])
    indices = data.draw(st.lists(st.integers(0, len(reference) - 1), max_size=20), label="indices")
    clip = decode_frames(bases[name], indices)
    assert clip.shape == (len(indices), 3, *reference.shape[1:3])
    np.testing.assert_array_equal(clip.permute(0, 2, 3, 1).numpy(), reference[indices])


# --- decoding mutated bytes: bounded time, frames or VideoDecodeError, never anything else -------------------------

CALL_SECONDS = 5.0  # a tiny file decodes in milliseconds; longer than this is a hang


def _torchcodec_runs() -> bool:
    try:  # optional, and needs FFmpeg's shared libraries
        from torchcodec.decoders import VideoDecoder  # noqa: F401
    except Exception:
        return False
    return True


BACKENDS = ["pyav", "torchcodec"] if _torchcodec_runs() else ["pyav"]


def _probe_and_decode(path: str, positions: list[float], size, backend: str = "pyav") -> tuple:
    """What the worker process answers for one file: ``("frames", shape, expected)``, ``("error", message)``
    for a VideoDecodeError, or ``("other", traceback)`` for any other exception."""
    try:
        meta = probe(path)
        indices = [min(int(p * meta.total_num_frames), meta.total_num_frames - 1) for p in positions]
        clip = decode_frames(path, indices, size=size, backend=backend)
        expected = (len(indices), 3, *output_size(size, meta.height, meta.width))
        return ("frames", tuple(clip.shape), expected, clip.dtype == torch.uint8)
    except VideoDecodeError as err:
        return ("error", str(err), err.path)
    except BaseException:
        return ("other", traceback.format_exc())


def _serve(conn, handler) -> None:
    # As in a DataLoader worker: an OpenMP pool the parent used does not survive fork (torch ops would hang).
    torch.set_num_threads(1)
    while True:
        request = conn.recv()
        if request is None:
            return
        conn.send(handler(*request))


class DecodeWorker:
    """A separate process that probes and decodes on request, so that a crash (a signal in FFmpeg) or a hang is
    a failed example with its input shown, not the end of the test run."""

    def __init__(self, handler=_probe_and_decode):
        # fork: the child starts at once with everything imported (spawn would import torch again per restart)
        self.context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        self.handler = handler
        self._start()

    def _start(self) -> None:
        self.conn, child = self.context.Pipe()
        self.process = self.context.Process(target=_serve, args=(child, self.handler), daemon=True)
        self.process.start()
        child.close()

    def _restart(self) -> None:
        self.process.kill()
        self.process.join()
        self._start()

    def run(self, path: str, positions: list[float], size, backend="pyav", timeout: float = CALL_SECONDS) -> tuple:
        self.conn.send((path, positions, size, backend))
        if not self.conn.poll(timeout):
            self._restart()
            return ("hang", f"no answer after {timeout} s")
        try:
            return self.conn.recv()
        except EOFError:
            self.process.join()
            code = self.process.exitcode
            self._start()
            return ("crash", f"the decoding process died (exit code {code})")

    def close(self) -> None:
        self.conn.send(None)
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()


@pytest.fixture(scope="module")
def worker():
    worker = DecodeWorker()
    yield worker
    worker.close()


def mutations(size: int):
    """One change to a file of ``size`` bytes; positions are taken modulo the length at the time it is applied."""
    position = st.integers(0, size - 1)
    some_bytes = st.binary(min_size=1, max_size=64)
    return st.one_of(
        st.tuples(st.just("flip"), position, st.integers(0, 7)),
        st.tuples(st.just("overwrite"), position, some_bytes),
        st.tuples(st.just("insert"), position, some_bytes),
        st.tuples(st.just("delete"), position, st.integers(1, 512)),
        st.tuples(st.just("truncate"), position),
    )


def mutate(data: bytes, changes) -> bytes:
    out = bytearray(data)
    for kind, position, *args in changes:
        if not out:
            break
        position %= len(out)
        if kind == "flip":
            out[position] ^= 1 << args[0]
        elif kind == "overwrite":
            out[position : position + len(args[0])] = args[0][: len(out) - position]
        elif kind == "insert":
            out[position:position] = args[0]
        elif kind == "delete":
            del out[position : position + args[0]]
        else:
            del out[position:]
    return bytes(out)


_names = (f"mutated_{i}" for i in itertools.count())  # a new name per example: probe caches by path and mtime


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_files_give_frames_or_one_line_error_in_bounded_time(bases, worker, tmp_path_factory, data):
    name = data.draw(st.sampled_from(sorted(bases)), label="file")
    original = bases[name].read_bytes()
    changes = data.draw(st.lists(mutations(len(original)), min_size=1, max_size=4), label="changes")
    positions = data.draw(st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=6), label="positions")
    size = data.draw(st.sampled_from([None, 16, (20, 30)]), label="size")
    backend = data.draw(st.sampled_from(BACKENDS), label="backend")
    path = tmp_path_factory.getbasetemp() / f"{next(_names)}{Path(name).suffix}"
    path.write_bytes(mutate(original, changes))

    outcome = worker.run(str(path), positions, size, backend)
    kind = outcome[0]
    detail = kind if kind != "error" else outcome[1].split(": ", 1)[1][:40]
    event(f"{name} ({backend}): {detail}")
    assert kind in ("frames", "error"), f"{name} changed by {changes}: {outcome[1]}"
    if kind == "frames":
        _, shape, expected, is_uint8 = outcome
        assert shape == expected and is_uint8
    else:
        _, message, error_path = outcome
        assert error_path == str(path) and str(path) in message
        assert "\n" not in message, message
    path.unlink()


def _crash(*request):
    faulthandler.disable()  # pytest's would print this deliberate crash's traceback
    os.kill(os.getpid(), signal.SIGSEGV)


def _hang(*request):
    time.sleep(3600)


def test_the_watchdog_reports_crashes_and_hangs(tmp_path):
    # A child that dies by a signal or never answers is reported as such, and the next call works again.
    for handler, kind in ((_crash, "crash"), (_hang, "hang")):
        worker = DecodeWorker(handler)
        try:
            assert worker.run("x.mp4", [0.0], None, timeout=0.5)[0] == kind
            worker.handler = _probe_and_decode
            worker._restart()
            assert worker.run(str(tmp_path / "missing.mp4"), [0.0], None)[0] == "error"
        finally:
            worker.close()
