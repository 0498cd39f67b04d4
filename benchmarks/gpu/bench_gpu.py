"""GPU benchmark: training speed and memory by precision, whether the loader keeps the GPU busy, the pipeline's
real-time factor, and torch.compile on and off. One script, under 8 minutes on one GPU; on a machine without
CUDA it prints one line and exits 0 without measuring or writing anything.

Every training figure comes from this project's `fit` (its Accelerate loop and its own per-epoch record:
clips/s, data-wait share, peak memory), with precision set the way a recipe sets it (`mixed_precision`:
accelerate's autocast; fp16 adds its gradient scaler). Each run trains two epochs of the same number of steps:
the first warms up (cuDNN, allocator, compilation), the second is measured. Models are random-init (nothing
downloaded) at their registry sizes:

- VideoMAE (`build_model("videomae")`: ViT-B, 16 frames at 224) and the CNN-RNN with a ResNet-50 backbone
  (`build_model("cnn_rnn", backbone="resnet50")`, its registry clip of 16 frames at 112), each at fp32, bf16
  and fp16 with a fixed batch, fed random clips already on the GPU: the model's own speed, not the loader's;
- the loader: the same VideoMAE bf16 run fed by the real training data path (`clip_datasets`: random
  16-frame clips decoded and augmented) from proxies that `prepare_proxies` made of generated 720p videos,
  with every CPU core as a DataLoader worker: its data-wait share of step time, its clips/s against the
  GPU-fed run, and the GPU utilisation over the measured epoch (`torch.cuda.utilization()`, when pynvml is
  installed);
- the pipeline: `pipeline("surgical-skill", model=folder, device=0)` (VideoMAE ViT-B, 16-frame clips) on a
  generated 2-minute 720p recording: seconds per call and the real-time factor (duration / call);
- torch.compile: the VideoMAE bf16 run with accelerate's dynamo backend (inductor, a cold cache) against the
  eager run above: clips/s, and the compile time (the compiled run's first-epoch surplus over the eager one's).

Each measurement runs in its own process (a fresh AcceleratorState and GPU memory), killed when the global
budget runs out; what is left is skipped with a note. Results go to benchmarks/gpu/results.json and to the
"gpu" section of benchmarks/README.md.

    python benchmarks/gpu/bench_gpu.py            # on a machine with an NVIDIA GPU (about 6-8 minutes)
    python benchmarks/gpu/bench_gpu.py --smoke    # every code path on the CPU with tiny sizes (minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import importlib.util
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

STARTED = time.monotonic()  # the budget counts from here: torch and the package are imported after

HERE = Path(__file__).resolve().parent
BENCHMARKS = HERE.parent
sys.path.insert(0, str(BENCHMARKS))  # common.py
if importlib.util.find_spec("surgical_skill") is None:  # a checkout without the package installed: its source
    sys.path.insert(0, str(BENCHMARKS.parent / "src"))

import torch  # noqa: E402

DEFAULT_BUDGET_S = 450.0  # 7.5 minutes: the script must finish in under 8
RESERVE_S = 10.0  # kept back for writing the results
BUSY_DATA_WAIT = 0.10  # the loader "keeps the GPU busy" when under this share of step time is spent waiting
LABELS = ["lower-skilled", "higher-skilled"]
PRECISIONS = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}

# Sizes on a GPU (batches as on an 80 GB or larger GPU, smaller on a smaller one: `fit_batches`), and the tiny ones
# of --smoke.
GPU_SIZES = {
    "models": {
        "videomae": {
            "label": "VideoMAE ViT-B",
            "name": "videomae",
            "overrides": {},
            "processor": {},
            "batch": 32,
            "clips_per_gb": 0.4,  # fp32 holds about 1 GB of activations a clip: 32 on an 80 GB GPU, 8 on 24 GB
            "steps": 10,
        },
        "cnn_rnn": {
            "label": "CNN-RNN, ResNet-50 + BiLSTM",
            "name": "cnn_rnn",
            "overrides": {"backbone": "resnet50"},
            "processor": {},
            "batch": 64,
            "clips_per_gb": 0.8,
            "steps": 10,
        },
    },
    "videos": {"count": 16, "seconds": 10, "height": 720, "width": 1280},
    "proxy": {"short_side": 256, "fps": 10.0, "keyframe_interval_seconds": 1.0},
    "loader_steps": 20,
    "recording_copies": 12,  # 12 x 10 s remuxed: a 2-minute recording
    "clip_stride_seconds": 4.0,
    "pipeline_repeats": 1,  # a whole call over a 2-minute recording is seconds: one after the warm-up
    "compile_backend": "inductor",
}
SMOKE_SIZES = {
    "models": {
        "videomae": {
            "label": "VideoMAE (tiny)",
            "name": "videomae",
            "overrides": {
                "hidden_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "intermediate_size": 64,
                "image_size": 32,
                "patch_size": 16,
                "num_frames": 4,
                "tubelet_size": 2,
            },
            "processor": {"size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}},
            "batch": 2,
            "steps": 2,
        },
        "cnn_rnn": {
            "label": "CNN-RNN (tiny: ResNet-18)",
            "name": "cnn_rnn",
            "overrides": {"backbone": "resnet18", "rnn_hidden_size": 16, "num_frames": 4},
            "processor": {"size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}},
            "batch": 2,
            "steps": 2,
        },
    },
    "videos": {"count": 2, "seconds": 2, "height": 96, "width": 128},
    "proxy": {"short_side": 64, "fps": 10.0, "keyframe_interval_seconds": 1.0},
    "loader_steps": 2,
    "recording_copies": 3,
    "clip_stride_seconds": 1.0,
    "pipeline_repeats": 1,
    "compile_backend": "aot_eager",  # traces forward and backward like inductor, without generating kernels
}


# ----------------------------------------------------------------------------------------------- the plan


def fit_batches(sizes: dict, memory_gb: float) -> dict:
    """``sizes`` with each model's batch no larger than its ``clips_per_gb`` of the GPU's memory allows (a power
    of two, at least 2): the same run fits a 24 GB GPU, with smaller batches."""
    models = {}
    for key, model in sizes["models"].items():
        room = max(2, 2 ** int(math.log2(max(2.0, memory_gb * model.get("clips_per_gb", math.inf)))))
        models[key] = {**model, "batch": min(model["batch"], room)}
    return {**sizes, "models": models}


def plan(sizes: dict, work: Path, cuda: bool, quick: bool) -> list[dict]:
    """The measurements in the order they run (the most asked-for first), each a JSON-able task with what it
    needs (``min_s``: it is skipped when less of the budget is left)."""
    tasks = []
    for key, model in sizes["models"].items():
        for precision in PRECISIONS:
            tasks.append(
                {
                    "name": f"train-{key}-{precision}",
                    "kind": "train",
                    "model": model,
                    "precision": precision,
                    "steps": max(2, model["steps"] // (3 if quick else 1)),
                    "min_s": 20,
                    "skip": None if cuda or precision != "fp16" else "fp16 needs a GPU: on a CPU fit trains in fp32",
                }
            )
    videomae = sizes["models"]["videomae"]
    tasks.append({"name": "inputs", "kind": "inputs", "work": str(work), "sizes": sizes, "min_s": 30})
    tasks.append(
        {
            "name": "loader",
            "kind": "train",
            "model": videomae,
            "precision": "bf16",
            "steps": max(2, sizes["loader_steps"] // (3 if quick else 1)),
            "data": "proxies",
            "work": str(work),
            "sizes": sizes,
            "workers": os.cpu_count() or 1,
            "min_s": 40,
        }
    )
    tasks.append({"name": "pipeline", "kind": "pipeline", "model": videomae, "work": str(work), "sizes": sizes})
    tasks[-1]["min_s"] = 40
    tasks.append(
        {
            "name": "compile-videomae-bf16",
            "kind": "train",
            "model": videomae,
            "precision": "bf16",
            "steps": max(2, videomae["steps"] // (3 if quick else 1)),
            "compile": sizes["compile_backend"],
            "min_s": 90 if cuda else 20,
            "skip": "--quick leaves compilation out" if quick else None,
        }
    )
    return tasks


# ------------------------------------------------------------------------------------------- measurements


class EpochClock:
    """`fit` calls ``clip_decoder.set_epoch(epoch)`` as each epoch starts: this notes the time (so the GPU
    utilisation is averaged over the measured epoch only) and passes the call on to the real decoder, if any."""

    def __init__(self, decoder=None):
        self.decoder = decoder
        self.starts: dict[int, float] = {}

    def set_epoch(self, epoch: int) -> None:
        self.starts[epoch] = time.perf_counter()
        if self.decoder is not None:
            self.decoder.set_epoch(epoch)


class GPUUtilisation:
    """Samples ``torch.cuda.utilization()`` (pynvml) every 0.1 s in a thread; ``None`` where it cannot."""

    def __init__(self):
        self.samples: list[tuple[float, int]] = []
        self.reason = None
        try:
            torch.cuda.utilization()
        except Exception as err:  # no GPU, or pynvml missing: say why, measure the rest
            self.reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        if self.reason is None:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self):
        while not self._stop.wait(0.1):
            self.samples.append((time.perf_counter(), int(torch.cuda.utilization())))

    def mean(self, start: float, end: float) -> float | None:
        inside = [value for t, value in self.samples if start <= t <= end]
        return statistics.mean(inside) / 100 if inside else None


class ClipsOnDevice(torch.utils.data.Dataset):
    """``length`` training samples cycling over ``pool`` random clips kept on ``device``: batches cost a
    ``torch.stack`` on the device, so the run measures the model, not the loader."""

    def __init__(self, shape: tuple[int, ...], length: int, pool: int, device: torch.device, seed: int = 0):
        generator = torch.Generator(device=device).manual_seed(seed)
        self.clips = torch.randn((pool, *shape), generator=generator, device=device)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return {"pixel_values": self.clips[index % len(self.clips)], "labels": index % 2, "video_id": index}


def clip_shape(processor) -> tuple[int, int, int, int]:
    crop = processor.crop_size
    return processor.num_frames, 3, crop["height"], crop["width"]


def proxy_training_data(task: dict, processor, batch: int, steps: int):
    """The training clips of the proxies (``clip_datasets``: random clips, augmented), ``batch * steps`` of them
    an epoch, and their decoder."""
    from datasets import Dataset

    from surgical_skill.data import load_skill_dataset
    from surgical_skill.training import DataArguments, clip_datasets
    from surgical_skill.video import ProxySettings

    work, sizes = Path(task["work"]), task["sizes"]
    videos = source_videos(work, sizes)
    rows = Dataset.from_dict(
        {
            "video": [str(v) for v in videos],
            "label": [LABELS[i % 2] for i in range(len(videos))],
            "subject": [f"S{i}" for i in range(len(videos))],
        }
    )
    settings = ProxySettings(**sizes["proxy"])
    data = load_skill_dataset(rows, split_ratios=None, proxy_dir=work / "proxies", proxy_settings=settings)
    per_video = math.ceil(batch * steps / len(videos))
    data_args = DataArguments(dataset=str(work), train_clips_per_video=per_video)
    train, _, decoder = clip_datasets(data, processor, data_args, seed=0)
    return train.select(range(batch * steps)), decoder


def measure_training(task: dict) -> dict:
    """Two epochs of `fit` (the first a warm-up); the second epoch's record is the measurement."""
    from surgical_skill.models import build_model, build_video_processor
    from surgical_skill.training import TrainingArguments, fit, make_accelerator

    spec, steps = task["model"], task["steps"]
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    torch.manual_seed(0)
    model = build_model(spec["name"], id2label=LABELS, **spec["overrides"])
    processor = build_video_processor(spec["name"], config=model.config, **spec["processor"])
    batch = spec["batch"]
    if task.get("data") == "proxies":
        dataset, decoder = proxy_training_data(task, processor, batch, steps)
        clock, workers = EpochClock(decoder), task["workers"]
    else:
        dataset = ClipsOnDevice(clip_shape(processor), batch * steps, pool=batch, device=device)
        clock, workers = EpochClock(), 0  # tensors on a GPU cannot go through worker processes
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as run_dir:
        args = TrainingArguments(
            output_dir=run_dir,
            num_train_epochs=2,
            per_device_train_batch_size=batch,
            mixed_precision=PRECISIONS[task["precision"]],
            learning_rate=1e-4,
            save_every_epochs=None,
            report_to=["none"],
            progress_bar=False,
            nonfinite_loss="skip",  # random data: a batch fp16 cannot hold is counted, not fatal
        )
        compiled = {}
        if task.get("compile"):  # what `accelerate launch --dynamo_backend inductor` sets; a cold compiler cache
            compiled = {"ACCELERATE_DYNAMO_BACKEND": task["compile"].upper()}
            compiled["TORCHINDUCTOR_CACHE_DIR"] = str(Path(run_dir) / "inductor-cache")
            compiled["TRITON_CACHE_DIR"] = str(Path(run_dir) / "triton-cache")
        with environment(compiled):
            accelerator = make_accelerator(args)
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            with GPUUtilisation() if cuda else contextlib.nullcontext() as utilisation:
                result = fit(
                    model=model,
                    processor=processor,
                    train_dataset=dataset,
                    args=args,
                    accelerator=accelerator,
                    clip_decoder=clock,
                    num_workers=workers,
                )
    warm, measured = result.history[0], result.history[1]
    frames, _, height, width = clip_shape(processor)
    gpu_busy = None
    if utilisation is not None and 1 in clock.starts:
        gpu_busy = utilisation.mean(clock.starts[1], clock.starts[1] + measured["seconds"])
    return {
        "model": spec["label"],
        "precision": task["precision"],
        "mixed_precision_used": accelerator.mixed_precision,
        "compile": task.get("compile"),
        "input": [frames, height, width],
        "batch": batch,
        "steps": steps,
        "workers": workers,
        "data": task.get("data", "device"),
        "clips_per_s": measured["clips_per_second"],
        "step_s": measured["seconds"] / steps,
        "data_wait_share": measured["data_wait_share"],
        "peak_memory_mb": measured["peak_memory_mb"],  # max_memory_allocated on a GPU, peak RSS on a CPU
        "peak_memory_kind": "GPU allocated" if cuda else "process RSS",
        "warmup_epoch_s": warm["seconds"],
        "measured_epoch_s": measured["seconds"],
        "nonfinite_skipped": measured.get("nonfinite_skipped", 0) + warm.get("nonfinite_skipped", 0),
        "gpu_utilisation": gpu_busy,
        "gpu_utilisation_note": None if utilisation is None else utilisation.reason,
        "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6,
    }


