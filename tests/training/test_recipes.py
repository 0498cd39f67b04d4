"""Recipes parse, fail clearly on typos and bad values, and command-line flags override them."""

import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

from surgical_skill.training import (
    RENAMED_KEYS,
    RecipeError,
    RunFolder,
    TrainingArguments,
    checkpoints,
    data_setup,
    loop,
    parse_recipe,
)

from ..helpers import load_train_script, write_tiny_recipe

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").rglob("config_*.yaml"))


def test_there_are_recipes_for_every_family():
    names = {p.parent.name for p in RECIPES}
    assert {"demo", "frame_cnn", "cnn_rnn", "r3d_18", "videomae", "timesformer"} <= names
    for folder in {p.parent for p in RECIPES}:
        readme = (folder / "README.md").read_text()
        assert "accelerate launch recipes/train.py" in readme, folder


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_recipe_parses(recipe):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # written with the current keys
        model_args, data_args, training_args = parse_recipe([str(recipe)])
    assert model_args.model_name_or_path and data_args.dataset and training_args.output_dir


def test_flags_override_the_yaml(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        yaml.safe_dump({"learning_rate": 0.1, "num_train_epochs": 3, "model_config": {"backbone": "small3d"}})
    )
    model_args, _, training_args = parse_recipe([str(recipe), "--learning_rate", "0.5"])
    assert training_args.learning_rate == 0.5 and training_args.num_train_epochs == 3
    assert model_args.model_config == {"backbone": "small3d"}
    model_args, _, _ = parse_recipe([str(recipe), "--model_config", '{"small3d_channels": [4]}'])
    assert model_args.model_config == {"small3d_channels": [4]}


