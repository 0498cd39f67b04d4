"""Slow-R50 and SlowFast-R50: one clip in, PyTorchVideo's pathway packing, gradient checkpointing, and the
converter of PyTorchVideo's published checkpoints (checked on the reference's full-size key/shape lists)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from surgical_skill.models import SlowFastConfig, SlowFastForVideoClassification, build_model, build_video_processor
from surgical_skill.models.reference_weights import WeightConversionError, load_converted
from surgical_skill.models.slowfast.convert_slowfast import convert_pytorchvideo_slowfast_state_dict
from surgical_skill.models.slowfast.modeling_slowfast import pack_pathways

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference_models"
LABELS = ["lower-skilled", "higher-skilled"]
TINY = {
    "slow_r50": {"stage_depths": [1, 1, 1, 1], "stem_channels": 8, "num_frames": 4},
    "slowfast_r50": {"stage_depths": [1, 1, 1, 1], "stem_channels": 8, "beta_inv": 4, "num_frames": 8},
}


def clip(frames: int, size: int = 32, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def full_size():
    """The full-size models (built once: seconds each), by registry name."""
    return {name: build_model(name, id2label=LABELS) for name in ("slow_r50", "slowfast_r50")}


def reference_state(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict with exactly the names and shapes of PyTorchVideo's ``name``."""
    generator = torch.Generator().manual_seed(seed)
    rows = json.loads((FIXTURES / f"{name}.json").read_text())
    return {
        key: torch.randint(0, 100, shape, generator=generator)
        if key.endswith("num_batches_tracked")
        else torch.randn(shape, generator=generator)
        for key, shape in rows
    }


# ------------------------------------------------------------------------------------- one clip, two pathways


def test_the_slow_pathway_takes_frames_as_pytorchvideos_pack_pathway():
    frames = torch.arange(32.0).view(1, 1, 32, 1, 1)  # (B, C, T, H, W), frame t holds t
    slow, fast = pack_pathways(frames, alpha=4)
    # PyTorchVideo's PackPathway: torch.linspace(0, T - 1, T // alpha).long()
    assert slow.flatten().tolist() == [0, 4, 8, 13, 17, 22, 26, 31] and fast is frames


def test_a_clip_whose_length_does_not_fit_alpha_is_refused_in_one_line():
    model = build_model("slowfast_r50", id2label=LABELS, **TINY["slowfast_r50"]).eval()
    with pytest.raises(ValueError, match=r"multiple of alpha=4 frames.*got 10: sample 8 frames") as err:
        model(pixel_values=clip(10))
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="num_frames=30 is not"):
        SlowFastConfig(backbone="slowfast_r50", num_frames=30)


@pytest.mark.parametrize("name, frames, stride, dim", [("slow_r50", 8, 8, 2048), ("slowfast_r50", 32, 2, 2304)])
def test_processor_and_model_agree_on_the_reference_clip(name, frames, stride, dim, full_size):
    model = full_size[name]  # built, not run
    processor = build_video_processor(name, config=model.config)
    assert model.config.num_frames == processor.num_frames == frames
    assert name == "slow_r50" or processor.num_frames % model.config.alpha == 0
    assert processor.frame_stride == stride and processor.sampling_strategy == "clip"
    assert processor.size == {"shortest_edge": 256} and processor.crop_size == {"height": 256, "width": 256}
    assert list(processor.image_mean) == [0.45] * 3 and list(processor.image_std) == [0.225] * 3
    assert model.slowfast.feature_dim == dim and model.classifier.in_features == dim


@pytest.mark.parametrize("size", [64])
def test_other_clip_sizes_work(size):
    model = build_model("slowfast_r50", id2label=LABELS, **{**TINY["slowfast_r50"], "num_frames": 16}).eval()
    with torch.no_grad():
        out = model.slowfast(clip(16, size))
    assert out.pooler_output.shape == (2, model.slowfast.feature_dim)
    assert out.last_hidden_state.shape[2] == 4  # the slow pathway: 16 / alpha frames


@pytest.mark.parametrize("name", ["slow_r50", "slowfast_r50"])
def test_gradient_checkpointing_gives_the_same_gradients(name):
    torch.manual_seed(0)
    model = build_model(name, id2label=LABELS, dropout=0.0, **TINY[name]).train()
    batch, labels = clip(TINY[name]["num_frames"]), torch.tensor([0, 1])

    def gradients():
        model.zero_grad()
        model(pixel_values=batch, labels=labels).loss.backward()
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


