"""Nothing in a checkpoint is unpickled with code allowed: the training state and the scheduler are JSON
(``training_state.json``), accelerate's own files are read with ``weights_only=True``; a checkpoint holding a
pickle payload (in an earlier version's ``custom_checkpoint_<n>.pkl``, which is read as data only, or a tampered
optimizer or RNG file) is refused in one line and the payload never runs; a resume is still exact (cosine schedule,
mid-epoch), from an earlier version's checkpoint too."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
import torch

from surgical_skill.training import checkpoints_in
from surgical_skill.training.checkpoints import (
    TRAINING_STATE,
    CheckpointError,
    read_training_state,
    write_training_state,
)
from surgical_skill.training.loop import TrainState
from tests.training.test_engine import fit_tiny, setup, weights

COMMON = {"num_train_epochs": 2, "learning_rate": 0.01, "lr_scheduler_type": "cosine", "warmup_steps": 1.0}


class _Payload:
    """Unpickling this with code allowed runs ``touch <marker>``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _steps_per_epoch(train) -> int:
    return math.ceil(len(train) / 4)  # batches of 4, no accumulation


@pytest.fixture(scope="module")
def stopped(synthetic_manifest, tmp_path_factory):
    """A two-epoch run with a checkpoint every step, cut back to one step into its second epoch (its later
    checkpoints removed: as if it had stopped there): (run dir, its newest checkpoint, the uninterrupted run's
    final weights)."""
    from accelerate.state import AcceleratorState

    run = tmp_path_factory.mktemp("stopped")
    model, processor, train, evaluation, clip_decoder, args = setup(
        synthetic_manifest, run, save_steps=1, save_total_limit=None, **COMMON
    )
    fit_tiny(model, processor, train, evaluation, clip_decoder, args)
    AcceleratorState._reset_state(reset_partial_state=True)
    stop = _steps_per_epoch(train) + 1
    for later in checkpoints_in(args.output_dir)[stop:]:
        shutil.rmtree(later)
    return Path(args.output_dir), checkpoints_in(args.output_dir)[-1], weights(model)


def test_a_checkpoint_keeps_the_state_as_json_and_no_custom_pickle(stopped):
    _, checkpoint, _ = stopped
    assert not list(checkpoint.glob("custom_checkpoint_*"))
    saved = json.loads((checkpoint / TRAINING_STATE).read_text())
    assert saved["train_state"]["global_step"] == int(checkpoint.name.split("-")[1])
    assert saved["train_state"]["epoch"] == 1 and saved["train_state"]["batches_in_epoch"] == 1
    assert saved["scheduler"]["last_epoch"] == saved["train_state"]["global_step"]


def test_a_resume_from_json_state_ends_with_the_weights_of_an_uninterrupted_run(synthetic_manifest, tmp_path, stopped):
    run_dir, _, uninterrupted = stopped
    shutil.copytree(run_dir, tmp_path / "run")
    model, processor, train, evaluation, clip_decoder, args = setup(
        synthetic_manifest, tmp_path, resume_from_checkpoint="latest", **COMMON
    )
    result = fit_tiny(model, processor, train, evaluation, clip_decoder, args)
    assert [r["epoch"] for r in result.history] == [1, 2]  # the first epoch's record came back from the JSON
    assert result.history[-1]["step"] == 2 * _steps_per_epoch(train)
    resumed = weights(model)
    for key in uninterrupted:  # the cosine schedule resumed where it was: the same learning rates, the same weights
        torch.testing.assert_close(resumed[key], uninterrupted[key], rtol=0, atol=1e-6)


def _resume_refused(synthetic_manifest, tmp_path, checkpoint: Path, match: str, *, before_weights=True) -> str:
    model, processor, train, evaluation, clip_decoder, args = setup(
        synthetic_manifest, tmp_path, resume_from_checkpoint=str(checkpoint), **COMMON
    )
    before = weights(model)
    with pytest.raises(CheckpointError, match=match) as err:
        fit_tiny(model, processor, train, evaluation, clip_decoder, args)
    assert "\n" not in str(err.value)
    if before_weights:  # refused before a weight was loaded
        for key, value in weights(model).items():
            assert torch.equal(value, before[key])
    return str(err.value)


def _as_earlier_versions_wrote_it(checkpoint: Path, train_state: dict | None = None) -> None:
    """The training state moved to accelerate's custom_checkpoint_<n>.pkl (scheduler 0, state 1), as before."""
    saved = read_training_state(checkpoint)
    (checkpoint / TRAINING_STATE).unlink()
    torch.save(saved["scheduler"], checkpoint / "custom_checkpoint_0.pkl")
    torch.save(train_state or saved["train_state"], checkpoint / "custom_checkpoint_1.pkl")


