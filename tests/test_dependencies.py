"""The dependency floors in pyproject.toml are the versions the suite passes with.

Here: what is installed satisfies what pyproject.toml declares. In ``make test-min``'s environment (built with
``uv pip install --resolution lowest-direct``, which sets ``SURGICAL_SKILL_EXPECT_FLOORS=1``): every direct
dependency is installed at exactly its floor, so a floor the resolver could not honour (and silently raised) is
caught instead of being claimed as tested.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# the Makefile pins torch and torchvision for both environments (`TORCH := torch==... torchvision==...`)
PINNED = dict(re.findall(r"\b(torch|torchvision)==([\w.+]+)", (ROOT / "Makefile").read_text()))


def requirements() -> list[Requirement]:
    """The core dependencies and those of the extras (dev holds torchcodec's and the app's too: both environments
    install it)."""
    found = [Requirement(spec) for spec in PROJECT["dependencies"]]
    for extra in ("torchcodec", "dev", "app"):
        found += [Requirement(spec) for spec in PROJECT["optional-dependencies"][extra]]
    return found


def floor(requirement: Requirement) -> Version:
    lower = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    assert len(lower) == 1, f"{requirement}: one floor (>=) per dependency"
    return lower[0]


def test_every_dependency_has_a_floor_and_no_cap():
    """Caps break users' environments for nothing a test showed; every floor is tested by make test-min."""
    for requirement in requirements():
        floor(requirement)
        assert all(spec.operator == ">=" for spec in requirement.specifier), requirement


def test_python_floor_is_the_one_tested():
    assert PROJECT["requires-python"] == ">=3.11"  # transformers 5.23 (the floor) needs 3.11
    assert sys.version_info >= (3, 11)
    if os.environ.get("SURGICAL_SKILL_EXPECT_FLOORS") == "1":  # make test-min runs on the oldest supported Python
        assert sys.version_info[:2] == (3, 11)


def test_torch_pins_meet_the_floors():
    assert set(PINNED) == {"torch", "torchvision"}
    for requirement in requirements():
        if requirement.name in PINNED:
            assert Version(PINNED[requirement.name]) in requirement.specifier


@pytest.mark.parametrize("requirement", requirements(), ids=str)
def test_installed_version_satisfies_the_declaration(requirement):
    installed = Version(metadata.version(requirement.name))
    assert requirement.specifier.contains(installed, prereleases=True), f"{requirement.name} {installed}"


@pytest.mark.skipif(
    os.environ.get("SURGICAL_SKILL_EXPECT_FLOORS") != "1", reason="only in make test-min's lowest-version environment"
)
@pytest.mark.parametrize("requirement", requirements(), ids=str)
def test_lowest_environment_has_every_floor_exactly(requirement):
    installed = Version(metadata.version(requirement.name))
    expected = Version(PINNED[requirement.name]) if requirement.name in PINNED else floor(requirement)
    assert installed == expected, f"{requirement.name}: {installed} installed, {expected} expected"


BLOCKED = (
    "import sys; sys.modules['torchcodec'] = None\n"  # as where torchcodec (or FFmpeg's libraries) cannot load
    "import pytest; sys.exit(pytest.main(['-q', '-rs', '-p', 'no:cacheprovider', sys.argv[1]]))"
)


@pytest.mark.parametrize("required", [False, True])
def test_a_missing_optional_part_skips_with_its_reason_except_where_required(required):
    """Without torchcodec a test that needs it skips and says why; with SURGICAL_SKILL_REQUIRE_FFMPEG=1 (set by
    .ci/run, which installs FFmpeg) it fails instead."""
    import subprocess

    test = "tests/video/test_decode.py::test_torchcodec_backend_on_a_truncated_file"
    env = {k: v for k, v in os.environ.items() if k != "SURGICAL_SKILL_REQUIRE_FFMPEG"}
    if required:
        env["SURGICAL_SKILL_REQUIRE_FFMPEG"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED, test], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env
    )
    if required:
        assert done.returncode == 1 and "1 error" in done.stdout, done.stdout[-2000:]
        assert "SURGICAL_SKILL_REQUIRE_FFMPEG=1: FFmpeg and torchcodec must be present" in done.stdout
    else:
        assert done.returncode == 0 and "1 skipped" in done.stdout, done.stdout[-2000:]
        assert "torchcodec unavailable: ModuleNotFoundError" in done.stdout
