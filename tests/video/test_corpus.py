"""The hostile-file corpus: every kind of file users bring (and break), each with the outcome the video layer owes.

The corpus is generated once per session, tiny (48x64 frames or smaller, at most 24 frames), so it builds in
about a second. A row either is a video (``Good``: what ``probe`` must say and ``decode_frames`` must return,
pixel-exact against a plain sequential PyAV decode of the same stream, turned as a player shows it), or is not
one (``Bad``: a one-line :class:`VideoDecodeError` naming the file and saying why), or is damaged mid-stream
(``Lost``: the frames around the damage are named exactly).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import surgical_skill.video as video
from surgical_skill.testing_utils import (
    claim_frame_count,
    damaged_copy,
    make_test_video,
    read_frame_index,
    sequential_decode,
    sequential_decode_with_pts,
    write_audio_only,
    write_multi_stream_video,
    write_raw_h264,
    write_vfr_video,
)
from surgical_skill.video import VideoDecodeError, decode_frames, output_size, probe
from tests.helpers import optional_part_missing, run_cli

HEIGHT, WIDTH = 48, 64


@dataclass(frozen=True)
class Good:
    """A video: ``probe``'s answers (``None``: not pinned) and the stream the reference decode reads."""

    total_num_frames: int | None  # None: a cut-off file, checked against the frames a sequential decode finds
    height: int = HEIGHT  # as displayed
    width: int = WIDTH
    fps: float | None = 30.0
    rotation: int = 0
    codec: str | None = "h264"
    pixel_format: str | None = "yuv420p"
    header: int | str | None = "any"  # the container's own frame count; "any": not pinned
    is_variable_frame_rate: bool | None = False  # None: not pinned
    stream_index: int = 0


@dataclass(frozen=True)
class Bad:
    """Not a video: ``probe`` and ``decode_frames`` raise VideoDecodeError with this reason."""

    reason: str


@dataclass(frozen=True)
class Lost:
    """A stretch of garbage mid-stream: the index is intact, some frames cannot be decoded at all."""

    total_num_frames: int


@dataclass(frozen=True)
class Row:
    name: str
    build: Callable[[Path, dict[str, Path]], Path]
    expect: Good | Bad | Lost


def _video(filename: str, total_num_frames: int = 12, **kwargs) -> Callable[[Path, dict[str, Path]], Path]:
    kwargs = {"height": HEIGHT, "width": WIDTH, "keyframe_interval": 4, **kwargs}
    if kwargs.get("codec", "libx264") in ("libx264", "libx265"):
        kwargs.setdefault("preset", "ultrafast")
    return lambda root, base: make_test_video(root / filename, total_num_frames, **kwargs)


def _cut(filename: str, where: Callable[[bytes, list[int]], int], source: str = "h264"):
    """A copy of a base file cut at ``where(data, packet_sizes)`` bytes."""

    def build(root: Path, base: dict[str, Path]) -> Path:
        data = base[source].read_bytes()
        with av.open(str(base[source])) as container:
            sizes = [packet.size for packet in container.demux(video=0) if packet.size]
        path = root / filename
        path.write_bytes(data[: where(data, sizes)])
        return path

    return build


def _frame_data(data: bytes) -> int:
    """Where the first frame's bytes start: the payload of the MP4's one ``mdat`` box (after the index)."""
    return data.index(b"mdat") + 4


def _write(filename: str, content: Callable[[], bytes]):
    def build(root: Path, base: dict[str, Path]) -> Path:
        path = root / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content())
        return path

    return build


def _lying_avi(root: Path, base: dict[str, Path]) -> Path:
    path = make_test_video(root / "lying_header.avi", 12, height=HEIGHT, width=WIDTH, codec="mpeg4")
    return claim_frame_count(path, 1000)


# The base file the cut and damaged rows start from: 24 frames, a keyframe every 6, B-frames, index in front.
BASE = {
    "h264": lambda root: make_test_video(
        root / "base.mp4", 24, height=HEIGHT, width=WIDTH, keyframe_interval=6, deterministic=True
    ),
    "h264_index_at_end": lambda root: make_test_video(
        root / "base_index_at_end.mp4", 24, height=HEIGHT, width=WIDTH, keyframe_interval=6, faststart=False
    ),
}

