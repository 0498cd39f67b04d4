"""Every registered model: forward, loss, backward, a training step, save/load round trip, its processor."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForVideoClassification, AutoVideoProcessor

from surgical_skill.errors import ModelLoadError
from surgical_skill.models import MODEL_REGISTRY, build_model, build_video_processor, list_models
from tests.helpers import TINY_X3D

LABELS = ["lower-skilled", "higher-skilled"]
TINY_VIT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}

# name -> (config overrides for a tiny model, clip shape (T, C, H, W))
TINY = {
    "frame_cnn": ({"backbone": "mobilenet_v3_small", "temporal_pooling": "attention"}, (4, 3, 32, 32)),
    "cnn_rnn": ({"backbone": "mobilenet_v3_small", "rnn_type": "gru", "rnn_hidden_size": 16}, (4, 3, 32, 32)),
    "small3d": ({"small3d_channels": [4, 8]}, (4, 3, 32, 32)),
    "r3d_18": ({}, (4, 3, 32, 32)),
    "mc3_18": ({}, (4, 3, 32, 32)),
    "r2plus1d_18": ({}, (4, 3, 32, 32)),
    "s3d": ({}, (8, 3, 64, 64)),
    "i3d": ({"width_multiplier": 0.0625}, (4, 3, 32, 32)),
    "swin3d_t": ({}, (4, 3, 32, 32)),
    "x3d_s": (TINY_X3D, (4, 3, 32, 32)),
    "x3d_m": (TINY_X3D, (4, 3, 32, 32)),
    "x3d_l": (TINY_X3D, (4, 3, 32, 32)),
    "slow_r50": ({"stage_depths": [1, 1, 1, 1], "stem_channels": 8, "num_frames": 4}, (4, 3, 32, 32)),
    "slowfast_r50": (
        {"stage_depths": [1, 1, 1, 1], "stem_channels": 8, "beta_inv": 4, "num_frames": 8},
        (8, 3, 32, 32),
    ),
    "videomae": ({"image_size": 32, "patch_size": 16, "num_frames": 4, "tubelet_size": 2, **TINY_VIT}, (4, 3, 32, 32)),
    "timesformer": ({"image_size": 32, "patch_size": 16, "num_frames": 4, **TINY_VIT}, (4, 3, 32, 32)),
    "vivit": ({"image_size": 32, "tubelet_size": [2, 16, 16], "num_frames": 4, **TINY_VIT}, (4, 3, 32, 32)),
    "vjepa2": (
        {
            "crop_size": 32,
            "patch_size": 16,
            "frames_per_clip": 4,
            "tubelet_size": 2,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "mlp_ratio": 2.0,
            "pred_hidden_size": 32,
            "pred_num_hidden_layers": 1,
            "pred_num_attention_heads": 2,
            "num_pooler_layers": 1,
        },
        (4, 3, 32, 32),
    ),
}
FAST = [name for name in MODEL_REGISTRY if name in TINY]


def inputs(model, shape, batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return {model.main_input_name: torch.randn(batch, *shape, generator=generator)}


def test_the_test_covers_every_registered_model():
    assert set(MODEL_REGISTRY) - set(TINY) == {"mvit_v2_s"}  # too big for a tiny config: see the slow test


def test_registry_lists_names_and_unknown_names_say_which_exist():
    assert set(list_models()) == set(MODEL_REGISTRY)
    with pytest.raises(ValueError, match=r"unknown model 'resnet9000'.*Known names: frame_cnn, cnn_rnn, small3d"):
        build_model("resnet9000", id2label=LABELS)


@pytest.mark.parametrize("name", FAST)
def test_forward_loss_backward_and_a_step_changes_weights(name):
    overrides, shape = TINY[name]
    torch.manual_seed(0)
    model = build_model(name, id2label=LABELS, **overrides)
    assert model.config.id2label == {0: LABELS[0], 1: LABELS[1]} and model.config.label2id["higher-skilled"] == 1
    model.train()
    batch = inputs(model, shape)
    labels = torch.tensor([0, 1])
    out = model(**batch, labels=labels)
    assert out.logits.shape == (2, 2)
    assert torch.isfinite(out.loss) and out.loss.ndim == 0
    before = {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    out.loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    optimizer.step()
    changed = [k for k, v in model.named_parameters() if v.requires_grad and not torch.equal(v, before[k])]
    assert len(changed) > 0.5 * len(before)


@pytest.mark.parametrize("name", FAST)
def test_save_and_load_with_the_auto_classes_gives_the_same_logits(name, tmp_path):
    overrides, shape = TINY[name]
    model = build_model(name, id2label=LABELS, **overrides).eval()
    processor = build_video_processor(name, config=model.config)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = AutoModelForVideoClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    batch = inputs(model, shape, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits, rtol=0, atol=0)
    assert AutoConfig.from_pretrained(tmp_path).id2label[1] == "higher-skilled"
    again = AutoVideoProcessor.from_pretrained(tmp_path)
    assert type(again) is type(processor)
    assert again.num_frames == processor.num_frames and again.sampling_strategy == processor.sampling_strategy
    assert again.image_mean == processor.image_mean and again.crop_size == processor.crop_size
    # the package's own loader reads it too
    assert build_video_processor(tmp_path).num_frames == processor.num_frames


def test_regression_uses_mse():
    model = build_model("small3d", num_labels=1, small3d_channels=[4])
    assert model.config.problem_type == "regression"
    batch = inputs(model, (4, 3, 16, 16))
    scores = torch.tensor([12.0, 30.0])
    out = model(**batch, labels=scores)
    assert out.logits.shape == (2, 1)
    torch.testing.assert_close(out.loss, F.mse_loss(out.logits.view(-1), scores))


def test_class_weights_and_label_smoothing():
    model = build_model(
        "small3d", id2label=["a", "b", "c"], small3d_channels=[4], class_weights=[1.0, 2.0, 0.5], label_smoothing=0.1
    ).eval()
    batch = inputs(model, (4, 3, 16, 16), batch=4)
    labels = torch.tensor([0, 1, 2, 1])
    out = model(**batch, labels=labels)
    expected = F.cross_entropy(out.logits, labels, weight=torch.tensor([1.0, 2.0, 0.5]), label_smoothing=0.1)
    torch.testing.assert_close(out.loss, expected)
    with pytest.raises(ValueError, match="class_weights has 2 values for 3 labels"):
        build_model("small3d", id2label=["a", "b", "c"], class_weights=[1.0, 2.0])


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("cnn_rnn", {"backbone": "mobilenet_v3_small", "rnn_hidden_size": 8, "bidirectional": True}),
        ("cnn_rnn", {"backbone": "mobilenet_v3_small", "rnn_type": "gru", "rnn_hidden_size": 8}),
        ("frame_cnn", {"backbone": "mobilenet_v3_small", "temporal_pooling": "attention"}),
        ("frame_cnn", {"backbone": "mobilenet_v3_small", "temporal_pooling": "max"}),
        ("frame_cnn", {"backbone": "mobilenet_v3_small", "temporal_pooling": "mean"}),
    ],
)
def test_padded_frames_do_not_change_the_prediction(name, overrides):
    model = build_model(name, id2label=LABELS, **overrides).eval()
    clip = torch.randn(1, 3, 3, 32, 32)
    padded = torch.cat([clip, torch.randn(1, 2, 3, 32, 32)], dim=1)  # 2 frames of padding (garbage on purpose)
    mask = torch.tensor([[True, True, True, False, False]])
    with torch.no_grad():
        alone = model(pixel_values=clip).logits
        masked = model(pixel_values=padded, frame_mask=mask).logits
    torch.testing.assert_close(masked, alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["frame_cnn", "small3d", "videomae"])
def test_frozen_backbone_trains_only_the_head(name):
    overrides, shape = TINY[name]
    model = build_model(name, id2label=LABELS, freeze_backbone=True, **overrides).train()
    # the package's families freeze their CNN (pooling/RNN still learn); transformers' models all but the head
    backbone = model.backbone if hasattr(model, "backbone") else model.base_model
    before = copy.deepcopy(backbone.state_dict())
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model(**inputs(model, shape), labels=torch.tensor([0, 1])).loss.backward()
    optimizer.step()
    after = backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BatchNorm statistics
    assert any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("name", ["frame_cnn", "cnn_rnn", "small3d", "r3d_18"])
def test_gradient_checkpointing_gives_the_same_gradients(name):
    overrides, shape = TINY[name]
    torch.manual_seed(0)
    model = build_model(name, id2label=LABELS, dropout=0.0, **overrides).train()
    batch, labels = inputs(model, shape), torch.tensor([0, 1])

    def gradients():
        model.zero_grad()
        model(**batch, labels=labels).loss.backward()
        return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}

    state = copy.deepcopy(model.state_dict())
    plain = gradients()
    model.load_state_dict(state)  # BatchNorm statistics moved in the first pass
    model.activation_checkpointing_enable()
    assert model.is_activation_checkpointing and model.backbone.gradient_checkpointing
    checkpointed = gradients()
    assert plain.keys() == checkpointed.keys()
    for key in plain:
        torch.testing.assert_close(checkpointed[key], plain[key], rtol=1e-4, atol=1e-6)


def test_forward_has_no_graph_breaks():
    # torch.compile-friendly: dynamo captures the whole forward in one graph (the package's own families)
    for name in ("small3d", "frame_cnn", "x3d_s", "slowfast_r50", "i3d"):
        overrides, shape = TINY[name]
        model = build_model(name, id2label=LABELS, **overrides).eval()
        explanation = torch._dynamo.explain(model)(**inputs(model, shape))
        assert explanation.graph_break_count == 0, (name, explanation.break_reasons)
        torch._dynamo.reset()


@pytest.mark.slow
def test_mvit_v2_s_trains_one_step():
    model = build_model("mvit_v2_s", id2label=LABELS).train()
    batch = inputs(model, (16, 3, 224, 224), batch=1)
    out = model(**batch, labels=torch.tensor([1]))
    out.loss.backward()
    assert out.logits.shape == (1, 2) and torch.isfinite(out.loss)


def test_mvit_v2_s_builds_and_round_trips(tmp_path):
    # cheaper than training it (a forward pass at 16x224x224 takes seconds here): construction, save, load
    model = build_model("mvit_v2_s", id2label=LABELS)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForVideoClassification.from_pretrained(tmp_path)
    original, reloaded = model.state_dict(), loaded.state_dict()
    assert original.keys() == reloaded.keys() and all(torch.equal(original[k], reloaded[k]) for k in original)
    with pytest.raises(ValueError, match="not compatible with gradient checkpointing"):
        model.activation_checkpointing_enable()


# ------------------------------------------------------------------------------------- pretrained weights


def test_videomae_saved_by_transformers_fine_tunes_through_the_factory(tmp_path):
    """The path a Hub checkpoint takes: a folder written by transformers (400 Kinetics classes, an image
    processor only) becomes a 2-class skill model with a fresh head and a matching video processor."""
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification, VideoMAEImageProcessor

    overrides, shape = TINY["videomae"]
    kinetics = VideoMAEForVideoClassification(VideoMAEConfig(num_labels=400, **overrides))
    kinetics.save_pretrained(tmp_path)
    VideoMAEImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(tmp_path)

    model = build_model(tmp_path, id2label=LABELS)
    assert type(model) is VideoMAEForVideoClassification and model.config.num_labels == 2
    # the encoder is the checkpoint's, the head is new
    torch.testing.assert_close(
        model.videomae.embeddings.patch_embeddings.projection.weight,
        kinetics.videomae.embeddings.patch_embeddings.projection.weight,
    )
    processor = build_video_processor(tmp_path, sampling_strategy="uniform")
    assert type(processor).__name__ == "VideoMAEVideoProcessor"
    assert processor.num_frames == 4 and processor.crop_size["height"] == 32

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch, labels = inputs(model, shape, batch=4), torch.tensor([0, 1, 0, 1])
    losses = []
    for _ in range(5):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_torchvision_weights_load_from_the_local_hub_cache(tmp_path, monkeypatch):
    """Users without network put torchvision's file in the torch hub cache; it is found there."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    weights = torchvision.models.get_model_weights("mobilenet_v3_small").DEFAULT
    reference = torchvision.models.mobilenet_v3_small()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(reference.state_dict(), tmp_path / "hub" / "checkpoints" / weights.url.rsplit("/", 1)[-1])
    model = build_model("frame_cnn", id2label=LABELS, backbone="mobilenet_v3_small", backbone_pretrained=True)
    torch.testing.assert_close(model.backbone.features[0][0].weight, reference.features[0][0].weight)


def test_unreachable_weights_give_a_clear_error_not_a_hang(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # nothing cached
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # and nowhere to download from
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    with pytest.raises(RuntimeError, match=r"could not read the torchvision resnet18 weights from https") as err:
        build_model("frame_cnn", id2label=LABELS, backbone_pretrained=True)
    # the message names the exact file to copy there by hand, and how it is read
    assert f"copy it to {tmp_path / 'hub' / 'checkpoints' / 'resnet18-'}" in str(err.value)
    assert "weights_only=True" in str(err.value) and "\n" not in str(err.value)


def test_unknown_hub_id_fails_clearly_offline():
    with pytest.raises(ModelLoadError, match="surgical-skill/no-such-model is no folder here, and as a Hub id") as err:
        build_model("surgical-skill/no-such-model", id2label=LABELS)
    assert isinstance(err.value, OSError) and "\n" not in str(err.value)  # still an OSError; one line
