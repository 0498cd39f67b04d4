import json

import numpy as np
import pytest

from surgical_skill.testing_utils import make_test_video, read_frame_index
from surgical_skill.video import FramesLostError, ProxySettings, decode_frames, prepare_proxies, probe, transcode_proxy
from surgical_skill.video.proxy import INDEX_NAME, read_index
from tests.helpers import run_cli
from tests.video.test_decode import damage_middle

SETTINGS = ProxySettings(short_side=96, fps=10)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("proxy_sources")
    return [make_test_video(root / f"src_{i}.mp4", 60 + 15 * i, height=192, width=256, seed=i) for i in range(3)]


def test_transcode_resizes_resamples_and_keys_every_second(sources, tmp_path):
    proxy = transcode_proxy(sources[0], tmp_path / "p.mp4", SETTINGS)
    source, meta = probe(sources[0]), probe(proxy)
    assert (meta.height, meta.width) == (96, 128)
    assert meta.fps == pytest.approx(10.0)
    assert meta.total_num_frames == 20 and meta.duration == pytest.approx(source.duration)
    assert meta.keyframe_indices.tolist() == [0, 10]
    # proxy frame k shows the source frame at time k / 10 s, i.e. source frame 3k at 30 fps
    frames = decode_frames(proxy, range(meta.total_num_frames)).permute(0, 2, 3, 1).numpy()
    assert [read_frame_index(f) for f in frames] == [3 * k for k in range(20)]


def test_rotation_is_kept_and_short_side_is_the_displayed_one(tmp_path):
    rotated = make_test_video(tmp_path / "r.mp4", 30, height=192, width=256, rotation=-90)
    meta = probe(transcode_proxy(rotated, tmp_path / "rp.mp4", SETTINGS))
    assert meta.rotation == 270 and (meta.height, meta.width) == (128, 96)


def test_never_upscales_or_raises_the_frame_rate(tmp_path):
    small = make_test_video(tmp_path / "s.mp4", 16, fps=8, height=48, width=64)
    meta = probe(transcode_proxy(small, tmp_path / "sp.mp4", SETTINGS))
    assert (meta.height, meta.width, meta.total_num_frames, meta.fps) == (48, 64, 16, 8.0)


def test_prepare_is_keyed_by_content_resumable_and_reports_speed(sources, tmp_path):
    cache = tmp_path / "cache"
    twin = tmp_path / "renamed_copy.mp4"
    twin.write_bytes(sources[0].read_bytes())
    report = prepare_proxies([*sources, twin], cache, SETTINGS, workers=2, progress=False)
    assert report.made == 3 and not report.failures
    assert report.proxies[str(twin)] == report.proxies[str(sources[0])]  # same bytes, same proxy
    assert report.seconds_of_video > 0 and report.realtime_factor > 0
    assert len(list(cache.glob("*.mp4"))) == 3
    again = prepare_proxies([*sources, twin], cache, SETTINGS, progress=False)
    assert (again.made, again.reused) == (0, 4) and again.proxies == report.proxies
    other = prepare_proxies(sources[:1], cache, ProxySettings(short_side=64, fps=5), progress=False)
    assert other.made == 1 and other.proxies[str(sources[0])] != report.proxies[str(sources[0])]


def test_interrupted_run_leaves_no_partial_proxy_and_resumes(sources, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    # what a killed transcode leaves behind: a temporary file, never a proxy under its final name
    (cache / ".deadbeef.partial-123.mp4").write_bytes(b"half a video")
    report = prepare_proxies(sources[:2], cache, SETTINGS, progress=False)
    assert report.made == 2
    for proxy in report.proxies.values():
        assert probe(proxy).total_num_frames > 0
    # a proxy made but not recorded (killed between the rename and the index line) is found again
    (cache / INDEX_NAME).unlink()
    again = prepare_proxies(sources[:2], cache, SETTINGS, progress=False)
    assert (again.made, again.reused) == (0, 2) and len(read_index(cache)) == 2


def test_a_changed_source_gets_a_new_proxy(tmp_path):
    video = make_test_video(tmp_path / "v.mp4", 30, height=64, width=64, seed=1)
    first = prepare_proxies([video], tmp_path / "cache", SETTINGS, progress=False).proxies[str(video)]
    make_test_video(video, 45, height=64, width=64, seed=2)
    second = prepare_proxies([video], tmp_path / "cache", SETTINGS, progress=False)
    assert second.made == 1 and second.proxies[str(video)] != first


def test_bad_videos_are_reported_and_the_rest_carry_on(sources, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_text("nope")
    report = prepare_proxies([broken, tmp_path / "missing.mp4", sources[1]], tmp_path / "c", SETTINGS, progress=False)
    assert report.made == 1 and str(sources[1]) in report.proxies
    assert report.failures[str(broken)].startswith("not a readable video file")
    assert report.failures[str(tmp_path / "missing.mp4")] == "file not found"


def test_cli_prepare(sources, tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"video": str(s), "label": "a"}) + "\n" for s in sources))
    result = run_cli(  # prepare starts worker processes
        "prepare",
        str(manifest),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--short-side",
        "96",
        "--fps",
        "10",
        "--workers",
        "1",
        installed=True,
    )
    assert result.returncode == 0, result.stderr
    assert "3 proxies ready (3 made, 0 already there)" in result.stdout and "real time" in result.stdout
    assert len(read_index(tmp_path / "cache")) == 3
    assert np.isclose(probe(next((tmp_path / "cache").glob("*.mp4"))).fps, 10.0)


def test_a_damaged_source_gets_no_proxy_and_the_summary_says_why(sources, tmp_path):
    damaged = damage_middle(make_test_video(tmp_path / "source.mp4", 48, keyframe_interval=12), tmp_path / "dmg.mp4")
    with pytest.raises(FramesLostError) as info:
        transcode_proxy(damaged, tmp_path / "p.mp4", SETTINGS)
    assert not list(tmp_path.glob("p*.mp4")) and not list(tmp_path.glob(".*"))  # nothing written, not even half
    err = info.value
    assert err.lost == sorted(err.lost) and 0 < len(err.lost) < 48 and err.lost_seconds
    assert f"({len(err.lost)} of 48) could not be decoded: the file is damaged around" in err.reason
    assert "no proxy made, as it would show frozen frames there" in err.reason
    report = prepare_proxies([damaged, sources[0]], tmp_path / "cache", SETTINGS, progress=False)
    assert list(report.proxies) == [str(sources[0])] and report.failures[str(damaged)] == err.reason
    assert report.damaged == {str(damaged): err.lost_seconds}
    assert report.summary().startswith("1 proxies ready (1 made, 0 already there)")
    assert report.summary().endswith("; 1 failed (1 damaged: frames lost, no proxy made)")
    assert len(read_index(tmp_path / "cache")) == 1
