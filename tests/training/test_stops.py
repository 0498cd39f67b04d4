"""Runs are never lost: Ctrl-C stops with a checkpoint and the command to go on; a process killed at any moment
resumes to the very weights of an uninterrupted run; a resume that would change the run is refused before
anything in it is written.

The killed runs are real processes killed by a real signal, at exact moments chosen with the
``SURGICAL_SKILL_FAULT_AT`` hook (the process sends the signal to itself when it reaches the named point). The
Ctrl-C run is ``python recipes/train.py``; the SIGKILLed ones run the same ``main`` in processes forked from one
fork server that has imported the package once (a new interpreter each would cost seconds of imports; a fork of
the test process itself can hang in OpenMP, whose thread pool does not survive a fork).
"""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing
import os
import runpy
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState
from safetensors.torch import load_file

from surgical_skill.errors import run_reporting_errors
from surgical_skill.models import build_model
from surgical_skill.training import (
    CheckpointError,
    RecipeError,
    check_checkpoint_fits,
    check_run_is_free,
    checkpoints_in,
    resume_command,
)
from surgical_skill.training.checkpoints import FAULT_ENV
from surgical_skill.training.runs import RUN_LOCK
from tests.helpers import TINY_SMALL3D, load_train_script, write_tiny_recipe

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "recipes" / "train.py"
TIMING = {"clips_per_second", "data_wait_share", "seconds", "peak_memory_mb"}  # differ between any two runs


@pytest.fixture(scope="module")
def recipe(synthetic_manifest, tmp_path_factory) -> Path:
    """Two epochs of 4 steps (14 training videos in batches of 4)."""
    folder = tmp_path_factory.mktemp("stops")
    return write_tiny_recipe(
        folder / "tiny.yaml", synthetic_manifest, num_train_epochs=2, per_device_train_batch_size=4, learning_rate=0.01
    )


