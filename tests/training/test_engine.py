"""The training engine: it learns, accumulates exactly, resumes exactly, checkpoints safely, stops early."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForVideoClassification, AutoVideoProcessor, PretrainedConfig

from surgical_skill.data import TooManyDecodeFailuresError
from surgical_skill.errors import SurgicalSkillError
from surgical_skill.training import (
    RecipeError,
    TrainingArguments,
    checkpoints_in,
    fit,
    loop,
    make_accelerator,
    make_loader,
    prepare_training,
    train_one_epoch,
)
from surgical_skill.training.loop import NonFiniteLossError, TrainState, best_model_metric, make_scheduler
from tests.helpers import tiny_arguments, write_tiny_recipe

ROOT = Path(__file__).resolve().parents[2]
TINY_VIDEOMAE = {
    "image_size": 32,
    "patch_size": 16,
    "num_frames": 4,
    "tubelet_size": 2,
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}


def setup(manifest, tmp_path, model_name="small3d", model_config=None, data_overrides=None, **training):
    """Data, model, processor and arguments for a tiny run (4 frames of 32x32, no workers)."""
    model_args, data_args, args = tiny_arguments(
        manifest, tmp_path / "run", model_name, model_config, data_overrides, per_device_eval_batch_size=4, **training
    )
    ready = prepare_training(model_args, data_args, args)
    return ready.model, ready.processor, ready.train_dataset, ready.eval_datasets, ready.clip_decoder, args


def fit_tiny(model, processor, train, evaluation, clip_decoder, args, accelerator=None, **kwargs):
    """``fit`` on what :func:`setup` returns, validating on its validation clips, without workers."""
    return fit(
        accelerator=accelerator or make_accelerator(args),
        model=model,
        processor=processor,
        train_dataset=train,
        eval_dataset=evaluation["validation"],
        args=args,
        clip_decoder=clip_decoder,
        num_workers=0,
        **kwargs,
    )


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_a_tiny_model_learns_and_everything_is_saved(synthetic_manifest, tmp_path):
    model, processor, train, evaluation, clip_decoder, args = setup(
        synthetic_manifest, tmp_path, num_train_epochs=4, learning_rate=0.01, save_every_epochs=2, save_total_limit=1
    )
    args.report_to = ["tensorboard"]
    before = weights(model)
    result = fit_tiny(model, processor, train, evaluation, clip_decoder, args)
    history = result.history
    assert len(history) == 4 and history[-1]["train_loss"] < history[0]["train_loss"]
    after = weights(model)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    run = Path(args.output_dir)
    assert json.loads((run / "training_history.json").read_text()) == json.loads(json.dumps(history, default=float))
    for key in (
        "eval_video_balanced_accuracy",
        "eval_clip_accuracy",
        "eval_loss",
        "clips_per_second",
        "data_wait_share",
        "peak_memory_mb",
        "lr",
    ):
        assert key in history[-1], key
    # the share of each epoch spent waiting for the data loader (also in the log line)
    assert all(0.0 <= record["data_wait_share"] <= 1.0 for record in history)
    # the best model, with its processor, loads with the Auto classes
    loaded = AutoModelForVideoClassification.from_pretrained(result.model_dir)
    assert loaded.config.id2label == {0: "lower-skilled", 1: "higher-skilled"}
    assert (result.model_dir / "model.safetensors").exists()
    assert AutoVideoProcessor.from_pretrained(result.model_dir).num_frames == 4
    # checkpoints after epochs 2 and 4; only the newest is kept, and no half-written one is left
    assert [p.name for p in checkpoints_in(run)] == [f"checkpoint-{history[-1]['step']}"]
    assert not list((run / "checkpoints").glob(".tmp-*"))
    assert list(run.rglob("events.out.tfevents.*"))  # TensorBoard logs


def sgd_epoch(manifest, tmp_path, clips, batch_size, accumulation):
    """One epoch of plain SGD (learning rate 1, no momentum: a step is the gradient) on the first ``clips``
    training clips in order; returns the optimizer steps taken and the change of every weight."""
    # VideoMAE has no BatchNorm, so a batch's result does not depend on how it is split
    torch.manual_seed(0)
    model, _, train, _, clip_decoder, args = setup(
        manifest,
        tmp_path / f"{batch_size}x{accumulation}",
        model_name="videomae",
        model_config=TINY_VIDEOMAE,
        optim="sgd",
        learning_rate=1.0,
        weight_decay=0.0,
        max_grad_norm=None,
        lr_scheduler_type="constant",
        warmup_steps=0.0,
        gradient_accumulation_steps=accumulation,
    )
    args.per_device_train_batch_size = batch_size
    train = train.select(range(clips))
    accelerator = make_accelerator(args)
    loader = make_loader(train, batch_size, shuffle=False, num_workers=0, seed=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    scheduler = make_scheduler(optimizer, args, total_steps=4)
    state = TrainState()
    start = weights(model)
    train_one_epoch(accelerator, model, loader, optimizer, scheduler, state, args, clip_decoder=clip_decoder)
    return state.global_step, {k: start[k] - v for k, v in weights(model).items()}


@pytest.mark.parametrize("clips", [8, 7])
def test_accumulating_two_batches_of_four_equals_one_batch_of_eight(synthetic_manifest, tmp_path, clips):
    steps, one_batch = sgd_epoch(synthetic_manifest, tmp_path, clips, batch_size=8, accumulation=1)
    assert steps == 1
    steps, accumulated = sgd_epoch(synthetic_manifest, tmp_path, clips, batch_size=4, accumulation=2)
    assert steps == 1
    for key in one_batch:
        torch.testing.assert_close(accumulated[key], one_batch[key], rtol=1e-4, atol=1e-6)


def test_a_short_last_window_still_steps(synthetic_manifest, tmp_path):
    """Three batches of four with windows of two: the epoch ends inside the second window, which still makes an
    optimizer step (accelerate's sync_with_dataloader), over its four clips alone: as batches of 8 and 4."""
    steps, batches_of_8_and_4 = sgd_epoch(synthetic_manifest, tmp_path, 12, batch_size=8, accumulation=1)
    assert steps == 2
    steps, accumulated = sgd_epoch(synthetic_manifest, tmp_path, 12, batch_size=4, accumulation=2)
    assert steps == 2
    for key in batches_of_8_and_4:
        torch.testing.assert_close(accumulated[key], batches_of_8_and_4[key], rtol=1e-4, atol=1e-6)


def test_fit_by_position_still_works_with_a_warning(monkeypatch):
    received = {}
    monkeypatch.setattr(loop, "_fit_with_batch_size", lambda batch_size, **kwargs: received.update(kwargs))
    args = TrainingArguments(report_to=["none"])
    with pytest.warns(FutureWarning, match=r"fit\(accelerator=..., model=..."):
        loop.fit("accelerator", "model", "processor", "train", "eval", args)
    assert received["model"] == "model" and received["eval_dataset"] == "eval" and received["args"] is args


def test_bf16_on_cpu_trains(synthetic_manifest, tmp_path):
    model, processor, train, evaluation, clip_decoder, args = setup(
        synthetic_manifest, tmp_path, num_train_epochs=1, mixed_precision="bf16", max_steps=2
    )
    accelerator = make_accelerator(args)
    assert accelerator.mixed_precision == "bf16"
    result = fit_tiny(model, processor, train, evaluation, clip_decoder, args, accelerator=accelerator)
    assert torch.isfinite(torch.tensor(result.history[0]["train_loss"]))


def test_fp16_on_cpu_falls_back_to_full_precision_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        accelerator = make_accelerator(TrainingArguments(mixed_precision="fp16", report_to=["none"]))
    assert accelerator.mixed_precision == "no"
    assert "fp16 needs a GPU" in caplog.text


@pytest.mark.parametrize("accumulation", [1, 3])  # 3: every epoch ends in a short window
def test_resume_mid_epoch_ends_with_the_same_weights(synthetic_manifest, tmp_path, accumulation):
    common = {
        "num_train_epochs": 2,
        "learning_rate": 0.01,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0.0,
        "gradient_accumulation_steps": accumulation,
    }
    # uninterrupted
    model, processor, train, evaluation, clip_decoder, args = setup(synthetic_manifest, tmp_path / "a", **common)
    fit_tiny(model, processor, train, evaluation, clip_decoder, args)
    uninterrupted = weights(model)
    steps_per_epoch = math.ceil(math.ceil(len(train) / 4) / accumulation)  # batches of 4 in windows, the last short
    # stopped one step into the second epoch (a checkpoint every step), then resumed from the latest checkpoint
    model, processor, train, evaluation, clip_decoder, args = setup(
        synthetic_manifest, tmp_path / "b", save_steps=1, max_steps=steps_per_epoch + 1, **common
    )
    fit_tiny(model, processor, train, evaluation, clip_decoder, args)
    assert checkpoints_in(args.output_dir)[-1].name == f"checkpoint-{steps_per_epoch + 1}"
    model, processor, train, evaluation, clip_decoder, args = setup(
        synthetic_manifest, tmp_path / "b", resume_from_checkpoint="latest", **common
    )
    result = fit_tiny(model, processor, train, evaluation, clip_decoder, args)
    resumed = weights(model)
    assert result.history[-1]["step"] == 2 * steps_per_epoch
    for key in uninterrupted:
        torch.testing.assert_close(resumed[key], uninterrupted[key], rtol=0, atol=1e-6)


def test_early_stopping(synthetic_manifest, tmp_path):
    # learning rate 0 and no BatchNorm (VideoMAE): the model, so the metric, never changes
    model, processor, train, evaluation, clip_decoder, args = setup(
        synthetic_manifest,
        tmp_path,
        model_name="videomae",
        model_config=TINY_VIDEOMAE,
        num_train_epochs=10,
        learning_rate=0.0,
        early_stopping_patience=2,
        metric_for_best_model="video_accuracy",
    )
    result = fit_tiny(model, processor, train, evaluation, clip_decoder, args)
    assert result.stopped_early and len(result.history) == 3  # best at 1, no better at 2 and 3


def test_unknown_best_metric_names_the_known_ones(synthetic_manifest, tmp_path):
    # refused when the arguments are made, before any data or model, listing the metrics there are
    with pytest.raises(ValueError, match=r"'video_acuracy' is not a validation metric.*accuracy, average_precision"):
        setup(synthetic_manifest, tmp_path, num_train_epochs=1, metric_for_best_model="video_acuracy")
    # a metric of the other task is refused when the model is known, before the first epoch
    model, processor, train, evaluation, clip_decoder, args = setup(
        synthetic_manifest, tmp_path, num_train_epochs=1, metric_for_best_model="video_spearman"
    )
    with pytest.raises(RecipeError, match="'video_spearman' is not computed for a class model"):
        fit_tiny(model, processor, train, evaluation, clip_decoder, args)
    assert not (tmp_path / "run" / "training_history.json").exists()


def test_a_two_class_only_metric_is_refused_for_three_classes_before_training():
    three, two, score = (PretrainedConfig(num_labels=n) for n in (3, 2, 1))
    assert best_model_metric(two, "video_sensitivity") == "video_sensitivity"
    with pytest.raises(RecipeError, match="'video_sensitivity' is not computed for a class model of 3 classes"):
        best_model_metric(three, "video_sensitivity")
    assert (
        best_model_metric(three, None) == "video_balanced_accuracy" and best_model_metric(score, None) == "video_mae"
    )


def test_too_many_decode_failures_stop_the_run(synthetic_manifest, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(synthetic_manifest.parent, copy)
    model, processor, train, evaluation, clip_decoder, args = setup(
        copy / "metadata.csv", tmp_path, num_train_epochs=1
    )
    for path in list(dict.fromkeys(train["video"]))[:6]:  # damaged after the dataset was built
        Path(path).write_bytes(b"not a video any more")
    with pytest.raises(TooManyDecodeFailuresError, match="could not be decoded"):
        fit_tiny(model, processor, train, evaluation, clip_decoder, args, max_decode_failure_share=0.1)


def _launch(recipe: Path, processes: int, output_dir: Path) -> dict:
    # without ACCELERATE_USE_CPU: cpu_ddp.yaml alone makes one run of two processes (it used to start two
    # single-process runs racing into one folder)
    env = {k: v for k, v in os.environ.items() if k != "ACCELERATE_USE_CPU"} | {"PYTHONWARNINGS": "ignore"}
    accelerate = Path(sys.executable).with_name("accelerate")
    if processes == 1:
        command = [str(accelerate), "launch", "--num_processes", "1", "--num_machines", "1", "--cpu"]
    else:
        command = [str(accelerate), "launch", "--config_file", str(ROOT / "accelerate_configs" / "cpu_ddp.yaml")]
    command += [str(ROOT / "recipes" / "train.py"), str(recipe), "--output_dir", str(output_dir)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{processes} process(es) on cpu" in result.stderr  # one run of that many processes
    return json.loads((output_dir / "training_history.json").read_text())


def test_two_cpu_processes_gather_the_same_metrics_as_one(synthetic_manifest, tmp_path):
    """`accelerate launch --config_file accelerate_configs/cpu_ddp.yaml recipes/train.py`:
    with a model that cannot change (learning rate 0, no BatchNorm), the validation metrics gathered from two
    processes equal one process's, on a split whose size does not divide evenly."""
    recipe = write_tiny_recipe(
        tmp_path / "tiny.yaml",
        synthetic_manifest,
        model_name_or_path="videomae",
        model_config=TINY_VIDEOMAE,
        eval_clips_per_video=3,
        # 6 training surgeons (12 videos: even over 2 processes x batches of 2) and 3 validation surgeons (18 clips:
        # uneven)
        split_ratios=[0.5, 0.25, 0.25],
        learning_rate=0.0,
        per_device_train_batch_size=2,
        per_device_eval_batch_size=2,
    )
    one = _launch(recipe, 1, tmp_path / "one")[-1]
    two = _launch(recipe, 2, tmp_path / "two")[-1]
    assert one["eval_clips"] == two["eval_clips"] and one["eval_videos"] == two["eval_videos"]
    assert one["eval_clips"] % 4 != 0  # uneven across 2 processes x batches of 2
    for key in one:
        if key.startswith("eval_"):
            assert two[key] == pytest.approx(one[key], rel=1e-5, abs=1e-6), key
    assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-5)


def test_two_cpu_processes_accumulating_take_the_steps_of_one_process_with_the_whole_batch(
    synthetic_manifest, tmp_path
):
    """Two processes, batches of 1, windows of 2 (4 clips a step, each process's gradients accumulated without a
    sync, then averaged by DDP) end with the weights of one process taking batches of 4: the same clips per step,
    since the seeded order is shared and each process takes every second batch."""
    common = {
        "model_name_or_path": "videomae",
        "model_config": TINY_VIDEOMAE,
        "split_ratios": [0.5, 0.25, 0.25],  # 12 training videos: 3 steps of 4
        "optim": "sgd",
        "learning_rate": 0.5,
        "weight_decay": 0.0,
        "max_grad_norm": None,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0.0,
    }
    one = write_tiny_recipe(tmp_path / "one.yaml", synthetic_manifest, per_device_train_batch_size=4, **common)
    two = write_tiny_recipe(
        tmp_path / "two.yaml",
        synthetic_manifest,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=2,
        **common,
    )
    assert _launch(one, 1, tmp_path / "one")[-1]["step"] == 3
    assert _launch(two, 2, tmp_path / "two")[-1]["step"] == 3
    expected = load_file(tmp_path / "one" / "model" / "model.safetensors")
    accumulated = load_file(tmp_path / "two" / "model" / "model.safetensors")
    for key in expected:
        torch.testing.assert_close(accumulated[key], expected[key], rtol=1e-4, atol=1e-5)


# A learning rate this large sends the weights to infinity in one step: the next loss is NaN
DIVERGING = {"optim": "sgd", "learning_rate": 1e38, "max_grad_norm": None, "warmup_steps": 0.0}


def test_a_nonfinite_loss_stops_naming_the_step_and_the_videos_and_is_never_saved(synthetic_manifest, tmp_path):
    model, processor, train, evaluation, clip_decoder, args = setup(
        synthetic_manifest, tmp_path, num_train_epochs=2, **DIVERGING
    )
    with pytest.raises(NonFiniteLossError) as caught:
        fit_tiny(model, processor, train, evaluation, clip_decoder, args)
    message = str(caught.value)
    assert re.search(
        r"not finite \(NaN or infinite\) at step [2-9] \(epoch 1, batch [2-9]\) on .*S\d+_trial\d\.mp4", message
    )
    assert "nonfinite_loss: skip" in message and isinstance(caught.value, SurgicalSkillError)
    assert not (tmp_path / "run" / "model").exists()  # no best model, and no checkpoint, of a diverged state
    assert not checkpoints_in(tmp_path / "run")


def test_nonfinite_batches_are_skipped_and_counted_on_request_and_never_kept_as_best(
    synthetic_manifest, tmp_path, caplog
):
    model, processor, train, evaluation, clip_decoder, args = setup(
        synthetic_manifest, tmp_path, num_train_epochs=1, nonfinite_loss="skip", **DIVERGING
    )
    with caplog.at_level(logging.WARNING), pytest.raises(NonFiniteLossError, match="the model diverged"):
        fit_tiny(model, processor, train, evaluation, clip_decoder, args)
    history = json.loads((tmp_path / "run" / "training_history.json").read_text())
    batches = math.ceil(len(train) / 4)
    assert history[0]["nonfinite_skipped"] == batches - 1  # every batch after the first, diverged, step
    assert "skipping a batch whose loss is not finite at step 2" in caplog.text
    assert "not kept as the best model" in caplog.text and not (tmp_path / "run" / "model").exists()


def test_optimizer_is_torch_fused_kernel_where_the_device_has_one(tmp_path):
    """fit's AdamW/SGD use torch's fused kernel on the devices that have one (a CPU does), the per-tensor loop
    elsewhere; the groups keep decay off biases and norms, and a fused step matches the per-tensor step."""
    from surgical_skill.training.loop import make_optimizer

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    for optim in ("adamw", "sgd"):
        args = TrainingArguments(output_dir=str(tmp_path), optim=optim, weight_decay=0.1)
        fused = make_optimizer(model, args)
        assert all(group["fused"] for group in fused.param_groups)
        assert [group["weight_decay"] for group in fused.param_groups] == [0.1, 0.0]
        assert [len(group["params"]) for group in fused.param_groups] == [1, 3]  # the weight; bias, norm's two
        assert not any(group["fused"] for group in make_optimizer(model, args, torch.device("meta")).param_groups)

    reference = torch.nn.Linear(4, 3)
    copy = torch.nn.Linear(4, 3)
    copy.load_state_dict(reference.state_dict())
    args = TrainingArguments(output_dir=str(tmp_path), weight_decay=0.1, learning_rate=0.01)
    optimizers = [make_optimizer(reference, args, torch.device("meta")), make_optimizer(copy, args)]
    for _ in range(3):
        for module, optimizer in zip((reference, copy), optimizers):
            module(torch.ones(2, 4)).square().sum().backward()
            optimizer.step()
            optimizer.zero_grad()
    torch.testing.assert_close(copy.weight, reference.weight)
