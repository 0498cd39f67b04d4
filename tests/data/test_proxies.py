import logging

import pytest

from surgical_skill.data import load_skill_dataset, use_proxies
from surgical_skill.video import ProxySettings, prepare_proxies, probe

SETTINGS = ProxySettings(short_side=32, fps=10)


def test_dataset_points_at_proxies_transparently(manifest, skill_videos, tmp_path, caplog):
    cache = tmp_path / "proxies"
    prepare_proxies([r["path"] for r in skill_videos[:12]], cache, SETTINGS, progress=False)
    raw = load_skill_dataset(manifest, seed=0)
    with caplog.at_level(logging.WARNING):
        data = load_skill_dataset(manifest, seed=0, proxy_dir=cache, proxy_settings=SETTINGS)
    unprepared = 0
    for name in raw:
        assert data[name]["source_video"] == raw[name]["video"]
        assert data[name]["labels"] == raw[name]["labels"]
        for row in data[name]:
            if row["source_video"] in {r["path"] for r in skill_videos[:12]}:
                assert row["video"] != row["source_video"] and str(cache) in row["video"]
                meta = probe(row["video"])
                assert (row["total_num_frames"], row["fps"], row["height"]) == (meta.total_num_frames, 10.0, 32)
            else:
                assert row["video"] == row["source_video"]  # not prepared: stays at full size
                unprepared += 1
    assert unprepared == 6
    warned = [r.getMessage() for r in caplog.records if "have no proxy" in r.getMessage()]
    assert sum(int(message.split(" of ")[0]) for message in warned) == 6


def test_use_proxies_on_a_split(manifest, skill_videos, tmp_path):
    cache = tmp_path / "proxies"
    prepare_proxies([r["path"] for r in skill_videos], cache, SETTINGS, progress=False)
    train = load_skill_dataset(manifest, seed=0)["train"]
    proxied = use_proxies(train, cache, SETTINGS)
    assert all(str(cache) in v for v in proxied["video"])
    assert proxied["total_num_frames"] != train["total_num_frames"]
    assert all(h == 32 for h in proxied["height"])


@pytest.mark.parametrize("settings", [ProxySettings(short_side=32, fps=5)])
def test_other_settings_do_not_match(manifest, skill_videos, tmp_path, settings):
    cache = tmp_path / "proxies"
    prepare_proxies([r["path"] for r in skill_videos[:2]], cache, SETTINGS, progress=False)
    train = load_skill_dataset(manifest, split_ratios=None)["train"]
    assert use_proxies(train, cache, settings)["video"] == train["video"]


def test_use_proxies_on_a_split_built_before_the_column_rename(manifest, skill_videos, tmp_path):
    cache = tmp_path / "proxies"
    prepare_proxies([r["path"] for r in skill_videos], cache, SETTINGS, progress=False)
    old = load_skill_dataset(manifest, seed=0)["train"].rename_column("total_num_frames", "num_frames")
    proxied = use_proxies(old, cache, SETTINGS)
    assert "num_frames" not in proxied.column_names
    assert proxied["total_num_frames"] == [probe(path).total_num_frames for path in proxied["video"]]
