"""The training engine on accelerate: ``train_one_epoch``, ``validate_one_epoch`` and ``fit``.

Exact where it matters: the loss of an accumulated step equals the loss of one big batch (uneven batches
included), metrics are computed once over the whole gathered epoch (correct under DDP), and a run resumed from a
mid-epoch checkpoint ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import DataLoaderConfiguration, GradientAccumulationPlugin, set_seed
from torch.utils.data import DataLoader

from ..data import DecodeFailureMonitor, VideoClipLoader, is_empty_batch
from ..evaluation.metrics import aggregate_by_video, classification_metrics, regression_metrics
from ..models import skill_loss_terms
from .arguments import TrainingArguments
from .data import make_loader

logger = logging.getLogger(__name__)
CHECKPOINT_PREFIX = "checkpoint-"


@dataclass
class TrainState:
    """Where training stands; saved in every checkpoint (``accelerator.register_for_checkpointing``)."""

    epoch: int = 0  # epochs completed
    global_step: int = 0  # optimizer steps taken
    batches_in_epoch: int = 0  # batches of the current, unfinished epoch already trained on
    best_metric: float | None = None
    best_loss: float | None = None  # the validation loss of the best model: breaks ties of the metric
    best_epoch: int | None = None
    validations_without_improvement: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


@dataclass
class FitResult:
    model_dir: Path
    best_metric: float | None
    best_epoch: int | None
    history: list[dict[str, Any]]
    stopped_early: bool


# ------------------------------------------------------------------------------------------------ set-up


def make_accelerator(args: TrainingArguments) -> Accelerator:
    """An ``Accelerator`` for the recipe: precision (fp16 falls back to full precision on a CPU, with a
    warning: autocast does nothing there), trackers that are installed, seedable data order."""
    mixed = args.mixed_precision
    if mixed == "fp16" and PartialState().device.type == "cpu":
        logger.warning(
            "mixed_precision=fp16 needs a GPU (autocast does nothing on a CPU): training in full "
            "precision instead; bf16 works on a CPU"
        )
        mixed = "no"
    trackers = _available_trackers([t for t in args.report_to if t != "none"])
    return Accelerator(
        mixed_precision=mixed,
        # Accumulation windows are formed by the engine (it needs the window's sample count for exact loss
        # scaling), so the sync point comes from the step count, not from the end of the data loader.
        gradient_accumulation_plugin=GradientAccumulationPlugin(
            num_steps=args.gradient_accumulation_steps, sync_with_dataloader=False
        ),
        log_with=trackers or None,
        project_dir=args.output_dir,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )


def _available_trackers(requested: list[str]) -> list[str]:
    from accelerate.utils import is_mlflow_available, is_tensorboard_available, is_wandb_available

    available = {"tensorboard": is_tensorboard_available, "wandb": is_wandb_available, "mlflow": is_mlflow_available}
    kept = []
    for tracker in requested:
        if available[tracker]():
            kept.append(tracker)
        else:
            logger.warning(
                "report_to includes %s, which is not installed: not logging to it (pip install %s)", tracker, tracker
            )
    return kept


def make_optimizer(model: torch.nn.Module, args: TrainingArguments) -> torch.optim.Optimizer:
    """AdamW or SGD over the trainable parameters; biases and normalisation weights get no weight decay."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if args.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=args.learning_rate, momentum=0.9)
    return torch.optim.AdamW(groups, lr=args.learning_rate)


def make_scheduler(optimizer, args: TrainingArguments, total_steps: int):
    """Warm-up then cosine, linear or constant; stepped once per optimizer step."""
    from transformers import get_scheduler

    name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}[args.lr_scheduler]
    return get_scheduler(
        name, optimizer, num_warmup_steps=math.ceil(args.warmup_ratio * total_steps), num_training_steps=total_steps
    )


def _model_inputs(model: torch.nn.Module, batch: dict[str, Any], accepts_mask: bool) -> dict[str, Any]:
    inputs = {model.main_input_name: batch["pixel_values"]}
    if accepts_mask and "frame_mask" in batch:
        inputs["frame_mask"] = batch["frame_mask"]
    return inputs


def _accepts_frame_mask(model: torch.nn.Module) -> bool:
    import inspect

    return "frame_mask" in inspect.signature(model.forward).parameters


def loss_normalizer(labels: torch.Tensor, config) -> float:
    """What the mean loss of ``labels`` divides by: the count, or the sum of the class weights."""
    weights = getattr(config, "class_weights", None)
    if config.num_labels > 1 and weights:
        return float(torch.tensor(weights)[labels.long().cpu()].sum())
    return float(labels.numel())


