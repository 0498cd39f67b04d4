"""surgical_skill.files: a file or folder is whole or absent, with the usual permissions, and nothing is left behind."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from surgical_skill.files import (
    replace_folder,
    staged_contents,
    staged_file,
    staged_folder,
    write_json_atomic,
    write_text_atomic,
)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_written_file_gets_the_umask_permissions_not_owner_only_ones(tmp_path, umask_022):
    path = write_json_atomic(tmp_path / "metrics.json", {"accuracy": np.float32(0.5), "n": np.int64(3)})
    assert json.loads(path.read_text()) == {"accuracy": 0.5, "n": 3} and path.read_text().endswith("\n")
    assert _mode(path) == 0o644
    with staged_folder(tmp_path / "eval") as tmp:
        (tmp / "report.md").write_text("x")
    assert _mode(tmp_path / "eval") == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval", "metrics.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_text_atomic(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), staged_file(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def test_staged_file_keeps_the_suffix_for_writers_that_pick_a_format_by_it(tmp_path):
    with staged_file(tmp_path / "clip.v2.mp4") as tmp:
        assert tmp.suffix == ".mp4" and tmp.name.startswith(".clip.v2.") and tmp.parent == tmp_path
        tmp.write_bytes(b"video")
    assert (tmp_path / "clip.v2.mp4").read_bytes() == b"video"


def test_staged_folder_replaces_the_folder_whole_or_not_at_all(tmp_path):
    final = tmp_path / "report"
    with staged_folder(final) as tmp:
        (tmp / "old.txt").write_text("1")
    with pytest.raises(ValueError), staged_folder(final) as tmp:
        (tmp / "new.txt").write_text("2")
        raise ValueError("failed half-way")
    assert [p.name for p in final.iterdir()] == ["old.txt"]
    with staged_folder(final) as tmp:
        (tmp / "new.txt").write_text("2")
    assert [p.name for p in final.iterdir()] == ["new.txt"]
    assert os.listdir(tmp_path) == ["report"]


def test_staged_contents_moves_entries_in_and_keeps_the_others(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "config.json").write_text("old")
    (folder / "sub").mkdir()
    (folder / "sub" / "stale.txt").write_text("stale")
    with staged_contents(folder) as tmp:
        (tmp / "config.json").write_text("new")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "fresh.txt").write_text("fresh")
    assert (folder / "notes.txt").read_text() == "mine" and (folder / "config.json").read_text() == "new"
    assert [p.name for p in (folder / "sub").iterdir()] == ["fresh.txt"]
    with pytest.raises(OSError), staged_contents(folder) as tmp:
        (tmp / "config.json").write_text("broken")
        raise OSError("disk full")
    assert (folder / "config.json").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["model"]


def test_replace_folder_moves_the_old_one_aside_first(tmp_path):
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a").write_text("new")
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "a").write_text("old")
    replace_folder(tmp_path / "new", tmp_path / "final")
    assert (tmp_path / "final" / "a").read_text() == "new" and os.listdir(tmp_path) == ["final"]
