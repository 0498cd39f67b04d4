"""What a run writes while it trains: checkpoints to resume from, the best model, the epoch history.

A run folder holds ``checkpoints/checkpoint-<step>`` (``accelerator.save_state``: model weights in safetensors,
optimizer and RNG, read back with ``weights_only=True``; the scheduler and
:class:`~surgical_skill.training.loop.TrainState` as JSON in ``training_state.json``: nothing in a checkpoint is
unpickled with code allowed, see :func:`check_checkpoint_is_safe`), ``model/`` (``save_pretrained`` of the model and its
video processor) and ``training_history.json``. Each is written whole or not at all (``surgical_skill.files``), so a
run stopped at any moment (Ctrl-C, a SIGKILL, a lost machine) resumes from its newest complete checkpoint.

Each checkpoint also holds ``checkpoint_info.json``: the model's config, so a resume whose model or labels differ
from the checkpoint's is refused by name (:func:`check_checkpoint_fits`) before any weight is loaded.

``SURGICAL_SKILL_FAULT_AT=<point>:<n>:<signal>`` makes this process send itself ``signal`` the ``n``-th time it
reaches ``point`` (``backward``, ``checkpoint-write``, ``checkpoint-prune``, ``model-write``): the tests kill real
runs at exact moments with it.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import signal
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import load as accelerate_load
from safetensors import safe_open

from ..errors import SurgicalSkillError
from ..files import (
    mark_folder,
    remove_toolkit_folder,
    replace_folder,
    staged_folder,
    stale_siblings,
    temporary_sibling,
    write_json_atomic,
)

CHECKPOINT_PREFIX = "checkpoint-"
CHECKPOINTS = "checkpoints"
MODEL = "model"
HISTORY = "training_history.json"
CHECKPOINT_INFO = "checkpoint_info.json"
TRAINING_STATE = "training_state.json"
TRAINING_STATE_FORMAT = 1
FAULT_ENV = "SURGICAL_SKILL_FAULT_AT"

# Config keys that say nothing about what the weights are (bookkeeping transformers writes itself)
_UNCOMPARED_CONFIG_KEYS = {"transformers_version", "_name_or_path", "torch_dtype", "dtype", "architectures"}

logger = logging.getLogger(__name__)


class CheckpointError(SurgicalSkillError, FileNotFoundError):
    """A checkpoint to resume from that is not there, or does not fit the model being resumed."""


_fault_hits: Counter = Counter()


def fault_point(name: str) -> None:
    """Send this process the signal ``SURGICAL_SKILL_FAULT_AT`` names when it asks for ``name`` (a test hook:
    a real SIGKILL or SIGINT at an exact moment, e.g. ``checkpoint-write:2:SIGKILL``); does nothing otherwise."""
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    point, count, sig = wanted.split(":")
    if point != name:
        return
    _fault_hits[name] += 1
    if _fault_hits[name] == int(count):
        os.kill(os.getpid(), signal.Signals[sig])


def checkpoints_in(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (a temporary, half-written one is never listed)."""
    folder = Path(run_dir) / CHECKPOINTS
    found = [
        p for p in folder.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir() and p.name[len(CHECKPOINT_PREFIX) :].isdigit()
    ]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]))


def save_checkpoint(
    accelerator: Accelerator,
    run_dir: str | Path,
    step: int,
    keep: int | None,
    *,
    model: torch.nn.Module | None = None,
) -> Path:
    """``accelerator.save_state`` into a temporary folder renamed when complete; keeps the newest ``keep``.

    A process killed at any moment leaves either the complete ``checkpoint-<step>`` or none under that name (the
    temporary folder is hidden, and removed by the next save). ``model``'s config goes into the checkpoint
    (``checkpoint_info.json``) for :func:`check_checkpoint_fits`. Every process calls it (each saves its own RNG
    state); the main process creates, renames and prunes.
    """
    folder = Path(run_dir) / CHECKPOINTS
    final = folder / f"{CHECKPOINT_PREFIX}{step}"
    tmp = folder / f".tmp-{CHECKPOINT_PREFIX}{step}"  # a fixed name: every process must write into the same one
    if accelerator.is_main_process:
        # A killed save's leftover: marked (below) since this version, unmarked before it. Its fixed name inside the
        # run's own checkpoints/ (the run folder was claimed by claim_output_dir) makes it the run's either way, and
        # raising here would leave the other processes waiting at the barrier below for good.
        if tmp.exists() and not remove_toolkit_folder(tmp):
            logger.warning("removing %s, left by a save that was interrupted", tmp)
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        mark_folder(tmp, "checkpoint")  # before anything else is in it: a leftover is recognisable as ours
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    if accelerator.is_main_process and model is not None:
        config = accelerator.unwrap_model(model).config.to_dict()
        write_json_atomic(tmp / CHECKPOINT_INFO, {"step": step, "config": config})
    fault_point("checkpoint-write")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        replace_folder(tmp, final, overwrite=True)  # checkpoint-<step> in the run's checkpoints/: the run's own
        fault_point("checkpoint-prune")
        if keep:
            for old in checkpoints_in(run_dir)[:-keep]:
                _remove_folder(old)
    accelerator.wait_for_everyone()
    return final