@contextlib.contextmanager
def environment(values: dict[str, str]):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def source_videos(work: Path, sizes: dict) -> list[Path]:
    v = sizes["videos"]
    return [work / f"source_{v['width']}x{v['height']}_{v['seconds']}s_{i}.mp4" for i in range(v["count"])]


def recording_path(work: Path, sizes: dict) -> Path:
    v = sizes["videos"]
    return work / f"recording_{v['width']}x{v['height']}_{v['seconds'] * sizes['recording_copies']}s.mp4"


def _generate(path: str, frames: int, height: int, width: int, seed: int, threads: int) -> str:
    from surgical_skill.testing_utils import make_test_video

    partial = Path(path).with_name(f".partial-{Path(path).name}")
    make_test_video(partial, frames, fps=30, height=height, width=width, seed=seed, threads=threads)
    partial.replace(path)
    return path


def measure_inputs(task: dict) -> dict:
    """Generated 30 fps h264 videos (x264 default keyframe interval, as cameras write them), made in parallel;
    their proxies (`prepare_proxies`, every core); one long recording remuxed from copies of the first."""
    from concurrent.futures import ProcessPoolExecutor

    from common import ensure_long_video
    from surgical_skill.video import ProxySettings, prepare_proxies

    work, sizes = Path(task["work"]), task["sizes"]
    work.mkdir(parents=True, exist_ok=True)
    v = sizes["videos"]
    videos = source_videos(work, sizes)
    missing = [p for p in videos if not p.exists()]
    cores = os.cpu_count() or 1
    started = time.perf_counter()
    if missing:
        threads = max(1, cores // len(missing))
        with ProcessPoolExecutor(max_workers=min(cores, len(missing))) as pool:
            jobs = [
                pool.submit(_generate, str(p), v["seconds"] * 30, v["height"], v["width"], videos.index(p), threads)
                for p in missing
            ]
            for job in jobs:
                job.result()
    generated = time.perf_counter() - started
    started = time.perf_counter()
    report = prepare_proxies(videos, work / "proxies", ProxySettings(**sizes["proxy"]), progress=False)
    if report.failures:
        raise RuntimeError(f"proxies failed: {report.failures}")
    prepared = time.perf_counter() - started
    # an absolute name: ensure_long_video's `WORK / name` is then this path
    recording = ensure_long_video(str(recording_path(work, sizes)), videos[0], sizes["recording_copies"])
    return {
        "videos": len(videos),
        "video": f"{v['width']}x{v['height']}, {v['seconds']} s, 30 fps h264",
        "generated": len(missing),
        "generate_s": generated,
        "proxies_s": prepared,
        "proxies_made": report.made,
        "proxies_realtime_factor": report.realtime_factor,
        "proxy_settings": sizes["proxy"],
        "recording": recording.name,
    }


def measure_pipeline(task: dict) -> dict:
    """`pipeline("surgical-skill", model=folder, device=0)` on the generated recording: one warm-up call, then
    the median of ``pipeline_repeats`` calls (and of the decode + preprocess step alone), for the default 8 clips
    and for a clip every few seconds (the timeline)."""
    from transformers import pipeline

    from surgical_skill.models import build_model, build_video_processor
    from surgical_skill.video import probe

    try:
        from surgical_skill.video.metadata import _probe_cached
    except ImportError:  # pragma: no cover - the probe cache moved: each call may then reuse the probe
        _probe_cached = None
    work, sizes, spec = Path(task["work"]), task["sizes"], task["model"]
    recording = recording_path(work, sizes)
    folder = work / f"pipeline_model_{spec['label'].replace(' ', '_').replace(',', '')}"
    if not (folder / "config.json").exists():
        torch.manual_seed(0)
        model = build_model(spec["name"], id2label=LABELS, **spec["overrides"])
        model.save_pretrained(folder)
        processor = build_video_processor(
            spec["name"], config=model.config, sampling_strategy="clip", frame_stride=2, **spec["processor"]
        )
        processor.save_pretrained(folder)
    cuda = torch.cuda.is_available()
    skill = pipeline("surgical-skill", model=str(folder), device=0 if cuda else -1)
    meta = probe(recording)
    path = str(recording)
    calls = {}
    for name, kwargs in (
        ("8 clips (default)", {"num_clips": 8}),
        (f"a clip every {sizes['clip_stride_seconds']:g} s", {"clip_stride_seconds": sizes["clip_stride_seconds"]}),
    ):

        def whole(kwargs=kwargs):
            if _probe_cached is not None:
                _probe_cached.cache_clear()  # a new video: pay for the probe
            return skill(path, **kwargs)

        def preprocess(kwargs=kwargs):
            if _probe_cached is not None:
                _probe_cached.cache_clear()
            return list(skill.preprocess(path, **kwargs))  # a generator: every batch of clips, as a call makes

        if not calls:
            whole()  # warm-up: kernels, thread pools, the first decoder
        call_s, result = median_seconds(whole, sizes["pipeline_repeats"])
        preprocess_s, _ = median_seconds(preprocess, sizes["pipeline_repeats"])
        calls[name] = {
            "clips": len(result["clips"]),
            "call_s": call_s,
            "preprocess_s": preprocess_s,
            "realtime_factor": meta.duration / call_s,
        }
    return {
        "model": spec["label"],
        "device": "cuda:0" if cuda else "cpu",
        "frames": skill.sampling.num_frames,
        "recording_s": meta.duration,
        "recording": f"{meta.width}x{meta.height}, {meta.fps:g} fps, {len(meta.keyframe_indices)} keyframes",
        "calls": calls,
    }


def median_seconds(fn, repeats: int) -> tuple[float, object]:
    """The median time of ``repeats`` calls of ``fn``, and what the last returned."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


MEASURES = {"train": measure_training, "inputs": measure_inputs, "pipeline": measure_pipeline}


# ------------------------------------------------------------------------------------------ running tasks


def run_in_child(task: dict, timeout: float) -> dict:
    """Run ``task`` in a new process (its own session, so its DataLoader workers go with it) and return its
    record; killed after ``timeout`` seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-gpu-task-") as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            json.dumps(task),
            "--child-result",
            str(out),
        ]
        process = subprocess.Popen(command, start_new_session=True)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return {"status": "timeout", "note": f"stopped after {timeout:.0f} s: the budget ran out"}
        if out.exists():
            return json.loads(out.read_text())
        return {"status": "failed", "note": f"the measuring process exited with code {process.returncode}"}


