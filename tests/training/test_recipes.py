"""Recipes parse, fail clearly on typos and bad values, and command-line flags override them."""

from pathlib import Path

import pytest
import yaml

from surgical_skill.training import RecipeError, parse_recipe

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
    model_args, data_args, training_args = parse_recipe([str(recipe)])
    assert model_args.model_name_or_path and data_args.dataset and training_args.output_dir


def test_flags_override_the_yaml(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"learning_rate": 0.1, "num_epochs": 3, "model_config": {"backbone": "small3d"}}))
    model_args, _, training_args = parse_recipe([str(recipe), "--learning_rate", "0.5"])
    assert training_args.learning_rate == 0.5 and training_args.num_epochs == 3
    assert model_args.model_config == {"backbone": "small3d"}
    model_args, _, _ = parse_recipe([str(recipe), "--model_config", '{"small3d_channels": [4]}'])
    assert model_args.model_config == {"small3d_channels": [4]}


def test_unknown_keys_fail_with_a_suggestion(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"learning_rte": 0.1, "num_epochs": 3}))
    with pytest.raises(RecipeError, match=r"unknown keys: 'learning_rte' \(did you mean 'learning_rate'\?\)"):
        parse_recipe([str(recipe)])
    with pytest.raises(RecipeError, match="unknown arguments"):
        parse_recipe(["--num_epoch", "3"])


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--optimizer", "adam"], "optimizer='adam' is not one of: adamw, sgd"),
        (["--mixed_precision", "fp8"], "mixed_precision='fp8' is not one of: no, fp16, bf16"),
        (["--split_ratios", "0.5", "0.2", "0.2"], "split_ratios must be three shares summing to 1"),
        (["--label_smoothing", "1.5"], r"label_smoothing must be in \[0, 1\)"),
        (["--push_to_hub", "true"], "push_to_hub needs hub_model_id"),
        (["--report_to", "comet"], "report_to='comet' is not one of"),
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
