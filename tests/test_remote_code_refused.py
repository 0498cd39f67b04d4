"""A folder that asks to run its own code is refused in one line and its code never runs: the toolkit loads with
``trust_remote_code=False`` everywhere (``build_model``, the pipeline loader, ``surgical-skill predict``), so
transformers neither imports the folder's module nor asks "run the custom code? [y/N]" (it calls ``input()`` for
that on a terminal when the argument is left out)."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from surgical_skill.errors import ModelLoadError, UsageError
from surgical_skill.models import build_model
from surgical_skill.models.loading import load_trained_model
from surgical_skill.pipeline import load_pipeline
from surgical_skill.testing_utils import make_test_video
from tests.helpers import run_cli, save_tiny_model


def _folder_with_custom_code(folder: Path, marker: Path) -> Path:
    """An unknown model type whose auto_map points at ``evil.py``, which creates ``marker`` when imported."""
    folder.mkdir(parents=True)
    entries = {"AutoConfig": "evil.EvilConfig", "AutoModelForVideoClassification": "evil.EvilModel"}
    config = {"model_type": "evil_video_model", "auto_map": entries, "architectures": ["EvilModel"]}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "video_preprocessor_config.json").write_text(
        json.dumps({"auto_map": {"AutoVideoProcessor": "evil.EvilProcessor"}, "num_frames": 4})
    )
    (folder / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
        "from transformers import PretrainedConfig, PreTrainedModel\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil_video_model'\n"
        "class EvilModel(PreTrainedModel):\n    config_class = EvilConfig\n"
    )
    save_file({"weight": torch.zeros(2)}, str(folder / "model.safetensors"))
    return folder


@pytest.fixture
def no_prompt(monkeypatch):
    """``input()`` records that it was called and answers "y", as a user at transformers' prompt might."""
    asked = []

    def answer(prompt=""):
        asked.append(prompt)
        return "y"

    monkeypatch.setattr(builtins, "input", answer)
    return asked


def _assert_refused(message: str, folder: Path, marker: Path, asked: list) -> None:
    assert "asks to run its own Python code" in message and "trust_remote_code=False" in message
    assert "evil.EvilConfig" in message and str(folder) in message
    assert "\n" not in message.strip()
    assert not marker.exists(), "the folder's code ran"
    assert not asked, "transformers asked whether to run the folder's code"


def test_build_model_refuses_a_folder_that_asks_for_its_own_code(tmp_path, no_prompt):
    marker = tmp_path / "code-ran"
    folder = _folder_with_custom_code(tmp_path / "model", marker)
    with pytest.raises(ModelLoadError) as err:
        build_model(folder, id2label=["a", "b"])
    _assert_refused(str(err.value), folder, marker, no_prompt)


def test_the_pipeline_loader_refuses_it(tmp_path, no_prompt):
    marker = tmp_path / "code-ran"
    folder = _folder_with_custom_code(tmp_path / "model", marker)
    with pytest.raises(ModelLoadError) as err:
        load_pipeline(folder)
    _assert_refused(str(err.value), folder, marker, no_prompt)


def test_predict_refuses_it_in_one_line(tmp_path, no_prompt):
    marker = tmp_path / "code-ran"
    folder = _folder_with_custom_code(tmp_path / "model", marker)
    video = make_test_video(tmp_path / "clip.mp4", 8)
    result = run_cli("predict", video, "--model", folder)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    _assert_refused(result.stderr, folder, marker, no_prompt)


def test_asking_for_remote_code_is_refused_and_a_known_folder_still_loads(tmp_path):
    folder = save_tiny_model(tmp_path / "model")
    with pytest.raises(UsageError, match=r"trust_remote_code=\.\.\.\): surgical-skill never runs"):
        build_model(folder, trust_remote_code=True)
    with pytest.raises(UsageError, match="never runs the Python code"):
        load_trained_model(folder, trust_remote_code=True)
    assert load_trained_model(folder).config.model_type == "surgical_3d_cnn"
    assert load_pipeline(folder).model.config.model_type == "surgical_3d_cnn"


def test_an_unknown_model_type_without_code_is_one_line_too(tmp_path, no_prompt):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "not_a_known_model"}))
    save_file({"weight": torch.zeros(2)}, str(folder / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=r"names a model type that neither surgical-skill nor transformers"):
        build_model(folder, id2label=["a", "b"])
    assert not no_prompt
