"""Reading published checkpoints: tensors only (never code), from a file or torch's hub cache without network,
nested and DataParallel layouts; a converter's output loads whole or not at all."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from surgical_skill.models.reference_weights import (
    WeightConversionError,
    check_mapped,
    load_converted,
    read_reference_checkpoint,
)


def _state() -> dict[str, torch.Tensor]:
    return nn.Linear(3, 2).state_dict()


def test_nested_checkpoint_with_dataparallel_prefix_is_unwrapped(tmp_path):
    state = _state()
    path = tmp_path / "X3D_M.pyth"
    torch.save({"epoch": 3, "model_state": {f"module.{k}": v for k, v in state.items()}}, path)
    read = read_reference_checkpoint(path, what="test")
    assert sorted(read) == sorted(state)
    for key, value in state.items():
        assert torch.equal(read[key], value)


def test_a_url_already_in_the_hub_cache_is_read_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "weights.pt"
    cached.parent.mkdir(parents=True)
    torch.save(_state(), cached)
    read = read_reference_checkpoint("https://example.invalid/zoo/weights.pt", what="test")
    assert sorted(read) == ["bias", "weight"]


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch ran-the-payload",))


def test_a_checkpoint_that_holds_code_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"model_state": _state(), "extra": _Payload()}, path)
    with pytest.raises(WeightConversionError, match=r"evil\.pt.*weights_only"):
        read_reference_checkpoint(path, what="test")
    assert not (tmp_path / "ran-the-payload").exists()


def test_missing_file_and_a_file_without_tensors_say_which(tmp_path):
    with pytest.raises(WeightConversionError, match=r"no checkpoint file at .*nowhere\.pt"):
        read_reference_checkpoint(tmp_path / "nowhere.pt", what="test")
    path = tmp_path / "empty.pt"
    torch.save({"epoch": 1}, path)
    with pytest.raises(WeightConversionError, match="holds no state dict"):
        read_reference_checkpoint(path, what="test")


def test_a_converter_output_that_does_not_fit_loads_nothing():
    module = nn.Linear(3, 2)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    good = {k: torch.randn_like(v) for k, v in before.items()}
    for bad, message in (
        ({"weight": good["weight"]}, "1 missing .*bias"),
        ({**good, "extra": torch.zeros(1)}, "1 not used .*extra"),
        ({**good, "bias": torch.zeros(5)}, r"another shape .*bias \(5,\) vs \(2,\)"),
    ):
        with pytest.raises(WeightConversionError, match=message):
            load_converted(module, bad, what="test")
        for key, value in module.state_dict().items():
            assert torch.equal(value, before[key])
    load_converted(module, good, what="test")
    assert torch.equal(module.weight, good["weight"])
    check_mapped(good, module.state_dict(), what="test")


def test_backbone_weights_is_refused_where_it_cannot_apply(tmp_path):
    from surgical_skill.errors import UsageError
    from surgical_skill.models import build_model

    path = tmp_path / "weights.pt"
    torch.save(_state(), path)
    with pytest.raises(UsageError, match="come from torchvision: use backbone_pretrained=True"):
        build_model("small3d", backbone_weights=str(path))
    with pytest.raises(UsageError, match=r"backbone_weights is for x3d_s, .*; start videomae from a pretrained"):
        build_model(
            "videomae",
            backbone_weights=str(path),
            num_hidden_layers=1,
            hidden_size=32,
            num_attention_heads=1,
            intermediate_size=32,
        )
    saved = tmp_path / "saved"
    build_model("small3d", small3d_channels=[4]).save_pretrained(saved)
    with pytest.raises(UsageError, match="saved model and brings its own weights"):
        build_model(str(saved), backbone_weights=str(path))


def test_a_recipe_with_backbone_weights_for_another_model_is_refused_when_parsed(tmp_path):
    from surgical_skill.errors import UsageError
    from surgical_skill.training import ModelArguments

    assert ModelArguments(model_name_or_path="x3d_m", backbone_weights="").backbone_weights is None
    assert ModelArguments(model_name_or_path="i3d", backbone_weights="rgb_imagenet.pt").backbone_weights
    with pytest.raises(UsageError, match=r"backbone_weights is for x3d_s, .*r3d_18 is not one of them"):
        ModelArguments(model_name_or_path="r3d_18", backbone_weights="X3D_M.pyth")
