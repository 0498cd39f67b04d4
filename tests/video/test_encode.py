import numpy as np
import pytest
import torch

from surgical_skill.testing_utils import read_frame_index, textured_frames
from surgical_skill.video import decode_frames, probe, write_video


def test_round_trip_with_keyframe_interval(tmp_path):
    frames = list(textured_frames(45, 64, 80, seed=1))
    path = write_video(tmp_path / "a.mp4", frames, fps=15, keyframe_interval=15, crf=18)
    meta = probe(path)
    assert (meta.total_num_frames, meta.fps, meta.height, meta.width) == (45, 15.0, 64, 80)
    assert meta.keyframe_indices.tolist() == [0, 15, 30]
    decoded = decode_frames(path, [0, 44]).permute(0, 2, 3, 1).numpy()
    assert [read_frame_index(frame) for frame in decoded] == [0, 44]
    # lossy (4:2:0 chroma, fine texture), but clearly the same pictures
    error_same = np.abs(decoded.astype(int) - np.stack([frames[0], frames[44]])).mean()
    error_swapped = np.abs(decoded.astype(int) - np.stack([frames[44], frames[0]])).mean()
    assert error_same < 12 and error_same < error_swapped


def test_accepts_chw_tensors_and_ntsc_rate(tmp_path):
    frames = [torch.full((3, 32, 48), i * 20, dtype=torch.uint8) for i in range(10)]
    meta = probe(write_video(tmp_path / "b.mkv", frames, fps=30000 / 1001))
    assert meta.total_num_frames == 10
    assert meta.nominal_fps == pytest.approx(29.97, abs=0.01)


def test_failure_mid_write_leaves_nothing_behind(tmp_path):
    def frames():
        yield from textured_frames(5, 32, 32)
        raise KeyboardInterrupt  # e.g. the user stops a long transcode

    with pytest.raises(KeyboardInterrupt):
        write_video(tmp_path / "c.mp4", frames(), fps=10)
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_replaced_only_when_the_new_one_is_complete(tmp_path):
    path = write_video(tmp_path / "d.mp4", textured_frames(10, 32, 32), fps=10)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="one size"):
        write_video(path, [np.zeros((32, 32, 3), np.uint8), np.zeros((16, 16, 3), np.uint8)], fps=10)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.mp4"]


@pytest.mark.parametrize(
    "frames, message",
    [
        ([np.zeros((31, 32, 3), np.uint8)], "even width and height"),
        ([np.zeros((32, 32), np.uint8)], r"\(H, W, 3\) uint8"),
        ([np.zeros((32, 32, 3), np.float32)], r"\(H, W, 3\) uint8"),
        ([], "no frames"),
    ],
)
def test_bad_frames(tmp_path, frames, message):
    with pytest.raises(ValueError, match=message):
        write_video(tmp_path / "e.mp4", frames, fps=10)
    assert list(tmp_path.iterdir()) == []


def test_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match="unsupported video extension"):
        write_video(tmp_path / "e.gif", textured_frames(2, 32, 32), fps=10)


def test_deterministic_encoding_gives_the_same_bytes(tmp_path):
    # x264's macroblock-tree rate control varies from run to run (seen at 64x64); deterministic=True does not
    frames = list(textured_frames(31, 64, 64, seed=4))
    outputs = {
        write_video(
            tmp_path / f"d{i}.mp4",
            frames,
            fps=15,
            crf=20,
            preset="veryfast",
            keyframe_interval=15,
            threads=1,
            deterministic=True,
        ).read_bytes()
        for i in range(6)
    }
    assert len(outputs) == 1
