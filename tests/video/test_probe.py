import json

import av
import numpy as np
import pytest

from surgical_skill.testing_utils import sequential_decode
from surgical_skill.video import VideoMetadata, probe
from surgical_skill.video.metadata import _probe_cached


def keyframes_by_decoding(path) -> list[int]:
    """Independent reference: the key_frame flag of every frame of a plain sequential decode."""
    with av.open(str(path)) as container:
        return [i for i, frame in enumerate(container.decode(video=0)) if frame.key_frame]


def test_generated_mp4(videos):
    meta = probe(videos["short_gop"])
    assert meta.total_num_frames == 90 == meta.total_num_frames_from_header
    assert meta.fps == pytest.approx(30.0)
    assert meta.duration == pytest.approx(3.0)
    assert (meta.height, meta.width) == (96, 128)
    assert meta.rotation == 0
    assert meta.codec == "h264"
    assert meta.pixel_format == "yuv420p"
    assert not meta.is_variable_frame_rate
    assert not meta.has_audio
    assert meta.keyframe_indices.tolist() == list(range(0, 90, 12)) == keyframes_by_decoding(videos["short_gop"])
    assert meta.timestamps_reliable


def test_long_gop_has_one_keyframe(videos):
    meta = probe(videos["long_gop"])
    assert meta.keyframe_indices.tolist() == [0]
    assert meta.gop_sizes.tolist() == [150]


@pytest.mark.parametrize("name, frames", [("mkv", 40), ("ts", 40), ("avi", 40), ("raw_h264", 90)])
def test_frame_count_is_counted_not_read_from_the_header(videos, name, frames):
    meta = probe(videos[name])
    assert meta.total_num_frames == frames == len(sequential_decode(videos[name]))
    if name in ("mkv", "raw_h264"):
        assert meta.total_num_frames_from_header is None  # these containers do not say


def test_truncated_file_header_lies_and_probe_counts_what_is_there(videos):
    meta = probe(videos["truncated"])
    assert meta.total_num_frames_from_header == 90
    assert meta.header_frame_count_is_wrong
    assert 20 < meta.total_num_frames < 90
    assert meta.total_num_frames == len(sequential_decode(videos["truncated"]))


def test_mpegts_timestamps_start_late_but_frame_times_start_at_zero(videos):
    meta = probe(videos["ts"])
    assert meta.start_time > 0
    times = meta.frame_timestamps()
    assert times[0] == 0 and times[-1] == pytest.approx(39 / 30, abs=1e-3)


def test_variable_frame_rate_is_detected(videos):
    meta = probe(videos["vfr"])
    assert meta.is_variable_frame_rate
    assert meta.total_num_frames == 60
    # 30 intervals of 33 ms and 30 of 100 ms (the last interval is the final frame's own duration)
    assert 3.85 < meta.duration < 4.05
    assert meta.fps == pytest.approx(meta.total_num_frames / meta.duration)
    for name in ("short_gop", "mkv", "ts", "avi"):
        assert not probe(videos[name]).is_variable_frame_rate, name


def test_rotation_gives_displayed_size(videos):
    meta = probe(videos["rotated"])
    assert meta.rotation == 270  # stored as -90: turn 90 degrees clockwise to display
    assert (meta.height, meta.width) == (128, 96)


def test_no_timestamps_is_flagged(videos):
    meta = probe(videos["raw_h264"])
    assert not meta.timestamps_reliable


def test_open_gop_keyframes_match_decoder_flags(videos):
    meta = probe(videos["open_gop"])
    assert meta.keyframe_indices.tolist() == keyframes_by_decoding(videos["open_gop"])
    assert len(meta.keyframe_indices) == 4


def test_real_videos(sample_videos):
    bikes = probe(sample_videos["bikes.mp4"])
    assert (bikes.total_num_frames, bikes.fps, bikes.width, bikes.height) == (250, 25.0, 640, 272)
    assert bikes.keyframe_indices.tolist() == keyframes_by_decoding(sample_videos["bikes.mp4"])
    assert len(bikes.keyframe_indices) > 3
    bunny = probe(sample_videos["bigbuckbunny.mp4"])
    assert (bunny.total_num_frames, bunny.width, bunny.height) == (132, 1280, 720)
    assert bunny.has_audio
    carphone = probe(sample_videos["carphone_pristine.mp4"])
    assert carphone.total_num_frames == 120
    assert carphone.fps == pytest.approx(30000 / 1001)


def test_probe_is_cached_and_invalidated_when_the_file_changes(tmp_path, videos):
    path = tmp_path / "copy.mp4"
    path.write_bytes(videos["short_gop"].read_bytes())
    _probe_cached.cache_clear()
    first = probe(path)
    assert probe(str(path)) is first
    path.write_bytes(videos["mkv"].read_bytes())  # same name, other content
    second = probe(path)
    assert second is not first and second.total_num_frames == 40


def test_to_dict_is_json(videos):
    info = json.loads(json.dumps(probe(videos["vfr"]).to_dict()))
    assert info["total_num_frames"] == 60 and info["is_variable_frame_rate"] is True
    assert info["num_keyframes"] >= 1 and info["max_gop"] >= 1
    assert np.isfinite(info["fps"])
    assert "num_frames" not in info and "num_frames_from_header" not in info


def test_old_frame_count_names_still_work_with_a_warning(videos):
    meta = probe(videos["truncated"])
    with pytest.warns(FutureWarning, match="total_num_frames"):
        assert meta.num_frames == meta.total_num_frames
    with pytest.warns(FutureWarning, match="total_num_frames_from_header"):
        assert meta.num_frames_from_header == meta.total_num_frames_from_header == 90


def test_video_metadata_built_with_the_old_keywords(videos):
    fields = {"path": "x.mp4", "fps": 30.0, "duration": 1.0, "width": 8, "height": 8, "rotation": 0}
    fields.update(codec="h264", pixel_format="yuv420p", is_variable_frame_rate=False)
    with pytest.warns(FutureWarning, match="total_num_frames"):
        meta = VideoMetadata(num_frames=30, num_frames_from_header=31, **fields)
    assert (meta.total_num_frames, meta.total_num_frames_from_header) == (30, 31)
    assert meta.header_frame_count_is_wrong