def run_here(task: dict) -> dict:
    """Run ``task`` in this process; ``{"status": "ok", "result": ...}`` or the error."""
    try:
        return {"status": "ok", "result": MEASURES[task["kind"]](task)}
    except Exception as err:
        traceback.print_exc()
        return {"status": "failed", "note": f"{type(err).__name__}: {err}"[:500]}
    finally:
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)  # the next task may choose another precision
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def run_plan(tasks: list[dict], budget: float, in_process: bool) -> dict[str, dict]:
    records: dict[str, dict] = {}
    for task in tasks:
        left = budget - (time.monotonic() - STARTED) - RESERVE_S
        needs = [dep for dep in ("inputs",) if task["kind"] != "inputs" and "work" in task]
        missing = [dep for dep in needs if records.get(dep, {}).get("status") != "ok"]
        if task.get("skip"):
            record = {"status": "skipped", "note": task["skip"]}
        elif missing:
            record = {"status": "skipped", "note": f"needs the {', '.join(missing)}, which did not complete"}
        elif left < task["min_s"]:
            record = {"status": "skipped", "note": f"{left:.0f} s of the budget left, needs about {task['min_s']} s"}
        else:
            print(f"\n== {task['name']} ({left:.0f} s of the budget left)", flush=True)
            started = time.monotonic()
            record = run_here(task) if in_process else run_in_child(task, left)
            record["seconds"] = time.monotonic() - started
        records[task["name"]] = record
        print(f"== {task['name']}: {record['status']}" + (f" ({record['note']})" if record.get("note") else ""))
    return records


