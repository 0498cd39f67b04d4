"""torchvision's pretrained backbone weights are read with ``weights_only=True``: a pickle planted at the exact
path torch's hub cache gives a download (``TORCH_HOME``) is refused in one line and its payload never runs; a
genuine state dict saved there loads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torchvision

from surgical_skill.errors import SurgicalSkillError
from surgical_skill.models import build_model
from surgical_skill.models.backbones import TorchvisionWeightsError

LABELS = ["lower-skilled", "higher-skilled"]


class _Payload:
    """Unpickling this (``weights_only=False``) runs ``touch <marker>``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _cache_file(tmp_path: Path, backbone: str) -> Path:
    url = torchvision.models.get_model_weights(backbone).DEFAULT.url
    path = tmp_path / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_a_pickle_payload_in_the_hub_cache_is_refused_without_running(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    marker = tmp_path / "payload-ran"
    state = torchvision.models.video.r3d_18().state_dict()
    torch.save({**state, "evil": _Payload(marker)}, _cache_file(tmp_path, "r3d_18"))
    with pytest.raises(TorchvisionWeightsError) as err:
        build_model("r3d_18", id2label=LABELS, backbone_pretrained=True)
    message = str(err.value)
    assert isinstance(err.value, SurgicalSkillError) and "\n" not in message  # the CLI prints it as one line
    assert str(_cache_file(tmp_path, "r3d_18")) in message and "weights_only=True" in message
    assert "posix.system" in message or "os.system" in message  # what the file asked to run
    assert not marker.exists()


def test_a_genuine_state_dict_in_the_hub_cache_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    reference = torchvision.models.video.r3d_18()
    torch.save(reference.state_dict(), _cache_file(tmp_path, "r3d_18"))
    model = build_model("r3d_18", id2label=LABELS, backbone_pretrained=True)
    torch.testing.assert_close(model.backbone.stem[0].weight, reference.stem[0].weight)
    torch.testing.assert_close(model.backbone.layer4[1].conv2[0].weight, reference.layer4[1].conv2[0].weight)
