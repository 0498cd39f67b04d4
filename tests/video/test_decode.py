import pickle

import numpy as np
import pytest
import torch

from surgical_skill.testing_utils import (
    make_test_video,
    read_frame_index,
    sequential_decode,
    sequential_decode_with_pts,
    write_multi_stream_video,
)
from surgical_skill.video import (
    FramesLostError,
    VideoDecodeError,
    decode_frames,
    plan_decode,
    probe,
    sample_multi_clip_indices,
)
from surgical_skill.video import decode as decode_module


def as_hwc(clip: torch.Tensor) -> np.ndarray:
    return clip.permute(0, 2, 3, 1).numpy()


def some_indices(total_num_frames: int, seed: int = 0) -> list[int]:
    """Unsorted, with duplicates, the first and the last frame, and a run of neighbours."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, total_num_frames, 10).tolist()
    return [*picks, picks[0], 0, total_num_frames - 1, total_num_frames // 2, total_num_frames // 2 + 1]


GENERATED = ["short_gop", "long_gop", "mkv", "ts", "avi", "open_gop", "vfr", "truncated", "raw_h264"]


@pytest.mark.parametrize("name", GENERATED)
def test_pixel_exact_against_sequential_decode(videos, name):
    reference = sequential_decode(videos[name])
    meta = probe(videos[name])
    assert meta.total_num_frames == len(reference)
    indices = some_indices(meta.total_num_frames)
    clip = decode_frames(videos[name], indices)
    assert clip.dtype == torch.uint8 and clip.shape == (len(indices), 3, meta.height, meta.width)
    np.testing.assert_array_equal(as_hwc(clip), reference[indices])


@pytest.mark.parametrize("name", GENERATED)
def test_every_frame_in_order(videos, name):
    reference = sequential_decode(videos[name])
    clip = decode_frames(videos[name], range(len(reference)))
    np.testing.assert_array_equal(as_hwc(clip), reference)


def test_the_frames_are_the_right_ones(videos):
    # Each generated frame draws its own index; read it back from what decode_frames returned.
    indices = [89, 3, 40, 41, 12, 12, 0]
    clip = decode_frames(videos["short_gop"], indices)
    assert [read_frame_index(frame) for frame in as_hwc(clip)] == indices


def test_each_strategy_is_exercised(videos):
    seeking = plan_decode(probe(videos["short_gop"]), [5, 50, 51, 85])
    assert [run.targets for run in seeking] == [[5], [50, 51], [85]]
    assert [run.keyframe for run in seeking] == [-1, 4, 7]  # keyframes at 0, 12, 24 ... 84
    straight = plan_decode(probe(videos["long_gop"]), [5, 50, 85, 140])
    assert len(straight) == 1 and straight[0].targets == [5, 50, 85, 140]
    # neighbours in one GOP are decoded in one pass, without a second seek
    same_gop = plan_decode(probe(videos["short_gop"]), [49, 52, 58])
    assert len(same_gop) == 1 and same_gop[0].keyframe == 4


def count_decoding(monkeypatch) -> dict[str, int]:
    """Spy on the decoder loop: how many passes (one per seek or start) and how many frames came out."""
    counts = {"passes": 0, "frames": 0}
    original = decode_module.iter_decoded_frames

    def counting(*args, **kwargs):
        counts["passes"] += 1
        for frame in original(*args, **kwargs):
            counts["frames"] += 1
            yield frame

    monkeypatch.setattr(decode_module, "iter_decoded_frames", counting)
    return counts


def test_seeking_skips_frames_that_are_not_needed(videos, monkeypatch):
    counts = count_decoding(monkeypatch)
    clip = decode_frames(videos["short_gop"], [5, 50, 85])
    assert counts["passes"] == 3
    # at most: from the start to 5, from keyframe 48 to 50, from keyframe 84 to 85, plus reordering slack
    assert counts["frames"] <= 6 + 3 + 2 + 6
    reference = sequential_decode(videos["short_gop"])
    np.testing.assert_array_equal(as_hwc(clip), reference[[5, 50, 85]])


@pytest.mark.parametrize("clip_len", [4, 6, 8, 11])
def test_consecutive_clips_need_one_pass_each(videos, monkeypatch, clip_len):
    # Clips of consecutive frames, as whole-video inference asks for: every wanted frame is decoded in the
    # pass that seeks to its clip (no frame is dropped and found missing, no retry from an earlier keyframe).
    counts = count_decoding(monkeypatch)
    meta = probe(videos["short_gop"])
    indices = sample_multi_clip_indices(meta.total_num_frames, clip_len, num_clips=4).reshape(-1).tolist()
    clip = decode_frames(videos["short_gop"], indices)
    assert counts["passes"] == len(plan_decode(meta, sorted(set(indices))))
    np.testing.assert_array_equal(as_hwc(clip), sequential_decode(videos["short_gop"])[indices])


def test_straight_through_is_one_pass_that_drops_unneeded_b_frames(videos, monkeypatch):
    counts = count_decoding(monkeypatch)
    clip = decode_frames(videos["long_gop"], [10, 70, 120])
    assert counts["passes"] == 1
    # Non-reference B-frames that nobody asked for are never decoded, so fewer than 121 frames come out.
    assert 40 < counts["frames"] < 121
    np.testing.assert_array_equal(as_hwc(clip), sequential_decode(videos["long_gop"])[[10, 70, 120]])


def test_only_wanted_frames_are_converted_to_rgb(videos, monkeypatch):
    conversions = []
    original = decode_module.VideoReformatter

    class CountingReformatter:
        def __init__(self):
            self.inner = original()

        def reformat(self, frame, *args, **kwargs):
            conversions.append(frame.pts)
            return self.inner.reformat(frame, *args, **kwargs)

    monkeypatch.setattr(decode_module, "VideoReformatter", CountingReformatter)
    decode_frames(videos["long_gop"], [100, 7, 7, 60])
    assert len(conversions) == 3


@pytest.mark.parametrize("size, expected", [(48, (48, 64)), ((40, 60), (40, 60)), (96, (96, 128))])
def test_resize_inside_the_decoder(videos, size, expected):
    indices = [0, 33, 89, 34]
    clip = decode_frames(videos["short_gop"], indices, size=size)
    assert tuple(clip.shape[2:]) == expected
    reference = sequential_decode(videos["short_gop"], size=expected)
    np.testing.assert_array_equal(as_hwc(clip), reference[indices])


def test_rotated_video_comes_back_upright(videos):
    # The file stores 96x128 frames with a display matrix of -90 degrees: players (FFmpeg's CLI, torchcodec)
    # show them turned 90 degrees clockwise, 128 high and 96 wide.
    indices = [0, 15, 29]
    clip = decode_frames(videos["rotated"], indices)
    assert tuple(clip.shape) == (3, 3, 128, 96)
    stored = sequential_decode(videos["rotated"])[indices]
    clockwise = np.rot90(stored, k=-1, axes=(1, 2))
    np.testing.assert_array_equal(as_hwc(clip), clockwise)
    # the index drawn along the stored top edge now runs down the right edge
    assert [read_frame_index(np.rot90(f, k=1)) for f in as_hwc(clip)] == indices


def test_rotated_video_resized(videos):
    clip = decode_frames(videos["rotated"], [4, 2], size=48)  # short side 48 of the displayed 128x96
    assert tuple(clip.shape) == (2, 3, 64, 48)
    stored = sequential_decode(videos["rotated"], size=(48, 64))[[4, 2]]
    np.testing.assert_array_equal(as_hwc(clip), np.rot90(stored, k=-1, axes=(1, 2)))


@pytest.mark.parametrize("name", ["bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"])
def test_pixel_exact_on_real_videos(sample_videos, name):
    reference = sequential_decode(sample_videos[name])
    indices = some_indices(len(reference), seed=1)
    np.testing.assert_array_equal(as_hwc(decode_frames(sample_videos[name], indices)), reference[indices])


def test_real_video_resized(sample_videos):
    path = sample_videos["bigbuckbunny.mp4"]
    clip = decode_frames(path, [0, 64, 131], size=224)
    assert tuple(clip.shape) == (3, 3, 224, 398)
    reference = sequential_decode(path, size=(224, 398))
    np.testing.assert_array_equal(as_hwc(clip), reference[[0, 64, 131]])


# Not compared: MPEG-TS, where torchcodec 0.17's exact mode returns frames one GOP late (seeking by pts lands
# on the next keyframe; our decoder notices and seeks by dts), and MPEG-4 part 2 in AVI, where its frames
# differ from a plain FFmpeg decode by 1-2 levels.
@pytest.mark.parametrize("name", ["short_gop", "long_gop", "mkv", "open_gop", "rotated", "vfr"])
def test_torchcodec_backend_gives_the_same_frames(videos, needs_torchcodec, name):
    meta = probe(videos[name])
    indices = some_indices(meta.total_num_frames, seed=2)
    ours = decode_frames(videos[name], indices)
    theirs = decode_frames(videos[name], indices, backend="torchcodec")
    assert torch.equal(ours, theirs)


def test_torchcodec_backend_on_a_truncated_file(videos, needs_torchcodec):
    # torchcodec feeds the cut-off last packet to its decoder and fails on the frames around it, where the
    # pyav backend skips it; away from the cut both agree, and a failure is our clear error, not a crash.
    path = videos["truncated"]
    early = [0, 5, 17, 30]
    assert torch.equal(decode_frames(path, early), decode_frames(path, early, backend="torchcodec"))
    tail = list(range(probe(path).total_num_frames))
    try:
        theirs = decode_frames(path, tail, backend="torchcodec")
    except VideoDecodeError as err:
        assert "torchcodec" in err.reason
    else:
        assert torch.equal(theirs, decode_frames(path, tail))


def test_torchcodec_backend_on_real_videos(sample_videos, needs_torchcodec):
    for path in sample_videos.values():
        indices = some_indices(probe(path).total_num_frames, seed=3)
        assert torch.equal(decode_frames(path, indices), decode_frames(path, indices, backend="torchcodec"))


def test_torchcodec_backend_resized_is_close(sample_videos, needs_torchcodec):
    # torchcodec converts to RGB at full size and then scales; we scale during the YUV->RGB conversion.
    # Same size, same geometry; pixel values differ by the scalers' rounding only.
    path = sample_videos["bigbuckbunny.mp4"]
    ours = decode_frames(path, [3, 90], size=224).float()
    theirs = decode_frames(path, [3, 90], size=224, backend="torchcodec").float()
    assert ours.shape == theirs.shape
    assert (ours - theirs).abs().mean() < 2.5


def test_index_types(videos):
    expected = decode_frames(videos["short_gop"], [3, 1])
    assert torch.equal(decode_frames(videos["short_gop"], np.array([3, 1])), expected)
    assert torch.equal(decode_frames(videos["short_gop"], torch.tensor([3, 1])), expected)
    assert torch.equal(decode_frames(videos["short_gop"], np.array([3.0, 1.0])), expected)
    empty = decode_frames(videos["short_gop"], [], size=48)
    assert tuple(empty.shape) == (0, 3, 48, 64)


def test_unknown_backend_and_bad_sizes(videos):
    with pytest.raises(ValueError, match="unknown decoding backend"):
        decode_frames(videos["short_gop"], [0], backend="opencv")
    with pytest.raises(ValueError, match="size"):
        decode_frames(videos["short_gop"], [0], size=0)
    with pytest.raises(ValueError, match="integers"):
        decode_frames(videos["short_gop"], [1.5])


@pytest.fixture(scope="module")
def av1_video(tmp_path_factory):
    # SVT-AV1 (bundled with PyAV) writes non-reference frames, which libdav1d drops for good when it is opened
    # skipping them: every single odd index used to fail.
    return make_test_video(tmp_path_factory.mktemp("av1") / "av1.mkv", 40, height=64, width=96, codec="libsvtav1")


def test_av1_decodes_every_frame_alone_and_in_random_sets_pixel_exact(av1_video):
    meta = probe(av1_video)
    assert meta.codec == "libdav1d" or "av1" in meta.codec
    reference = sequential_decode(av1_video)
    assert meta.total_num_frames == len(reference) == 40
    for index in range(len(reference)):  # one frame at a time: the first packet decoded is then often unwanted
        np.testing.assert_array_equal(as_hwc(decode_frames(av1_video, [index])), reference[[index]])
    for seed in range(10):
        indices = some_indices(len(reference), seed)
        np.testing.assert_array_equal(as_hwc(decode_frames(av1_video, indices)), reference[indices])


def write_two_video_streams(path):
    """An MKV with two video streams: 0 (25 fps, 96x64, 20 frames) and 1 (30 fps, 128x80, 36 frames), the second
    flagged default: FFmpeg's best stream, and not the first. Returns each stream's frames decoded in order."""
    write_multi_stream_video(path)  # its default streams are these two
    return [sequential_decode(path, stream_index=index) for index in (0, 1)]


@pytest.fixture(scope="module")
def two_streams(tmp_path_factory):
    path = tmp_path_factory.mktemp("streams") / "two.mkv"
    return path, write_two_video_streams(path)


def test_several_video_streams_ffmpegs_best_is_probed_and_decoded(two_streams):
    path, references = two_streams
    meta = probe(path)
    assert (meta.stream_index, meta.total_num_frames, meta.width, meta.fps) == (1, 36, 128, 30.0)
    indices = [0, 35, 7, 20, 20, 3]
    np.testing.assert_array_equal(as_hwc(decode_frames(path, indices)), references[1][indices])


@pytest.mark.parametrize("stream_index", [0, 1])
def test_each_video_stream_decodes_pixel_exact_when_picked(two_streams, stream_index):
    path, references = two_streams
    reference = references[stream_index]
    meta = probe(path, stream_index=stream_index)
    assert meta.stream_index == stream_index and meta.total_num_frames == len(reference)
    assert (meta.height, meta.width) == reference.shape[1:3]
    for index in range(0, len(reference), 3):  # single frames
        clip = decode_frames(path, [index], stream_index=stream_index)
        np.testing.assert_array_equal(as_hwc(clip), reference[[index]])
    for seed in range(5):
        indices = some_indices(len(reference), seed)
        np.testing.assert_array_equal(
            as_hwc(decode_frames(path, indices, stream_index=stream_index)), reference[indices]
        )


def test_a_stream_that_is_not_there_or_not_video_is_one_line(two_streams, videos):
    path, _ = two_streams
    with pytest.raises(VideoDecodeError, match=r"there is no stream 5 \(the file has 2: 0..1\).*video streams: 0, 1"):
        decode_frames(path, [0], stream_index=5)
    with pytest.raises(VideoDecodeError, match="stream 0 is audio, not a video stream"):
        probe(videos["audio_only"], stream_index=0)
    with pytest.raises(ValueError, match="stream_index must be a stream number"):
        decode_frames(path, [0], stream_index=-1)
    with pytest.raises(ValueError, match="probed on stream 1"):
        decode_frames(path, [0], stream_index=0, metadata=probe(path))


def test_torchcodec_decodes_the_stream_probe_measured(two_streams, needs_torchcodec):
    path, references = two_streams
    indices = [0, 35, 7, 20]
    np.testing.assert_array_equal(as_hwc(decode_frames(path, indices, backend="torchcodec")), references[1][indices])


# ---------------------------------------------------------------------------------------- damaged files


def damage_middle(source, target, num_bytes=2048, seed=0):
    """A copy of ``source`` with ``num_bytes`` random bytes written over the middle of the file."""
    data = bytearray(source.read_bytes())
    middle = len(data) // 2
    data[middle : middle + num_bytes] = np.random.default_rng(seed).integers(0, 256, num_bytes, np.uint8).tobytes()
    target.write_bytes(bytes(data))
    return target


def frames_by_index(path) -> dict[int, np.ndarray]:
    """Every frame a plain sequential PyAV decode gives, keyed by its index in probe's frame list."""
    index = {int(p): i for i, p in enumerate(probe(path).frame_pts)}
    return {index[pts]: array for pts, array in sequential_decode_with_pts(path)}


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    root = tmp_path_factory.mktemp("damaged")
    source = make_test_video(root / "source.mp4", 48, keyframe_interval=12)
    return damage_middle(source, root / "damaged.mp4")


