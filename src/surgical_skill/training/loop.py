"""The training engine on accelerate: ``train_one_epoch``, ``validate_one_epoch`` and ``fit``.

Laid out like accelerate's ``examples/complete_cv_example.py``: set-up (accelerator, loaders, optimizer,
scheduler, resume), then per epoch: train, validate, keep the best model, checkpoint, stop early.

Exact where it matters: the loss of an accumulated step equals the loss of one big batch (uneven batches
included), metrics are computed once over the whole gathered epoch (correct under DDP), and a run resumed from a
mid-epoch checkpoint ends with the same weights as an uninterrupted one.

Safe to stop: Ctrl-C (SIGINT) finishes the optimizer step under way, saves a checkpoint and raises
:class:`TrainingInterrupted`; a second Ctrl-C stops at once. A process killed at any moment resumes from its newest
complete checkpoint to the same weights. A non-finite loss stops the run naming the step and the batch's videos
(:class:`NonFiniteLossError`), or skips the batch with ``nonfinite_loss="skip"``; a model whose weights or
validation loss are not finite is never saved as the best one.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import (
    DataLoaderConfiguration,
    DistributedType,
    find_executable_batch_size,
    is_mlflow_available,
    is_tensorboard_available,
    is_wandb_available,
    set_seed,
)
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from ..data import ClipDecoder, DecodeFailureMonitor, is_empty_batch
from ..deprecation import renamed_keywords, warn_renamed
from ..errors import SurgicalSkillError
from ..evaluation.metrics import (
    ORDINAL_VALIDATION_METRICS,
    aggregate_by_video,
    classification_metrics,
    multi_target_regression_metrics,
    ordinal_metrics,
    regression_metrics,
    validation_metric_names,
)
from ..models import batch_model_inputs, clip_logits, is_regression_model, skill_loss_terms
from ..models.heads import is_ordinal, scores_from_logits, target_names
from .arguments import TrainingArguments
from .checkpoints import (  # re-exported: they lived here before training/checkpoints.py
    CHECKPOINT_PREFIX,
    MODEL,
    CheckpointError,
    check_checkpoint_fits,
    checkpoints_in,
    fault_point,
    resolve_checkpoint,
    resume_checkpoint,
    save_checkpoint,
    save_model,
    write_history,
    write_training_state,
)
from .data_setup import make_loader
from .recipe import RecipeError

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_PREFIX",
    "FitResult",
    "NonFiniteLossError",
    "TrainState",
    "TrainingInterrupted",
    "checkpoints_in",
    "fit",
    "make_accelerator",
    "make_optimizer",
    "make_scheduler",
    "resolve_checkpoint",
    "save_checkpoint",
    "save_model",
    "train_one_epoch",
    "validate_one_epoch",
]


class NonFiniteLossError(SurgicalSkillError, FloatingPointError):
    """The training loss became NaN or infinite; the message names the step and the batch's videos."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C (SIGINT) after saving ``checkpoint`` at optimizer step ``step``."""

    def __init__(self, checkpoint: Path, step: int):
        super().__init__(f"interrupted at step {step}; checkpoint saved in {checkpoint}")
        self.checkpoint, self.step = checkpoint, step


@dataclass
class TrainState:
    """Where training stands; saved as JSON in every checkpoint (``training_state.json``)."""

    epoch: int = 0  # epochs completed
    global_step: int = 0  # optimizer steps taken
    batches_in_epoch: int = 0  # batches of the current, unfinished epoch already trained on
    best_metric: float | None = None
    best_loss: float | None = None  # the validation loss of the best model: breaks ties of the metric
    best_epoch: int | None = None
    validations_without_improvement: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    # the unfinished epoch's summed training loss and its normalizer, all processes, through its last step: a
    # resumed epoch reports the loss of the whole epoch, as an uninterrupted one does
    epoch_loss_sum: float = 0.0
    epoch_normalizer_sum: float = 0.0

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any], source: str | os.PathLike | None = None) -> None:
        """Set the fields ``state`` names; a key that is no field is refused (``source``: the checkpoint, for
        the message), so a state from another version is not half applied."""
        unknown = sorted(set(state) - {f.name for f in fields(self)})
        if unknown:
            raise CheckpointError(
                f"{source or 'the training state'} names {', '.join(unknown)}, which this version's training "
                "state does not have: resume with the version that wrote the checkpoint, or start again"
            )
        for key, value in state.items():
            setattr(self, key, value)


@dataclass
class FitResult:
    """What :func:`fit` leaves: where the best model is, how good it was and when, and every epoch's record."""

    model_dir: Path
    best_metric: float | None
    best_epoch: int | None
    history: list[dict[str, Any]]
    stopped_early: bool


# ------------------------------------------------------------------------------------------------ set-up


def make_accelerator(args: TrainingArguments) -> Accelerator:
    """An ``Accelerator`` for the recipe: precision (fp16 falls back to full precision on a CPU, with a
    warning: autocast does nothing there), gradient accumulation, trackers that are installed, seedable data
    order. Accumulation is configured here only; the engine reads it back from the accelerator."""
    cpu = _cpu_processes_without_the_flag()
    mixed = args.mixed_precision
    if mixed == "fp16" and PartialState(cpu=cpu).device.type == "cpu":
        logger.warning(
            "mixed_precision=fp16 needs a GPU (autocast does nothing on a CPU): training in full "
            "precision instead; bf16 works on a CPU"
        )
        mixed = "no"
    trackers = _available_trackers([t for t in args.report_to if t != "none"])
    return Accelerator(
        cpu=cpu,
        mixed_precision=mixed,
        # accelerate's windows: every n batches, and a short one at the end of the epoch (sync_with_dataloader)
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=trackers or None,
        project_dir=args.output_dir,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )


