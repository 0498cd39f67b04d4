"""What a run writes while it trains: checkpoints to resume from, the best model, the epoch history.

A run folder holds ``checkpoints/checkpoint-<step>`` (``accelerator.save_state``: model, optimizer, scheduler,
RNG and :class:`~surgical_skill.training.loop.TrainState`), ``model/`` (``save_pretrained`` of the model and its
video processor) and ``training_history.json``. Each is written whole or not at all (``surgical_skill.files``), so a
run stopped at any moment resumes from its newest complete checkpoint.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from ..files import replace_folder, staged_folder, write_json_atomic

CHECKPOINT_PREFIX = "checkpoint-"
CHECKPOINTS = "checkpoints"
MODEL = "model"
HISTORY = "training_history.json"


def checkpoints_in(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (a temporary, half-written one is never listed)."""
    folder = Path(run_dir) / CHECKPOINTS
    found = [
        p for p in folder.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir() and p.name[len(CHECKPOINT_PREFIX) :].isdigit()
    ]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]))


def save_checkpoint(accelerator: Accelerator, run_dir: str | Path, step: int, keep: int | None) -> Path:
    """``accelerator.save_state`` into a temporary folder renamed when complete; keeps the newest ``keep``.

    Every process calls it (each saves its own RNG state); the main process creates, renames and prunes.
    """
    folder = Path(run_dir) / CHECKPOINTS
    final = folder / f"{CHECKPOINT_PREFIX}{step}"
    tmp = folder / f".tmp-{CHECKPOINT_PREFIX}{step}"  # a fixed name: every process must write into the same one
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        replace_folder(tmp, final)
        if keep:
            for old in checkpoints_in(run_dir)[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def resolve_checkpoint(run_dir: str | Path, which: str) -> Path:
    """The checkpoint ``resume_from_checkpoint`` names: ``"latest"`` (the run's newest) or a folder."""
    if which == "latest":
        found = checkpoints_in(run_dir)
        if not found:
            raise FileNotFoundError(f"resume_from_checkpoint=latest, but {Path(run_dir) / CHECKPOINTS} has none")
        return found[-1]
    path = Path(which)
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint {path} not found")
    return path


def save_model(accelerator: Accelerator, model: torch.nn.Module, processor, path: str | Path) -> None:
    """``save_pretrained`` the model (safetensors, config with ``id2label``) and its video processor, into a
    temporary folder renamed over ``path`` when complete. Every process calls it (FSDP/DeepSpeed gather)."""
    accelerator.wait_for_everyone()
    state_dict = accelerator.get_state_dict(model)  # gathers FSDP / DeepSpeed shards (every process calls it)
    if accelerator.is_main_process:
        path = Path(path)
        for stale in path.parent.glob(f".{path.name}.tmp-*"):  # left by a process killed while saving
            shutil.rmtree(stale, ignore_errors=True)
        with staged_folder(path) as tmp:
            accelerator.unwrap_model(model).save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
            processor.save_pretrained(tmp)
    accelerator.wait_for_everyone()


def write_history(run_dir: str | Path, history: list[dict[str, Any]]) -> Path:
    """``training_history.json``: one record per epoch (NumPy numbers as plain numbers)."""
    return write_json_atomic(Path(run_dir) / HISTORY, history)


__all__ = [
    "CHECKPOINT_PREFIX",
    "checkpoints_in",
    "resolve_checkpoint",
    "save_checkpoint",
    "save_model",
    "write_history",
]
