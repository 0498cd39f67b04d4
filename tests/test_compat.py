"""Folders saved by an earlier release still work: tests/fixtures/legacy-0.1 was written by the code as it stood
before the read-through (issue 13) — two tiny run folders (a classifier with a checkpoint, a regressor) trained on
12 synthetic videos that the test renders again bit for bit from the recorded settings."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import av
import pytest
import torch
import yaml
from packaging.version import Version
from transformers import AutoModelForVideoClassification, AutoVideoProcessor

from surgical_skill.data.synthetic import SyntheticConfig, generate_dataset
from surgical_skill.evaluation.baselines import static_baselines
from surgical_skill.evaluation.inference import predict_videos
from surgical_skill.training import parse_recipe
from surgical_skill.training.runs import video_fingerprint

from .helpers import load_train_script, run_cli

LEGACY = Path(__file__).parent / "fixtures" / "legacy-0.1"


@pytest.fixture(scope="module")
def legacy_data(tmp_path_factory) -> Path:
    """The 12 videos the legacy runs were trained on, rendered again (same generator version and settings)."""
    settings = json.loads((LEGACY / "synthetic_config.json").read_text())
    assert settings.pop("generator_version") == 2
    out = tmp_path_factory.mktemp("legacy-data")
    return generate_dataset(out, SyntheticConfig(**settings), workers=1, progress=False)


def legacy_run(name: str, tmp_path: Path, manifest: Path) -> Path:
    """A copy of a legacy run folder whose recipe points at ``manifest`` (the data moved, as data does).

    The videos are rendered again bit for bit by the PyAV the fixture was made with (18), whose fingerprints must
    match the record's; an older PyAV bundles another x264 whose bytes differ (``make test-min`` runs the oldest
    supported PyAV, 17.1), so there the record's content fingerprints are those of the videos rendered here,
    matched by file name: what the run reads is the subject of these tests, not the encoder's bytes."""
    run = shutil.copytree(LEGACY / f"run-{name}", tmp_path / f"run-{name}")
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe.update(dataset=str(manifest), output_dir=str(run))
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    record = json.loads((run / "splits.json").read_text())
    for part in record["splits"].values():
        rendered = [video_fingerprint(str(manifest.parent / "videos" / Path(video).name)) for video in part["videos"]]
        if Version(av.__version__) >= Version("18"):
            assert rendered == part["fingerprints"]  # the same bytes, and the fingerprint as it was
        part["fingerprints"] = rendered
    (run / "splits.json").write_text(json.dumps(record, indent=2))
    return run


@pytest.mark.parametrize("name", ["cls", "reg"])
def test_a_legacy_model_folder_loads_and_gives_the_same_logits(name):
    folder = LEGACY / f"run-{name}" / "model"
    model = AutoModelForVideoClassification.from_pretrained(folder).eval()
    processor = AutoVideoProcessor.from_pretrained(folder)
    assert type(processor).__name__ == "SurgicalSkillVideoProcessor"
    pixel_values = torch.rand(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(pixel_values=pixel_values).logits
    expected = json.loads((LEGACY / "logits.json").read_text())["logits"][name]
    torch.testing.assert_close(logits, torch.tensor(expected), rtol=0, atol=1e-6)


def test_a_legacy_recipe_parses_with_its_old_keys():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model_args, data_args, training_args = parse_recipe([str(LEGACY / "run-cls" / "recipe.yaml")])
    old = yaml.safe_load((LEGACY / "run-cls" / "recipe.yaml").read_text())
    assert model_args.model_name_or_path == "small3d"
    assert data_args.eval_clips_per_video == old["eval_clips_per_video"] == 2
    assert training_args.gradient_accumulation_steps == 2
    parsed = {**vars(model_args), **vars(data_args), **vars(training_args)}
    renamed = [key for key in old if key not in parsed]
    for key in renamed:  # a key that was renamed warns, naming the new one
        assert any(key in str(w.message) and issubclass(w.category, FutureWarning) for w in caught), key


def test_a_legacy_run_is_evaluated_again_on_its_own_held_out_surgeons(legacy_data, tmp_path):
    run = legacy_run("cls", tmp_path, legacy_data)
    result = run_cli("evaluate", run, "--no-baselines", "--output-dir", tmp_path / "again")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "again" / "metrics.json").read_text())
    record = json.loads((run / "splits.json").read_text())
    assert metrics["videos"] == len(record["splits"]["test"]["videos"])


def test_training_resumes_from_a_legacy_checkpoint(legacy_data, tmp_path):
    """Its training state is accelerate's custom_checkpoint_<n>.pkl: read with weights_only=True (issue 19), the
    checkpoint folder unchanged."""
    run = legacy_run("cls", tmp_path, legacy_data)
    recorded = {
        name: part["fingerprints"] for name, part in json.loads((run / "splits.json").read_text())["splits"].items()
    }
    checkpoint = run / "checkpoints" / "checkpoint-2"
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    # checkpoint-2 ends epoch 2 of 2: one epoch more, in the run's own folder (a key as old recipes spell it)
    recipe.update(resume_from_checkpoint=str(checkpoint), num_epochs=3)
    (tmp_path / "resume.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the old keys, tested above
        load_train_script().main([str(tmp_path / "resume.yaml")])
    history = json.loads((run / "training_history.json").read_text())
    assert [entry["epoch"] for entry in history][-1] == 3
    assert (run / "checkpoints" / "checkpoint-3").is_dir()
    assert (run / "eval" / "metrics.json").exists()
    # the surgeons it began with, though this version splits the 12 videos otherwise (issue 21)
    resumed = json.loads((run / "splits.json").read_text())["splits"]
    assert {name: part["fingerprints"] for name, part in resumed.items()} == recorded
    assert sorted(p.name for p in checkpoint.glob("custom_checkpoint_*.pkl")) == [
        "custom_checkpoint_0.pkl",
        "custom_checkpoint_1.pkl",
    ]


def test_a_dataset_saved_with_the_old_num_frames_column_is_evaluated(tiny_run):
    # datasets saved (save_to_disk) before total_num_frames was named so carry the video's length as num_frames
    model_dir, data = tiny_run
    old_train, old_test = (data[s].rename_column("total_num_frames", "num_frames") for s in ("train", "test"))
    model = AutoModelForVideoClassification.from_pretrained(model_dir).eval()
    processor = AutoVideoProcessor.from_pretrained(model_dir)
    old = predict_videos(model, processor, old_test, clips_per_video=2, num_workers=0)
    new = predict_videos(model, processor, data["test"], clips_per_video=2, num_workers=0)
    assert [p.probabilities for p in old] == [p.probabilities for p in new]
    audit = static_baselines(old_train, old_test, baselines=["duration", "middle_frame"], bootstrap_samples=50)
    assert set(audit.results) | set(audit.skipped) == {"duration", "middle_frame"}