def test_unknown_keys_fail_with_a_suggestion(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"learning_rte": 0.1, "num_train_epochs": 3}))
    with pytest.raises(RecipeError, match=r"unknown keys: 'learning_rte' \(did you mean 'learning_rate'\?\)"):
        parse_recipe([str(recipe)])
    with pytest.raises(RecipeError, match="unknown arguments"):
        parse_recipe(["--num_train_epoch", "3"])


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--optim", "adam"], "optim='adam' is not one of: adamw, sgd"),
        (["--warmup_steps", "2.5"], "warmup_steps must be a share in"),
        (["--mixed_precision", "fp8"], "mixed_precision='fp8' is not one of: no, fp16, bf16"),
        (["--split_ratios", "0.5", "0.2", "0.2"], "split_ratios must be three shares summing to 1"),
        (["--label_smoothing", "1.5"], r"label_smoothing must be in \[0, 1\)"),
        (["--push_to_hub", "true"], "push_to_hub needs hub_model_id"),
        (["--report_to", "comet"], "report_to='comet' is not one of"),
        (["--metric_for_best_model", "video_acc"], "'video_acc' is not a validation metric; choose loss, or video_"),
        (["--num_frames", "0"], "num_frames must be at least 1"),
        (["--image_size", "112", "--crop_size", "160"], r"crop_size \(160\) is larger than image_size \(112\)"),
        (
            ["--model_name_or_path", "slowfast_r50", "--num_frames", "30"],
            r"num_frames: slowfast_r50 takes clips of a multiple of alpha=4 frames .*num_frames=30 is not",
        ),
    ],
)
def test_bad_values_say_what_to_fix(flags, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe(flags)


def test_accelerate_configs_load():
    from accelerate.commands.config.config_args import load_config_from_file

    configs = sorted((ROOT / "accelerate_configs").glob("*.yaml"))
    assert {p.stem for p in configs} == {"cpu_ddp", "single_gpu", "ddp", "fsdp", "deepspeed_zero2", "multi_node"}
    for path in configs:
        config = load_config_from_file(str(path))
        assert config.num_processes >= 1, path


# A run's recipe.yaml as train.py saved it before the keys took transformers' names
OLD_RECIPE = {
    "model_name_or_path": "small3d",
    "model_config": {"small3d_channels": [4, 8]},
    "dataset": "data/x.csv",
    "label_names": ["lower-skilled", "higher-skilled"],
    "eval_clips_per_video": 3,
    "output_dir": "runs/old",
    "num_epochs": 7,
    "optimizer": "sgd",
    "lr_scheduler": "linear",
    "warmup_ratio": 0.1,
    "save_every_steps": 50,
    "save_every_epochs": 1,
}
NEW_NAMES = {
    "num_train_epochs": 7,
    "optim": "sgd",
    "lr_scheduler_type": "linear",
    "warmup_steps": 0.1,
    "save_steps": 50,
}


def test_an_old_recipe_still_parses_with_a_warning_per_renamed_key(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(OLD_RECIPE))
    with pytest.warns(FutureWarning) as caught:
        _, data_args, training_args = parse_recipe([str(recipe)])
    messages = " ".join(str(w.message) for w in caught)
    for old, new in RENAMED_KEYS.items():
        assert f"`{old}` is deprecated" in messages and f"use `{new}`" in messages
    assert {key: getattr(training_args, key) for key in NEW_NAMES} == NEW_NAMES
    assert data_args.label_names == ["lower-skilled", "higher-skilled"] and data_args.eval_clips_per_video == 3


def test_an_old_run_folder_still_reads(tmp_path):
    """`surgical-skill evaluate RUN` reads the run's data arguments from its recipe.yaml."""
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text("{}")
    (run / "recipe.yaml").write_text(yaml.safe_dump(OLD_RECIPE))
    data_args = RunFolder.locate(run).data_arguments()
    assert data_args.dataset == "data/x.csv" and data_args.label_names == ["lower-skilled", "higher-skilled"]


def test_old_flags_and_keyword_arguments_still_work_with_a_warning():
    with pytest.warns(FutureWarning) as caught:
        _, _, training_args = parse_recipe(["--num_epochs", "4", "--lr_scheduler=constant"])
    messages = " ".join(str(w.message) for w in caught)
    assert "`num_epochs` is deprecated" in messages and "use `num_train_epochs`" in messages
    assert "`lr_scheduler` is deprecated" in messages and "use `lr_scheduler_type`" in messages
    assert training_args.num_train_epochs == 4 and training_args.lr_scheduler_type == "constant"
    with pytest.warns(FutureWarning, match="`save_every_steps` is deprecated"):
        args = TrainingArguments(save_every_steps=5, report_to=["none"])
    assert args.save_steps == 5
    with pytest.warns(FutureWarning, match="`num_epochs` is deprecated"):
        assert args.num_epochs == args.num_train_epochs
    with pytest.warns(FutureWarning, match="`optimizer` is deprecated"):
        args.optimizer = "sgd"
    assert args.optim == "sgd"


def test_the_new_key_wins_over_the_old_one():
    with pytest.warns(FutureWarning):
        args = TrainingArguments(num_epochs=3, num_train_epochs=5)
    assert args.num_train_epochs == 5


def test_warmup_steps_is_a_share_below_one_and_a_count_above():
    assert TrainingArguments(warmup_steps=0.1).num_warmup_steps(95) == 10
    assert TrainingArguments(warmup_steps=7).num_warmup_steps(95) == 7
    assert TrainingArguments(warmup_steps=0).num_warmup_steps(95) == 0


def test_training_data_module_is_renamed_with_a_warning():
    sys.modules.pop("surgical_skill.training.data", None)
    with pytest.warns(FutureWarning, match="surgical_skill.training.data_setup"):
        old = importlib.import_module("surgical_skill.training.data")
    assert old.clip_datasets is data_setup.clip_datasets


def test_checkpoint_helpers_are_still_importable_from_the_loop():
    assert loop.save_checkpoint is checkpoints.save_checkpoint and loop.checkpoints_in is checkpoints.checkpoints_in


def test_the_best_model_metric_follows_the_task_and_a_wrong_one_stops_before_training(synthetic_manifest, tmp_path):
    # the default: balanced accuracy for classes, MAE for scores; a class metric for a score model is refused
    # before the first epoch (it used to surface as a KeyError after it)
    score_recipe = write_tiny_recipe(tmp_path / "score.yaml", synthetic_manifest, target="score")
    _, _, training_args = parse_recipe([str(score_recipe), "--output_dir", str(tmp_path / "score")])
    assert training_args.metric_for_best_model is None
    load_train_script().main([str(score_recipe), "--output_dir", str(tmp_path / "score")])
    history = json.loads((tmp_path / "score" / "training_history.json").read_text())
    assert "eval_video_mae" in history[-1] and (tmp_path / "score" / "model" / "config.json").exists()
    wrong = [str(score_recipe), "--output_dir", str(tmp_path / "wrong"), "--metric_for_best_model", "video_f1_macro"]
    with pytest.raises(RecipeError, match="'video_f1_macro' is not computed for a score"):
        load_train_script().main(wrong)
    assert not (tmp_path / "wrong" / "training_history.json").exists()


def test_the_train_script_prints_a_recipe_mistake_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "train.py"), "--metric_for_best_model", "video_acc"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: metric_for_best_model='video_acc' is not a validation metric")
    assert "Traceback" not in result.stderr


def test_a_run_is_never_replaced_unasked(synthetic_manifest, tmp_path):
    run = tmp_path / "run"
    recipe = write_tiny_recipe(tmp_path / "r.yaml", synthetic_manifest, output_dir=str(run))
    load_train_script().main([str(recipe)])
    before = {p.relative_to(run): p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    with pytest.raises(
        RecipeError, match=r"already holds a training run \(checkpoints/, eval/, model/.*--overwrite_output_dir"
    ):
        load_train_script().main([str(recipe)])
    assert {p.relative_to(run): p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == before
    (run / "checkpoints" / "stale-marker").write_text("from the earlier run")
    load_train_script().main([str(recipe), "--overwrite_output_dir", "true"])  # the earlier run goes first
    assert (run / "model" / "config.json").exists() and not (run / "checkpoints" / "stale-marker").exists()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "thesis.txt").write_text("mine")
    with pytest.raises(RecipeError, match=r"already holds files \(thesis.txt\)"):
        load_train_script().main([str(recipe), "--output_dir", str(notes)])
