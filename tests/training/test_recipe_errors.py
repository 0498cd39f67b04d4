"""Recipe and data mistakes end in one message naming the key (or the counts) and what to do, and a recipe
mistake is caught before any data is loaded or the run folder is touched."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from surgical_skill.data import SkillDatasetError, load_skill_dataset
from surgical_skill.errors import SurgicalSkillError, UsageError
from surgical_skill.models import build_model
from surgical_skill.training import RecipeError, cross_validation_folds, load_data, parse_recipe, train
from surgical_skill.training.arguments import DataArguments
from tests.helpers import load_train_script, tiny_arguments, write_manifest, write_tiny_recipe

# ------------------------------------------------------------------------------------ model_config


@pytest.mark.parametrize(
    "model, model_config, message",
    [
        (
            "small3d",
            {"smal3d_channels": [4, 8]},
            r"model_config has a key that 'small3d' \(Video3DCNNConfig\) does not know: 'smal3d_channels' "
            r"\(did you mean 'small3d_channels'\?\)\. Its keys: backbone, .*small3d_channels",
        ),
        (
            "frame_cnn",
            {"backbone": "mobilenet_v3_small", "temporal_poolin": "attention"},
            r"'frame_cnn' \(FrameCNNConfig\) does not know: 'temporal_poolin' \(did you mean 'temporal_pooling'\?\)",
        ),
        (
            "videomae",
            {"hiden_size": 32},
            r"'videomae' \(VideoMAEConfig\) does not know: 'hiden_size' \(did you mean 'hidden_size'\?\).*"
            r"Its keys: .*num_hidden_layers",
        ),
        ("small3d", {"num_labels": 3}, "model_config sets num_labels, which the dataset decides"),
        (
            "frame_cnn",
            {"backbone": "resnet99"},
            "model_config for 'frame_cnn': unknown frame backbone 'resnet99'; known",
        ),
    ],
    ids=["typo", "typo-frame-cnn", "typo-transformers", "num-labels", "bad-value"],
)
def test_model_config_mistakes_are_refused_when_the_recipe_is_parsed(tmp_path, model, model_config, message):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"model_name_or_path": model, "model_config": model_config}))
    with pytest.raises(RecipeError, match=message):
        parse_recipe([str(recipe)])


def test_model_config_of_a_model_folder_is_checked_against_its_config(tmp_path):
    build_model("small3d", small3d_channels=[4]).save_pretrained(tmp_path / "model")
    with pytest.raises(RecipeError, match=r"does not know: 'small3d_channel' \(did you mean 'small3d_channels'\?\)"):
        parse_recipe(["--model_name_or_path", str(tmp_path / "model"), "--model_config", '{"small3d_channel": [8]}'])
    # build_model itself refuses what transformers' from_pretrained would drop without a word
    with pytest.raises(UsageError, match=r"build_model\(\*\*overrides\) has a key .* 'small3d_channel'"):
        build_model(tmp_path / "model", id2label=["a", "b"], small3d_channel=[8])
    model_args, _, _ = parse_recipe(
        ["--model_name_or_path", str(tmp_path / "model"), "--model_config", '{"dropout": 0.3}']
    )
    assert model_args.model_config == {"dropout": 0.3}


def test_build_model_refuses_an_unknown_option():
    with pytest.raises(UsageError, match=r"'smal3d_channels' \(did you mean 'small3d_channels'\?\)"):
        build_model("small3d", id2label=["a", "b"], smal3d_channels=[4])


# ------------------------------------------------------------- configuration before data and run folder

CONFIG_MISTAKES = [
    ({"num_frames": 0}, r"num_frames must be at least 1 \(or left out for the model's own\), got 0"),
    (
        {"image_size": 112, "crop_size": 160},
        r"crop_size \(160\) is larger than image_size \(112\).*at most image_size",
    ),
    (
        {"image_size": None, "crop_size": 160},
        r"crop_size \(160\) is larger than the image_size 'small3d' uses \(112\)",
    ),
    ({"metric_for_best_model": "video_acc"}, r"metric_for_best_model='video_acc' is not a validation metric; choose"),
    (
        {"target": "score", "metric_for_best_model": "video_f1_macro"},
        r"metric_for_best_model='video_f1_macro' is not computed for a score \(regression\) model \(target: score\); "
        r"choose one of loss, video_mae",
    ),
    (
        {"target": "label", "label_names": ["a", "b", "c"], "metric_for_best_model": "video_sensitivity"},
        r"'video_sensitivity' is not computed for a class model of 3 classes \(target: label, 3 label_names\); "
        r"choose one of .*video_f1_macro",
    ),
    ({"label_names": ["expert"]}, r"label_names must name two or more different classes, got \['expert'\]"),
    ({"label_names": ["a", "b", "a"]}, r"label_names must name two or more different classes.*\('a' repeated\)"),
    ({"split_ratios": [1.2, -0.1, -0.1]}, r"split_ratios \(train, validation, test\) must be shares of at least 0"),
    ({"model_config": {"small3d_chanels": [4]}}, r"'small3d_chanels' \(did you mean 'small3d_channels'\?\)"),
]


CONFIG_IDS = [
    "num_frames-0",
    "crop-above-image_size",
    "crop-above-the-model's-size",
    "unknown-metric",
    "class-metric-for-scores",
    "two-class-metric-for-three",
    "one-label_name",
    "repeated-label_names",
    "negative-split_ratios",
    "model_config-typo",
]


@pytest.mark.parametrize("keys, message", CONFIG_MISTAKES, ids=CONFIG_IDS)
def test_a_recipe_mistake_is_refused_before_data_is_loaded_or_the_run_folder_is_touched(tmp_path, keys, message):
    run = tmp_path / "run"
    # the dataset does not exist: reaching the data would be a different error
    recipe = write_tiny_recipe(tmp_path / "r.yaml", tmp_path / "no-such-data.csv", output_dir=str(run), **keys)
    with pytest.raises(RecipeError, match=message):
        load_train_script().main([str(recipe)])
    assert not run.exists()


def test_a_missing_label_column_is_found_before_any_video_is_looked_at(tmp_path):
    # none of these videos exist and the class column is named 'grade': the first thing said is the column
    rows = [{"video": f"missing_{i}.mp4", "grade": "novice", "subject": f"S{i}"} for i in range(4)]
    manifest = write_manifest(tmp_path / "m.csv", rows, ("video", "grade", "subject"))
    with pytest.raises(
        SkillDatasetError, match=r"no 'label' column with class labels \(its columns are 'video', 'grade', 'subject'\)"
    ):
        load_data(DataArguments(dataset=str(manifest), target="label"))


# ------------------------------------------------------------------------------ data a model cannot learn


def _subset(synthetic_manifest: Path, path: Path, keep) -> Path:
    """The rows of the synthetic manifest that ``keep`` accepts, as a manifest at ``path`` (absolute paths)."""
    rows = [row for row in csv.DictReader(synthetic_manifest.open()) if keep(row)]
    for row in rows:
        row["video"] = str(synthetic_manifest.parent / row["video"])
    return write_manifest(path, rows, ("video", "label", "subject", "score"))


def test_a_one_class_dataset_is_refused_with_its_counts_not_turned_into_regression(synthetic_manifest, tmp_path):
    manifest = _subset(synthetic_manifest, tmp_path / "one.csv", lambda r: r["label"] == "lower-skilled")
    recipe = write_tiny_recipe(tmp_path / "r.yaml", manifest, output_dir=str(tmp_path / "run"))
    with pytest.raises(
        SkillDatasetError,
        match=r"every video has the label 'lower-skilled' \(12 videos\): a classifier needs at least two classes.*"
        r"if the labels are scores, train a regression: .*target 'score'",
    ):
        load_train_script().main([str(recipe)])
    assert not (tmp_path / "run" / "model").exists() and not (tmp_path / "run" / "checkpoints").exists()
    # data handed over directly is refused too, where the model's labels are made
    model_args, data_args, training_args = tiny_arguments(manifest, tmp_path / "direct")
    with pytest.raises(SkillDatasetError, match="every video has the label 'lower-skilled'"):
        train(model_args, data_args, training_args, data=load_skill_dataset(manifest, split_ratios=None))


def test_two_subjects_are_refused_with_the_counts_and_what_to_do(synthetic_manifest, tmp_path):
    manifest = _subset(synthetic_manifest, tmp_path / "two.csv", lambda r: r["subject"] in {"S000", "S006"})
    with pytest.raises(
        SkillDatasetError,
        match=r"too few subjects to split: 2 subjects, 4 videos in all, but split_ratios \[0\.7, 0\.15, 0\.15\] ask "
        r"for 3 splits \(train, validation, test\).*ask for at most 2 splits \(e\.g\. split_ratios \[0\.8, 0\.2, 0\.0\]",
    ):
        load_data(DataArguments(dataset=str(manifest)))
    with pytest.raises(SkillDatasetError, match=r"3 folds by subject need at least 3 subjects; the dataset has 2 "):
        list(cross_validation_folds(*_cv(manifest, cv_folds=3)))
    # leave-one-subject-out of two: each fold trains on one surgeon, none left to validate on
    with pytest.raises(
        SkillDatasetError,
        match=r"cross-validation subject-S000 trains on 2 videos of a single subject, so none can be held out for "
        r"validation \(cv_validation_share: 0\.15\).*cv_validation_share: 0",
    ):
        list(cross_validation_folds(*_cv(manifest, cv="leave-one-subject-out")))
    folds = list(cross_validation_folds(*_cv(manifest, cv="leave-one-subject-out", cv_validation_share=0.0)))
    assert [name for name, _ in folds] == ["subject-S000", "subject-S006"]


def _cv(manifest, **cv):
    args = DataArguments(dataset=str(manifest), **cv)
    return load_data(args), args


def test_a_class_missing_from_training_is_refused_with_the_counts(synthetic_manifest, tmp_path):
    rows = list(csv.DictReader(synthetic_manifest.open()))
    for row in rows:
        row["video"] = str(synthetic_manifest.parent / row["video"])
        row["split"] = "test" if row["label"] == "higher-skilled" and row["subject"] in {"S006", "S007"} else "train"
        if row["label"] == "higher-skilled" and row["split"] == "train":
            row["label"] = "lower-skilled"  # the only higher-skilled surgeons are in the test split
    manifest = write_manifest(tmp_path / "m.csv", rows, ("video", "label", "subject", "split"))
    with pytest.raises(
        SkillDatasetError,
        match=r"the train split has no 'higher-skilled' video, so the model could never predict it \(videos per "
        r"class: train \(lower-skilled: 20, higher-skilled: 0\), test \(lower-skilled: 0, higher-skilled: 4\)\)",
    ):
        load_data(DataArguments(dataset=str(manifest)))
    for row in rows:
        row["split"] = "test"
    only_test = write_manifest(tmp_path / "test.csv", rows, ("video", "label", "subject", "split"))
    with pytest.raises(
        SkillDatasetError, match=r"no training videos \(videos per split: test 24\); mark the training"
    ):
        load_data(DataArguments(dataset=str(only_test)))


def test_data_errors_are_one_line_from_the_train_script(synthetic_manifest, tmp_path, capsys):
    from surgical_skill.errors import run_reporting_errors

    manifest = _subset(synthetic_manifest, tmp_path / "two.csv", lambda r: r["subject"] in {"S000", "S006"})
    recipe = write_tiny_recipe(tmp_path / "r.yaml", manifest, output_dir=str(tmp_path / "run"))
    assert run_reporting_errors(lambda: load_train_script().main([str(recipe)])) == 2
    err = capsys.readouterr().err  # progress bars come before it
    messages = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(messages) == 1 and "too few subjects to split: 2 subjects" in messages[0]
    assert "Traceback" not in err
    # nothing of a run is left behind, so the same command runs once the data is fixed (no "already holds")
    assert not any((tmp_path / "run").glob("*"))
    assert issubclass(SkillDatasetError, SurgicalSkillError)
