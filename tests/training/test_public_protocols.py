"""The field's datasets through the whole path: a public dataset's tree as distributed -> `load_skill_dataset`
-> a recipe's published protocol (`cv: jigsaws-louo`) -> one model per fold, pooled out-of-fold predictions and a
summary that states the protocol."""

from __future__ import annotations

import csv
import json

import pytest
from datasets import ClassLabel

from surgical_skill.data import SkillDatasetError, load_skill_dataset, score_target_names
from surgical_skill.data.public.jigsaws import SUBSCORES as JIGSAWS_SUBSCORES
from surgical_skill.errors import UsageError
from surgical_skill.training import (
    DataArguments,
    cross_validation_folds,
    load_data,
    protocol_description,
    record_fold,
)
from tests.data.public.trees_jigsaws import jigsaws_meta, jigsaws_trials, write_jigsaws_tree
from tests.helpers import load_train_script, run_cli, write_tiny_recipe

USERS = ("B", "C", "D", "E", "F", "G", "H", "I")


@pytest.fixture(scope="module")
def jigsaws(tmp_path_factory):
    """Suturing, supertrials 1-2 (15 trials: no H002), both views, official split files."""
    return write_jigsaws_tree(tmp_path_factory.mktemp("jigsaws") / "JIGSAWS", tasks=("Suturing",), supertrials=(1, 2))


def test_every_target_of_a_jigsaws_tree_becomes_the_datasets_labels(jigsaws):
    """The tree is detected; the default target is the self-proclaimed level in skill order; `grs` and a sub-score
    are regression targets; every other column rides along (subject, trial, levels, scores, folds)."""
    meta = jigsaws_meta("Suturing", (1, 2))
    trials = jigsaws_trials("Suturing", (1, 2))
    data = load_skill_dataset(jigsaws, split_ratios=None, probe_videos=False)["train"]
    assert data["trial"] == trials and len(set(data["subject"])) == 8
    assert isinstance(data.features["labels"], ClassLabel)
    assert data.features["labels"].names == ["novice", "intermediate", "expert"]
    codes = {"N": "novice", "I": "intermediate", "E": "expert"}
    assert [data.features["labels"].int2str(v) for v in data["labels"]] == [codes[meta[t][0]] for t in trials]
    assert {"grs", "respect_for_tissue", "fold_louo", "fold_loso", "transcription", "skill_level_code"} <= set(
        data.column_names
    )
    grs = load_skill_dataset(jigsaws, target="grs", split_ratios=None, probe_videos=False)["train"]
    assert grs["labels"] == [float(meta[t][1]) for t in trials]
    item = load_skill_dataset(jigsaws, target="time_and_motion", split_ratios=None, probe_videos=False)["train"]
    assert item["labels"] == [float(meta[t][2][2]) for t in trials]
    both = load_skill_dataset(jigsaws, view="both", target="score", split_ratios=None, probe_videos=False)["train"]
    assert both["labels"] == [score for score in grs["labels"] for _ in range(2)]  # a trial's two views, together
    assert [v.rsplit("_", 1)[1] for v in both["video"][:2]] == ["capture1.avi", "capture2.avi"]
    bins = load_skill_dataset(
        jigsaws, target="grs_bins", score_bins=[6, 14, 22], split_ratios=None, probe_videos=False
    )
    assert bins["train"].features["labels"].names == ["6-13", "14-21", "22-30"]


def test_a_jigsaws_trees_targets_and_problems_are_named(jigsaws, tmp_path):
    with pytest.raises(UsageError, match="no target 'gsr'; its targets are skill_level, grs, respect_for_tissue"):
        load_skill_dataset(jigsaws, target="gsr", split_ratios=None, probe_videos=False)
    subscores = load_skill_dataset(jigsaws, target="subscores", split_ratios=None, probe_videos=False)
    assert score_target_names(subscores) == list(JIGSAWS_SUBSCORES)
    row = subscores["train"][0]
    assert sum(row["labels"].values()) == row["grs"]  # the six items, named, and their sum beside them
    with pytest.raises(
        UsageError, match="'skill_level': not a score target of the jigsaws tree; its score targets: grs"
    ):
        load_skill_dataset(jigsaws, score_column=["grs", "skill_level"], split_ratios=None, probe_videos=False)
    broken = write_jigsaws_tree(tmp_path / "JIGSAWS", tasks=("Suturing",), supertrials=(1,), views=("capture1",))
    (broken / "Suturing" / "video" / "Suturing_C001_capture1.avi").unlink()
    meta = broken / "Suturing" / "meta_file_Suturing.txt"
    meta.write_text(meta.read_text().replace("Suturing_D001\t\tE\t", "Suturing_D001\t\tX\t"))
    with pytest.raises(SkillDatasetError) as refused:
        load_skill_dataset(broken, split_ratios=None, probe_videos=False)
    message = str(refused.value)
    assert "the jigsaws tree has 2 problems" in message and "drop_invalid_rows" in message
    assert (
        "Suturing/meta_file_Suturing.txt, line 2:" in message and "Suturing/meta_file_Suturing.txt, line 3:" in message
    )
    kept = load_skill_dataset(broken, split_ratios=None, probe_videos=False, drop_invalid_rows=True)["train"]
    assert kept["trial"] == [
        t for t in jigsaws_trials("Suturing", (1,)) if t not in ("Suturing_C001", "Suturing_D001")
    ]