def test_decoding_goes_on_past_a_damaged_stretch_and_names_the_lost_frames(damaged):
    meta = probe(damaged)
    assert meta.total_num_frames == 48  # the packets are all there; some hold garbage
    with pytest.raises(FramesLostError) as info:
        decode_frames(damaged, range(48))
    err = info.value
    lost = err.lost
    assert lost == sorted(set(lost)) and 0 < len(lost) <= 24
    assert lost[0] > 0 and lost[-1] < 47  # frames before the garbage and after the next keyframe decode
    assert err.frames.shape == (48, 3, meta.height, meta.width) and err.decoded.tolist() == [
        i not in lost for i in range(48)
    ]
    assert not err.frames[~err.decoded].any()  # lost rows are zero, never a copy of a neighbour
    message = str(err)
    assert f"({len(lost)} of 48 asked) could not be decoded: the file is damaged around" in message
    assert f"the other {48 - len(lost)} decode" in message and "stopped" not in message
    assert f"frames {lost[0]}-{lost[-1]} " in message  # one stretch here, written as a range
    (start, end), *more = err.lost_seconds
    assert not more and start == pytest.approx(lost[0] / 30) and end == pytest.approx((lost[-1] + 1) / 30)
    # every frame that came back is the one a plain sequential decode gives
    reference = frames_by_index(damaged)
    for i in np.flatnonzero(err.decoded.numpy()):
        np.testing.assert_array_equal(as_hwc(err.frames[[i]])[0], reference[i])
    # DataLoader workers send it back pickled
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), again.lost, again.reason, again.lost_seconds) == (
        FramesLostError,
        lost,
        err.reason,
        err.lost_seconds,
    )
    assert torch.equal(again.frames, err.frames)