def test_an_earlier_versions_pickled_state_is_read_as_data_and_resumes_exactly(synthetic_manifest, tmp_path, stopped):
    run_dir, checkpoint, uninterrupted = stopped
    shutil.copytree(run_dir, tmp_path / "run")
    legacy = tmp_path / "run" / "checkpoints" / checkpoint.name
    _as_earlier_versions_wrote_it(legacy)
    before = {p.name: p.read_bytes() for p in legacy.iterdir()}
    model, processor, train, evaluation, clip_decoder, args = setup(
        synthetic_manifest, tmp_path, resume_from_checkpoint=str(legacy), **COMMON
    )
    fit_tiny(model, processor, train, evaluation, clip_decoder, args)
    resumed = weights(model)
    for key in uninterrupted:
        torch.testing.assert_close(resumed[key], uninterrupted[key], rtol=0, atol=1e-6)
    assert {p.name: p.read_bytes() for p in legacy.iterdir()} == before  # the checkpoint itself is not touched


def test_a_payload_in_an_earlier_versions_pickled_state_is_refused_and_never_runs(
    synthetic_manifest, tmp_path, stopped
):
    checkpoint = shutil.copytree(stopped[1], tmp_path / "checkpoint-old")
    marker = tmp_path / "payload-ran"
    _as_earlier_versions_wrote_it(checkpoint, {"epoch": 1, "evil": _Payload(marker)})
    message = _resume_refused(synthetic_manifest, tmp_path, checkpoint, r"custom_checkpoint_1\.pkl holds more than")
    assert "weights_only=True" in message
    assert not marker.exists()


def test_a_pickled_state_beside_the_json_one_is_refused_unopened(synthetic_manifest, tmp_path, stopped):
    checkpoint = shutil.copytree(stopped[1], tmp_path / "checkpoint-planted")
    marker = tmp_path / "payload-ran"
    torch.save({"evil": _Payload(marker)}, checkpoint / "custom_checkpoint_2.pkl")
    _resume_refused(synthetic_manifest, tmp_path, checkpoint, r"custom_checkpoint_2\.pkl, which this toolkit never")
    assert not marker.exists()


@pytest.mark.parametrize("tampered", ["optimizer.bin", "random_states_0.pkl"])
def test_a_payload_in_a_file_accelerate_reads_is_refused_and_never_runs(
    synthetic_manifest, tmp_path, stopped, tampered
):
    checkpoint = shutil.copytree(stopped[1], tmp_path / "checkpoint-tampered")
    marker = tmp_path / "payload-ran"
    genuine = torch.load(checkpoint / tampered, weights_only=False)  # the test's own file
    torch.save({**genuine, "evil": _Payload(marker)}, checkpoint / tampered)
    # the RNG file is checked before anything loads; optimizer.bin as accelerate reads it, after the weights
    _resume_refused(
        synthetic_manifest,
        tmp_path,
        checkpoint,
        r"holds more than tensors .*weights_only=True",
        before_weights=tampered.startswith("random_states"),
    )
    assert not marker.exists()


def test_training_state_json_round_trips_exactly_and_refuses_what_it_is_not(tmp_path):
    state = TrainState(epoch=2, global_step=7, best_metric=0.1 + 0.2, history=[{"epoch": 1, "eval_loss": math.nan}])
    write_training_state(tmp_path, train_state=state.state_dict(), scheduler={"last_epoch": 7, "_last_lr": [1 / 3]})
    saved = read_training_state(tmp_path)
    again = TrainState()
    again.load_state_dict(saved["train_state"])
    assert again.best_metric == 0.1 + 0.2 and math.isnan(again.history[0]["eval_loss"]) and again.global_step == 7
    assert saved["scheduler"]["_last_lr"] == [1 / 3]
    with pytest.raises(CheckpointError, match=r"names rng_seed, which this version's training state does not have"):
        TrainState().load_state_dict({"epoch": 1, "rng_seed": 3}, source=tmp_path)
    (tmp_path / TRAINING_STATE).write_text("[1, 2]")
    with pytest.raises(CheckpointError, match=r"training_state\.json is not a training state this version writes"):
        read_training_state(tmp_path)
    (tmp_path / TRAINING_STATE).unlink()
    with pytest.raises(CheckpointError, match=r"has no training_state\.json"):
        read_training_state(tmp_path)


def test_a_state_from_another_version_is_refused_before_a_weight_loads(synthetic_manifest, tmp_path, stopped):
    checkpoint = shutil.copytree(stopped[1], tmp_path / "checkpoint-other")
    saved = json.loads((checkpoint / TRAINING_STATE).read_text())
    saved["train_state"]["sampler_position"] = 3
    (checkpoint / TRAINING_STATE).write_text(json.dumps(saved))
    _resume_refused(synthetic_manifest, tmp_path, checkpoint, r"names sampler_position, which this version")
