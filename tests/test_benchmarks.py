"""The benchmarks' plumbing: long recordings made by remuxing play as one file with the source's frames, and
benchmarks/README.md is assembled from the sections the scripts saved, saying what was not measured."""

import json
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import common
    import render_readme

    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(render_readme, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(render_readme, "GPU_SECTION", tmp_path / "no-gpu-section.json")
    yield common, render_readme
    for name in ("common", "render_readme"):
        sys.modules.pop(name, None)


def test_long_recording_is_the_source_back_to_back(bench, tmp_path):
    from surgical_skill.testing_utils import make_test_video
    from surgical_skill.video import decode_frames, probe

    common, _ = bench
    source = make_test_video(tmp_path / "minute.mp4", 24, keyframe_interval=8, preset="ultrafast")
    long = common.ensure_long_video(str(tmp_path / "three.mp4"), source, 3)
    one, three = probe(source), probe(long)
    assert three.total_num_frames == 3 * one.total_num_frames
    assert len(three.keyframe_indices) == 3 * len(one.keyframe_indices)
    assert three.duration == pytest.approx(3 * one.duration, abs=1 / one.fps)
    assert not three.is_variable_frame_rate
    first, last = 0, one.total_num_frames - 1
    wanted = [first, last, one.total_num_frames + first, 3 * one.total_num_frames - 1]
    expected = decode_frames(source, [first, last, first, last])
    assert torch.equal(decode_frames(long, wanted), expected)
    assert common.ensure_long_video(str(tmp_path / "three.mp4"), source, 3) == long  # made once


def test_readme_is_assembled_from_saved_sections(bench):
    common, render_readme = bench
    common.save_section("decode", "Decoding: fast", "A table.\n\n| a | b |\n|---|---|\n| 1 | 2 |", [1], goals_met=True)
    common.save_section("train", "Training loop overhead", "Overhead 7 %.", {"x": 1}, goals_met=False)
    text = render_readme.render(render_readme.load_sections(), {"decode": 61.0, "train": 120.4, "total": 300.0})
    assert text.startswith("# Benchmarks")
    assert "## Decoding: fast\n\nA table." in text and "## Training loop overhead\n\nOverhead 7 %." in text
    assert "| [Decoding: fast](#decoding-fast) | met |" in text and "| 61 s |" in text
    assert "| [Training loop overhead](#training-loop-overhead) | **missed** |" in text
    assert "The whole `make bench` took 5.0 minutes." in text
    for missing in ("pipeline", "data", "memory", "models"):
        assert f"Not measured yet: run `python benchmarks/bench_{missing}.py`." in text
    assert (
        "## GPU\n\nNot measured yet: run `python benchmarks/gpu/bench_gpu.py` on a machine with an NVIDIA GPU" in text
    )
    machine = common.machine_info()
    assert text.count(f"{machine['cores']} cores") == 3  # once for all, once under each measured section
    saved = json.loads((common.RESULTS / "decode.json").read_text())
    assert saved["goals_met"] is True and saved["data"] == [1] and saved["machine"]["versions"]["torch"]


def test_the_three_training_loops_read_the_same_clips_in_the_same_order(monkeypatch, tmp_path):
    """bench_train compares step times of fit, a plain loop and Trainer; with 0 workers decoding is most of a step,
    so the loops must decode the same clips in the same order (accelerate seeds fit's and Trainer's shuffles: a
    change there would make the comparison unfair without failing)."""
    import transformers
    from accelerate.state import AcceleratorState
    from accelerate.utils import set_seed

    from surgical_skill.training import TrainingArguments
    from surgical_skill.training.data_setup import make_loader
    from surgical_skill.training.loop import make_accelerator

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_train

    dataset = [{"index": i} for i in range(37)]
    plain = list(bench_train.plain_sampler(dataset))

    AcceleratorState._reset_state(reset_partial_state=True)
    args = TrainingArguments(output_dir=str(tmp_path / "fit"), report_to=["none"])
    torch.manual_seed(12345)  # whatever ran before: fit seeds everything (accelerate's sampler too) from args.seed
    set_seed(args.seed)  # as _set_up, before it makes the loader
    loader = make_loader(dataset, 1, shuffle=True, num_workers=0, seed=args.seed)
    loader.collate_fn = lambda batch: batch[0]["index"]
    fit = list(make_accelerator(args).prepare(loader))

    AcceleratorState._reset_state(reset_partial_state=True)
    torch.manual_seed(12345)
    trainer_args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "trainer"),
        per_device_train_batch_size=1,
        seed=0,
        report_to="none",
        remove_unused_columns=False,  # as run_trainer
        dataloader_pin_memory=False,
    )
    trainer = transformers.Trainer(
        model=torch.nn.Linear(1, 1),
        args=trainer_args,
        train_dataset=bench_train.ClipDataset(dataset),
        data_collator=lambda batch: batch[0]["index"],
    )
    trainer_order = list(trainer.get_train_dataloader())
    AcceleratorState._reset_state(reset_partial_state=True)
    sys.modules.pop("bench_train", None)

    assert sorted(plain) == list(range(37)) and plain != sorted(plain)
    assert fit == plain
    assert trainer_order == plain