# ------------------------------------------------------------------------------------------------ epochs


def train_one_epoch(
    accelerator: Accelerator,
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler,
    state: TrainState,
    args: TrainingArguments,
    *,
    clip_loader: VideoClipLoader | None = None,
    monitor: DecodeFailureMonitor | None = None,
    on_step: Callable[[], None] | None = None,
    dummy_input: dict[str, torch.Tensor] | None = None,
) -> dict[str, float]:
    """Train for one epoch (or the rest of it, after a resume), in windows of ``gradient_accumulation_steps``
    batches: each window's loss is its summed loss over its sample count (all processes together), so an
    accumulated step equals one big batch. Returns the epoch's mean loss, throughput and data-wait share.

    ``on_step`` runs after every optimizer step (checkpointing). A batch whose clips all failed to decode is
    skipped (with DDP, a zero-weighted ``dummy_input`` forward keeps the processes in step).
    """
    unwrapped = accelerator.unwrap_model(model)
    config, accepts_mask = unwrapped.config, _accepts_frame_mask(unwrapped)
    accumulation = args.gradient_accumulation_steps
    model.train()
    if clip_loader is not None:
        clip_loader.set_epoch(state.epoch)
    loader.set_epoch(state.epoch)
    skipped = state.batches_in_epoch
    batches = iter(accelerator.skip_first_batches(loader, skipped) if skipped else loader)
    total_batches = len(loader)
    progress = _progress(
        accelerator,
        args,
        total=math.ceil((total_batches - skipped) / accumulation),
        desc=f"epoch {state.epoch + 1}/{args.num_epochs}",
    )
    loss_sum = normalizer_sum = 0.0
    clips = 0
    waited = 0.0
    started = time.perf_counter()
    while True:
        fetch_started = time.perf_counter()
        window = list(itertools.islice(batches, accumulation))
        waited += time.perf_counter() - fetch_started
        if not window:
            break
        local = sum(loss_normalizer(b["labels"], config) for b in window if not is_empty_batch(b))
        window_total = accelerator.reduce(torch.tensor(local, device=accelerator.device), reduction="sum").item()
        accelerator.step = accumulation - len(window)  # a short last window still ends in one optimizer step
        # Dropout draws from torch's global RNG. Seeding it per step (and process) makes a resumed run draw what
        # the uninterrupted one drew, whatever else (data loader iterators, evaluation) used the RNG meanwhile.
        torch.manual_seed(hash((args.seed, state.global_step, accelerator.process_index)) % 2**63)
        for batch in window:
            if monitor is not None:
                monitor.update(batch)
            with accelerator.accumulate(model):
                if is_empty_batch(batch) or window_total == 0:
                    if accelerator.num_processes > 1 and dummy_input is not None:
                        accelerator.backward(model(**dummy_input).logits.sum() * 0.0)
                else:
                    logits = model(**_model_inputs(unwrapped, batch, accepts_mask)).logits
                    summed, _ = skill_loss_terms(logits, batch["labels"], config)
                    # accelerate divides by the accumulation steps and DDP averages over processes: undo both,
                    # then divide by the window's true sample count
                    accelerator.backward(summed * (accumulation * accelerator.num_processes / window_total))
                    loss_sum += summed.item()
                    normalizer_sum += loss_normalizer(batch["labels"], config)
                    clips += batch["pixel_values"].shape[0]
                if accelerator.sync_gradients and args.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
        state.batches_in_epoch += len(window)
        if accelerator.sync_gradients:
            scheduler.step()
            state.global_step += 1
            if state.global_step % args.logging_steps == 0 and normalizer_sum:
                accelerator.log(
                    {"train/loss": loss_sum / normalizer_sum, "train/lr": scheduler.get_last_lr()[0]},
                    step=state.global_step,
                )
            if progress is not None:
                progress.update()
                progress.set_postfix(
                    loss=f"{loss_sum / max(normalizer_sum, 1e-9):.4f}",
                    lr=f"{scheduler.get_last_lr()[0]:.2e}",
                    clips_s=f"{clips / max(time.perf_counter() - started, 1e-9):.1f}",
                )
            if on_step is not None:
                on_step()
            if args.max_steps is not None and state.global_step >= args.max_steps:
                break
    if progress is not None:
        progress.close()
    elapsed = time.perf_counter() - started
    totals = accelerator.reduce(
        torch.tensor([loss_sum, normalizer_sum, float(clips)], device=accelerator.device), reduction="sum"
    ).tolist()
    return {
        "train_loss": totals[0] / totals[1] if totals[1] else float("nan"),
        "clips_per_second": totals[2] / elapsed if elapsed else 0.0,
        "data_wait_share": waited / elapsed if elapsed else 0.0,
        "lr": scheduler.get_last_lr()[0],
        "seconds": elapsed,
    }