def _cpu_processes_without_the_flag() -> bool:
    """Several processes were launched (``WORLD_SIZE`` > 1, as ``accelerate launch`` with a multi-process config
    sets it) on a machine without a GPU. accelerate makes them one gloo process group only when told
    ``ACCELERATE_USE_CPU=1``; without it each would train alone, all into one run folder. Asking for the CPU here
    is what that variable does."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or int(os.environ.get("LOCAL_RANK", "-1")) < 0:
        return False
    has_accelerator = torch.accelerator.is_available() if hasattr(torch, "accelerator") else torch.cuda.is_available()
    return not has_accelerator


def _available_trackers(requested: list[str]) -> list[str]:
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


# Devices with torch's fused AdamW/SGD kernels (transformers.Trainer's default optimizer is the fused AdamW)
_FUSED_OPTIMIZER_DEVICES = {"cpu", "cuda", "xpu", "mps"}


def make_optimizer(
    model: torch.nn.Module, args: TrainingArguments, device: torch.device | None = None
) -> torch.optim.Optimizer:
    """AdamW or SGD over the trainable parameters; biases and normalisation weights get no weight decay.

    Torch's fused kernel (one pass over all parameters) where the training ``device`` (default: the parameters')
    has one: measured on 2 CPU cores, an AdamW step over the CNN-RNN's 12.8 M parameters took 8.6 ms fused vs
    45 ms with the per-tensor loop torch otherwise uses on a CPU (about 7 % of a training step)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    params = decay + no_decay
    device_type = (device or (params[0].device if params else torch.device("cpu"))).type
    fused = device_type in _FUSED_OPTIMIZER_DEVICES and all(p.is_floating_point() for p in params)
    if args.optim == "sgd":
        return torch.optim.SGD(groups, lr=args.learning_rate, momentum=0.9, fused=fused or None)
    return torch.optim.AdamW(groups, lr=args.learning_rate, fused=fused or None)


# Our "constant" keeps the warm-up: transformers calls that "constant_with_warmup".
_SCHEDULER_NAMES = {
    "cosine": "cosine",
    "linear": "linear",
    "constant": "constant_with_warmup",
    "constant_with_warmup": "constant_with_warmup",
}


def make_scheduler(optimizer: torch.optim.Optimizer, args: TrainingArguments, total_steps: int):
    """Warm-up then cosine, linear or constant; stepped once per optimizer step."""
    return get_scheduler(
        _SCHEDULER_NAMES[args.lr_scheduler_type],
        optimizer,
        num_warmup_steps=args.num_warmup_steps(total_steps),
        num_training_steps=total_steps,
    )


# ------------------------------------------------------------------------------------------------ epochs


