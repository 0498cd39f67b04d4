"""Helpers shared by the tests (plain functions; fixtures live in the conftest files)."""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import yaml

from surgical_skill import cli
from surgical_skill.training import DataArguments, ModelArguments, TrainingArguments
from surgical_skill.training.arguments import rename_deprecated_keys


def optional_part_missing(
    reason: str, require: str = "SURGICAL_SKILL_REQUIRE_FFMPEG", what: str = "FFmpeg and torchcodec"
) -> None:
    """Skip a test whose optional part is missing here, saying why; fail instead where ``require`` is 1, as
    ``.ci/run`` sets it for what it installs: FFmpeg (torchcodec, the ffmpeg command), Chromium (the browser test)
    and the sample videos."""
    import pytest

    if os.environ.get(require) == "1":
        pytest.fail(f"{reason} ({require}=1: {what} must be present)")
    pytest.skip(reason)


def run_cli(*args: str, timeout: int = 300, installed: bool = False) -> subprocess.CompletedProcess:
    """The ``surgical-skill`` command with ``args``: its exit code, standard output and standard error.

    By default in this process, through ``surgical_skill.cli.main`` (what the console script calls; a new process
    would spend seconds importing torch and transformers again), with log records written to the captured
    standard error as the commands' ``logging.basicConfig`` would. ``installed=True`` runs the installed console
    script in a fresh process, as a user does: for the tests of the script itself and of commands that start
    worker processes.
    """
    argv = [str(arg) for arg in args]
    if installed:
        script = Path(sys.executable).with_name("surgical-skill")
        return subprocess.run(
            [str(script), *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.setLevel(logging.WARNING)
    logging.getLogger().addHandler(handler)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exit:  # argparse's usage errors (its message is on stderr) and --help/--version
                code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
    finally:
        logging.getLogger().removeHandler(handler)
    return subprocess.CompletedProcess(["surgical-skill", *argv], code, out.getvalue(), err.getvalue())


def write_manifest(path: Path, rows: list[dict], fields=("video", "label", "subject", "score")) -> Path:
    if path.suffix == ".csv":
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(fields), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text("".join(json.dumps({k: r[k] for k in fields if k in r}) + "\n" for r in rows))
    return path


ROOT = Path(__file__).resolve().parents[1]

# A seconds-long run: a 2-layer small3d on clips of 4 frames of 32x32, no workers, no trackers, no progress bar
TINY_SMALL3D = {"small3d_channels": [4, 8]}
# X3D at 8-64 channels, one block per stage but two in the second (blocks with and without squeeze-excitation)
TINY_X3D = {
    "width_factor": 1.0,
    "depth_factor": 1.0,
    "stem_dim_in": 8,
    "stage_depths": [1, 2, 1, 1],
    "head_dim_out": 32,
    "num_frames": 4,
    "image_size": 32,
}
TINY_DATA = {
    "split_ratios": [0.6, 0.2, 0.2],
    "num_frames": 4,
    "sampling_strategy": "clip",
    "image_size": 32,
    "crop_size": 32,
    "num_workers": 0,
    "eval_clips_per_video": 2,
}
TINY_TRAINING = {"report_to": ["none"], "progress_bar": False, "per_device_train_batch_size": 4}


def tiny_arguments(
    manifest: Path, output_dir: Path, model_name="small3d", model_config=None, data_overrides=None, **training
):
    """``(ModelArguments, DataArguments, TrainingArguments)`` of a tiny run on ``manifest``; ``training`` adds
    to or replaces the training arguments."""
    model_args = ModelArguments(model_name_or_path=model_name, model_config=model_config or TINY_SMALL3D)
    data_args = DataArguments(dataset=str(manifest), **{**TINY_DATA, **(data_overrides or {})})
    training_args = TrainingArguments(output_dir=str(output_dir), **{**TINY_TRAINING, **training})
    return model_args, data_args, training_args


def write_tiny_recipe(path: Path, manifest: Path, **keys) -> Path:
    """A recipe YAML for a seconds-long run (as :func:`tiny_arguments`), one epoch, no static baselines;
    ``keys`` add to or replace its keys (old key names are moved to their new ones first)."""
    recipe = {
        "model_name_or_path": "small3d",
        "model_config": TINY_SMALL3D,
        "dataset": str(manifest),
        **TINY_DATA,
        "num_train_epochs": 1,
        "report_to": ["none"],
        "progress_bar": False,
        "static_baselines": False,  # tested where they are the subject (tests/training/test_runs.py)
        **rename_deprecated_keys(keys, where="write_tiny_recipe"),
    }
    path.write_text(yaml.safe_dump(recipe))
    return path


def load_train_script():
    """``recipes/train.py`` as a module, to call its ``main(argv)`` in this process."""
    spec = importlib.util.spec_from_file_location("train_recipe", ROOT / "recipes" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Head settings of tiny models for the outputs a model can have (save_tiny_model(folder, **THREE_SCORES))
THREE_SCORES = {  # three OSATS-like items on a distribution head, and their sum reported as "grs"
    "target_names": ["respect_for_tissue", "time_and_motion", "flow_of_operation"],
    "score_ranges": [[1, 5], [1, 5], [1, 5]],
    "score_head": "distribution",
    "distribution_bins": 9,
    "score_sum_name": "grs",
}
ORDERED_CLASSES = {"id2label": ["novice", "intermediate", "expert"], "ordinal_loss": "coral"}


def save_tiny_model(folder: Path, *, pickle: bool = False, **head) -> Path:
    """A random-init two-layer small3d classifier and its video processor saved in ``folder`` (milliseconds);
    ``pickle`` keeps only a ``pytorch_model.bin`` (transformers 5 writes safetensors only, so torch.save it).
    ``head`` goes to ``build_model``: score targets, a distribution head, ordered classes
    (``target_names=[...], score_ranges=[...]``, ``id2label=[...], ordinal_loss="coral"`` ...)."""
    import torch
    from safetensors.torch import load_file

    from surgical_skill.models import build_model, build_video_processor

    build_model("small3d", **TINY_SMALL3D, **head).save_pretrained(folder)
    build_video_processor(
        "small3d", num_frames=4, size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    if pickle:
        weights = folder / "model.safetensors"
        torch.save(load_file(weights), folder / "pytorch_model.bin")
        weights.unlink()
    return folder