# ------------------------------------------------------------------------------------- PyTorchVideo's weights


@pytest.mark.parametrize("name", ["slow_r50", "slowfast_r50"])
def test_the_converter_maps_every_tensor_of_the_reference_checkpoint(name, full_size):
    reference = reference_state(name)
    model = full_size[name]
    converted = convert_pytorchvideo_slowfast_state_dict(reference, model.config)
    # everything but the Kinetics-400 classifier, each tensor once
    assert len(converted) == len(reference) - 2 == len(model.backbone.state_dict())
    load_converted(model.backbone, converted, what=name)  # raises unless every key and shape fits
    loaded = model.backbone.state_dict()
    assert {id(t) for t in converted.values()} == {id(reference[k]) for k in reference if ".proj." not in k}
    assert all(torch.equal(loaded[key], tensor) for key, tensor in converted.items())


def test_a_published_checkpoint_file_loads_through_build_model(tmp_path):
    reference = reference_state("slow_r50", seed=1)
    path = tmp_path / "SLOW_8x8_R50.pyth"
    torch.save({"model_state": reference, "epoch": 196}, path)  # PyTorchVideo's layout
    model = build_model("slow_r50", id2label=LABELS, backbone_weights=str(path))
    assert model.config.backbone_pretrained and str(path) not in model.config.to_json_string()
    torch.testing.assert_close(model.backbone.slow.stem.conv.weight, reference["blocks.0.conv.weight"])
    torch.testing.assert_close(
        model.backbone.slow.stages[3][2].norm_c.running_var,
        reference["blocks.4.res_blocks.2.branch2.norm_c.running_var"],
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ("missing", "1 missing"),
        ("shape", "1 of another shape"),
        ("extra", r"do not map onto slowfast_r50 \(first: blocks\.9\.surprise\.weight\)"),
        ("other model", "do not map onto slowfast_r50"),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_refused(change, message, full_size):
    model = full_size["slowfast_r50"]
    reference = reference_state("slowfast_r50")
    if change == "missing":
        del reference["blocks.2.multipathway_fusion.conv_fast_to_slow.weight"]
    elif change == "shape":
        reference["blocks.1.multipathway_blocks.1.res_blocks.0.branch2.conv_a.weight"] = torch.zeros(8, 8, 1, 1, 1)
    elif change == "extra":
        reference["blocks.9.surprise.weight"] = torch.zeros(1)
    else:
        reference = reference_state("slow_r50")
    before = copy.deepcopy(model.backbone.state_dict())
    with pytest.raises(WeightConversionError, match=message):
        load_converted(model.backbone, convert_pytorchvideo_slowfast_state_dict(reference, model.config), what="x")
    after = model.backbone.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)  # nothing loaded half-way


def test_the_same_features_as_pytorchvideo():
    """Only where PyTorchVideo is importable (it is not a dependency): a small SlowFast built by PyTorchVideo's
    ``create_slowfast`` and by this package give the same features for the same converted weights, including
    PyTorchVideo's stride-1 head pooling on a map larger than its window."""
    slowfast = pytest.importorskip("pytorchvideo.models.slowfast")
    torch.manual_seed(0)
    reference = slowfast.create_slowfast(
        model_depth=18,  # one bottleneck per stage
        stem_dim_outs=(16, 2),
        head_pool_kernel_sizes=((2, 3, 3), (14, 3, 3)),  # windows at 3 x 2 x 2 places
        model_num_class=3,
    ).eval()
    for module in reference.modules():  # non-trivial BatchNorm statistics
        if isinstance(module, torch.nn.BatchNorm3d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
    config = SlowFastConfig(
        backbone="slowfast_r50",
        stage_depths=[1, 1, 1, 1],
        stem_channels=16,
        num_frames=16,
        head_pool_kernel_sizes=[[2, 3, 3], [14, 3, 3]],
    )
    model = SlowFastForVideoClassification(config).eval()
    load_converted(model.backbone, convert_pytorchvideo_slowfast_state_dict(reference.state_dict(), config), what="x")
    pixel_values = clip(16, size=128, batch=1)  # last maps 4 x 4
    video = pixel_values.transpose(1, 2)
    with torch.no_grad():
        x = list(pack_pathways(video, 4))
        for block in reference.blocks[:-1]:
            x = block(x)
        expected = x.mean(dim=(2, 3, 4))  # (1, 128 + 16): the head's projection is linear, then averaged
        got = model.slowfast(pixel_values).pooler_output
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