@dataclass
class _EpochTotals:
    """Running sums of one epoch (this process), and of the open accumulation window."""

    loss_sum: float = 0.0
    normalizer_sum: float = 0.0
    clips: int = 0
    waited: float = 0.0  # seconds spent waiting for the data loader
    nonfinite_skipped: int = 0  # batches skipped for a non-finite loss (nonfinite_loss="skip")
    window_normalizer: float = 0.0
    reported_loss: float = 0.0  # loss_sum and normalizer_sum already added to the TrainState
    reported: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def timed(self, batches: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``batches``, adding the time spent waiting for each to ``waited``."""
        iterator = iter(batches)
        while True:
            fetch_started = time.perf_counter()
            batch = next(iterator, None)
            self.waited += time.perf_counter() - fetch_started
            if batch is None:
                return
            yield batch

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.normalizer_sum, 1e-9)

    def summary(self, accelerator: Accelerator, scheduler, state: TrainState) -> dict[str, float]:
        elapsed = time.perf_counter() - self.started
        clips = accelerator.reduce(torch.tensor(float(self.clips), device=accelerator.device), reduction="sum").item()
        return {
            "train_loss": state.epoch_loss_sum / state.epoch_normalizer_sum
            if state.epoch_normalizer_sum
            else math.nan,
            "clips_per_second": clips / elapsed if elapsed else 0.0,
            "data_wait_share": self.waited / elapsed if elapsed else 0.0,
            "lr": scheduler.get_last_lr()[0],
            "seconds": elapsed,
            **({"nonfinite_skipped": self.nonfinite_skipped} if self.nonfinite_skipped else {}),
        }


@renamed_keywords(clip_loader="clip_decoder")
def train_one_epoch(
    accelerator: Accelerator,
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler,
    state: TrainState,
    args: TrainingArguments,
    *,
    clip_decoder: ClipDecoder | None = None,
    monitor: DecodeFailureMonitor | None = None,
    on_step: Callable[[], None] | None = None,
    dummy_input: dict[str, torch.Tensor] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, float]:
    """Train for one epoch (or the rest of it, after a resume) in accelerate's accumulation windows
    (``accelerator.accumulate``: ``gradient_accumulation_steps`` batches, the last window of the epoch possibly
    shorter). Each window's gradient is its summed loss over its sample count (all processes together), so an
    accumulated step equals one big batch. Returns the epoch's mean loss, throughput and data-wait share.

    ``on_step`` runs after every optimizer step (checkpointing); the epoch ends early after a step at which
    ``should_stop`` says so (Ctrl-C). A batch whose clips all failed to decode is skipped (with DDP, a
    zero-weighted ``dummy_input`` forward keeps the processes in step). A batch whose loss is not finite raises
    :class:`NonFiniteLossError`, or is skipped the same way with ``args.nonfinite_loss="skip"``.
    """
    model.train()
    batches = _remaining_batches(accelerator, loader, state, clip_decoder)
    windows = math.ceil((len(loader) - state.batches_in_epoch) / accelerator.gradient_accumulation_steps)
    progress = _progress(accelerator, args, windows, desc=f"epoch {state.epoch + 1}/{args.num_train_epochs}")
    totals = _EpochTotals()
    config = accelerator.unwrap_model(model).config  # once: unwrapping walks the model and checks imports
    opens_window = True
    for batch in totals.timed(batches):
        if opens_window:
            # Dropout draws from torch's global RNG. Seeding it per step (and process) makes a resumed run draw
            # what the uninterrupted one drew, whatever else (data loaders, evaluation) used the RNG meanwhile.
            _seed_step(hash((args.seed, state.global_step, accelerator.process_index)) % 2**63, accelerator.device)
        if monitor is not None:
            monitor.update(batch)
        with accelerator.accumulate(model):
            if not _forward_backward(accelerator, model, config, batch, totals, args, dummy_input):
                _nonfinite_loss(accelerator, loader, batch, state, args, totals)
            if accelerator.sync_gradients:
                _close_window(accelerator, model, totals, args, state)
                # only when the window closes (accelerate's optimizer would skip the others, after looking for
                # an optional package on disk twice per call)
                optimizer.step()
                optimizer.zero_grad()
        state.batches_in_epoch += 1
        opens_window = accelerator.sync_gradients
        if accelerator.sync_gradients:
            scheduler.step()
            state.global_step += 1
            _report_step(accelerator, scheduler, state, args, totals, progress)
            if on_step is not None:
                on_step()
            if args.max_steps is not None and state.global_step >= args.max_steps:
                break
            if should_stop is not None and should_stop():
                break
    if progress is not None:
        progress.close()
    return totals.summary(accelerator, scheduler, state)


def _remaining_batches(
    accelerator: Accelerator, loader: DataLoader, state: TrainState, clip_decoder: ClipDecoder | None
) -> Iterable[dict[str, Any]]:
    """This epoch's batches (its shuffle and augmentation seeded by the epoch), less those trained before a
    resume. Checkpoints are taken when a window closes, so the rest starts a new window."""
    if clip_decoder is not None:
        clip_decoder.set_epoch(state.epoch)
    loader.set_epoch(state.epoch)
    skipped = state.batches_in_epoch
    if not skipped:
        return loader
    rest = accelerator.skip_first_batches(loader, skipped)
    # before accelerate 1.15 the skipping loader began at iteration 0, i.e. epoch 0's shuffle, whatever the epoch
    if hasattr(rest, "set_epoch"):  # a prepared loader has it (an unprepared one is skipped by plain slicing)
        rest.set_epoch(state.epoch)
    return rest


def _seed_step(seed: int, device: torch.device) -> None:
    """Seed the CPU generator and the training device's (what ``torch.manual_seed`` does, without its cost: with
    no GPU initialised it queues a lazy seeding for every backend, formatting a stack trace for each, a
    millisecond or more per call)."""
    torch.default_generator.manual_seed(seed)
    backend = getattr(torch, device.type, None) if device.type != "cpu" else None
    seed_device = getattr(backend, "manual_seed_all", None) or getattr(backend, "manual_seed", None)
    if seed_device is not None:
        seed_device(seed)


def _forward_backward(
    accelerator: Accelerator,
    model: torch.nn.Module,
    config,
    batch: dict[str, Any],
    totals: _EpochTotals,
    args: TrainingArguments,
    dummy_input: dict[str, torch.Tensor] | None,
) -> bool:
    """Backpropagate ``batch``'s summed loss over the nominal batch size; :func:`_close_window` corrects the
    scale once the window's true sample count is known. Returns ``False``, without a backward pass, when the loss
    is not finite on any process (they decide together, so DDP stays in step)."""
    if is_empty_batch(batch):
        _zero_weighted_backward(accelerator, model, dummy_input)
        return True
    logits = model(**batch_model_inputs(model, batch)).logits
    summed, normalizer = skill_loss_terms(logits, batch["labels"], config)
    finite = torch.isfinite(summed.detach()).float()
    if accelerator.num_processes > 1:
        finite = accelerator.reduce(finite, reduction="sum") / accelerator.num_processes
    # one device-to-host copy for the check and the epoch's sums (each copy waits for the device): the
    # normalizer is the count, or the class weights of the batch's labels
    share_finite, loss_value, normalizer = torch.stack(
        [finite, summed.detach().float(), torch.as_tensor(normalizer, device=finite.device).float()]
    ).tolist()
    if share_finite < 1:
        _zero_weighted_backward(accelerator, model, dummy_input)
        return False
    accelerator.backward(summed / args.per_device_train_batch_size)
    fault_point("backward")
    totals.loss_sum += loss_value
    totals.normalizer_sum += normalizer
    totals.window_normalizer += normalizer
    totals.clips += batch["pixel_values"].shape[0]
    return True


def _zero_weighted_backward(accelerator: Accelerator, model, dummy_input: dict[str, torch.Tensor] | None) -> None:
    """A backward pass that changes nothing: under DDP every process must take part in each gradient sync."""
    if accelerator.num_processes > 1 and dummy_input is not None:
        accelerator.backward(model(**dummy_input).logits.sum() * 0.0)


def _nonfinite_loss(
    accelerator: Accelerator, loader: DataLoader, batch: dict[str, Any], state: TrainState, args, totals
) -> None:
    """Stop (the default) naming the step and the batch's videos, or, with ``nonfinite_loss="skip"``, warn and
    count the skipped batch."""
    where = (
        f"at step {state.global_step + 1} (epoch {state.epoch + 1}, batch {state.batches_in_epoch + 1}) on "
        f"{_batch_videos(loader, batch)}"
    )
    if args.nonfinite_loss == "skip":
        totals.nonfinite_skipped += 1
        logger.warning("skipping a batch whose loss is not finite %s (nonfinite_loss: skip)", where)
        return
    raise NonFiniteLossError(
        f"the training loss is not finite (NaN or infinite) {where}: lower learning_rate (or set max_grad_norm), "
        "check these videos and their labels, or set nonfinite_loss: skip to skip such batches; the newest "
        "checkpoint holds the last finite state"
    )


def _batch_videos(loader: DataLoader, batch: dict[str, Any]) -> str:
    """The files of a batch's clips (its ``video_id`` looked up in the loader's dataset), for a message."""
    ids = [int(i) for i in batch["video_id"].tolist()]
    try:
        rows = loader.dataset.with_format(None).select_columns(["video_id", "video"])
        paths = dict(zip(rows["video_id"], rows["video"]))
        names = [str(paths.get(i, f"video_id {i}")) for i in ids]
    except (AttributeError, KeyError, ValueError):  # a dataset without these columns: the ids are what there is
        names = [f"video_id {i}" for i in ids]
    return ", ".join(dict.fromkeys(names))


def _close_window(
    accelerator: Accelerator, model: torch.nn.Module, totals: _EpochTotals, args, state: TrainState
) -> None:
    """Rescale the window's gradients to its summed loss over its sample count W (all processes), then clip.

    They hold sum(loss) / (batch size * N * P) now: ``accelerator.backward`` divided by the N accumulation steps
    and DDP averaged over the P processes. With DeepSpeed the engine owns the gradients and the nominal count
    stands (exact for full windows of unweighted classes)."""
    # one reduction for the window's count and the epoch's running loss (kept in the state for a resume)
    local = torch.tensor(
        [totals.window_normalizer, totals.loss_sum - totals.reported_loss, totals.normalizer_sum - totals.reported],
        device=accelerator.device,
    )
    window_total, loss_sum, normalizer_sum = accelerator.reduce(local, reduction="sum").tolist()
    state.epoch_loss_sum += loss_sum
    state.epoch_normalizer_sum += normalizer_sum
    totals.reported_loss, totals.reported = totals.loss_sum, totals.normalizer_sum
    totals.window_normalizer = 0.0
    nominal = args.per_device_train_batch_size * accelerator.gradient_accumulation_steps * accelerator.num_processes
    factor = nominal / window_total if window_total else 1.0
    if factor != 1.0 and accelerator.distributed_type != DistributedType.DEEPSPEED:
        for param in model.parameters():
            if param.grad is not None:
                param.grad.mul_(factor)
    if args.max_grad_norm:
        accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)


def _report_step(accelerator: Accelerator, scheduler, state: TrainState, args, totals: _EpochTotals, progress) -> None:
    """Log the running training loss every ``logging_steps`` optimizer steps and move the progress bar."""
    if state.global_step % args.logging_steps == 0 and totals.normalizer_sum:
        accelerator.log(
            {"train/loss": totals.mean_loss, "train/lr": scheduler.get_last_lr()[0]}, step=state.global_step
        )
    if progress is not None:
        progress.update()
        elapsed = max(time.perf_counter() - totals.started, 1e-9)
        progress.set_postfix(
            loss=f"{totals.mean_loss:.4f}",
            lr=f"{scheduler.get_last_lr()[0]:.2e}",
            clips_s=f"{totals.clips / elapsed:.1f}",
        )


@torch.no_grad()
def validate_one_epoch(accelerator: Accelerator, model: torch.nn.Module, loader: DataLoader) -> dict[str, Any]:
    """Evaluate on every clip of ``loader`` and return metrics over the whole set, per clip (``clip_*``) and
    per video (``video_*``: mean probability of the video's clips), plus the loss and the raw predictions.

    Outputs are gathered across processes with ``gather_for_metrics`` (the duplicates DDP adds to even out the
    last batch are dropped); clips that failed to decode are padded out and left out of every metric.
    """
    unwrapped = accelerator.unwrap_model(model)
    config = unwrapped.config
    width = config.num_labels
    # a score model's labels are (B, K): one column per named score
    label_shape = (len(target_names(config)),) if is_regression_model(config) else ()
    model.eval()
    logits_all, labels_all, ids_all = [], [], []
    for batch in loader:
        expected = batch["pixel_values"].shape[0] + len(batch.get("decode_failures") or [])
        logits = torch.zeros((expected, width), device=accelerator.device)
        labels = torch.zeros((expected, *label_shape), device=accelerator.device)
        ids = torch.full((expected,), -1, dtype=torch.long, device=accelerator.device)
        if not is_empty_batch(batch):
            n = batch["pixel_values"].shape[0]
            logits[:n] = clip_logits(model, batch["pixel_values"], batch.get("frame_mask")).reshape(n, width)
            labels[:n] = batch["labels"].float().reshape(n, *label_shape)
            ids[:n] = batch["video_id"]
        logits, labels, ids = accelerator.gather_for_metrics((logits, labels, ids))
        logits_all.append(logits.cpu())
        labels_all.append(labels.cpu())
        ids_all.append(ids.cpu())
    return _validation_metrics(torch.cat(logits_all), torch.cat(labels_all), torch.cat(ids_all), config)


def _validation_metrics(logits: torch.Tensor, labels: torch.Tensor, ids: torch.Tensor, config) -> dict[str, Any]:
    """Loss, per-clip and per-video metrics of the gathered outputs (padding rows, ``id < 0``, left out)."""
    keep = ids >= 0
    logits, labels, ids = logits[keep], labels[keep], ids[keep]
    results: dict[str, Any] = {"clips": int(keep.sum()), "videos": int(ids.unique().numel())}
    if not len(ids):
        return results
    if not torch.isfinite(logits).all():  # a diverged model: no metric means anything (and scikit-learn refuses)
        results["loss"] = float("nan")
        return results
    regression = is_regression_model(config)
    summed, normalizer = skill_loss_terms(logits, labels if regression else labels.long(), config)
    results["loss"] = float(summed / normalizer)
    if regression:
        names = target_names(config)
        scores = scores_from_logits(logits, config)[:, : len(names)].numpy()  # (N, K): the targets, not a sum
        truth = labels.reshape(len(labels), -1).numpy()
        _, video_scores, video_targets = aggregate_by_video(ids.numpy(), scores, truth)
        for level, (y, p) in {"clip": (truth, scores), "video": (video_targets, video_scores)}.items():
            results.update({f"{level}_{k}": v for k, v in score_validation_metrics(y, p, names).items()})
        return results
    probabilities = scores_from_logits(logits, config).numpy()
    targets = labels.long().numpy()
    ordinal = is_ordinal(config)
    results.update({f"clip_{k}": v for k, v in classification_metrics(targets, probabilities).items()})
    video_ids, video_probs, video_targets = aggregate_by_video(ids.numpy(), probabilities, targets)
    results.update({f"video_{k}": v for k, v in classification_metrics(video_targets, video_probs).items()})
    if ordinal:
        for level, (y, p) in {"clip": (targets, probabilities), "video": (video_targets, video_probs)}.items():
            results.update({f"{level}_{k}": v for k, v in _ordinal_only(y, p, config.num_labels).items()})
    results["predictions"] = {
        "video_id": video_ids.tolist(),
        "labels": video_targets.tolist(),
        "probabilities": video_probs.tolist(),
    }
    return results


def score_validation_metrics(targets: np.ndarray, scores: np.ndarray, names: list[str]) -> dict[str, float]:
    """MAE, RMSE, Pearson and Spearman of a score model's (N, K) predictions: for one score as before; for
    several, the mean MAE and RMSE over the scores, the Fisher-z means of the correlations under the same names
    (so ``video_spearman`` means the same for one score or seven), and each score's own as ``<name>/<metric>``."""
    if len(names) == 1:
        return regression_metrics(targets[:, 0], scores[:, 0])
    table = multi_target_regression_metrics(targets, scores, names)
    out = {
        "mae": table["mae_mean"],
        "rmse": table["rmse_mean"],
        "pearson": table["pearson_fisher_z"],
        "spearman": table["spearman_fisher_z"],
    }
    out.update({key: value for key, value in table.items() if "/" in key})
    return out


def _ordinal_only(labels: np.ndarray, probabilities: np.ndarray, num_classes: int) -> dict[str, float]:
    """The ordered-class figures :func:`classification_metrics` does not already give."""
    metrics = ordinal_metrics(labels, probabilities, num_classes=num_classes)
    return {key: metrics[key] for key in ORDINAL_VALIDATION_METRICS}


# ---------------------------------------------------------------------------------------------------- fit

_FIT_POSITIONAL = ("accelerator", "model", "processor", "train_dataset", "eval_dataset", "args")


def _keyword_only(fn):
    """``fit(accelerator, model, ...)`` by position, as before, keeps working for one release, with a warning."""

    @functools.wraps(fn)
    def wrapper(*positional, **kwargs):
        if positional:
            by_keyword = f"fit({', '.join(f'{n}=...' for n in _FIT_POSITIONAL[: len(positional)])})"
            warn_renamed("fit() with positional arguments", by_keyword, stacklevel=3)
            kwargs.update(zip(_FIT_POSITIONAL, positional))
        return fn(**kwargs)

    return wrapper


@_keyword_only
@renamed_keywords(clip_loader="clip_decoder")
def fit(
    *,
    model: torch.nn.Module,
    processor,
    train_dataset,
    eval_dataset=None,
    args: TrainingArguments,
    accelerator: Accelerator | None = None,
    clip_decoder: ClipDecoder | None = None,
    num_workers: int = 2,
    max_decode_failure_share: float = 0.1,
) -> FitResult:
    """Train ``model`` on ``train_dataset`` (clips), validate on ``eval_dataset`` (clips of whole videos, or
    ``None``), keep the best model by ``args.metric_for_best_model`` in ``<output_dir>/model`` (with the video
    processor), checkpoint, log, and stop early when asked. With ``auto_find_batch_size`` an out-of-memory batch
    size is halved and training restarts. See :class:`TrainingArguments` for every option.

    ``accelerator`` defaults to :func:`make_accelerator` of ``args``; ``clip_decoder`` (from ``clip_datasets``)
    gets each epoch's number for its augmentation.
    """
    accelerator = accelerator or make_accelerator(args)
    run = functools.partial(
        _fit_with_batch_size,
        accelerator=accelerator,
        model=model,
        processor=processor,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        args=args,
        clip_decoder=clip_decoder,
        num_workers=num_workers,
        max_decode_failure_share=max_decode_failure_share,
    )
    if not args.auto_find_batch_size:
        return run(args.per_device_train_batch_size)

    @find_executable_batch_size(starting_batch_size=args.per_device_train_batch_size)
    def run_halving_on_oom(batch_size: int) -> FitResult:
        accelerator.free_memory()
        return run(batch_size)

    return run_halving_on_oom()


def best_model_metric(config, metric: str | None) -> str:
    """``metric_for_best_model`` for this model: the default for its task when ``None`` (video balanced accuracy
    for classes, video MAE for scores), else ``metric`` once it is known to be computed for the task; checked
    before the first epoch, not after it."""
    regression = is_regression_model(config)
    if metric is None:
        if regression and len(target_names(config)) > 1:
            return "video_spearman"  # their Fisher-z mean: a mean MAE in each score's units would favour the widest
        return "video_mae" if regression else "video_balanced_accuracy"
    allowed = validation_metric_names(regression, None if regression else config.num_labels)
    if regression and len(target_names(config)) > 1:
        per_target = [f"{name}/{m}" for name in target_names(config) for m in ("mae", "rmse", "pearson", "spearman")]
        allowed = (*allowed, *(f"{level}_{key}" for level in ("video", "clip") for key in per_target))
    if is_ordinal(config):
        allowed = (*allowed, *(f"{level}_{key}" for level in ("video", "clip") for key in ORDINAL_VALIDATION_METRICS))
    if metric not in allowed:
        task = "a score (regression) model" if regression else f"a class model of {config.num_labels} classes"
        raise RecipeError(
            f"metric_for_best_model={metric!r} is not computed for {task}; choose one of {', '.join(allowed)}"
        )
    return metric


@dataclass
class _Run:
    """Everything one training run works with, once prepared."""

    accelerator: Accelerator
    model: torch.nn.Module
    processor: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train_loader: DataLoader
    eval_loader: DataLoader | None
    state: TrainState
    args: TrainingArguments
    clip_decoder: ClipDecoder | None
    max_decode_failure_share: float
    stop: _StopOnInterrupt | None = None

    @property
    def run_dir(self) -> Path:
        return Path(self.args.output_dir)

    @property
    def out_of_steps(self) -> bool:
        return bool(self.args.max_steps and self.state.global_step >= self.args.max_steps)

    @property
    def patience_ran_out(self) -> bool:
        patience = self.args.early_stopping_patience
        return patience is not None and self.state.validations_without_improvement >= patience


def _fit_with_batch_size(batch_size: int, **kwargs: Any) -> FitResult:
    """Set up, then train epoch after epoch: validate, keep the best model, checkpoint, stop early."""
    args = kwargs["args"]
    args.metric_for_best_model = best_model_metric(kwargs["model"].config, args.metric_for_best_model)
    run = _set_up(batch_size, **kwargs)
    state, args = run.state, run.args
    stopped_early = False
    with _StopOnInterrupt(run.accelerator) as stop:
        run.stop = stop
        while state.epoch < args.num_train_epochs and not run.out_of_steps:
            record, finished_epoch = _train_epoch(run)
            if not finished_epoch and stop.requested():  # mid-epoch, at the end of a step
                _checkpoint_and_stop(run)
            last = state.epoch + 1 >= args.num_train_epochs or run.out_of_steps
            if run.eval_loader is not None and ((state.epoch + 1) % args.eval_every_epochs == 0 or last):
                _validate_and_keep_best(run, record)
            _end_epoch(run, record, finished_epoch)
            if stop.requested():  # during the epoch's last step or its validation: stop at the epoch's end
                _checkpoint_and_stop(run)
            if run.patience_ran_out:
                run.accelerator.print(
                    f"early stop: {args.metric_for_best_model} did not improve for "
                    f"{state.validations_without_improvement} validations"
                )
                stopped_early = True
                break
    model_dir = run.run_dir / MODEL
    if run.eval_loader is None or state.best_epoch is None:  # no validation: the last model is the model
        last_loss = state.history[-1].get("eval_loss", 0.0) if state.history else 0.0
        if not (_weights_are_finite(run.accelerator, run.model) and math.isfinite(last_loss)):
            raise NonFiniteLossError(
                f"the model diverged: its weights or validation loss are not finite after step "
                f"{state.global_step}, so it is not saved to {model_dir}; lower learning_rate (or set max_grad_norm) "
                "and train again"
            )
        save_model(run.accelerator, run.model, run.processor, model_dir)
    run.accelerator.end_training()
    return FitResult(model_dir, state.best_metric, state.best_epoch, state.history, stopped_early)


def _set_up(
    batch_size: int,
    *,
    accelerator: Accelerator,
    model: torch.nn.Module,
    processor,
    train_dataset,
    eval_dataset,
    args: TrainingArguments,
    clip_decoder: ClipDecoder | None,
    num_workers: int,
    max_decode_failure_share: float,
) -> _Run:
    """Seed, loaders, optimizer, ``accelerator.prepare``, scheduler, the checkpointed state (resumed when
    asked) and the trackers."""
    set_seed(args.seed)
    train_loader = make_loader(train_dataset, batch_size, shuffle=True, num_workers=num_workers, seed=args.seed)
    optimizer = make_optimizer(model, args, accelerator.device)
    model, optimizer, train_loader = accelerator.prepare(model, optimizer, train_loader)
    eval_loader = None
    if eval_dataset is not None:
        eval_loader = accelerator.prepare(
            make_loader(
                eval_dataset, args.per_device_eval_batch_size, shuffle=False, num_workers=num_workers, seed=args.seed
            )
        )
    steps_per_epoch = math.ceil(len(train_loader) / accelerator.gradient_accumulation_steps)
    total_steps = min(steps_per_epoch * args.num_train_epochs, args.max_steps or 10**12)
    scheduler = make_scheduler(optimizer, args, total_steps)
    state = TrainState()
    # The state and the scheduler go into each checkpoint as JSON, not through register_for_checkpointing, whose
    # custom_checkpoint_<n>.pkl accelerate unpickles with weights_only=False on resume (training/checkpoints.py).
    accelerator.register_save_state_pre_hook(_save_training_state(accelerator, state, scheduler))
    if args.resume_from_checkpoint:
        checkpoint = resolve_checkpoint(args.output_dir, args.resume_from_checkpoint)
        check_checkpoint_fits(checkpoint, accelerator.unwrap_model(model))  # by name, before a weight is loaded

        def apply(saved: dict[str, Any]) -> None:
            state.load_state_dict(saved["train_state"], source=checkpoint)
            scheduler.load_state_dict(saved["scheduler"])

        resume_checkpoint(accelerator, checkpoint, apply)
        accelerator.print(
            f"resumed from {checkpoint}: epoch {state.epoch + 1}, step {state.global_step}, "
            f"{state.batches_in_epoch} batches into the epoch"
        )
    if accelerator.trackers == [] and accelerator.log_with:
        config = {k: str(v) if isinstance(v, list | dict) else v for k, v in asdict(args).items()}
        accelerator.init_trackers("surgical-skill", config=config)
    return _Run(
        accelerator, model, processor, optimizer, scheduler, train_loader, eval_loader, state, args, clip_decoder,
        max_decode_failure_share,
    )  # fmt: skip


def _save_training_state(accelerator: Accelerator, state: TrainState, scheduler):
    """The ``save_state`` hook that writes ``training_state.json`` into each checkpoint (main process)."""

    def hook(models, weights, output_dir) -> None:
        if accelerator.is_main_process:
            write_training_state(output_dir, train_state=state.state_dict(), scheduler=scheduler.state_dict())

    return hook


def _train_epoch(run: _Run) -> tuple[dict[str, Any], bool]:
    """Train the (rest of the) epoch, checkpointing every ``save_steps``; returns its record and whether the
    epoch is complete (``max_steps`` may end it early)."""
    state, args, accelerator = run.state, run.args, run.accelerator

    def checkpoint_every_steps() -> None:
        if args.save_steps and state.global_step % args.save_steps == 0:
            save_checkpoint(accelerator, run.run_dir, state.global_step, args.save_total_limit, model=run.model)

    monitor = DecodeFailureMonitor(max_failure_share=run.max_decode_failure_share)
    record: dict[str, Any] = {"epoch": state.epoch + 1}
    record.update(
        train_one_epoch(
            accelerator,
            run.model,
            run.train_loader,
            run.optimizer,
            run.scheduler,
            state,
            args,
            clip_decoder=run.clip_decoder,
            monitor=monitor,
            on_step=checkpoint_every_steps,
            dummy_input=_dummy_input(run),
            should_stop=run.stop.requested if run.stop is not None else None,
        )
    )
    monitor.check(final=True)
    record.update(
        {"step": state.global_step, "decode_failures": monitor.failed_samples, "peak_memory_mb": _peak_memory_mb()}
    )
    return record, state.batches_in_epoch >= len(run.train_loader)


def _dummy_input(run: _Run) -> dict[str, torch.Tensor]:
    """One all-zero clip of the processor's shape: the forward a process without data runs under DDP."""
    crop = run.processor.crop_size
    shape = (1, run.processor.num_frames, 3, crop["height"], crop["width"])
    name = run.accelerator.unwrap_model(run.model).main_input_name
    return {name: torch.zeros(shape, device=run.accelerator.device)}


def _validate_and_keep_best(run: _Run, record: dict[str, Any]) -> None:
    """Validate, add the metrics to ``record``, and save the model when it is the best so far."""
    state, metric = run.state, run.args.metric_for_best_model
    metrics = validate_one_epoch(run.accelerator, run.model, run.eval_loader)
    metrics.pop("predictions", None)
    record.update({f"eval_{k}": v for k, v in metrics.items()})
    value, loss = metrics.get(metric), metrics.get("loss")
    finite = (loss is None or math.isfinite(loss)) and _weights_are_finite(run.accelerator, run.model)
    if value is None and finite:
        raise KeyError(
            f"metric_for_best_model={metric!r} is not among the validation "
            f"metrics: {sorted(k for k in metrics if k not in ('clips', 'videos'))}"
        )
    if not finite:
        # a diverged model can still score (argmax of NaN is class 0): it is never the best one
        logger.warning(
            "epoch %d: the model's weights or validation loss (%s) are not finite: not kept as the best model",
            state.epoch + 1,
            loss,
        )
        state.validations_without_improvement += 1
    elif _is_better(value, state.best_metric, metric, loss, state.best_loss):
        state.best_metric, state.best_epoch = float(value), state.epoch + 1
        state.best_loss = None if loss is None else float(loss)
        state.validations_without_improvement = 0
        save_model(run.accelerator, run.model, run.processor, run.run_dir / MODEL)
    else:
        state.validations_without_improvement += 1


def _end_epoch(run: _Run, record: dict[str, Any], finished_epoch: bool) -> None:
    """Log and keep the epoch's record, write the history, checkpoint every ``save_every_epochs``."""
    accelerator, state, args = run.accelerator, run.state, run.args
    accelerator.log(
        {k if k.startswith("eval_") else f"epoch/{k}": v for k, v in record.items() if isinstance(v, int | float)},
        step=state.global_step,
    )
    state.history.append(record)
    if finished_epoch:
        state.epoch += 1
        state.batches_in_epoch = 0
        state.epoch_loss_sum = state.epoch_normalizer_sum = 0.0
    if accelerator.is_main_process:
        write_history(run.run_dir, state.history)
    accelerator.print(_epoch_line(record, args.metric_for_best_model))
    if args.save_every_epochs and finished_epoch and state.epoch % args.save_every_epochs == 0:
        save_checkpoint(accelerator, run.run_dir, state.global_step, args.save_total_limit, model=run.model)


def _weights_are_finite(accelerator: Accelerator, model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in accelerator.unwrap_model(model).parameters())


class _StopOnInterrupt:
    """Turns the first Ctrl-C (SIGINT) during training into a request to stop at the next consistent point (the
    end of the optimizer step under way), which :func:`_fit_with_batch_size` checkpoints; a second Ctrl-C
    interrupts at once, as usual. Under several processes they stop together (the request is reduced).

    A step is finished rather than abandoned: its batches are already drawn and half of its gradient may be
    accumulated, and only a checkpoint at a step's end replays exactly (``TrainState`` counts whole steps).
    """

    def __init__(self, accelerator: Accelerator):
        self.accelerator = accelerator
        self.flag = False
        self.previous = None
        self.pid = os.getpid()

    def __enter__(self) -> _StopOnInterrupt:
        # signals reach the main thread only; a process told to ignore SIGINT (started in the background) keeps
        # ignoring it
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
        ):
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _handle(self, signum, frame) -> None:
        if os.getpid() != self.pid:  # a data loader worker forked with this handler: the main process decides
            return
        self.flag = True
        signal.signal(signal.SIGINT, self.previous)  # a second Ctrl-C: KeyboardInterrupt at once
        if self.accelerator.is_local_main_process:
            print(
                "\nCtrl-C: stopping after this step with a checkpoint (press Ctrl-C again to stop at once, "
                "without one)",
                file=sys.stderr,
                flush=True,
            )

    def requested(self) -> bool:
        if self.accelerator.num_processes == 1:
            return self.flag
        flag = torch.tensor(float(self.flag), device=self.accelerator.device)
        return bool(self.accelerator.reduce(flag, reduction="sum").item() > 0)