def _remove_folder(path: Path) -> None:
    """Rename ``path`` to a hidden name, then delete it: a kill halfway through never leaves a partial folder under
    a checkpoint's name."""
    hidden = temporary_sibling(path, "old")
    os.replace(path, hidden)
    shutil.rmtree(hidden, ignore_errors=True)


def resolve_checkpoint(run_dir: str | Path, which: str) -> Path:
    """The checkpoint ``resume_from_checkpoint`` names: ``"latest"`` (the run's newest) or a folder.

    Raises:
        CheckpointError: there is none (a ``FileNotFoundError`` too).
    """
    if which == "latest":
        found = checkpoints_in(run_dir)
        if not found:
            raise CheckpointError(
                f"resume_from_checkpoint=latest, but {Path(run_dir) / CHECKPOINTS} has no complete checkpoint (the "
                "run stopped before its first one): start it again with --overwrite_output_dir true"
            )
        return found[-1]
    path = Path(which)
    if not path.is_dir():
        raise CheckpointError(
            f"checkpoint {path} not found: give a checkpoint-<step> folder or 'latest' as resume_from_checkpoint"
        )
    return path


def checkpoint_info(checkpoint: str | Path) -> dict[str, Any] | None:
    """What :func:`save_checkpoint` recorded beside the state (the model's config), or ``None`` for a checkpoint
    from before it did."""
    path = Path(checkpoint) / CHECKPOINT_INFO
    return json.loads(path.read_text()) if path.is_file() else None


def check_checkpoint_fits(checkpoint: str | Path, model: torch.nn.Module) -> None:
    """Refuse to resume ``model`` from ``checkpoint`` when they differ: config keys (model, labels, frames, size)
    named with both values, or else weight shapes; checked before anything is loaded, so nothing changes.

    Raises:
        CheckpointError: they differ.
    """
    checkpoint = Path(checkpoint)
    info = checkpoint_info(checkpoint)
    if info is not None:
        saved, now = info["config"], model.config.to_dict()
        differ = [
            f"{key} {saved.get(key)!r} -> {now.get(key)!r}"
            for key in sorted(set(saved) | set(now))
            if key not in _UNCOMPARED_CONFIG_KEYS and _plain(saved.get(key)) != _plain(now.get(key))
        ]
        if differ:
            raise CheckpointError(
                f"{checkpoint} holds a different model than this recipe builds ({'; '.join(differ)}): resume with "
                "the recipe the run was trained with, or start a new run in another output_dir"
            )
    weights = checkpoint / "model.safetensors"
    if weights.is_file():
        with safe_open(str(weights), framework="pt") as handle:
            saved_shapes = {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}  # noqa: SIM118
        shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
        differ = [
            f"{key} {saved_shapes.get(key)} -> {shapes.get(key)}"
            for key in sorted(set(saved_shapes) | set(shapes))
            if saved_shapes.get(key) != shapes.get(key)
        ]
        if differ:
            raise CheckpointError(
                f"{checkpoint} holds weights of other shapes than this recipe's model ({'; '.join(differ[:4])}"
                f"{'; ...' if len(differ) > 4 else ''}): resume with the recipe the run was trained with"
            )