@torch.no_grad()
def validate_one_epoch(accelerator: Accelerator, model: torch.nn.Module, loader: DataLoader) -> dict[str, Any]:
    """Evaluate on every clip of ``loader`` and return metrics over the whole set, per clip (``clip_*``) and
    per video (``video_*``: mean probability of the video's clips), plus the loss and the raw predictions.

    Outputs are gathered across processes with ``gather_for_metrics`` (the duplicates DDP adds to even out the
    last batch are dropped); clips that failed to decode are padded out and left out of every metric.
    """
    unwrapped = accelerator.unwrap_model(model)
    config, accepts_mask = unwrapped.config, _accepts_frame_mask(unwrapped)
    regression = config.num_labels == 1
    model.eval()
    logits_all, labels_all, ids_all = [], [], []
    for batch in loader:
        expected = batch["pixel_values"].shape[0] + len(batch.get("decode_failures") or [])
        width = 1 if regression else config.num_labels
        logits = torch.zeros((expected, width), device=accelerator.device)
        labels = torch.zeros(expected, device=accelerator.device)
        ids = torch.full((expected,), -1, dtype=torch.long, device=accelerator.device)
        if not is_empty_batch(batch):
            n = batch["pixel_values"].shape[0]
            logits[:n] = model(**_model_inputs(unwrapped, batch, accepts_mask)).logits.float().reshape(n, width)
            labels[:n] = batch["labels"].float()
            ids[:n] = batch["video_id"]
        logits, labels, ids = accelerator.gather_for_metrics((logits, labels, ids))
        logits_all.append(logits.cpu())
        labels_all.append(labels.cpu())
        ids_all.append(ids.cpu())
    logits = torch.cat(logits_all)
    labels = torch.cat(labels_all)
    ids = torch.cat(ids_all)
    keep = ids >= 0
    logits, labels, ids = logits[keep], labels[keep], ids[keep]
    results: dict[str, Any] = {"clips": int(keep.sum()), "videos": int(ids.unique().numel())}
    if not len(ids):
        return results
    summed, normalizer = skill_loss_terms(logits, labels if regression else labels.long(), config)
    results["loss"] = float(summed / normalizer)
    if regression:
        scores = logits.reshape(-1).numpy()
        results.update({f"clip_{k}": v for k, v in regression_metrics(labels.numpy(), scores).items()})
        _, video_scores, video_targets = aggregate_by_video(ids.numpy(), scores, labels.numpy())
        results.update({f"video_{k}": v for k, v in regression_metrics(video_targets, video_scores).items()})
    else:
        probabilities = logits.softmax(-1).numpy()
        targets = labels.long().numpy()
        results.update({f"clip_{k}": v for k, v in classification_metrics(targets, probabilities).items()})
        video_ids, video_probs, video_targets = aggregate_by_video(ids.numpy(), probabilities, targets)
        results.update({f"video_{k}": v for k, v in classification_metrics(video_targets, video_probs).items()})
        results["predictions"] = {
            "video_id": video_ids.tolist(),
            "labels": video_targets.tolist(),
            "probabilities": video_probs.tolist(),
        }
    return results


# ------------------------------------------------------------------------------------------ checkpoints


