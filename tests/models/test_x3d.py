"""X3D: the S/M/L presets, PyTorchVideo's checkpoints through the converter, checkpointing, any clip size.

(Training a step and the save/load round trip run for x3d_s/m/l in test_models.py with the tiny config.)"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from surgical_skill.models import (
    X3D_CHECKPOINT_URLS,
    X3D_PRESETS,
    X3DConfig,
    X3DModel,
    build_model,
    build_video_processor,
    convert_pytorchvideo_x3d_state_dict,
)
from surgical_skill.models.reference_weights import WeightConversionError, load_converted
from tests.helpers import TINY_X3D

LABELS = ["lower-skilled", "higher-skilled"]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference_models"
SIZES = ("x3d_s", "x3d_m", "x3d_l")
# PyTorchVideo's hub clips: frames, frame stride, short side, crop
CLIPS = {"x3d_s": (13, 6, 182, 160), "x3d_m": (16, 5, 256, 224), "x3d_l": (16, 5, 356, 312)}


def reference_state(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict with exactly the names and shapes of PyTorchVideo's ``name`` (see make_x3d.py)."""
    generator = torch.Generator().manual_seed(seed)
    rows = json.loads((FIXTURES / f"{name}.json").read_text())
    return {key: torch.randn(shape, generator=generator) if shape else torch.tensor(7) for key, shape in rows}


@pytest.mark.parametrize("name", SIZES)
def test_each_size_builds_and_takes_the_reference_weights_whole(name):
    model = build_model(name, id2label=LABELS)
    frames, stride, side, crop = CLIPS[name]
    assert (model.config.num_frames, model.config.image_size) == (frames, crop)
    processor = build_video_processor(name, config=model.config)
    assert processor.num_frames == frames and processor.frame_stride == stride
    assert processor.size["shortest_edge"] == side and processor.crop_size == {"height": crop, "width": crop}
    assert list(processor.image_mean) == [0.45] * 3 and list(processor.image_std) == [0.225] * 3

    reference = reference_state(name)
    converted = convert_pytorchvideo_x3d_state_dict(reference, model.config)
    load_converted(model.x3d, converted, what=name)  # every tensor placed, none missing, none left over
    assert len(converted) == len(reference) - 2  # all but the Kinetics projection
    backbone = model.x3d.backbone
    torch.testing.assert_close(backbone.stem.conv_xy.weight, reference["blocks.0.conv.conv_t.weight"])
    torch.testing.assert_close(backbone.head.post_conv.weight, reference["blocks.5.pool.post_conv.weight"])
    se = reference["blocks.1.res_blocks.0.branch2.norm_b.1.block.0.weight"]
    torch.testing.assert_close(backbone.stage1[0].se.reduce.weight, se)
    # the same parameter count as the reference without its 400-class projection
    parameters = {k: v for k, v in reference.items() if not k.endswith(("running_mean", "running_var", "tracked"))}
    expected = sum(v.numel() for k, v in parameters.items() if ".proj." not in k)
    assert sum(p.numel() for p in model.x3d.parameters()) == expected


def test_x3d_s_and_m_share_an_architecture_and_l_is_deeper():
    def blocks(config):
        backbone = X3DModel(config).backbone
        return [len(getattr(backbone, f"stage{i}")) for i in range(1, 5)]

    assert blocks(X3DConfig(**X3D_PRESETS["x3d_s"])) == blocks(X3DConfig()) == [3, 5, 11, 7]
    assert blocks(X3DConfig(**X3D_PRESETS["x3d_l"])) == [5, 10, 25, 15]


def test_a_checkpoint_that_does_not_fit_is_refused_whole():
    config = X3DConfig()
    model = X3DModel(config)
    before = copy.deepcopy(model.state_dict())
    good = reference_state("x3d_m")

    missing = dict(good)
    del missing["blocks.3.res_blocks.1.branch2.conv_b.weight"]
    with pytest.raises(WeightConversionError, match=r"1 missing \(first: backbone.stage3.1.conv_b.weight"):
        load_converted(model, convert_pytorchvideo_x3d_state_dict(missing, config), what="X3D-M")

    reshaped = {**good, "blocks.4.res_blocks.0.branch2.norm_a.weight": torch.zeros(5)}
    with pytest.raises(WeightConversionError, match=r"1 of another shape \(first: backbone.stage4.0.norm_a.weight"):
        load_converted(model, convert_pytorchvideo_x3d_state_dict(reshaped, config), what="X3D-M")

    for extra in ("blocks.5.pool.post_norm.weight", "blocks.6.proj.weight", "head.fc.weight"):
        with pytest.raises(WeightConversionError, match=f"no place for \\(first: {extra}"):
            convert_pytorchvideo_x3d_state_dict({**good, extra: torch.zeros(1)}, config)

    deeper = {**good, "blocks.2.res_blocks.9.branch2.conv_a.weight": torch.zeros(1)}  # a block X3D-M lacks
    with pytest.raises(WeightConversionError, match="1 not used"):
        load_converted(model, convert_pytorchvideo_x3d_state_dict(deeper, config), what="X3D-M")

    with pytest.raises(WeightConversionError, match="not used"):  # X3D-L's weights, X3D-M's config
        load_converted(model, convert_pytorchvideo_x3d_state_dict(reference_state("x3d_l"), config), what="X3D-M")
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing loaded half-way