def _plain(value: Any) -> Any:
    """JSON's view of a value (tuples as lists, integer keys as strings): a config read back from JSON equals the
    config it was written from."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def save_model(accelerator: Accelerator, model: torch.nn.Module, processor, path: str | Path) -> None:
    """``save_pretrained`` the model (safetensors, config with ``id2label``) and its video processor, into a
    temporary folder renamed over ``path`` when complete. Every process calls it (FSDP/DeepSpeed gather)."""
    accelerator.wait_for_everyone()
    state_dict = accelerator.get_state_dict(model)  # gathers FSDP / DeepSpeed shards (every process calls it)
    if accelerator.is_main_process:
        path = Path(path)
        for stale in stale_siblings(path):  # left by a process killed while saving: only ours (marked) go
            remove_toolkit_folder(stale)
        with staged_folder(path, kind="model", legacy=MODEL_LEGACY) as tmp:
            accelerator.unwrap_model(model).save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
            fault_point("model-write")
            processor.save_pretrained(tmp)
    accelerator.wait_for_everyone()


# A model folder saved before folders were marked: save_pretrained's files only
MODEL_LEGACY = ("*.json", "*.safetensors")


def write_history(run_dir: str | Path, history: list[dict[str, Any]]) -> Path:
    """``training_history.json``: one record per epoch (NumPy numbers as plain numbers)."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    return write_json_atomic(Path(run_dir) / HISTORY, history)


def write_training_state(folder: str | Path, *, train_state: dict[str, Any], scheduler: dict[str, Any]) -> Path:
    """``training_state.json`` in a checkpoint being written: where training stands and the scheduler's state.

    JSON rather than accelerate's ``register_for_checkpointing``, which pickles them into
    ``custom_checkpoint_<n>.pkl`` and unpickles that on resume with ``weights_only=False``: a checkpoint folder
    from anyone else (a shared drive, a download) could run code then. Floats round-trip exactly through JSON.
    """
    value = {"format": TRAINING_STATE_FORMAT, "train_state": train_state, "scheduler": scheduler}
    return write_json_atomic(Path(folder) / TRAINING_STATE, value)


def read_training_state(checkpoint: str | Path) -> dict[str, Any]:
    """What :func:`write_training_state` wrote: ``{"train_state": ..., "scheduler": ...}``.

    Raises:
        CheckpointError: no such file, or not the JSON it writes (one line: which file, what to do).
    """
    path = Path(checkpoint) / TRAINING_STATE
    if not path.is_file():
        raise CheckpointError(
            f"{checkpoint} has no {TRAINING_STATE} (where a checkpoint keeps the training state and the scheduler): "
            "it is incomplete or not a checkpoint of this toolkit; resume from another checkpoint-<step> folder"
        )
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is not readable JSON ({err}): resume from another checkpoint") from err
    if (
        not isinstance(value, dict)
        or value.get("format") != TRAINING_STATE_FORMAT
        or not isinstance(value.get("train_state"), dict)
        or not isinstance(value.get("scheduler"), dict)
    ):
        raise CheckpointError(
            f"{path} is not a training state this version writes (format {TRAINING_STATE_FORMAT} with train_state "
            "and scheduler): resume from another checkpoint"
        )
    return value


# Checkpoints written before the training state became JSON: accelerate's register_for_checkpointing(scheduler,
# state) wrote each object's state_dict (plain numbers and lists) as custom_checkpoint_<index>.pkl, in that order.
LEGACY_STATE_FILES = {"scheduler": "custom_checkpoint_0.pkl", "train_state": "custom_checkpoint_1.pkl"}


def check_checkpoint_is_safe(checkpoint: str | Path, process_index: int = 0) -> None:
    """Refuse, before anything in it is loaded, a checkpoint that would need code-running unpickling.

    This process's RNG file (``random_states_<i>.pkl``) is read here with ``weights_only=True``, as accelerate reads
    it, because accelerate skips an RNG file it cannot read with only a log line, and the resume would then
    silently not be exact. A checkpoint of an earlier version keeps the training state as
    ``custom_checkpoint_<n>.pkl``: :func:`resume_checkpoint` reads those with ``weights_only=True`` itself and never
    lets accelerate open them (it would, with ``weights_only=False``). The other files accelerate reads
    (``optimizer.bin`` ...) are read with ``weights_only=True`` by :func:`resume_checkpoint`.

    Raises:
        CheckpointError: which file, why it is not loaded, what to do.
    """
    checkpoint = Path(checkpoint)
    pickled = sorted(p.name for p in checkpoint.glob("custom_checkpoint_*.pkl"))
    if pickled and ((checkpoint / TRAINING_STATE).exists() or sorted(pickled) != sorted(LEGACY_STATE_FILES.values())):
        raise CheckpointError(
            f"{checkpoint} holds {', '.join(pickled)}, which this toolkit never writes beside {TRAINING_STATE} (nor "
            "in other numbers): it is not loaded. Resume from a checkpoint this toolkit wrote, or start again"
        )
    rng = checkpoint / f"random_states_{process_index}.pkl"
    if rng.is_file():
        try:
            accelerate_load(str(rng), weights_only=True)
        except pickle.UnpicklingError as err:
            raise CheckpointError(_more_than_tensors(str(rng), err)) from err


