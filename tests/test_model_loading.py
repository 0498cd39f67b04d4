"""Loading a model a user names: what a folder is instead of a model, weights that do not fit, safetensors only."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from surgical_skill.errors import ModelLoadError, SurgicalSkillError, UsageError, run_reporting_errors
from surgical_skill.models import (
    build_model,
    check_device,
    check_model_source,
    load_trained_model,
    load_trained_video_processor,
)
from surgical_skill.pipeline import load_pipeline, run_inference
from tests.helpers import load_train_script, run_cli, save_tiny_model, write_tiny_recipe


def _copy(source, target, *, drop=(), config=None):
    shutil.copytree(source, target)
    for name in drop:
        (target / name).unlink()
    if config:
        values = json.loads((target / "config.json").read_text())
        (target / "config.json").write_text(json.dumps({**values, **config}))
    return target


@pytest.fixture(scope="module")
def folders(tmp_path_factory, videos):
    """Every kind of folder a user may give as a model, keyed by what it is."""
    root = tmp_path_factory.mktemp("models")
    run = root / "run"
    good = save_tiny_model(run / "model")
    (run / "eval").mkdir()
    (run / "eval" / "report.md").write_text("# report\n")
    (root / "empty").mkdir()
    (root / "videos").mkdir()
    for key in ("short_gop", "mkv"):
        shutil.copy(videos[key], root / "videos" / videos[key].name)
    return {
        "good": good,
        "run": run,
        "empty": root / "empty",
        "videos": root / "videos",
        "sibling": run / "eval",
        "no_weights": _copy(good, root / "no_weights", drop=["model.safetensors"]),
        "mismatched": _copy(good, root / "mismatched", config={"small3d_channels": [8, 16]}),
        "no_processor": _copy(good, root / "no_processor", drop=["video_preprocessor_config.json"]),
        "pickle": save_tiny_model(root / "pickle", pickle=True),
    }


# what the message must say: what the folder is, and what to do
NOT_A_MODEL = {
    "empty": ("is an empty folder, not a model", "give a model folder saved by training"),
    "videos": ("holds 2 video file(s)", "the videos to score go before the options"),
    "sibling": ("holds no model (no config.json)", "the run's model is beside it: give"),
    "run": ("is a training run, not its model", "give its model folder"),
    "no_weights": ("has a config.json but no weights", "copy model.safetensors beside config.json"),
    "mismatched": ("have other sizes than config.json describes", "put back the config.json saved with these"),
    "pickle": ("only as a pickle checkpoint (pytorch_model.bin)", "--allow-pickle"),
}


@pytest.mark.parametrize("kind", NOT_A_MODEL)
def test_a_folder_that_is_no_loadable_model_says_what_it_is_and_what_to_do(folders, kind):
    what, todo = NOT_A_MODEL[kind]
    with pytest.raises(ModelLoadError) as caught:
        load_trained_model(folders[kind])
    message = str(caught.value)
    assert what in message and todo in message and "\n" not in message
    assert isinstance(caught.value, OSError)  # what `from_pretrained` callers catch


def test_no_video_processor_is_named_before_loading(folders):
    assert check_model_source(folders["no_processor"], processor=False) == "folder"
    with pytest.raises(ModelLoadError, match=r"no video processor config \(video_preprocessor_config\.json\)"):
        check_model_source(folders["no_processor"])
    with pytest.raises(ModelLoadError, match="save the processor used in training"):
        load_trained_video_processor(folders["no_processor"])


def test_missing_paths_and_offline_hub_ids(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model folder"):  # a ModelNotFoundError
        load_trained_model(tmp_path / "runs" / "demo" / "model")
    # the tests run with HF_HUB_OFFLINE=1 (conftest), as a user without network would
    with pytest.raises(ModelLoadError, match=r"not in the local cache .*HF_HUB_OFFLINE=1.*hf download my-lab/nope"):
        load_trained_model("my-lab/nope")


def test_the_weights_that_load_are_the_ones_saved(folders):
    model = load_trained_model(folders["good"])
    assert torch.equal(model.classifier.weight, build_model(folders["good"]).classifier.weight)


def test_a_pickle_checkpoint_loads_only_when_asked_and_then_only_as_tensors(folders, tmp_path):
    with pytest.raises(ModelLoadError, match="unpickling a file can run any code"):
        build_model(folders["pickle"])  # the fine-tuning path refuses it too
    pickled = load_trained_model(folders["pickle"], allow_pickle=True)
    safe = load_trained_model(folders["good"])
    assert pickled.state_dict().keys() == safe.state_dict().keys()

    # weights_only=True: a pickle that would run code is refused, and the code never runs
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    hostile = _copy(folders["pickle"], tmp_path / "hostile")
    state = torch.load(hostile / "pytorch_model.bin", weights_only=True)
    torch.save({**state, "extra": Payload()}, hostile / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match=r"holds more than tensors .*refused even with --allow-pickle"):
        load_trained_model(hostile, allow_pickle=True)
    assert not marker.exists()


def test_a_damaged_weights_file_is_one_message(folders, tmp_path):
    damaged = _copy(folders["good"], tmp_path / "damaged")
    data = (damaged / "model.safetensors").read_bytes()
    (damaged / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="damaged or incomplete"):
        load_trained_model(damaged)


def test_load_pipeline_scores_with_the_checked_model(folders, videos):
    with pytest.raises(ModelLoadError, match="pickle checkpoint"):
        load_pipeline(folders["pickle"])
    skill = load_pipeline(folders["pickle"], allow_pickle=True, device="cpu")
    result = skill(str(videos["short_gop"]), num_clips=2)
    assert result["metadata"]["clips"] == 2 and skill.video_processor.num_frames == 4
    with pytest.raises(ModelLoadError, match="is a training run"):
        run_inference(folders["run"], videos["short_gop"])


def test_devices_that_are_not_here(monkeypatch):
    check_device(None)
    check_device("cpu")
    with pytest.raises(UsageError, match="not a device torch knows"):
        check_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match=r"no CUDA device is visible.*use --device cpu"):
            check_device("cuda")
    # a machine with two GPUs, told to use a third
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_device("cuda:1")
    with pytest.raises(UsageError, match=r"only 2 CUDA device\(s\) are visible"):
        check_device(3)
    assert issubclass(UsageError, SurgicalSkillError)


def one_line_error(result) -> str:
    """The command failed as a user's mistake: exit code 2 and one ``error:`` line, no traceback."""
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not result.stdout
    return lines[0]


