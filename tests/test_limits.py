"""The process-wide resource budgets (surgical_skill.limits): defaults, changes, the environment, bad values."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

import surgical_skill
from surgical_skill import limits
from surgical_skill.errors import UsageError


def test_defaults_fit_three_hours_of_1080p_at_60_fps():
    budget = limits.get_limits()
    assert 3840 * 2160 <= budget.max_frame_pixels < 8192 * 8192
    assert budget.max_video_frames >= 3 * 3600 * 60
    assert budget.max_clips_per_call >= 3 * 3600  # a clip a second
    assert budget.url_connect_timeout_s > 0 and budget.url_read_timeout_s > 0


def test_set_limits_changes_and_returns_the_previous():
    before = limits.get_limits()
    previous = limits.set_limits(max_frame_pixels=1000, url_read_timeout_s=0.25)
    try:
        assert previous == before
        assert limits.get_limits().max_frame_pixels == 1000 and limits.get_limits().url_read_timeout_s == 0.25
        assert limits.get_limits().max_video_frames == before.max_video_frames  # the others unchanged
    finally:
        limits.set_limits(**dataclasses.asdict(previous))
    assert limits.get_limits() == before


def test_limited_restores_even_when_the_block_fails():
    before = limits.get_limits()
    with pytest.raises(KeyError), limits.limited(max_clips_per_call=3) as inside:
        assert inside.max_clips_per_call == 3 == limits.get_limits().max_clips_per_call
        raise KeyError("boom")
    assert limits.get_limits() == before


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"max_frame_pixel": 10}, "unknown limit(s) max_frame_pixel; known: "),
        ({"max_frame_pixels": 0}, "max_frame_pixels must be a positive number, got 0"),
        ({"max_video_frames": -5}, "max_video_frames must be a positive number, got -5"),
        ({"clip_batch_size": True}, "clip_batch_size must be a positive number, got True"),
        ({"max_manifest_rows": "10"}, "max_manifest_rows must be a positive number, got '10'"),
        ({"max_clips_per_call": 2.5}, "max_clips_per_call must be a whole number, got 2.5"),
        ({"url_connect_timeout_s": float("nan")}, "url_connect_timeout_s must be a positive number, got nan"),
    ],
)
def test_bad_values_are_refused_and_change_nothing(changes, message):
    before = limits.get_limits()
    with pytest.raises(UsageError) as caught:
        limits.set_limits(**changes)
    assert message in str(caught.value)
    assert limits.get_limits() == before


def test_exceeded_names_the_budget_the_value_where_and_how_to_raise_it():
    with limits.limited(max_video_frames=1000):
        err = limits.exceeded("max_video_frames", "video 'a.mp4'", "more than 1,000 frames")
    assert isinstance(err, limits.ResourceLimitError) and isinstance(err, UsageError)
    text = str(err)
    assert text.startswith("video 'a.mp4': more than 1,000 frames exceeds the max_video_frames budget (1,000)")
    assert "set_limits(max_video_frames=...)" in text and "SURGICAL_SKILL_MAX_VIDEO_FRAMES=..." in text


def test_environment_overrides_are_read_at_import():
    """In a fresh process, as a DataLoader worker started by spawn or a user's shell would set them. The package's
    ``__init__`` (torch, transformers: 10-20 s to import on a busy 2-core machine) is skipped: only ``limits`` and
    the ``errors`` module it uses are imported, from this checkout."""
    script = f"""
import importlib, os, sys, types
package = types.ModuleType("surgical_skill")
package.__path__ = [{os.path.dirname(surgical_skill.__file__)!r}]
sys.modules["surgical_skill"] = package
import surgical_skill
from surgical_skill import limits
from surgical_skill.errors import UsageError
budget = limits.get_limits()
print(budget.max_frame_pixels, budget.url_read_timeout_s, budget.max_video_frames == limits.ResourceLimits().max_video_frames)
os.environ["SURGICAL_SKILL_MAX_VIDEO_FRAMES"] = "lots"
try:
    importlib.reload(limits)
except UsageError as err:
    print(err)
"""
    env = {
        **os.environ,
        "SURGICAL_SKILL_MAX_FRAME_PIXELS": "4096",
        "SURGICAL_SKILL_URL_READ_TIMEOUT_S": "2.5",
        "SURGICAL_SKILL_MAX_VIDEO_FRAMES": " ",  # blank: the default
        "PYTHONWARNINGS": "ignore",
    }
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    values, error = result.stdout.strip().splitlines()
    assert values == "4096 2.5 True"
    assert error == (
        "environment variable SURGICAL_SKILL_MAX_VIDEO_FRAMES='lots' is not a number; unset it or give a positive "
        "whole number"
    )