def test_pretrained_weights_load_from_a_file_and_from_the_hub_cache(tmp_path, monkeypatch):
    reference = reference_state("x3d_s", seed=1)
    path = tmp_path / "X3D_S.pyth"
    torch.save({"model_state": reference, "epoch": 200}, path)  # the model zoo's layout
    model = build_model("x3d_s", id2label=LABELS)
    model.load_pretrained_backbone(path)
    torch.testing.assert_close(model.backbone.stem.conv_t.weight, reference["blocks.0.conv.conv_xy.weight"])
    # build_model's backbone_weights (a recipe's): the flag is saved, the file's path is not
    model = build_model("x3d_s", id2label=LABELS, backbone_weights=str(path))
    torch.testing.assert_close(model.backbone.stem.conv_t.weight, reference["blocks.0.conv.conv_xy.weight"])
    assert model.config.backbone_pretrained is True and str(tmp_path) not in model.config.to_json_string()

    # build_model(backbone_pretrained=True) reads the default URL's file from torch's hub cache (no network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    path.rename(cache / X3D_CHECKPOINT_URLS["x3d_s"].rsplit("/", 1)[-1])
    model = build_model("x3d_s", id2label=LABELS, backbone_pretrained=True)
    running = reference["blocks.2.res_blocks.1.branch2.norm_b.0.running_var"]
    torch.testing.assert_close(model.backbone.stage2[1].norm_b.running_var, running)
    with pytest.raises(WeightConversionError, match="no checkpoint file at"):
        model.load_pretrained_backbone(tmp_path / "nowhere.pyth")


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = build_model("x3d_m", id2label=LABELS, dropout=0.0, **TINY_X3D).train()
    batch = {"pixel_values": torch.randn(2, 4, 3, 32, 32), "labels": torch.tensor([0, 1])}

    def gradients():
        model.zero_grad()
        model(**batch).loss.backward()
        return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}

    state = copy.deepcopy(model.state_dict())
    plain = gradients()
    model.load_state_dict(state)  # BatchNorm statistics moved in the first pass
    model.activation_checkpointing_enable()
    assert model.is_activation_checkpointing and model.backbone.gradient_checkpointing
    checkpointed = gradients()
    assert plain.keys() == checkpointed.keys() and len(plain) == len(list(model.parameters()))
    for key in plain:
        torch.testing.assert_close(checkpointed[key], plain[key], rtol=1e-4, atol=1e-6)


def test_any_clip_length_and_frame_size_gives_one_feature_vector():
    model = X3DModel(X3DConfig(**TINY_X3D)).eval()
    with torch.no_grad():
        for shape in ((4, 3, 32, 32), (7, 3, 48, 64), (1, 3, 40, 40)):
            assert model(torch.randn(2, *shape)).pooler_output.shape == (2, 32)


def test_config_refuses_what_it_cannot_build():
    with pytest.raises(ValueError, match="unknown X3D backbone 'x3d_xl'; known: x3d_s, x3d_m, x3d_l"):
        X3DConfig(backbone="x3d_xl")
    with pytest.raises(ValueError, match="stage_spatial_stride has 3 entries for 4 stages"):
        X3DConfig(stage_spatial_stride=[2, 2, 2])


def test_features_match_pytorchvideo():
    """Same weights, same clip, eval mode: the reference's pooled head features and logits (runs only where
    PyTorchVideo imports; it is not a dependency)."""
    pytest.importorskip("pytorchvideo")
    from pytorchvideo.models.x3d import create_x3d

    torch.manual_seed(0)
    reference = create_x3d(
        input_clip_length=4,
        input_crop_size=32,
        model_num_class=3,
        width_factor=1.0,
        depth_factor=1.0,
        stem_dim_in=8,
        head_dim_out=32,
    )
    # create_x3d's stage depths are fixed at [1, 2, 5, 3]
    config = X3DConfig(**{**TINY_X3D, "stage_depths": [1, 2, 5, 3]})
    with torch.no_grad():  # BatchNorm statistics that are not the identity
        for name, buffer in reference.named_buffers():
            if "running" in name:
                buffer.copy_(torch.rand_like(buffer) + 0.5 if "var" in name else torch.randn_like(buffer))
    reference.eval()
    ours = X3DModel(config).eval()
    load_converted(ours, convert_pytorchvideo_x3d_state_dict(reference.state_dict(), config), what="reference")
    clip = torch.randn(2, 4, 3, 32, 32)  # (B, T, C, H, W)
    features = {}
    reference.blocks[-1].pool.register_forward_hook(lambda m, i, out: features.update(pool=out.flatten(1)))
    reference.blocks[-1].proj.register_forward_hook(lambda m, i, out: features.update(logits=out.flatten(1)))
    with torch.no_grad():
        reference(clip.transpose(1, 2))
        pooled = ours(clip).pooler_output
        logits = torch.nn.functional.linear(pooled, reference.blocks[-1].proj.weight, reference.blocks[-1].proj.bias)
    torch.testing.assert_close(pooled, features["pool"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits, features["logits"], rtol=1e-5, atol=1e-5)