def test_any_frames_asked_of_a_damaged_file_are_exact_or_reported_lost(damaged):
    with pytest.raises(FramesLostError) as info:
        decode_frames(damaged, range(48), threads=1)
    # Which frames of the damaged keyframe groups are lost depends on when the decoder reports the damage (its
    # threads); frames outside those groups always decode.
    keyframes = probe(damaged).keyframe_indices
    first = keyframes[np.searchsorted(keyframes, info.value.lost[0], side="right") - 1]
    after = keyframes[keyframes > info.value.lost[-1]]
    stretch = range(first, after[0] if len(after) else 48)
    assert len(stretch) < 48
    reference = frames_by_index(damaged)
    rng = np.random.default_rng(0)
    index_sets = [[i] for i in range(0, 48, 5)] + [rng.integers(0, 48, 6).tolist() for _ in range(8)]
    for indices in index_sets:
        try:
            clip, decoded = decode_frames(damaged, indices), [True] * len(indices)
        except FramesLostError as err:
            clip, decoded = err.frames, err.decoded.tolist()
            assert err.lost == sorted({i for i, ok in zip(indices, decoded) if not ok})
        for i, frame, ok in zip(indices, as_hwc(clip), decoded):
            if ok:
                np.testing.assert_array_equal(frame, reference[i])
            else:
                assert i in stretch and not frame.any()
        assert all(ok for i, ok in zip(indices, decoded) if i not in stretch)