def _checkpoint_and_stop(run: _Run) -> None:
    """Checkpoint where training stands (unless one was just saved at this step) and raise
    :class:`TrainingInterrupted`."""
    step = run.state.global_step
    found = checkpoints_in(run.run_dir)
    if found and found[-1].name == f"{CHECKPOINT_PREFIX}{step}":
        checkpoint = found[-1]
    else:
        checkpoint = save_checkpoint(run.accelerator, run.run_dir, step, run.args.save_total_limit, model=run.model)
    run.accelerator.end_training()
    raise TrainingInterrupted(checkpoint, step)


def _is_better(
    value: float, best: float | None, metric: str, loss: float | None = None, best_loss: float | None = None
) -> bool:
    """A better validation figure, or the same one with a lower validation loss: on a small validation split
    accuracy saturates early, and the first epoch to reach it is rarely the best model."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    lower_is_better = metric.endswith(("loss", "mae", "rmse", "expected_cost", "class_error", "brier", "ece"))
    if math.isclose(value, best, rel_tol=0.0, abs_tol=1e-12):
        return loss is not None and best_loss is not None and loss < best_loss
    return value < best if lower_is_better else value > best


def _progress(accelerator: Accelerator, args: TrainingArguments, total: int, desc: str):
    if not (args.progress_bar and accelerator.is_local_main_process):
        return None
    return tqdm(total=total, desc=desc, unit="step", leave=False)


def _peak_memory_mb() -> float:
    if torch.cuda.is_available():
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return round(peak, 1)


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
