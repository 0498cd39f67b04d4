"""Golden outputs of the reference implementations (PyTorchVideo 0.1.5, piergiaj/pytorch-i3d), so that `make test`
checks, without them installed, that a converted checkpoint gives the reference's features.

The weights are not stored: :func:`seeded_reference_state` makes them from a reference key/shape fixture and a seed
(fan-in scaled, BatchNorm statistics that are not the identity), the same on every machine. The reference's
features for those weights and a seeded clip were computed once with the reference code and saved in
``<name>_golden.safetensors`` (a few kB) by ``python tests/models/golden.py`` (which needs PyTorchVideo importable
and ``PYTORCH_I3D_SOURCE`` pointing at pytorch_i3d.py).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reference_models"


def _rows(name: str) -> list[tuple[str, list[int]]]:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    if isinstance(data, dict):  # i3d.json: {"inception_i3d_rgb": rows}
        data = next(iter(data.values()))
    return [(key, shape) for key, shape in data]


def seeded_reference_state(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with the reference's names and shapes (fixture ``name``): convolution and linear weights
    He-scaled by fan-in, BatchNorm weights near 1, biases and means near 0, variances near 1."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in _rows(name):
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=generator)
        elif len(shape) > 1:  # a convolution or linear weight: (out, in, *kernel)
            fan_in = math.prod(shape[1:])
            state[key] = torch.randn(shape, generator=generator) * math.sqrt(2.0 / fan_in)
        elif key.endswith("weight"):  # a norm's scale
            state[key] = 1.0 + 0.1 * torch.randn(shape, generator=generator)
        else:  # biases, running means
            state[key] = 0.1 * torch.randn(shape, generator=generator)
    return state


def seeded_clip(frames: int, size: int, seed: int = 1) -> torch.Tensor:
    """(2, T, C, H, W) normalised pixel values."""
    return torch.randn(2, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


# name -> (clip frames, clip size): small clips, cheap on a CPU; the features are the global average of the
# last feature map (X3D: after the head's pre-conv, post-conv and ReLU, as the model's pooled features)
CASES = {"x3d_m": (4, 64), "slow_r50": (4, 64), "slowfast_r50": (8, 64), "i3d": (8, 64)}


def load_golden(name: str) -> torch.Tensor:
    return load_file(FIXTURES / f"{name}_golden.safetensors")["features"]


def _reference_features(name: str, state: dict[str, torch.Tensor], clip: torch.Tensor) -> torch.Tensor:
    video = clip.transpose(1, 2)  # (B, C, T, H, W)
    if name == "i3d":
        spec = importlib.util.spec_from_file_location("pytorch_i3d", os.environ["PYTORCH_I3D_SOURCE"])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        reference = module.InceptionI3d(400, in_channels=3)
        reference.load_state_dict(state)
        reference.eval()
        x = video
        for end_point in reference.VALID_ENDPOINTS:
            if end_point in reference.end_points:
                x = reference._modules[end_point](x)
        return x.mean(dim=(2, 3, 4))
    from pytorchvideo.models import hub

    reference = getattr(hub, name)(pretrained=False)
    reference.load_state_dict(state)
    reference.eval()
    if name == "slowfast_r50":  # PackPathway's slow frames, then the stem and stages of both pathways
        index = torch.linspace(0, video.shape[2] - 1, video.shape[2] // 4).long()
        x = [torch.index_select(video, 2, index), video]
        for block in reference.blocks[:-2]:  # the stem and stages; then its pooling (fixed windows) and head
            x = block(x)
        return torch.cat([pathway.mean(dim=(2, 3, 4)) for pathway in x], dim=1)
    x = video
    for block in reference.blocks[:-1]:
        x = block(x)
    if name == "slow_r50":
        return x.mean(dim=(2, 3, 4))
    head = reference.blocks[-1].pool  # X3D's ProjectedPool: pre-conv, norm, act, pool, post-conv, act
    x = head.pre_act(head.pre_norm(head.pre_conv(x)))
    x = x.mean(dim=(2, 3, 4), keepdim=True)
    return head.post_act(head.post_conv(x)).flatten(1)


def write_golden() -> None:
    with torch.no_grad():
        for name, (frames, size) in CASES.items():
            state = seeded_reference_state(name)
            features = _reference_features(name, state, seeded_clip(frames, size))
            save_file({"features": features.contiguous()}, FIXTURES / f"{name}_golden.safetensors")
            print(name, tuple(features.shape), float(features.abs().max()), file=sys.stderr)


if __name__ == "__main__":
    write_golden()
