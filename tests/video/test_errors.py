"""Bad input: one exception type, naming the file and saying what is wrong, from every entry point."""

import pickle

import numpy as np
import pytest

from surgical_skill.testing_utils import sequential_decode
from surgical_skill.video import VideoDecodeError, decode_frames, probe


@pytest.fixture(params=["pyav", "torchcodec"])
def backend(request):
    if request.param == "torchcodec":
        request.getfixturevalue("needs_torchcodec")  # skips, saying why, where torchcodec cannot run
    return request.param


@pytest.mark.parametrize(
    "name, reason",
    [
        ("empty", "file is empty (0 bytes)"),
        ("text", "not a readable video file"),
        ("audio_only", "no video stream (streams found: audio)"),
        ("truncated_no_index", "not a readable video file"),
    ],
)
def test_unreadable_files(videos, backend, name, reason):
    for call in (lambda: probe(videos[name]), lambda: decode_frames(videos[name], [0], backend=backend)):
        with pytest.raises(VideoDecodeError) as info:
            call()
        assert info.value.path == str(videos[name])
        assert reason in info.value.reason
        assert str(videos[name]) in str(info.value)


def test_missing_file_and_directory(tmp_path, backend):
    with pytest.raises(VideoDecodeError, match="file not found") as info:
        decode_frames(tmp_path / "nope.mp4", [0], backend=backend)
    assert info.value.path == str(tmp_path / "nope.mp4")
    with pytest.raises(VideoDecodeError, match="is a directory"):
        probe(tmp_path)


@pytest.mark.parametrize("indices", [[90], [0, 95, 5], [-1]])
def test_indices_out_of_range(videos, backend, indices):
    with pytest.raises(VideoDecodeError, match=r"out of range.*the video has 90 frames"):
        decode_frames(videos["short_gop"], indices, backend=backend)


def test_truncated_file_yields_the_frames_that_exist(videos):
    path = videos["truncated"]
    meta = probe(path)
    reference = sequential_decode(path)
    assert len(reference) == meta.total_num_frames < meta.total_num_frames_from_header
    every = list(range(meta.total_num_frames))
    np.testing.assert_array_equal(decode_frames(path, every).permute(0, 2, 3, 1).numpy(), reference)
    with pytest.raises(VideoDecodeError, match=rf"out of range.*has {meta.total_num_frames} frames"):
        decode_frames(path, [meta.total_num_frames_from_header - 1])


def test_error_survives_pickling_as_dataloader_workers_need():
    err = pickle.loads(pickle.dumps(VideoDecodeError("/data/a.mp4", "file not found")))
    assert isinstance(err, VideoDecodeError)
    assert (err.path, err.reason) == ("/data/a.mp4", "file not found")
    assert str(err) == "cannot decode video '/data/a.mp4': file not found"