NOT_READABLE = "not a readable video file"
# A file cut short keeps the frames that are whole. Its last packet in decode order can be a B-frame shown
# before others, so the frames left may have a gap in time: frame rate and variability are not pinned.
CUT_SHORT = Good(None, fps=None, header=24, is_variable_frame_rate=None)

ROWS = [
    Row("h264_mp4", lambda root, base: base["h264"], Good(24, header=24)),
    # cut off at several points: inside the file-type box, inside the index (track known, codec not yet named),
    # after the index (no frame data), inside the first frame, inside the second, halfway, inside the last frame
    Row("cut_in_file_type_box", _cut("cut_ftyp.mp4", lambda data, sizes: 16), Bad(NOT_READABLE)),
    Row(
        "cut_before_codec_is_named",
        _cut("cut_hdlr.mp4", lambda data, sizes: data.index(b"hdlr") + 16),
        Bad("FFmpeg has no decoder for its video stream"),
    ),
    Row(
        "cut_after_index",
        _cut("cut_index.mp4", lambda data, sizes: _frame_data(data)),
        Bad("the video stream holds no frames"),
    ),
    Row(
        "cut_in_first_frame",
        _cut("cut_first.mp4", lambda data, sizes: _frame_data(data) + sizes[0] // 2),
        Bad("the video stream holds no frames"),
    ),
    Row(
        "cut_in_second_frame",
        _cut("cut_second.mp4", lambda data, sizes: _frame_data(data) + sizes[0] + sizes[1] // 2),
        Good(1, header=24),
    ),
    Row("cut_halfway", _cut("cut_half.mp4", lambda data, sizes: len(data) // 2), CUT_SHORT),
    Row("cut_in_last_frame", _cut("cut_last.mp4", lambda data, sizes: len(data) - sizes[-1] // 2), CUT_SHORT),
    Row(
        "cut_with_index_at_end",
        _cut("cut_index_at_end.mp4", lambda data, sizes: int(len(data) * 0.6), source="h264_index_at_end"),
        Bad(NOT_READABLE),
    ),
    Row("zero_bytes", _write("empty.mp4", lambda: b""), Bad("file is empty (0 bytes)")),
    Row(
        "random_bytes",
        _write("random.mp4", lambda: np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()),
        Bad(NOT_READABLE),
    ),
    Row("text_renamed_mp4", _write("notes.mp4", lambda: b"these are not video frames\n" * 50), Bad(NOT_READABLE)),
    Row(
        "audio_only",
        lambda root, base: write_audio_only(root / "audio_only.m4a"),
        Bad("no video stream (streams found: audio)"),
    ),
    Row("one_frame", _video("one_frame.mp4", 1), Good(1, header=1)),
    Row("shorter_than_a_clip", _video("eight_frames.mp4", 8), Good(8, header=8)),
    Row("garbage_mid_stream", lambda root, base: damaged_copy(base["h264"], root / "garbage.mp4"), Lost(24)),
    Row(
        "odd_size_17x31",
        _video("odd_17x31.mkv", height=17, width=31, pixel_format="yuv444p"),
        Good(12, height=17, width=31, pixel_format="yuv444p", header=None),
    ),
    Row(
        "h264_10_bit",
        _video("h264_10bit.mp4", pixel_format="yuv420p10le"),
        Good(12, pixel_format="yuv420p10le", header=12),
    ),
    Row("h264_444", _video("h264_444.mp4", pixel_format="yuv444p"), Good(12, pixel_format="yuv444p", header=12)),
    Row(
        "hevc",
        _video("hevc.mp4", codec="libx265", codec_options={"x265-params": "log-level=none"}),
        Good(12, codec="hevc", header=12),
    ),
    Row(
        "vp9_webm",
        _video("vp9.webm", codec="libvpx-vp9", codec_options={"deadline": "realtime", "cpu-used": "8"}),
        Good(12, codec="vp9", header=None),
    ),
    # SVT-AV1 writes non-reference frames, the case where a decoder reading skip_frame at open lost frames
    Row(
        "av1",
        _video("av1.mkv", height=64, width=96, codec="libsvtav1", codec_options={"preset": "12"}),
        Good(12, height=64, width=96, codec=None, header=None),  # libdav1d or FFmpeg's own av1
    ),
    Row(
        "mjpeg_avi",
        _video("mjpeg.avi", codec="mjpeg", pixel_format="yuvj420p"),
        Good(12, codec="mjpeg", pixel_format="yuvj420p", header=12),
    ),
    # MPEG-4 part 2 with B-frames in AVI: the packed-bitstream layout of old DivX files
    Row(
        "mpeg4_part2_avi",
        _video("mpeg4.avi", 24, codec="mpeg4", keyframe_interval=8, max_b_frames=2),
        Good(24, codec="mpeg4", header=24),
    ),
    Row("mpeg_ts", _video("clip.ts", 24, keyframe_interval=6), Good(24, header=None)),
    Row(
        "raw_h264_no_timestamps",
        lambda root, base: write_raw_h264(base["h264"], root / "raw.h264"),
        Good(24, fps=None, header=None),
    ),
    # rotation in degrees counter-clockwise, as the file's display matrix states it (270: a player turns the
    # stored frames 90 degrees clockwise, as for most portrait phone videos)
    Row("rotation_90", _video("rot90.mp4", 8, rotation=90), Good(8, height=WIDTH, width=HEIGHT, rotation=90)),
    Row("rotation_180", _video("rot180.mp4", 8, rotation=180), Good(8, rotation=180)),
    Row("rotation_270", _video("rot270.mp4", 8, rotation=-90), Good(8, height=WIDTH, width=HEIGHT, rotation=270)),
    Row(
        "variable_frame_rate",
        lambda root, base: write_vfr_video(root / "vfr.mp4", 20, height=HEIGHT, width=WIDTH),
        Good(20, fps=None, header=20, is_variable_frame_rate=True),
    ),
    Row("lying_frame_count_header", _lying_avi, Good(12, codec="mpeg4", header=1000)),
    # FFmpeg's best stream is the one flagged default, here the second: probe and decode read that one
    Row(
        "several_video_streams",
        lambda root, base: write_multi_stream_video(
            root / "two_streams.mkv", ((25, 32, 48, 10), (30, HEIGHT, WIDTH, 16)), default=1
        ),
        Good(16, header=None, stream_index=1),
    ),
    Row("non_ascii_path", _video("données/suturé_縫合_01.mp4"), Good(12, header=12)),
    Row("non_ascii_path_not_a_video", _write("données/notes_é.mp4", lambda: b"\xff" * 300), Bad(NOT_READABLE)),
]
ROW_NAMES = [row.name for row in ROWS]
BY_NAME = {row.name: row for row in ROWS}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """Every row's file, generated once per session."""
    root = tmp_path_factory.mktemp("corpus")
    base = {name: build(root) for name, build in BASE.items()}
    return {row.name: row.build(root, base) for row in ROWS}


def some_indices(total_num_frames: int) -> list[int]:
    """Unsorted, with a duplicate, the first and the last frame, and neighbours."""
    picks = np.random.default_rng(total_num_frames).integers(0, total_num_frames, 6).tolist()
    middle = [total_num_frames // 2, min(total_num_frames - 1, total_num_frames // 2 + 1)]
    return [*picks, picks[0], 0, total_num_frames - 1, *middle]


def displayed(frames: np.ndarray, rotation: int) -> np.ndarray:
    """Stored frames (N, H, W, 3) turned ``rotation`` degrees counter-clockwise, as a player shows them."""
    return np.rot90(frames, k=rotation // 90, axes=(1, 2))


def as_hwc(clip: torch.Tensor) -> np.ndarray:
    return clip.permute(0, 2, 3, 1).numpy()


def assert_one_line_naming(err: VideoDecodeError, path: Path, reason: str) -> None:
    assert isinstance(err, VideoDecodeError)
    message = str(err)
    assert "\n" not in message, message
    assert err.path == str(path) and str(path) in message, message
    assert reason in err.reason, message


@pytest.mark.parametrize("name", [row.name for row in ROWS if isinstance(row.expect, Good)])
def test_good_row_probes_and_decodes_exactly(corpus, name):
    expect: Good = BY_NAME[name].expect
    path = corpus[name]
    meta = probe(path)
    reference = displayed(sequential_decode(path, stream_index=expect.stream_index), expect.rotation)
    if expect.total_num_frames is None:  # cut off: the frames that are really there, fewer than the index says
        assert 0 < meta.total_num_frames < meta.total_num_frames_from_header
    else:
        assert meta.total_num_frames == expect.total_num_frames
    assert meta.total_num_frames == len(reference)
    assert (meta.height, meta.width, meta.rotation) == (expect.height, expect.width, expect.rotation)
    assert reference.shape[1:3] == (expect.height, expect.width)
    assert meta.stream_index == expect.stream_index
    if expect.is_variable_frame_rate is not None:
        assert meta.is_variable_frame_rate == expect.is_variable_frame_rate
    if expect.fps is not None:
        # Matroska stores milliseconds: 16 frames at 30 fps span 533 ms, and measure as 30.02 fps
        assert meta.fps == pytest.approx(expect.fps, rel=1e-3)
    if expect.codec is not None:
        assert meta.codec == expect.codec
    assert meta.pixel_format == expect.pixel_format
    if expect.header != "any":
        assert meta.total_num_frames_from_header == expect.header
    assert meta.header_frame_count_is_wrong == (meta.total_num_frames_from_header not in (None, meta.total_num_frames))

    total = meta.total_num_frames
    for indices in ([0], [total - 1], some_indices(total), list(range(total))):
        clip = decode_frames(path, indices)
        assert clip.dtype == torch.uint8 and tuple(clip.shape) == (len(indices), 3, expect.height, expect.width)
        np.testing.assert_array_equal(as_hwc(clip), reference[indices], err_msg=f"{name}: frames {indices}")
    # scaled inside the decoder's colour conversion: the short side to 16, the stored frame turned afterwards
    height, width = output_size(16, expect.height, expect.width)
    stored = (width, height) if expect.rotation in (90, 270) else (height, width)
    small = displayed(sequential_decode(path, size=stored, stream_index=expect.stream_index), expect.rotation)
    indices = some_indices(total)
    np.testing.assert_array_equal(as_hwc(decode_frames(path, indices, size=16)), small[indices], err_msg=name)
    with pytest.raises(VideoDecodeError) as info:
        decode_frames(path, [total])
    assert_one_line_naming(
        info.value, path, f"out of range: {total} (the video has {total} frame{'' if total == 1 else 's'},"
    )


@pytest.mark.parametrize("name", [row.name for row in ROWS if isinstance(row.expect, Bad)])
def test_bad_row_is_one_line_naming_the_file(corpus, name):
    path = corpus[name]
    for call in (lambda: probe(path), lambda: decode_frames(path, [0]), lambda: decode_frames(path, [0, 5], size=16)):
        with pytest.raises(VideoDecodeError) as info:
            call()
        assert_one_line_naming(info.value, path, BY_NAME[name].expect.reason)


@pytest.mark.parametrize("name", ["rotation_90", "rotation_180", "rotation_270"])
def test_rotation_is_what_a_player_shows(corpus, name):
    # Independent of our own rotation arithmetic: the frame index drawn along the stored top edge must read
    # back after undoing the displayed turn, and FFmpeg's command line (which rotates by the display matrix,
    # as players do) must show the very same pixels.
    path, rotation = corpus[name], BY_NAME[name].expect.rotation
    clip = as_hwc(decode_frames(path, range(8)))
    assert [read_frame_index(np.rot90(frame, k=-rotation // 90)) for frame in clip] == list(range(8))
    if shutil.which("ffmpeg") is None:
        optional_part_missing("no ffmpeg command to compare with (apt-get install ffmpeg)")
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    shown = np.frombuffer(raw, np.uint8).reshape(clip.shape)
    assert np.abs(shown.astype(np.int16) - clip).mean() < 1.0  # another FFmpeg build's scaler may round apart


def test_garbage_mid_stream_names_exactly_the_lost_frames(corpus):
    # The contract (issue 14): decoding goes on past the damage; FramesLostError lists in .lost the frames asked
    # for that were lost (never output, or built on the damage up to the next keyframe), .frames holds the clip
    # with those rows zero and .decoded marks the rest, and every frame it does return is a plain sequential
    # decode's, pixel for pixel.
    path = corpus["garbage_mid_stream"]
    meta = probe(path)  # the index is intact, so every frame is counted
    total = meta.total_num_frames
    assert total == BY_NAME["garbage_mid_stream"].expect.total_num_frames
    # The reference: a plain sequential decode, which skips the packets the decoder rejects.
    reference = {int(np.searchsorted(meta.frame_pts, pts)): array for pts, array in sequential_decode_with_pts(path)}
    missing = sorted(set(range(total)) - set(reference))
    assert missing, "the garbage no longer destroys a frame; move it"
    # Damage cannot reach past a keyframe: [first_damaged, after) is the damaged stretch's groups of pictures.
    keyframes = meta.keyframe_indices
    first_damaged = int(keyframes[np.searchsorted(keyframes, missing[0], side="right") - 1])
    after = int(keyframes[np.searchsorted(keyframes, missing[-1], side="right")])
    for indices in (list(range(first_damaged)), list(range(after, total))):  # clean on both sides: no error
        np.testing.assert_array_equal(as_hwc(decode_frames(path, indices)), np.stack([reference[i] for i in indices]))

    frames_lost_error = getattr(video, "FramesLostError", None)
    if frames_lost_error is None:
        pytest.skip("surgical_skill.video.FramesLostError is not there yet (issue 14: decoding past damage)")
    assert issubclass(frames_lost_error, VideoDecodeError)

    def check(asked: list[int]) -> list[int]:
        """Decode ``asked``; check what came back against the contract; return the frames named lost."""
        try:
            clip, lost = decode_frames(path, asked), []
        except frames_lost_error as err:
            assert_one_line_naming(err, path, "")
            clip, lost = err.frames, list(err.lost)
            assert lost == sorted(set(lost)) and set(lost) <= set(asked)
            assert str(lost[0]) in err.reason
            assert err.decoded.tolist() == [i not in lost for i in asked]
            assert not clip[~err.decoded].any()  # lost rows are zero, never a neighbour's copy
        assert set(missing) & set(asked) <= set(lost), "a frame the file does not hold was not named lost"
        assert all(first_damaged <= i < after for i in lost), f"lost {lost} outside the damaged stretch"
        assert tuple(clip.shape) == (len(asked), 3, meta.height, meta.width)
        for row, i in enumerate(asked):
            if i not in lost:
                np.testing.assert_array_equal(as_hwc(clip[row : row + 1])[0], reference[i], err_msg=f"frame {i}")
        return lost

    every = check(list(range(total)))
    assert every, "decoding every frame lost none"
    # Asked alone, or in other sets, a frame is lost only if it is lost when decoding everything.
    for i in range(first_damaged, after):
        assert set(check([i])) <= set(every)
    assert set(check(some_indices(total))) <= set(every)
    assert set(check(list(range(after - 1, first_damaged - 1, -1)))) <= set(every)


def test_probe_command_over_the_whole_corpus(corpus):
    paths = [corpus[row.name] for row in ROWS]
    result = run_cli("probe", *paths)
    assert result.returncode == 1  # some files are bad
    lines = result.stdout.splitlines() + result.stderr.splitlines()
    for row in ROWS:
        path = str(corpus[row.name])
        mine = [line for line in lines if line.startswith(f"{path}: ")]
        assert len(mine) == 1, (row.name, mine)
        if isinstance(row.expect, Bad):
            assert row.expect.reason in mine[0] and mine[0] in result.stderr.splitlines(), (row.name, mine)
        else:
            meta = probe(path)
            assert mine[0] in result.stdout.splitlines(), (row.name, mine)
            assert f": {meta.total_num_frames} frames" in mine[0], (row.name, mine)
            lie = f"(header says {meta.total_num_frames_from_header})"
            assert (lie in mine[0]) == meta.header_frame_count_is_wrong, (row.name, mine)


def test_a_keyframe_index_the_demuxer_refuses_to_seek_in_is_one_line(tmp_path):
    """A flipped bit in the MP4's sync-sample table (``stss``): the file probes, but FFmpeg refuses the seek to a
    keyframe (EPERM). That is one line naming the file, not PyAV's PermissionError (found by
    test_properties' mutation search)."""
    base = make_test_video(
        tmp_path / "base.mp4", 12, height=32, width=48, keyframe_interval=4, preset="ultrafast", deterministic=True
    )
    data = bytearray(base.read_bytes())
    data[data.index(b"stss") + 12] ^= 1
    path = tmp_path / "bad_stss.mp4"
    path.write_bytes(bytes(data))
    assert probe(path).total_num_frames == 12
    with pytest.raises(VideoDecodeError) as info:
        decode_frames(path, [0, 6, 10])
    assert_one_line_naming(info.value, path, "the file is damaged where frames are read")