def test_stream_info_decode_is_skipped_only_where_the_reordering_delay_is_stated(tmp_path, monkeypatch):
    # x264 with B-frames states its reordering depth in the headers: the open skips FFmpeg's stream-info decode.
    # Without B-frames (or without that statement) has_b_frames is unset, and the file is opened again with the
    # full pass, as before. Either way probe and decode_frames give what the full pass gives.
    from dataclasses import fields

    from surgical_skill.video import metadata

    with_b = make_test_video(tmp_path / "b.mp4", 24, keyframe_interval=6, preset="fast")
    without_b = make_test_video(tmp_path / "p.mp4", 24, keyframe_interval=6, preset="ultrafast")
    opened = []
    real_open = metadata._open
    monkeypatch.setattr(metadata, "_open", lambda path, options: opened.append(options) or real_open(path, options))
    with metadata.open_container(str(with_b), stream_info_decode=False) as container:
        assert container.streams.video[0].codec_context.has_b_frames
    assert opened == [metadata._NO_STREAM_INFO_DECODE]
    opened.clear()
    with metadata.open_container(str(without_b), stream_info_decode=False):
        pass
    assert opened == [metadata._NO_STREAM_INFO_DECODE, None]

    skipped = metadata._probe_uncached(str(with_b))
    monkeypatch.setattr(metadata, "_NO_STREAM_INFO_DECODE", None)  # the full pass everywhere
    full = metadata._probe_uncached(str(with_b))
    for field in fields(full):
        a, b = getattr(skipped, field.name), getattr(full, field.name)
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b, field.name
    expected = torch.from_numpy(sequential_decode(with_b)).permute(0, 3, 1, 2)
    assert torch.equal(decode_frames(with_b, range(24), metadata=skipped), expected)
