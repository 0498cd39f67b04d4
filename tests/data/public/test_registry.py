"""The format registry: each public dataset's tree is recognised as itself and as nothing else, and read through
`load_skill_dataset` into a dataset whose rows keep what the tree says."""

from __future__ import annotations

import shutil

import pytest

from surgical_skill.data import load_skill_dataset
from surgical_skill.data.public import FORMATS, detect_format, read_public_dataset
from surgical_skill.errors import UsageError
from tests.data.public.trees_aixsuture import write_aixsuture_tree
from tests.data.public.trees_cataract_lmm import write_cataract_lmm_tree
from tests.data.public.trees_heichole import write_heichole_tree
from tests.data.public.trees_jigsaws import write_jigsaws_tree

WRITERS = {
    "jigsaws": lambda root: write_jigsaws_tree(root, tasks=("Suturing",), supertrials=(1,), views=("capture1",)),
    "aixsuture": write_aixsuture_tree,
    "cataract-lmm": write_cataract_lmm_tree,
    "heichole": write_heichole_tree,
}


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("trees")
    return {name: writer(root / name) for name, writer in WRITERS.items()}


def test_every_format_has_a_miniature_tree():
    assert set(WRITERS) == set(FORMATS)


@pytest.mark.parametrize("name", list(WRITERS))
def test_each_tree_is_detected_as_itself_and_read_into_a_dataset(trees, name):
    """Detection picks the format; `load_skill_dataset` reads the default target and keeps every row the reader
    gives (a HeiChole operation's phases are rows of one video, told apart by their frames)."""
    assert detect_format(trees[name]) == name
    public = read_public_dataset(trees[name])
    assert public.format == name
    # the miniature HeiChole's unplaceable phase ratings are an error: left out here as the reader leaves them
    data = load_skill_dataset(trees[name], split_ratios=None, probe_videos=False, drop_invalid_rows=True)["train"]
    assert len(data) == len(public.rows)
    assert data["video"] == [row["video"] for row in public.rows]
    assert data["subject"] == [row["subject"] for row in public.rows]
    target = public.target(None)
    expected = [row[target.column] for row in public.rows]
    if target.kind == "label":
        assert [data.features["labels"].int2str(v) for v in data["labels"]] == [str(v) for v in expected]
    else:
        assert data["labels"] == pytest.approx([float(v) for v in expected])


def test_a_plain_folder_is_no_format_and_two_formats_in_one_folder_must_be_named(trees, tmp_path):
    assert detect_format(tmp_path) is None
    both = tmp_path / "both"
    shutil.copytree(trees["jigsaws"], both)
    shutil.copytree(trees["heichole"], both / "heichole")
    with pytest.raises(UsageError, match=r"looks like more than one dataset format .*jigsaws, heichole"):
        load_skill_dataset(both, split_ratios=None, probe_videos=False)
    data = load_skill_dataset(both, format="jigsaws", split_ratios=None, probe_videos=False)
    assert len(data["train"]) == 8
    with pytest.raises(UsageError, match="unknown dataset format 'jigsaw'; the formats are jigsaws, aixsuture"):
        load_skill_dataset(both, format="jigsaw")


def test_the_registrys_protocols_are_the_readers_own():
    from surgical_skill.data.public import PROTOCOLS, format_module

    for name in FORMATS:
        offered = format_module(name).PROTOCOLS
        assert offered == {p: column for p, (fmt, column) in PROTOCOLS.items() if fmt == name}, name


def test_csv_lines_are_numbered_as_in_the_file_and_other_encodings_are_one_clear_error(tmp_path):
    """A quoted field spanning lines keeps its newline and the next records keep their file line numbers; a file
    saved in another encoding than UTF-8 says so (a spreadsheet export in cp1252, say), without a traceback."""
    from surgical_skill.data import SkillDatasetError
    from surgical_skill.data.public.common import read_csv_lines

    path = tmp_path / "scores.csv"
    path.write_text('clip_key,note\n1,"two\nlines"\n\n2,z\n', encoding="utf-8")
    assert list(read_csv_lines(path)) == [(1, ["clip_key", "note"]), (2, ["1", "two\nlines"]), (5, ["2", "z"])]
    path.write_bytes("clip_key;note\n1;café\n".encode("cp1252"))
    with pytest.raises(SkillDatasetError, match=r"scores.csv: not UTF-8 text .*save it as UTF-8"):
        list(read_csv_lines(path))
