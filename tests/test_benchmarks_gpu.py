"""benchmarks/gpu/bench_gpu.py: without CUDA it says so in one line and exits 0 having written nothing; its smoke
mode trains through `fit` on the CPU and writes results and a README section computed from them."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu" / "bench_gpu.py"


def test_without_cuda_it_skips_with_one_line_and_writes_nothing(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU, even on a machine that has one
    work, output = tmp_path / "work", tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--work-dir", str(work), "--output", str(output)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench_gpu: skipped: no CUDA GPU"), done.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def bench_gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the smoke path is the CPU path; a GPU runs the real one")
def test_smoke_trains_through_fit_and_reports_what_it_measured(bench_gpu, tmp_path):
    output = tmp_path / "results.json"
    argv = ["--smoke", "--in-process", "--only", "train-videomae-bf16", "train-videomae-fp16"]
    assert bench_gpu.main([*argv, "--work-dir", str(tmp_path), "--output", str(output)]) == 0

    data = json.loads(output.read_text())
    assert data["smoke"] is True and data["device"] == "CPU"
    run = data["tasks"]["train-videomae-bf16"]
    assert run["status"] == "ok", run
    result = run["result"]
    assert result["mixed_precision_used"] == "bf16"
    assert result["clips_per_s"] > 0 and result["step_s"] > 0 and result["peak_memory_mb"] > 0
    assert 0 <= result["data_wait_share"] <= 1
    assert result["input"] == [4, 32, 32] and result["batch"] == 2
    # fp16 is a GPU precision: on a CPU it is skipped with a note, not measured as fp32 under its name
    assert data["tasks"]["train-videomae-fp16"]["status"] == "skipped"
    assert "fp16 needs a GPU" in data["tasks"]["train-videomae-fp16"]["note"]

    section = (tmp_path / "section.md").read_text()
    assert "Smoke run on CPU" in section
    assert f"| VideoMAE (tiny) | bf16 | 4 x 32 x 32 | 2 | {result['clips_per_s']:.1f} |" in section
    assert "| VideoMAE (tiny) | fp16 |" in section and "not measured: fp16 needs a GPU" in section


@pytest.mark.skipif(torch.cuda.is_available(), reason="the smoke path is the CPU path; a GPU runs the real one")
def test_a_task_that_fails_is_reported_and_fails_the_run(bench_gpu, tmp_path, monkeypatch):
    def broken(task):
        raise RuntimeError("out of memory, say")

    monkeypatch.setitem(bench_gpu.MEASURES, "train", broken)
    output = tmp_path / "results.json"
    argv = ["--smoke", "--in-process", "--only", "train-cnn_rnn-fp32", "--work-dir", str(tmp_path)]
    assert bench_gpu.main([*argv, "--output", str(output)]) == 1
    record = json.loads(output.read_text())["tasks"]["train-cnn_rnn-fp32"]
    assert record["status"] == "failed" and "out of memory, say" in record["note"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="the smoke path is the CPU path; a GPU runs the real one")
def test_what_the_budget_cannot_hold_is_skipped_with_a_note(bench_gpu, tmp_path):
    output = tmp_path / "results.json"
    argv = ["--smoke", "--in-process", "--only", "train-cnn_rnn-fp32", "--budget", "1", "--work-dir", str(tmp_path)]
    assert bench_gpu.main([*argv, "--output", str(output)]) == 0
    record = json.loads(output.read_text())["tasks"]["train-cnn_rnn-fp32"]
    assert record["status"] == "skipped" and "of the budget left" in record["note"]


def test_batches_fit_the_gpu_memory(bench_gpu):
    def batches(memory_gb):
        sizes = bench_gpu.fit_batches(bench_gpu.GPU_SIZES, memory_gb)
        return {key: model["batch"] for key, model in sizes["models"].items()}

    assert batches(139) == {"videomae": 32, "cnn_rnn": 64}  # an H200: the batches as set
    assert batches(80) == {"videomae": 32, "cnn_rnn": 64}
    assert batches(24) == {"videomae": 8, "cnn_rnn": 16}
    assert batches(1) == {"videomae": 2, "cnn_rnn": 2}