def checkpoints_in(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (a temporary, half-written one is never listed)."""
    folder = Path(run_dir) / "checkpoints"
    found = [
        p for p in folder.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir() and p.name[len(CHECKPOINT_PREFIX) :].isdigit()
    ]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]))


def save_checkpoint(accelerator: Accelerator, run_dir: str | Path, step: int, keep: int | None) -> Path:
    """``accelerator.save_state`` into a temporary folder renamed when complete; keeps the newest ``keep``."""
    folder = Path(run_dir) / "checkpoints"
    final = folder / f"{CHECKPOINT_PREFIX}{step}"
    tmp = folder / f".tmp-{CHECKPOINT_PREFIX}{step}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        if keep:
            for old in checkpoints_in(run_dir)[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def resolve_checkpoint(run_dir: str | Path, which: str) -> Path:
    if which == "latest":
        found = checkpoints_in(run_dir)
        if not found:
            raise FileNotFoundError(f"resume_from_checkpoint=latest, but {Path(run_dir) / 'checkpoints'} has none")
        return found[-1]
    path = Path(which)
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint {path} not found")
    return path


def save_model(accelerator: Accelerator, model: torch.nn.Module, processor, path: str | Path) -> None:
    """``save_pretrained`` the model (safetensors, config with ``id2label``) and its video processor, into a
    temporary folder renamed over ``path`` when complete."""
    path = Path(path)
    accelerator.wait_for_everyone()
    state_dict = accelerator.get_state_dict(model)  # gathers FSDP / DeepSpeed shards (every process calls it)
    if accelerator.is_main_process:
        tmp = path.with_name(f".tmp-{path.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        accelerator.unwrap_model(model).save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
        processor.save_pretrained(tmp)
        old = path.with_name(f".old-{path.name}")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2, default=float))
    os.replace(tmp, path)


def _progress(accelerator: Accelerator, args: TrainingArguments, total: int, desc: str):
    if not (args.progress_bar and accelerator.is_local_main_process):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", leave=False)


def _peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _is_better(
    value: float, best: float | None, metric: str, loss: float | None = None, best_loss: float | None = None
) -> bool:
    """A better validation figure, or the same one with a lower validation loss: on a small validation split
    accuracy saturates early, and the first epoch to reach it is rarely the best model."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    lower_is_better = metric.endswith(("loss", "mae", "rmse"))
    if math.isclose(value, best, rel_tol=0.0, abs_tol=1e-12):
        return loss is not None and best_loss is not None and loss < best_loss
    return value < best if lower_is_better else value > best


# ---------------------------------------------------------------------------------------------------- fit


def fit(
    accelerator: Accelerator,
    model: torch.nn.Module,
    processor,
    train_dataset,
    eval_dataset,
    args: TrainingArguments,
    *,
    clip_loader: VideoClipLoader | None = None,
    num_workers: int = 2,
    max_decode_failure_share: float = 0.1,
) -> FitResult:
    """Train ``model`` on ``train_dataset`` (clips), validate on ``eval_dataset`` (clips of whole videos, or
    ``None``), keep the best model by ``args.metric_for_best_model`` in ``<output_dir>/model`` (with the video
    processor), checkpoint, log, and stop early when asked. With ``auto_find_batch_size`` an out-of-memory batch
    size is halved and training restarts. See :class:`TrainingArguments` for every option.
    """

    def run(batch_size: int) -> FitResult:
        return _fit(
            accelerator,
            model,
            processor,
            train_dataset,
            eval_dataset,
            args,
            batch_size,
            clip_loader,
            num_workers,
            max_decode_failure_share,
        )

    if not args.auto_find_batch_size:
        return run(args.per_device_train_batch_size)
    from accelerate.utils import find_executable_batch_size

    @find_executable_batch_size(starting_batch_size=args.per_device_train_batch_size)
    def run_halving_on_oom(batch_size: int) -> FitResult:
        accelerator.free_memory()
        return run(batch_size)

    return run_halving_on_oom()


def _fit(
    accelerator,
    model,
    processor,
    train_dataset,
    eval_dataset,
    args,
    batch_size,
    clip_loader,
    num_workers,
    max_decode_failure_share,
) -> FitResult:
    run_dir = Path(args.output_dir)
    set_seed(args.seed)
    train_loader = make_loader(train_dataset, batch_size, shuffle=True, num_workers=num_workers, seed=args.seed)
    eval_loader = None
    if eval_dataset is not None:
        eval_loader = make_loader(
            eval_dataset, args.per_device_eval_batch_size, shuffle=False, num_workers=num_workers, seed=args.seed
        )
    optimizer = make_optimizer(model, args)
    model, optimizer, train_loader = accelerator.prepare(model, optimizer, train_loader)
    if eval_loader is not None:
        eval_loader = accelerator.prepare(eval_loader)
    steps_per_epoch = math.ceil(len(train_loader) / args.gradient_accumulation_steps)
    total_steps = min(steps_per_epoch * args.num_epochs, args.max_steps or 10**12)
    scheduler = make_scheduler(optimizer, args, total_steps)
    state = TrainState()
    accelerator.register_for_checkpointing(scheduler, state)
    if args.resume_from_checkpoint:
        checkpoint = resolve_checkpoint(run_dir, args.resume_from_checkpoint)
        accelerator.load_state(str(checkpoint))
        accelerator.print(
            f"resumed from {checkpoint}: epoch {state.epoch + 1}, step {state.global_step}, "
            f"{state.batches_in_epoch} batches into the epoch"
        )
    if accelerator.trackers == [] and accelerator.log_with:
        accelerator.init_trackers(
            "surgical-skill", config={k: str(v) if isinstance(v, list | dict) else v for k, v in asdict(args).items()}
        )
    unwrapped = accelerator.unwrap_model(model)
    crop = processor.crop_size
    dummy = {
        unwrapped.main_input_name: torch.zeros(
            1, processor.num_frames, 3, crop["height"], crop["width"], device=accelerator.device
        )
    }

    def checkpoint_every_steps() -> None:
        if args.save_every_steps and state.global_step % args.save_every_steps == 0:
            save_checkpoint(accelerator, run_dir, state.global_step, args.save_total_limit)

    model_dir = run_dir / "model"
    stopped_early = False
    while state.epoch < args.num_epochs and not (args.max_steps and state.global_step >= args.max_steps):
        monitor = DecodeFailureMonitor(max_failure_share=max_decode_failure_share)
        record: dict[str, Any] = {"epoch": state.epoch + 1}
        record.update(
            train_one_epoch(
                accelerator,
                model,
                train_loader,
                optimizer,
                scheduler,
                state,
                args,
                clip_loader=clip_loader,
                monitor=monitor,
                on_step=checkpoint_every_steps,
                dummy_input=dummy,
            )
        )
        finished_epoch = state.batches_in_epoch >= len(train_loader)
        monitor.check(final=True)
        record.update(
            {
                "step": state.global_step,
                "decode_failures": monitor.failed_samples,
                "peak_memory_mb": round(_peak_memory_mb(), 1),
            }
        )
        last = state.epoch + 1 >= args.num_epochs or (args.max_steps and state.global_step >= args.max_steps)
        if eval_loader is not None and ((state.epoch + 1) % args.eval_every_epochs == 0 or last):
            metrics = validate_one_epoch(accelerator, model, eval_loader)
            metrics.pop("predictions", None)
            record.update({f"eval_{k}": v for k, v in metrics.items()})
            value = metrics.get(args.metric_for_best_model)
            if value is None:
                raise KeyError(
                    f"metric_for_best_model={args.metric_for_best_model!r} is not among the validation "
                    f"metrics: {sorted(k for k in metrics if k not in ('clips', 'videos'))}"
                )
            loss = metrics.get("loss")
            if _is_better(value, state.best_metric, args.metric_for_best_model, loss, state.best_loss):
                state.best_metric, state.best_epoch = float(value), state.epoch + 1
                state.best_loss = None if loss is None else float(loss)
                state.validations_without_improvement = 0
                save_model(accelerator, model, processor, model_dir)
            else:
                state.validations_without_improvement += 1
        accelerator.log(
            {k if k.startswith("eval_") else f"epoch/{k}": v for k, v in record.items() if isinstance(v, int | float)},
            step=state.global_step,
        )
        state.history.append(record)
        if finished_epoch:
            state.epoch += 1
            state.batches_in_epoch = 0
        if accelerator.is_main_process:
            _write_json(run_dir / "training_history.json", state.history)
        accelerator.print(_epoch_line(record, args.metric_for_best_model))
        if args.save_every_epochs and finished_epoch and state.epoch % args.save_every_epochs == 0:
            save_checkpoint(accelerator, run_dir, state.global_step, args.save_total_limit)
        patience = args.early_stopping_patience
        if patience is not None and state.validations_without_improvement >= patience:
            accelerator.print(
                f"early stop: {args.metric_for_best_model} did not improve for "
                f"{state.validations_without_improvement} validations"
            )
            stopped_early = True
            break
    if eval_loader is None or state.best_epoch is None:
        save_model(accelerator, model, processor, model_dir)  # no validation: the last model is the model
    accelerator.end_training()
    return FitResult(model_dir, state.best_metric, state.best_epoch, state.history, stopped_early)


def _epoch_line(record: dict[str, Any], metric: str) -> str:
    text = (
        f"epoch {record['epoch']}: loss {record['train_loss']:.4f}, {record['clips_per_second']:.1f} clips/s, "
        f"data wait {record['data_wait_share']:.0%}, peak memory {record['peak_memory_mb']:.0f} MB"
    )
    if f"eval_{metric}" in record:
        text += (
            f"; validation {metric} {record[f'eval_{metric}']:.4f}, loss {record.get('eval_loss', float('nan')):.4f}"
        )
    if record.get("decode_failures"):
        text += f"; {record['decode_failures']} clips failed to decode"
    return text