def read_legacy_training_state(checkpoint: str | Path) -> dict[str, Any]:
    """The training state and the scheduler of a checkpoint written before they became JSON, read from its
    ``custom_checkpoint_<n>.pkl`` with ``weights_only=True`` (plain numbers and containers only, never code), in
    the shape :func:`read_training_state` returns.

    Raises:
        CheckpointError: a file that holds more than plain data (one line: which, why).
    """
    value = {}
    for key, name in LEGACY_STATE_FILES.items():
        path = Path(checkpoint) / name
        try:
            value[key] = accelerate_load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            raise CheckpointError(_more_than_tensors(str(path), err)) from err
        if not isinstance(value[key], dict):
            raise CheckpointError(f"{path} holds a {type(value[key]).__name__}, not a saved state: not loaded")
    return value


def resume_checkpoint(
    accelerator: Accelerator, checkpoint: str | Path, apply: Callable[[dict[str, Any]], None]
) -> None:
    """Resume from a checkpoint: :func:`check_checkpoint_is_safe`, then ``apply`` the training state
    (:func:`read_training_state`'s value; for a checkpoint of an earlier version
    :func:`read_legacy_training_state`'s) before any weight is loaded (so a state that does not fit changes
    nothing), then ``accelerator.load_state`` with every pickle it reads opened with ``weights_only=True``
    (tensors and plain containers only).

    An earlier version's checkpoint is loaded through a view of it without its ``custom_checkpoint_<n>.pkl``
    (links to its other files, in a temporary folder): accelerate would unpickle those with code allowed, and
    refuses a folder holding them when no object is registered. The checkpoint itself is not changed.

    Raises:
        CheckpointError: the checkpoint is unsafe, incomplete, or holds more than tensors in a file accelerate
            reads (``optimizer.bin`` ...).
    """
    checkpoint = Path(checkpoint)
    check_checkpoint_is_safe(checkpoint, accelerator.process_index)
    legacy = (checkpoint / LEGACY_STATE_FILES["train_state"]).is_file()
    apply(read_legacy_training_state(checkpoint) if legacy else read_training_state(checkpoint))
    try:
        if not legacy:
            accelerator.load_state(str(checkpoint), load_kwargs={"weights_only": True})
            return
        with tempfile.TemporaryDirectory(prefix="surgical-skill-resume-") as view:
            for item in checkpoint.iterdir():
                if item.name not in LEGACY_STATE_FILES.values():
                    os.symlink(item.resolve(), Path(view) / item.name)
            accelerator.load_state(view, load_kwargs={"weights_only": True})
    except pickle.UnpicklingError as err:
        raise CheckpointError(_more_than_tensors(f"a file in {checkpoint}", err)) from err


def _more_than_tensors(where: str, err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    named = next((line for line in lines if "GLOBAL" in line), lines[0] if lines else type(err).__name__)[:200]
    return (
        f"{where} holds more than tensors ({named}), so it is not loaded: loading it would run code from the file "
        "(checkpoints are read with weights_only=True). Resume from a checkpoint this toolkit wrote, or start again"
    )


__all__ = [
    "CHECKPOINT_PREFIX",
    "CheckpointError",
    "check_checkpoint_fits",
    "check_checkpoint_is_safe",
    "checkpoint_info",
    "checkpoints_in",
    "read_training_state",
    "resolve_checkpoint",
    "resume_checkpoint",
    "save_checkpoint",
    "save_model",
    "write_history",
    "write_training_state",
]