@pytest.mark.parametrize("kind", [*NOT_A_MODEL, "no_processor", "hub_id_offline"])
def test_predict_with_a_folder_that_is_no_model_is_one_line(folders, videos, kind):
    model = "my-lab/suturing-skill" if kind == "hub_id_offline" else folders[kind]
    line = one_line_error(run_cli("predict", videos["short_gop"], "--model", model))
    if kind in NOT_A_MODEL:
        assert all(part in line for part in NOT_A_MODEL[kind])


@pytest.mark.parametrize("kind", ["empty", "videos", "no_weights", "mismatched", "pickle"])
def test_evaluate_with_a_folder_that_is_no_model_is_one_line(folders, kind, tmp_path):
    line = one_line_error(
        run_cli("evaluate", folders[kind], "--dataset", tmp_path / "any.csv", "--output-dir", tmp_path / "out")
    )
    assert not (tmp_path / "out").exists()
    if kind in NOT_A_MODEL:
        assert NOT_A_MODEL[kind][0] in line


def test_predict_loads_a_pickle_checkpoint_with_allow_pickle(folders, videos):
    result = run_cli(
        "predict", videos["short_gop"], "--model", folders["pickle"], "--num-clips", "1", "--allow-pickle"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 clips" in result.stdout


def test_fine_tuning_from_a_pickle_checkpoint_needs_the_recipes_allow_pickle(
    folders, synthetic_manifest, tmp_path, capsys
):
    """recipes/train.py refuses a starting folder with only pytorch_model.bin in one line naming the recipe key,
    and trains from it with ``allow_pickle: true``."""
    train = load_train_script()
    keys = {"model_name_or_path": str(folders["pickle"]), "model_config": None}
    refused = write_tiny_recipe(tmp_path / "refused.yaml", synthetic_manifest, output_dir=str(tmp_path / "a"), **keys)
    assert run_reporting_errors(lambda: train.main([str(refused)])) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (message,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "pickle checkpoint" in message and "allow_pickle: true" in message

    allowed = write_tiny_recipe(
        tmp_path / "allowed.yaml", synthetic_manifest, output_dir=str(tmp_path / "b"), allow_pickle=True, **keys
    )
    assert train.main([str(allowed)]) == 0
    assert (tmp_path / "b" / "model" / "model.safetensors").is_file()  # what it saves is safetensors again