def child_main(task_json: str, result_path: str) -> int:
    record = run_here(json.loads(task_json))
    Path(result_path).write_text(json.dumps(record, default=str))
    return 0


# ------------------------------------------------------------------------------------------------ report


def _ok(records: dict, name: str) -> dict | None:
    record = records.get(name) or {}
    return record.get("result") if record.get("status") == "ok" else None


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _training_notes(result: dict, precision: str) -> str:
    notes = [f"data wait {_share(result['data_wait_share'])}"]
    if result["gpu_utilisation"] is not None:
        notes.append(f"GPU busy {_share(result['gpu_utilisation'])}")
    if result["nonfinite_skipped"]:
        notes.append(f"{result['nonfinite_skipped']} non-finite batches skipped")
    if result["mixed_precision_used"] != PRECISIONS[precision]:
        notes.append(f"ran as {result['mixed_precision_used']}")
    return ", ".join(notes)


def report(records: dict[str, dict], sizes: dict, device_name: str, smoke: bool) -> tuple[str, dict]:
    """The README section (every sentence computed from ``records``) and the headline figures."""
    from common import markdown_table

    lines, summary = [], {}
    memory = "peak GPU memory" if not smoke else "peak memory (process RSS on the CPU)"
    if smoke:
        lines.append(f"**Smoke run on {device_name}: tiny models and inputs; the figures test the code, not a GPU.**")
    rows = []
    for key, model in sizes["models"].items():
        base = _ok(records, f"train-{key}-fp32")
        for precision in PRECISIONS:
            name = f"train-{key}-{precision}"
            result = _ok(records, name)
            if name not in records:
                continue
            if result is None:
                note = records[name].get("note", "")
                rows.append(
                    [model["label"], precision, "", model["batch"], "-", "-", "-", "-", f"not measured: {note}"]
                )
                continue
            speedup = f"{result['clips_per_s'] / base['clips_per_s']:.2f}x" if base else "n/a"
            rows.append(
                [
                    model["label"],
                    precision,
                    " x ".join(str(n) for n in result["input"]),
                    result["batch"],
                    f"{result['clips_per_s']:.1f}",
                    f"{result['step_s'] * 1000:.0f} ms",
                    f"{result['peak_memory_mb'] / 1024:.1f} GB",
                    speedup,
                    _training_notes(result, precision),
                ]
            )
            summary[f"{key}_{precision}_clips_per_s"] = result["clips_per_s"]
    if rows:
        lines.append(
            "Training through `fit` (two epochs of the same steps, the second measured), random-init models, random "
            "clips already on the device (the model's speed, not the loader's; the peak memory includes that batch "
            "of clips); precision as a recipe sets it "
            "(`mixed_precision`: accelerate's autocast, with its gradient scaler for fp16). fp32 is PyTorch's default "
            f"(TF32 matmuls {'on' if torch.backends.cuda.matmul.allow_tf32 else 'off'}, cuDNN TF32 "
            f"{'on' if torch.backends.cudnn.allow_tf32 else 'off'})."
        )
        header = ["model", "precision", "clip (T x H x W)", "batch", "clips/s", "step", memory, "vs fp32", "notes"]
        lines.append(markdown_table(header, rows))

    eager, fed = _ok(records, "train-videomae-bf16"), _ok(records, "loader")
    inputs = _ok(records, "inputs")
    if fed is not None:
        busy = fed["data_wait_share"] < BUSY_DATA_WAIT
        text = (
            f"**Loader.** {fed['model']} bf16, batch {fed['batch']}, fed by `clip_datasets` (random {fed['input'][0]}-frame "
            f"clips, decoded and augmented) from proxies ({inputs['proxy_settings']['short_side']} px short side, "
            f"{inputs['proxy_settings']['fps']:g} fps) of {inputs['videos']} generated {inputs['video']} videos, "
            f"{fed['workers']} DataLoader workers (every core): {fed['clips_per_s']:.1f} clips/s, data wait "
            f"{_share(fed['data_wait_share'])} of step time, GPU utilisation {_share(fed['gpu_utilisation'])}"
            + (f" ({fed['gpu_utilisation_note']})" if fed["gpu_utilisation_note"] else "")
            + f". The loader {'keeps' if busy else 'does not keep'} the GPU busy (data wait "
            f"{'under' if busy else 'at or over'} {BUSY_DATA_WAIT:.0%})."
        )
        if eager is not None:
            ratio = fed["clips_per_s"] / eager["clips_per_s"]
            text += (
                f" With its clips already on the GPU the same run trains {eager['clips_per_s']:.1f} clips/s; the "
                f"loader gives {ratio:.0%} of that."
            )
            if not busy and ratio < 1:
                needed = math.ceil(fed["workers"] * eager["clips_per_s"] / fed["clips_per_s"])
                text += (
                    f" At {fed['clips_per_s'] / fed['workers']:.2f} clips/s per worker, keeping up would take about "
                    f"{needed} workers (if workers scaled linearly)."
                )
            summary["loader_share_of_gpu_rate"] = ratio
        summary["loader_data_wait_share"] = fed["data_wait_share"]
        lines.append(text)
    if inputs is not None:
        lines.append(
            f"Inputs: {inputs['videos']} videos generated in {inputs['generate_s']:.0f} s "
            f"({inputs['generated']} new), their proxies prepared in {inputs['proxies_s']:.1f} s."
        )

    piped = _ok(records, "pipeline")
    if piped is not None:
        rows = [
            [
                name,
                call["clips"],
                f"{call['call_s']:.2f} s",
                f"{call['preprocess_s']:.2f} s",
                f"{max(call['call_s'] - call['preprocess_s'], 0.0):.2f} s",
                f"{call['realtime_factor']:.0f}x",
            ]
            for name, call in piped["calls"].items()
        ]
        lines.append(
            f'**Pipeline.** `pipeline("surgical-skill", model=folder, device={0 if piped["device"] != "cpu" else -1})`'
            f" with {piped['model']} ({piped['frames']}-frame clips of every 2nd frame) on a {piped['recording_s']:.0f} s "
            f"{piped['recording']} recording; "
            + (f"median of {repeats} calls" if (repeats := sizes["pipeline_repeats"]) > 1 else "one call")
            + " after a warm-up:"
        )
        lines.append(
            markdown_table(
                ["call", "clips", "whole call", "decode + preprocess", "the rest (model, mostly)", "real-time factor"],
                rows,
            )
        )
        summary["pipeline_realtime_factor"] = {name: call["realtime_factor"] for name, call in piped["calls"].items()}

    compiled = _ok(records, "compile-videomae-bf16")
    if compiled is not None:
        text = (
            f"**torch.compile** (`{compiled['compile']}` through accelerate's dynamo backend, a cold cache), "
            f"{compiled['model']} bf16, batch {compiled['batch']}: {compiled['clips_per_s']:.1f} clips/s, peak "
            f"{compiled['peak_memory_mb'] / 1024:.1f} GB"
        )
        if eager is not None:
            ratio = compiled["clips_per_s"] / eager["clips_per_s"]
            compile_s = (compiled["warmup_epoch_s"] - compiled["measured_epoch_s"]) - (
                eager["warmup_epoch_s"] - eager["measured_epoch_s"]
            )
            text += (
                f", against {eager['clips_per_s']:.1f} clips/s eager: {ratio:.2f}x "
                f"({'faster' if ratio > 1 else 'not faster'}). Compile time (the compiled run's first epoch beyond "
                f"its second, less the eager run's): {compile_s:.0f} s, paid back after about "
                + (
                    f"{compile_s / (eager['step_s'] - compiled['step_s']):.0f} steps"
                    if compiled["step_s"] < eager["step_s"]
                    else "never (no step is faster)"
                )
            )
            summary["compile_speedup"] = ratio
            summary["compile_s"] = compile_s
        lines.append(text + ".")

    left_out = [
        f"{name}: {rec['status']} ({rec.get('note', '')})" for name, rec in records.items() if rec["status"] != "ok"
    ]
    if left_out:
        lines.append("Not measured in this run: " + "; ".join(left_out) + ".")
    return "\n\n".join(lines), summary


