"""What a saved model folder holds does not change with the code's layout: the families' state-dict keys and
config.json, recorded before models/common.py was split.
Also the loss by ``problem_type`` (transformers' convention) and the deprecated ``models.common`` module."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel, PretrainedConfig

from surgical_skill.models import build_model, infer_problem_type, is_regression_model, skill_loss, skill_loss_terms
from surgical_skill.models.backbones import BACKBONES_2D
from surgical_skill.models.modeling_base import SkillPreTrainedModel

# state-dict keys and config.json of each family, recorded with the code before the split (commit 06e76f3); a
# folder saved then is tested in tests/test_compat.py
LAYOUT = json.loads((Path(__file__).parents[1] / "fixtures" / "legacy-0.1" / "model_layouts.json").read_text())
LABELS = ["lower-skilled", "higher-skilled"]


@pytest.mark.parametrize("name", sorted(LAYOUT))
def test_state_dict_keys_and_config_are_those_saved_before(name):
    recorded = LAYOUT[name]
    model = build_model(name, id2label=LABELS, **recorded["overrides"])
    assert list(model.state_dict()) == recorded["model_for_video_classification"]
    assert list(AutoModel.from_config(model.config).state_dict()) == recorded["model"]
    saved = json.loads(model.config.to_json_string())  # what save_pretrained writes to config.json
    saved.pop("transformers_version", None)
    # a newer transformers may add its own keys; the package's keys and values stay as they were
    assert {key: saved.get(key) for key in recorded["config.json"]} == recorded["config.json"]
    assert set(saved) - set(recorded["config.json"]) <= set(PretrainedConfig().to_dict())


# ------------------------------------------------------------------------------------------ problem_type


def _tiny(**config):
    return build_model("small3d", small3d_channels=[4], **config).eval()


def test_the_head_sets_problem_type_from_the_labels_as_transformers_does():
    clip = torch.randn(2, 4, 3, 16, 16)
    model = _tiny(id2label=LABELS)
    assert model.config.problem_type is None and not is_regression_model(model.config)
    out = model(pixel_values=clip, labels=torch.tensor([0, 1]))
    assert model.config.problem_type == "single_label_classification"
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, torch.tensor([0, 1])))

    multi = _tiny(id2label=["tremor", "pauses", "hesitation"])
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    out = multi(pixel_values=clip, labels=targets)
    assert multi.config.problem_type == "multi_label_classification"
    torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(out.logits, targets))


def test_a_regression_config_uses_mse_for_one_or_several_scores():
    clip = torch.randn(2, 4, 3, 16, 16)
    scores = torch.tensor([[12.0, 3.0], [30.0, 4.0]])
    model = _tiny(num_labels=2, problem_type="regression")
    assert is_regression_model(model.config)
    out = model(pixel_values=clip, labels=scores)
    torch.testing.assert_close(out.loss, F.mse_loss(out.logits, scores))


def test_the_loss_terms_leave_the_config_alone():
    config = PretrainedConfig(num_labels=3)
    logits, labels = torch.randn(4, 3), torch.tensor([0, 2, 1, 1])
    summed, count = skill_loss_terms(logits, labels, config)
    assert config.problem_type is None and count == 4
    torch.testing.assert_close(summed, F.cross_entropy(logits, labels, reduction="sum"))
    assert infer_problem_type(config, labels) == "single_label_classification"
    assert infer_problem_type(PretrainedConfig(num_labels=1), labels.float()) == "regression"
    torch.testing.assert_close(skill_loss(logits, labels, config), F.cross_entropy(logits, labels))
    with pytest.raises(ValueError, match="unknown problem_type 'ranking'"):
        skill_loss(logits, labels, PretrainedConfig(num_labels=3, problem_type="ranking"))


# ------------------------------------------------------------------------------------------ deprecated module


def test_models_common_still_imports_with_a_future_warning():
    sys.modules.pop("surgical_skill.models.common", None)
    with pytest.warns(FutureWarning, match=r"surgical_skill\.models\.common` is deprecated.*losses"):
        common = importlib.import_module("surgical_skill.models.common")
    assert common.skill_loss is skill_loss and common.BACKBONES_2D is BACKBONES_2D
    assert common.SkillPreTrainedModel is SkillPreTrainedModel
