"""`surgical-skill inspect`: what a dataset holds, what is odd in it, and each fold of a protocol, without
decoding a frame."""

from __future__ import annotations

import json

import pytest

from surgical_skill.data import load_skill_dataset
from surgical_skill.data.inspection import inspect_dataset
from surgical_skill.errors import UsageError
from surgical_skill.training import DataArguments, cross_validation_folds, load_data
from tests.helpers import run_cli

KEYS = {"num_videos", "subjects", "columns", "targets", "folds", "problems"}


def test_a_manifest_is_summarised_with_the_folds_training_would_make(manifest):
    """A plain manifest: videos, subjects, the label's distribution, and for `--protocol kfold` the very folds a
    recipe with `cv_folds: 3` trains on."""
    summary = inspect_dataset(manifest, protocol="kfold", folds=3)
    assert set(summary) >= KEYS
    assert summary["num_videos"] == 18 and len(summary["subjects"]) == 9
    assert summary["targets"]["label"]["distribution"] == {"novice": 6, "intermediate": 6, "expert": 6}
    assert summary["problems"] == []
    args = DataArguments(dataset=str(manifest), cv_folds=3, split_seed=0)
    trained = {
        name: sorted(set(parts["test"]["subject"])) for name, parts in cross_validation_folds(load_data(args), args)
    }
    assert {f["name"]: f["test_subjects"] for f in summary["folds"]} == trained
    for fold in summary["folds"]:
        assert fold["num_train"] + fold["num_test"] == 18 and not fold["subjects_also_in_training"]


def test_leave_one_subject_out_folds_and_a_broken_manifest(manifest, tmp_path):
    summary = inspect_dataset(manifest, protocol="leave-one-subject-out")
    assert [f["test_subjects"] for f in summary["folds"]] == [[s] for s in sorted(summary["subjects"])]
    broken = tmp_path / "broken.csv"
    broken.write_text("video,label,subject\nmissing.mp4,novice,S1\n")
    summary = inspect_dataset(broken, protocol="kfold")  # listed, not raised: where a user looks for problems
    assert summary["num_videos"] == 0 and summary["folds"] == []
    assert "video files not found" in summary["problems"][0]["message"]


def test_unknown_protocols_and_options_say_what_there_is(manifest):
    with pytest.raises(UsageError, match="unknown protocol 'louo'; the protocols are jigsaws-louo"):
        inspect_dataset(manifest, protocol="louo")
    with pytest.raises(UsageError, match="needs a jigsaws tree; this one offers kfold, leave-one-subject-out"):
        inspect_dataset(manifest, protocol="jigsaws-louo")
    with pytest.raises(UsageError, match="not one of the public dataset trees"):
        inspect_dataset(manifest, task="Suturing")


def test_public_dataset_options_on_other_sources_are_refused(manifest):
    """`task`, `view` ... read a public dataset's tree; on a manifest they would be ignored, so they are refused."""
    with pytest.raises(UsageError, match="task, view apply to the public dataset formats"):
        load_skill_dataset(manifest, task="Suturing", view="both")
    with pytest.raises(UsageError, match="target must be 'auto', 'label' or 'score', got 'grs'"):
        load_skill_dataset(manifest, target="grs")


def test_the_command_prints_the_summary_and_writes_the_json(manifest, tmp_path):
    out = tmp_path / "inspect" / "summary.json"
    result = run_cli("inspect", str(manifest), "--protocol", "kfold", "--folds", "3", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "18 videos, 9 subjects" in result.stdout and "folds of kfold (3):" in result.stdout
    assert "problems: none" in result.stdout
    summary = json.loads(out.read_text())
    assert set(summary) >= KEYS and len(summary["folds"]) == 3
    assert {"name", "test_subjects", "num_train", "num_test"} <= set(summary["folds"][0])
    missing = run_cli("inspect", str(tmp_path / "nothing.csv"))
    assert missing.returncode == 2 and "no such folder or manifest" in missing.stderr


# ------------------------------------------------------------------------------ the public datasets' trees


def _jigsaws(root):
    from tests.data.public.trees_jigsaws import write_jigsaws_tree

    return write_jigsaws_tree(root, tasks=("Suturing",), supertrials=(1, 2), views=("capture1",))


def _aixsuture(root):
    from tests.data.public.trees_aixsuture import write_aixsuture_tree

    return write_aixsuture_tree(root)


def _cataract_lmm(root):
    from tests.data.public.trees_cataract_lmm import write_cataract_lmm_tree

    return write_cataract_lmm_tree(root)


def _heichole(root):
    from tests.data.public.trees_heichole import write_heichole_tree

    return write_heichole_tree(root)


TREES = {
    # format: (writer, protocol, folds, default target, what the summary line says)
    "jigsaws": (_jigsaws, "jigsaws-louo", 8, "skill_level", "15 videos, 8 subjects"),
    "aixsuture": (_aixsuture, "kfold", 3, "grs_bins", "10 videos, 6 subjects"),
    "cataract-lmm": (_cataract_lmm, "kfold", 3, "total", "5 videos, 0 subjects (5 videos without a subject)"),
    "heichole": (_heichole, "kfold", 3, "total", "8 rows from 3 video files (each phase or view its own row), 3 sub"),
}


@pytest.mark.parametrize("dataset_format", list(TREES))
def test_inspect_summarises_each_public_tree(dataset_format, tmp_path):
    """`surgical-skill inspect ROOT --protocol P --json OUT` on a miniature copy of each dataset as distributed:
    the format is detected, the summary is printed, and the JSON has the keys the issue names."""
    writer, protocol, folds, default, line = TREES[dataset_format]
    root = writer(tmp_path / dataset_format)
    out = tmp_path / "summary.json"
    result = run_cli("inspect", str(root), "--protocol", protocol, "--folds", "3", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert f"({dataset_format}): {line}" in result.stdout
    assert f"folds of {protocol} ({folds}):" in result.stdout
    summary = json.loads(out.read_text())
    assert set(summary) >= KEYS and summary["format"] == dataset_format
    assert summary["num_videos"] == sum(summary["subjects"].values())
    assert summary["targets"][default]["default"] is True
    assert len(summary["folds"]) == folds
    assert sum(f["num_test"] for f in summary["folds"]) == summary["num_videos"]
    for fold in summary["folds"]:
        assert fold["num_train"] + fold["num_test"] == summary["num_videos"]
        assert not fold["subjects_also_in_training"]


def test_inspect_shows_jigsaws_loso_sharing_surgeons_and_the_trees_problems(tmp_path):
    root = _jigsaws(tmp_path / "JIGSAWS")
    (root / "Suturing" / "video" / "Suturing_B002_capture1.avi").unlink()
    summary = inspect_dataset(root, protocol="jigsaws-loso")
    assert [f["name"] for f in summary["folds"]] == ["supertrial-1", "supertrial-2"]
    assert [len(f["subjects_also_in_training"]) for f in summary["folds"]] == [6, 6]  # no H002, B002 gone
    assert summary["protocols"]["jigsaws-loso"]["fold_source"].startswith("the official split files in")
    [problem] = [p for p in summary["problems"] if p["severity"] == "error"]
    assert problem["file"] == "Suturing/meta_file_Suturing.txt" and problem["line"] == 2
    assert "Suturing_B002_capture1" in problem["message"]
    assert summary["num_videos"] == 14  # the row with the error is left out, and counted among the problems
