"""surgical_skill.files: a file or folder is whole or absent, with the usual permissions, and nothing is left behind."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from surgical_skill.errors import UsageError
from surgical_skill.files import (
    MARKER,
    folder_kind,
    mark_folder,
    remove_toolkit_folder,
    replace_folder,
    staged_contents,
    staged_file,
    staged_folder,
    stale_siblings,
    temporary_sibling,
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
    assert sorted(p.name for p in final.iterdir()) == [MARKER, "old.txt"]
    with staged_folder(final) as tmp:
        (tmp / "new.txt").write_text("2")
    assert sorted(p.name for p in final.iterdir()) == [MARKER, "new.txt"]
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
    with pytest.raises(UsageError, match=r"final already exists and was not made by surgical-skill.*--overwrite"):
        replace_folder(tmp_path / "new", tmp_path / "final")  # not the toolkit's: asked for explicitly
    assert (tmp_path / "final" / "a").read_text() == "old"
    replace_folder(tmp_path / "new", tmp_path / "final", overwrite=True)
    assert (tmp_path / "final" / "a").read_text() == "new" and os.listdir(tmp_path) == ["final"]


def _thesis(folder):
    folder.mkdir()
    (folder / "thesis.txt").write_text("four years")
    (folder / "chapters").mkdir()
    (folder / "chapters" / "one.tex").write_text("intro")
    return folder


def _tree(folder):
    return sorted((str(p.relative_to(folder)), p.read_bytes() if p.is_file() else None) for p in folder.rglob("*"))


def test_a_folder_the_toolkit_did_not_make_is_never_replaced_unasked(tmp_path):
    thesis = _thesis(tmp_path / "thesis")
    before = _tree(thesis)
    refused = pytest.raises(UsageError, match=r"thesis already exists and was not made by surgical-skill")
    with refused, staged_folder(thesis, kind="evaluation-report") as tmp:
        (tmp / "report.md").write_text("x")
    assert _tree(thesis) == before and os.listdir(tmp_path) == ["thesis"]  # untouched, no temporary left
    # made before markers existed: only a folder holding nothing but the old layout's files counts as the toolkit's
    (thesis / "metrics.json").write_text("{}")
    with pytest.raises(UsageError), staged_folder(thesis, legacy=("metrics.json", "*.png")):
        pass
    old = tmp_path / "old-report"
    old.mkdir()
    (old / "metrics.json").write_text("{}")
    (old / "timelines.png").write_bytes(b"png")
    with staged_folder(old, kind="evaluation-report", legacy=("metrics.json", "*.png")) as tmp:
        (tmp / "metrics.json").write_text("new")
    assert folder_kind(old) == "evaluation-report" and sorted(os.listdir(old)) == [MARKER, "metrics.json"]


def test_marked_empty_or_explicitly_overwritten_folders_are_replaced(tmp_path):
    ours = tmp_path / "ours"
    with staged_folder(ours, kind="cross-validation") as tmp:
        (tmp / "a").write_text("1")
    assert folder_kind(ours) == "cross-validation"
    with staged_folder(ours, kind="cross-validation") as tmp:  # its marker makes it replaceable without asking
        (tmp / "b").write_text("2")
    assert sorted(os.listdir(ours)) == [MARKER, "b"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with staged_folder(empty) as tmp:
        (tmp / "c").write_text("3")
    assert (empty / "c").exists()
    thesis = _thesis(tmp_path / "thesis")
    with staged_folder(thesis, overwrite=True) as tmp:  # --overwrite: the user said so
        (tmp / "d").write_text("4")
    assert sorted(os.listdir(thesis)) == [MARKER, "d"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file"), staged_folder(tmp_path / "file", overwrite=True):
        pass


def test_a_marked_folder_of_another_kind_is_not_replaced_unasked(tmp_path):
    """A training run is marked, and holds more than the toolkit wrote (here its owner's thesis.txt): a
    cross-validation summary or a model saved to the run's own path must not take its place."""
    run = tmp_path / "run"
    run.mkdir()
    mark_folder(run, "training-run")
    (run / "model").mkdir()
    (run / "model" / "config.json").write_text("{}")
    (run / "thesis.txt").write_text("four years")
    before = _tree(run)
    for kind in ("cross-validation", "model"):
        refused = pytest.raises(UsageError, match=r"run is a training-run folder of surgical-skill, not a " + kind)
        with refused, staged_folder(run, kind=kind) as tmp:
            (tmp / "summary.json").write_text("{}")
        with refused:
            replace_folder(tmp_path / "elsewhere", run, kind=kind)
    assert _tree(run) == before and sorted(os.listdir(tmp_path)) == ["run"]
    with staged_folder(run, kind="cross-validation", overwrite=True) as tmp:  # --overwrite: the user said so
        (tmp / "summary.json").write_text("{}")
    assert folder_kind(run) == "cross-validation" and not (run / "thesis.txt").exists()


def test_only_the_toolkits_leftovers_are_removed(tmp_path):
    final = tmp_path / "model"
    crashed = temporary_sibling(final)  # as a killed staged_folder leaves it: marked
    crashed.mkdir()
    mark_folder(crashed, "model")
    (crashed / "model.safetensors").write_bytes(b"half")
    foreign = temporary_sibling(final)  # same pattern, but someone's folder
    _thesis(foreign)
    lookalike = tmp_path / ".model.tmp-mine"  # not the exact pattern
    lookalike.mkdir()
    assert stale_siblings(final) == sorted([crashed, foreign])
    assert [remove_toolkit_folder(p) for p in sorted([crashed, foreign])] == [
        p == crashed for p in sorted([crashed, foreign])
    ]
    assert not crashed.exists() and (foreign / "thesis.txt").read_text() == "four years" and lookalike.exists()