def test_published_folds_hold_out_what_they_say(jigsaws, tmp_path):
    """LOUO: one fold per user, none of whose trials train or validate that fold. LOSO: one fold per supertrial,
    the same users on both sides. 4-fold: the user's fold file."""
    louo = DataArguments(dataset=str(jigsaws), cv="jigsaws-louo", task="Suturing")
    folds = list(cross_validation_folds(load_data(louo), louo))
    assert [name for name, _ in folds] == [f"user-{u}" for u in USERS]
    for name, parts in folds:
        assert set(parts["test"]["subject"]) == {name[-1]}
        assert name[-1] not in set(parts["train"]["subject"]) | set(parts["validation"]["subject"])
        assert not set(parts["train"]["subject"]) & set(parts["validation"]["subject"])
    loso = DataArguments(dataset=str(jigsaws), cv="jigsaws-loso")
    folds = list(cross_validation_folds(load_data(loso), loso))
    assert [name for name, _ in folds] == ["supertrial-1", "supertrial-2"]
    assert set(folds[0][1]["test"]["supertrial"]) == {1} and len(set(folds[0][1]["test"]["subject"])) == 8
    fold_file = tmp_path / "folds.csv"
    trials = jigsaws_trials("Suturing", (1, 2))
    fold_file.write_text("trial,fold\n" + "".join(f"{t},{i % 4}\n" for i, t in enumerate(trials)))
    four = DataArguments(dataset=str(jigsaws), cv="jigsaws-4fold", cv_fold_file=str(fold_file), cv_validation_share=0)
    folds = dict(cross_validation_folds(load_data(four), four))
    assert list(folds) == ["fold-0", "fold-1", "fold-2", "fold-3"]
    assert folds["fold-1"]["test"]["trial"] == trials[1::4]
    # these folds mix each user's trials: the protocol record and every fold's sentence say so
    protocol = protocol_description(four)
    assert protocol["fold_source"] == f"fold file {fold_file}"
    sentences = [record_fold(protocol, name, fold, four) for name, fold in folds.items()]
    assert protocol["folds_sharing_surgeons"] == list(folds) and not protocol["surgeons_held_out"]
    assert all("new trials of known surgeons" in sentence for sentence in sentences)


def test_train_py_runs_jigsaws_louo_end_to_end(jigsaws, tmp_path):
    """`cv: jigsaws-louo` on the miniature tree: 8 folds, each trained without its user (in training and in
    validation), each report stating the protocol, and pooled out-of-fold predictions of every trial."""
    run = tmp_path / "run"
    recipe = write_tiny_recipe(
        tmp_path / "louo.yaml",
        jigsaws,
        cv="jigsaws-louo",
        task="Suturing",
        view="capture1",
        split_ratios=[0.7, 0.15, 0.15],
        eval_clips_per_video=1,
        output_dir=str(run),
    )
    assert load_train_script().main([str(recipe)]) == 0
    trials = jigsaws_trials("Suturing", (1, 2))
    for user in USERS:
        fold = run / f"user-{user}"
        assert (fold / "model" / "model.safetensors").is_file(), user
        splits = json.loads((fold / "splits.json").read_text())["splits"]
        assert splits["test"]["subjects"] == [user]
        assert user not in splits["train"]["subjects"] + splits["validation"]["subjects"]
        report = (fold / "eval" / "report.md").read_text()
        assert f"JIGSAWS leave-one-user-out (LOUO: each fold holds out one user's trials), fold user-{user}" in report
        assert "that the model never saw in training or validation" in report
    rows = list(csv.DictReader((run / "cv" / "oof_predictions.csv").open()))
    assert sorted(r["video"].rsplit("/", 1)[1] for r in rows) == sorted(f"{t}_capture1.avi" for t in trials)
    assert {r["fold"] for r in rows} == {f"user-{u}" for u in USERS}
    assert all(r["fold"] == f"user-{r['subject']}" for r in rows)
    summary = json.loads((run / "cv" / "summary.json").read_text())
    assert summary["folds"] == 8 and summary["videos"] == len(trials)
    assert summary["protocol"]["name"] == "jigsaws-louo"
    assert summary["protocol"]["fold_source"].startswith("the official split files in Experimental_setup/Suturing")
    assert summary["field_figure"]["metric"] == "accuracy"
    text = (run / "cv" / "summary.md").read_text()
    assert "Protocol: JIGSAWS leave-one-user-out" in text and "The field's figure: accuracy" in text
    assert summary["protocol"]["folds_sharing_surgeons"] == [] and summary["protocol"]["surgeons_held_out"]
    assert "No fold's held-out surgeons trained or selected its model." in text

    # a fold evaluated again later reads the tree the way its recipe did, and scores exactly its held-out user
    again = run_cli("evaluate", str(run / "user-C"), "--output-dir", str(tmp_path / "again"), "--no-baselines")
    assert again.returncode == 0, again.stderr
    predictions = list(csv.DictReader((tmp_path / "again" / "predictions.csv").open()))
    assert {r["subject"] for r in predictions} == {"C"} and len(predictions) == 2
