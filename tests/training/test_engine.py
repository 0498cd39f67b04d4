"""The training engine: it learns, accumulates exactly, resumes exactly, checkpoints safely, stops early."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate.utils import set_seed
from transformers import AutoModelForVideoClassification, AutoVideoProcessor

from surgical_skill.data import TooManyDecodeFailuresError
from surgical_skill.models import build_model, build_video_processor
from surgical_skill.training import (
    DataArguments,
    TrainingArguments,
    apply_data_overrides,
    checkpoints_in,
    clip_datasets,
    fit,
    label_info,
    load_data,
    make_accelerator,
    train_one_epoch,
)
from surgical_skill.training.loop import TrainState, make_scheduler
from tests.helpers import write_tiny_recipe

ROOT = Path(__file__).resolve().parents[2]
TINY_SMALL3D = {"small3d_channels": [4, 8]}
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
    data_args = DataArguments(
        dataset=str(manifest),
        num_frames=4,
        sampling_strategy="clip",
        image_size=32,
        crop_size=32,
        num_workers=0,
        eval_clips_per_video=2,
        split_ratios=[0.6, 0.2, 0.2],
        **(data_overrides or {}),
    )
    args = TrainingArguments(
        output_dir=str(tmp_path / "run"),
        report_to=["none"],
        progress_bar=False,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        **training,
    )
    data = load_data(data_args)
    set_seed(args.seed)  # as recipes/train.py does before building the model
    model = build_model(model_name, **label_info(data), **(model_config or TINY_SMALL3D))
    processor = apply_data_overrides(build_video_processor(model_name, config=model.config), data_args)
    train, evaluation, clip_loader = clip_datasets(data, processor, data_args, seed=args.seed)
    return model, processor, train, evaluation, clip_loader, args


def fit_tiny(model, processor, train, evaluation, clip_loader, args, **kwargs):
    """``fit`` on what :func:`setup` returns, validating on its validation clips, without workers."""
    return fit(
        make_accelerator(args),
        model,
        processor,
        train,
        evaluation["validation"],
        args,
        clip_loader=clip_loader,
        num_workers=0,
        **kwargs,
    )


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_a_tiny_model_learns_and_everything_is_saved(synthetic_manifest, tmp_path):
    model, processor, train, evaluation, clip_loader, args = setup(
        synthetic_manifest, tmp_path, num_epochs=4, learning_rate=0.01, save_every_epochs=2, save_total_limit=1
    )
    args.report_to = ["tensorboard"]
    before = weights(model)
    result = fit_tiny(model, processor, train, evaluation, clip_loader, args)
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
    # the best model, with its processor, loads with the Auto classes
    loaded = AutoModelForVideoClassification.from_pretrained(result.model_dir)
    assert loaded.config.id2label == {0: "lower-skilled", 1: "higher-skilled"}
    assert (result.model_dir / "model.safetensors").exists()
    assert AutoVideoProcessor.from_pretrained(result.model_dir).num_frames == 4
    # checkpoints after epochs 2 and 4; only the newest is kept, and no half-written one is left
    assert [p.name for p in checkpoints_in(run)] == [f"checkpoint-{history[-1]['step']}"]
    assert not list((run / "checkpoints").glob(".tmp-*"))
    assert list(run.rglob("events.out.tfevents.*"))  # TensorBoard logs


@pytest.mark.parametrize("clips", [8, 7])
def test_accumulating_two_batches_of_four_equals_one_batch_of_eight(synthetic_manifest, tmp_path, clips):
    # VideoMAE has no BatchNorm, so a batch's result does not depend on how it is split
    results = []
    for batch_size, accumulation in ((8, 1), (4, 2)):
        torch.manual_seed(0)
        model, _, train, _, clip_loader, args = setup(
            synthetic_manifest,
            tmp_path / f"{batch_size}",
            model_name="videomae",
            model_config=TINY_VIDEOMAE,
            optimizer="sgd",
            learning_rate=1.0,
            weight_decay=0.0,
            max_grad_norm=None,
            lr_scheduler="constant",
            warmup_ratio=0.0,
            gradient_accumulation_steps=accumulation,
        )
        args.per_device_train_batch_size = batch_size
        train = train.select(range(clips))
        accelerator = make_accelerator(args)
        from surgical_skill.training import make_loader

        loader = make_loader(train, batch_size, shuffle=False, num_workers=0, seed=0)
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)  # no momentum: the step is the gradient
        model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
        scheduler = make_scheduler(optimizer, args, total_steps=1)
        state = TrainState()
        start = weights(model)
        train_one_epoch(accelerator, model, loader, optimizer, scheduler, state, args, clip_loader=clip_loader)
        assert state.global_step == 1
        results.append({k: start[k] - v for k, v in weights(model).items()})
    one_batch, accumulated = results
    for key in one_batch:
        torch.testing.assert_close(accumulated[key], one_batch[key], rtol=1e-4, atol=1e-6)


def test_bf16_on_cpu_trains(synthetic_manifest, tmp_path):
    model, processor, train, evaluation, clip_loader, args = setup(
        synthetic_manifest, tmp_path, num_epochs=1, mixed_precision="bf16", max_steps=2
    )
    accelerator = make_accelerator(args)
    assert accelerator.mixed_precision == "bf16"
    result = fit(
        accelerator, model, processor, train, evaluation["validation"], args, clip_loader=clip_loader, num_workers=0
    )
    assert torch.isfinite(torch.tensor(result.history[0]["train_loss"]))


def test_fp16_on_cpu_falls_back_to_full_precision_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        accelerator = make_accelerator(TrainingArguments(mixed_precision="fp16", report_to=["none"]))
    assert accelerator.mixed_precision == "no"
    assert "fp16 needs a GPU" in caplog.text


def test_resume_mid_epoch_ends_with_the_same_weights(synthetic_manifest, tmp_path):
    common = {"num_epochs": 2, "learning_rate": 0.01, "lr_scheduler": "constant", "warmup_ratio": 0.0}
    # uninterrupted
    model, processor, train, evaluation, clip_loader, args = setup(synthetic_manifest, tmp_path / "a", **common)
    fit_tiny(model, processor, train, evaluation, clip_loader, args)
    uninterrupted = weights(model)
    steps_per_epoch = -(-len(train) // 4)
    # stopped one step into the second epoch (a checkpoint every step), then resumed from the latest checkpoint
    model, processor, train, evaluation, clip_loader, args = setup(
        synthetic_manifest, tmp_path / "b", save_every_steps=1, max_steps=steps_per_epoch + 1, **common
    )
    fit_tiny(model, processor, train, evaluation, clip_loader, args)
    assert checkpoints_in(args.output_dir)[-1].name == f"checkpoint-{steps_per_epoch + 1}"
    model, processor, train, evaluation, clip_loader, args = setup(
        synthetic_manifest, tmp_path / "b", resume_from_checkpoint="latest", **common
    )
    result = fit_tiny(model, processor, train, evaluation, clip_loader, args)
    resumed = weights(model)
    assert result.history[-1]["step"] == 2 * steps_per_epoch
    for key in uninterrupted:
        torch.testing.assert_close(resumed[key], uninterrupted[key], rtol=0, atol=1e-6)


def test_early_stopping(synthetic_manifest, tmp_path):
    # learning rate 0 and no BatchNorm (VideoMAE): the model, so the metric, never changes
    model, processor, train, evaluation, clip_loader, args = setup(
        synthetic_manifest,
        tmp_path,
        model_name="videomae",
        model_config=TINY_VIDEOMAE,
        num_epochs=10,
        learning_rate=0.0,
        early_stopping_patience=2,
        metric_for_best_model="video_accuracy",
    )
    result = fit_tiny(model, processor, train, evaluation, clip_loader, args)
    assert result.stopped_early and len(result.history) == 3  # best at 1, no better at 2 and 3


def test_unknown_best_metric_names_the_known_ones(synthetic_manifest, tmp_path):
    model, processor, train, evaluation, clip_loader, args = setup(
        synthetic_manifest, tmp_path, num_epochs=1, metric_for_best_model="video_acuracy"
    )
    with pytest.raises(KeyError, match=r"video_acuracy.*video_accuracy"):
        fit_tiny(model, processor, train, evaluation, clip_loader, args)


def test_too_many_decode_failures_stop_the_run(synthetic_manifest, tmp_path):
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(synthetic_manifest.parent, copy)
    model, processor, train, evaluation, clip_loader, args = setup(copy / "metadata.csv", tmp_path, num_epochs=1)
    for path in list(dict.fromkeys(train["video"]))[:6]:  # damaged after the dataset was built
        Path(path).write_bytes(b"not a video any more")
    with pytest.raises(TooManyDecodeFailuresError, match="could not be decoded"):
        fit_tiny(model, processor, train, evaluation, clip_loader, args, max_decode_failure_share=0.1)


def _launch(recipe: Path, processes: int, output_dir: Path) -> dict:
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "PYTHONWARNINGS": "ignore"}
    accelerate = Path(sys.executable).with_name("accelerate")
    if processes == 1:
        command = [str(accelerate), "launch", "--num_processes", "1", "--num_machines", "1", "--cpu"]
    else:
        command = [str(accelerate), "launch", "--config_file", str(ROOT / "accelerate_configs" / "cpu_ddp.yaml")]
    command += [str(ROOT / "recipes" / "train.py"), str(recipe), "--output_dir", str(output_dir)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((output_dir / "training_history.json").read_text())


def test_two_cpu_processes_gather_the_same_metrics_as_one(synthetic_manifest, tmp_path):
    """`ACCELERATE_USE_CPU=1 accelerate launch --config_file accelerate_configs/cpu_ddp.yaml recipes/train.py`:
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