def train_here(argv: list[str]) -> int:
    """``recipes/train.py`` in this process, as its ``__main__`` runs it (errors as one line and exit code 2)."""
    try:
        return run_reporting_errors(lambda: load_train_script().main(argv))
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture(scope="module")
def uninterrupted(recipe, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    assert train_here([str(recipe), "--output_dir", str(run)]) == 0
    return run


def _run_script(argv: list[str], fault: str) -> None:
    os.environ[FAULT_ENV] = fault
    sys.argv = [str(TRAIN), *argv]
    runpy.run_path(str(TRAIN), run_name="__main__")  # exits as `python recipes/train.py ...` does


def killed(argv: list[str], fault: str) -> int | None:
    """``recipes/train.py argv`` in a new process that sends itself a signal at ``fault``; its exit code (``-9``:
    SIGKILLed)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["surgical_skill.training", "tests.helpers"])
    child = context.Process(target=_run_script, args=(argv, fault))
    child.start()
    child.join(timeout=300)
    return child.exitcode


def assert_same_run(run: Path, reference: Path) -> None:
    """The same final weights, bit for bit (every step replays exactly: seeded data order, augmentation and
    dropout, restored optimizer and RNG state), the same best model and the same epoch records."""
    final, expected = checkpoints_in(run)[-1], checkpoints_in(reference)[-1]
    assert final.name == expected.name
    for got, want in ((final, expected), (run / "model", reference / "model")):
        weights, reference_weights = load_file(got / "model.safetensors"), load_file(want / "model.safetensors")
        assert weights.keys() == reference_weights.keys()
        for key in weights:
            assert torch.equal(weights[key], reference_weights[key]), (got, key)
    history = json.loads((run / "training_history.json").read_text())
    reference_history = json.loads((reference / "training_history.json").read_text())
    assert [{k: v for k, v in r.items() if k not in TIMING} for r in history] == [
        {k: v for k, v in r.items() if k not in TIMING} for r in reference_history
    ]


def test_ctrl_c_saves_a_checkpoint_and_prints_the_command_that_resumes_to_the_same_weights(
    recipe, uninterrupted, tmp_path
):
    run = tmp_path / "run"
    # SIGINT in the middle of step 3 (after its backward pass): the step is finished, then checkpointed
    result = subprocess.run(
        [sys.executable, str(TRAIN), str(recipe), "--output_dir", str(run)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, FAULT_ENV: "backward:3:SIGINT"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's, even under `nohup`
    )
    assert result.returncode == 130, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    checkpoint = run / "checkpoints" / "checkpoint-3"
    assert f"interrupted at step 3; checkpoint saved in {checkpoint}. Continue with:" in result.stderr
    command = result.stderr.rstrip().splitlines()[-1].strip()
    arguments = [str(recipe), "--output_dir", str(run), "--resume_from_checkpoint", "latest"]
    assert command == shlex.join(["accelerate", "launch", str(TRAIN), *arguments])
    assert checkpoints_in(run)[-1] == checkpoint
    # the printed command, run as it is, finishes the run as if nothing had happened
    assert train_here(shlex.split(command)[3:]) == 0
    assert_same_run(run, uninterrupted)


def test_a_run_killed_at_any_moment_resumes_to_the_weights_of_an_uninterrupted_one(recipe, uninterrupted, tmp_path):
    run = tmp_path / "run"
    argv = [str(recipe), "--output_dir", str(run), "--save_steps", "1"]
    resume = [*argv, "--resume_from_checkpoint", "latest"]
    # SIGKILL while the third checkpoint is half written: it stays hidden and is never resumed from
    assert killed(argv, "checkpoint-write:3:SIGKILL") == -signal.SIGKILL
    assert [p.name for p in checkpoints_in(run)] == ["checkpoint-1", "checkpoint-2"]
    assert (run / RUN_LOCK).is_file()  # left by the killed process: stale, taken over by the resume
    assert (run / "checkpoints" / ".tmp-checkpoint-3" / "model.safetensors").is_file()
    # SIGKILL while the best model of epoch 1 is half written (after the checkpoint of step 4)
    assert killed(resume, "model-write:1:SIGKILL") == -signal.SIGKILL
    assert checkpoints_in(run)[-1].name == "checkpoint-4" and not (run / "model").exists()
    # SIGKILL in the middle of step 7 (the third batch after resuming from step 4)
    assert killed(resume, "backward:3:SIGKILL") == -signal.SIGKILL
    assert checkpoints_in(run)[-1].name == "checkpoint-6"
    assert train_here(resume) == 0
    assert not list(run.rglob(".*tmp-*"))  # every half-written folder was cleared by the next save
    assert not (run / RUN_LOCK).exists()
    assert_same_run(run, uninterrupted)


# ------------------------------------------------------------------------------------------- resume checks


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def own_data(synthetic_manifest, tmp_path_factory) -> tuple[Path, Path]:
    """A manifest of the synthetic videos that tests may edit (they put it back), and a recipe reading it."""
    folder = tmp_path_factory.mktemp("own_data")
    manifest = _edited_copy(synthetic_manifest, folder, lambda rows: rows)
    recipe = write_tiny_recipe(
        folder / "tiny.yaml", manifest, num_train_epochs=2, per_device_train_batch_size=4, learning_rate=0.01
    )
    return manifest, recipe


@pytest.fixture(scope="module")
def first_epoch(own_data, tmp_path_factory) -> Path:
    """A run stopped after its first epoch (max_steps 4), with its checkpoint, model and records."""
    run = tmp_path_factory.mktemp("first_epoch") / "run"
    assert train_here([str(own_data[1]), "--output_dir", str(run), "--max_steps", "4"]) == 0
    return run


@pytest.fixture
def stopped_run(first_epoch, tmp_path) -> Path:
    """A copy of :func:`first_epoch` to resume."""
    return Path(shutil.copytree(first_epoch, tmp_path / "run"))


@pytest.fixture
def recipe_of_run(own_data) -> Path:
    return own_data[1]


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--model_config", '{"small3d_channels": [4, 16]}'],
            r"changed model_config \{'small3d_channels': \[4, 8\]\} -> \{'small3d_channels': \[4, 16\]\}",
        ),
        (["--num_frames", "8", "--image_size", "48"], "changed num_frames 4 -> 8; image_size 32 -> 48"),
        (["--learning_rate", "0.1", "--seed", "3"], "changed seed 0 -> 3; learning_rate 0.01 -> 0.1"),
        (["--label_names", "higher-skilled", "lower-skilled"], "changed label_names None -> .'higher-skilled'"),
    ],
    ids=["model_config", "frames and size", "seed and learning rate", "label names"],
)
def test_a_resume_that_changes_the_run_is_refused_in_one_line_and_changes_nothing(
    stopped_run, recipe_of_run, flags, message, capsys
):
    recipe = recipe_of_run
    before = snapshot(stopped_run)
    argv = [str(recipe), "--output_dir", str(stopped_run), "--resume_from_checkpoint", "latest", *flags]
    with pytest.raises(RecipeError, match=f"cannot resume {stopped_run}: the recipe {message}"):
        load_train_script().main(argv)
    assert train_here(argv) == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
    assert snapshot(stopped_run) == before


def _edited_copy(manifest: Path, folder: Path, edit) -> Path:
    """``manifest`` through ``edit`` (a function of its rows) into ``folder``, with absolute video paths."""
    rows = edit(list(csv.DictReader(manifest.open())))
    for row in rows:
        row["video"] = str(manifest.parent / row["video"])
    path = folder / "metadata.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _renamed_class(rows):
    for row in rows:
        row["label"] = row["label"].replace("higher-skilled", "expert")
    return rows


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda rows: rows[1:], r"its (train|validation|test) split is not the one it trained on \(\d+ videos then"),
        (_renamed_class, r"the data's classes \[.*'expert'.*\] are not the ones the run trained on \[.*'higher"),
    ],
    ids=["a video gone", "a renamed class"],
)
def test_a_resume_on_changed_data_is_refused_and_changes_nothing(stopped_run, own_data, tmp_path, edit, message):
    manifest, recipe = own_data
    original = manifest.read_bytes()
    before = snapshot(stopped_run)
    try:
        _edited_copy(manifest, manifest.parent, edit)  # the same file, edited since the run began
        with pytest.raises(RecipeError, match=message):
            load_train_script().main(
                [str(recipe), "--output_dir", str(stopped_run), "--resume_from_checkpoint", "latest"]
            )
    finally:
        manifest.write_bytes(original)
    assert snapshot(stopped_run) == before


def test_a_resume_may_train_longer_log_otherwise_and_says_so(stopped_run, recipe_of_run, caplog):
    argv = [str(recipe_of_run), "--output_dir", str(stopped_run), "--resume_from_checkpoint", "latest"]
    with caplog.at_level(logging.INFO):
        assert train_here([*argv, "--max_steps", "5", "--logging_steps", "1", "--num_workers", "1"]) == 0
    assert "resuming with max_steps 4 -> 5 (the learning-rate schedule is recomputed" in caplog.text
    assert "resuming with logging_steps 10 -> 1" in caplog.text and "num_workers 0 -> 1" in caplog.text
    history = json.loads((stopped_run / "training_history.json").read_text())
    assert [record["step"] for record in history] == [4, 5]
    assert "max_steps: 5" in (stopped_run / "recipe.yaml").read_text()  # the run's record follows the resume


def test_the_resume_command_keeps_the_arguments_but_the_resume_and_the_overwrite():
    argv = ["r.yaml", "--overwrite_output_dir", "--learning_rate", "0.1", "--resume_from_checkpoint", "x/checkpoint-3"]
    argv += ["--overwrite_output_dir=true", "--output_dir", "runs/my run"]
    assert resume_command(argv, 2, "recipes/train.py") == (
        "accelerate launch --num_processes 2 recipes/train.py r.yaml --learning_rate 0.1 --output_dir 'runs/my run' "
        "--resume_from_checkpoint latest"
    )


def test_a_checkpoint_refuses_another_model_by_name_and_a_missing_one_is_one_line(stopped_run, recipe, tmp_path):
    checkpoint = checkpoints_in(stopped_run)[-1]
    labels = {"num_labels": 2, "id2label": {0: "lower-skilled", 1: "higher-skilled"}}
    other = build_model("small3d", small3d_channels=[4, 16], **labels)
    with pytest.raises(CheckpointError, match=r"holds a different model .*small3d_channels \[4, 8\] -> \[4, 16\]"):
        check_checkpoint_fits(checkpoint, other)
    check_checkpoint_fits(checkpoint, build_model("small3d", **TINY_SMALL3D, **labels))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match=r"has no complete checkpoint .*--overwrite_output_dir true"):
        load_train_script().main([str(recipe), "--output_dir", str(empty), "--resume_from_checkpoint", "latest"])
    assert not list(empty.iterdir())


def test_a_run_another_live_process_is_writing_is_refused_naming_it(stopped_run, recipe_of_run, tmp_path):
    """Two processes that are not one run (e.g. `accelerate launch` of several processes that could not form a
    group) never write one run folder: the second is refused, and told about ACCELERATE_USE_CPU."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (stopped_run / RUN_LOCK).write_text(f"{socket.gethostname()} {other.pid}")
        before = snapshot(stopped_run)
        for flags in (["--resume_from_checkpoint", "latest"], ["--overwrite_output_dir", "true"]):
            with pytest.raises(
                RecipeError, match=rf"being written by another training process \(.* pid {other.pid}\)"
            ):
                load_train_script().main([str(recipe_of_run), "--output_dir", str(stopped_run), *flags])
        assert snapshot(stopped_run) == before
    finally:
        other.kill()
        other.wait()
    check_run_is_free(stopped_run)  # its process gone, the lock is stale (a resume takes it over)