# -------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="every code path on the CPU with tiny sizes")
    parser.add_argument("--quick", action="store_true", help="a third of the steps and no compilation")
    parser.add_argument("--budget", type=float, default=None, help=f"seconds in all (default {DEFAULT_BUDGET_S:.0f})")
    parser.add_argument("--only", nargs="*", default=None, help="task names or patterns (e.g. 'train-*', loader)")
    parser.add_argument("--work-dir", type=Path, default=None, help="generated inputs (default benchmarks/_work/gpu)")
    parser.add_argument("--output", type=Path, default=None, help="results JSON (default benchmarks/gpu/results.json)")
    parser.add_argument("--in-process", action="store_true", help="run every task in this process (no time-box)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child, args.child_result)

    cuda = torch.cuda.is_available()
    if not cuda and not args.smoke:
        print(
            "bench_gpu: skipped: no CUDA GPU here (torch.cuda.is_available() is False); nothing measured or "
            "written. Run it on a machine with an NVIDIA GPU, or with --smoke to test every code path on the CPU."
        )
        return 0
    from common import machine_line, save_section

    sizes = SMOKE_SIZES if args.smoke else GPU_SIZES
    if cuda and not args.smoke:
        sizes = fit_batches(sizes, torch.cuda.get_device_properties(0).total_memory / 2**30)
    smoke_dir = BENCHMARKS / "_work" / "gpu-smoke"
    work = (args.work_dir or (smoke_dir if args.smoke else BENCHMARKS / "_work" / "gpu")).resolve()
    output = args.output or (work / "results.json" if args.smoke else HERE / "results.json")
    budget = args.budget or DEFAULT_BUDGET_S
    tasks = plan(sizes, work, cuda, args.quick)
    if args.only is not None:
        wanted = [t for t in tasks if any(fnmatch.fnmatch(t["name"], pattern) for pattern in args.only)]
        if any(t.get("work") for t in wanted if t["kind"] != "inputs"):  # they read the generated inputs
            wanted = [t for t in tasks if t["kind"] == "inputs"] + [t for t in wanted if t["kind"] != "inputs"]
        tasks = wanted
    device_name = torch.cuda.get_device_name(0) if cuda else "CPU"
    print(machine_line())
    print(f"bench_gpu: {len(tasks)} measurements on {device_name}, budget {budget:.0f} s, inputs in {work}")

    records = run_plan(tasks, budget, args.in_process)
    markdown, summary = report(records, sizes, device_name, args.smoke)
    elapsed = time.monotonic() - STARTED
    data = {
        "device": device_name,
        "smoke": args.smoke,
        "quick": args.quick,
        "budget_s": budget,
        "gpu_memory_gb": torch.cuda.get_device_properties(0).total_memory / 2**30 if cuda else None,
        "batches": {key: model["batch"] for key, model in sizes["models"].items()},
        "elapsed_s": elapsed,
        "summary": summary,
        "tasks": records,
    }
    print("\n" + markdown)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(data, indent=2, default=str) + "\n")
    if args.smoke:
        (output.parent / "section.md").write_text(markdown + "\n")
    elif args.quick or args.only is not None:
        print("bench_gpu: a partial run (--quick or --only): not saved for the README")
    else:
        saved = save_section("gpu", f"GPU: {device_name}", markdown, data)
        # benchmarks/_work/ is not committed: this copy is what the README keeps from a GPU machine's run
        shutil.copyfile(saved, HERE / "section.json")
    failed = [name for name, record in records.items() if record["status"] == "failed"]
    print(f"\nbench_gpu: {elapsed:.0f} s; results in {output}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
