"""Training loop benchmark: the overhead of `fit` over a plain PyTorch loop and `transformers.Trainer`, and the
share of a step spent waiting for data on raw 720p recordings vs their proxies.

Three loops train the same model (the same initial weights) on the same clip dataset (small generated videos
read by `ClipDecoder` with the model's augmentation, `SkillCollator` batches), with the same batch size,
gradient accumulation, precision (fp32: no GPU here), AdamW, warm-up + cosine schedule, gradient clipping and
DataLoader settings:

* `fit` as `recipes/train.py` calls it (progress bar on, no trackers, no validation set);
* a plain PyTorch loop written here (model(**batch).loss, backward, every n batches clip + step + zero), its
  shuffle seeded so that it reads the same clips in the same order as the other two (accelerate seeds theirs);
* `transformers.Trainer` fed as the HF video-classification tutorial feeds it: a torch Dataset of clips and a
  collate_fn that stacks `pixel_values` and `labels` (the tutorial's pytorchvideo datasets no longer import
  with current torchvision, so the clips come from the same `ClipDecoder` here).

A step's time is the time between two consecutive optimizer steps (a global optimizer step hook, the same
clock for all three loops): data wait, forward, backward, clipping, the step and whatever the loop does
around it. The first steps of each run (loader start-up, first allocations) are skipped. The loops take turns,
several rounds each, so noise from other processes hits them alike; step times are pooled over the rounds.
Validation and checkpointing are not part of any step (there is no validation set and no mid-run checkpoint;
`fit` saves its final model after the last timed step).

Then `fit` (CNN-RNN, 2 workers) on four raw 60 s 720p long-GOP recordings and on their proxies: the data-wait
share `fit` puts in its epoch record (time spent waiting for the next batch / the epoch's time).

    python benchmarks/bench_train.py            # what `make bench` runs (about 5 minutes on 2 cores)
    python benchmarks/bench_train.py --quick    # a smoke run (under a minute)
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import datasets
import numpy as np
import torch
import transformers
from accelerate.state import AcceleratorState
from datasets import Dataset
from scipy import stats
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.utils.data import DataLoader, RandomSampler

from common import WORK, ensure_recordings, machine_line, markdown_table, save_section
from surgical_skill.data import SkillCollator, load_skill_dataset, use_proxies
from surgical_skill.testing_utils import make_test_video
from surgical_skill.training import DataArguments, ModelArguments, TrainingArguments, fit, prepare_training
from surgical_skill.video import ProxySettings, prepare_proxies

OVERHEAD_TARGET = 0.05
BOOTSTRAP_RESAMPLES = 2000
LOOPS = ("fit", "plain", "trainer")
LEARNING_RATE = 1e-4
WEIGHT_DECAY = 1e-4
MAX_GRAD_NORM = 1.0
WARMUP_SHARE = 0.05

# A tiny VideoMAE (2 layers of width 64) and the registry's CNN-RNN (resnet18 + BiLSTM), both on 112 px crops
MODELS = {
    "videomae": {
        "label": "VideoMAE (tiny: 2 layers, width 64)",
        "model_config": {
            "image_size": 112,
            "patch_size": 16,
            "num_frames": 16,
            "tubelet_size": 2,
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 128,
        },
        "num_frames": 16,
        "batch_size": 2,
        "accumulation": 2,
        "timed": 12,  # steady-state steps per run (its steps are cheap: more of them)
        "timed_in_memory": 60,
    },
    # eight frames and no accumulation: its steps cost ten times VideoMAE's on 2 cores
    "cnn_rnn": {
        "label": "CNN-RNN (resnet18 + BiLSTM)",
        "model_config": {},
        "num_frames": 8,
        "batch_size": 2,
        "accumulation": 1,
        "timed": 6,
        "timed_in_memory": 10,
    },
}


# ------------------------------------------------------------------------------------------------ data


def small_videos(count: int, seconds: int = 10) -> list[Path]:
    """``count`` textured 160x128 h264 videos shaped like proxies (10 fps, a keyframe a second), made once and
    cached in benchmarks/_work/train_videos."""
    folder = WORK / "train_videos_10fps"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"clip_{i:03d}.mp4"
        if not path.exists():
            partial = path.with_name(f".partial-{path.name}")
            make_test_video(partial, seconds * 10, fps=10, height=128, width=160, keyframe_interval=10, seed=100 + i)
            partial.replace(path)
        paths.append(path)
    return paths


def skill_data(videos: list[Path]):
    """A skill dataset of ``videos`` (two classes, one surgeon each), all for training."""
    rows = Dataset.from_dict(
        {
            "video": [str(v) for v in videos],
            "label": [("lower-skilled", "higher-skilled")[i % 2] for i in range(len(videos))],
            "subject": [f"S{i}" for i in range(len(videos))],
        }
    )
    return load_skill_dataset(rows, split_ratios=None)


def training_setup(model_name: str, data, clips_per_video: int, output_dir: Path):
    """Model, processor and clip datasets exactly as `recipes/train.py` builds them (`prepare_training`)."""
    spec = MODELS[model_name]
    model_args = ModelArguments(model_name_or_path=model_name, model_config=spec["model_config"])
    data_args = DataArguments(
        dataset=str(output_dir),  # not read: the data is given
        num_frames=spec["num_frames"],
        image_size=128,
        crop_size=112,
        train_clips_per_video=clips_per_video,
    )
    return prepare_training(model_args, data_args, TrainingArguments(output_dir=str(output_dir)), data=data)


# ------------------------------------------------------------------------------------------------ loops


class StepClock:
    """When every optimizer step taken while it is open ended (any optimizer: the loops make their own), in wall
    time and in this process's CPU time (kept in the raw data only: with other processes on the cores, idle
    intra-op threads spinning make it as noisy as wall time)."""

    def __init__(self):
        self.times: list[float] = []
        self.cpu_times: list[float] = []

    def _record(self, *_) -> None:
        self.times.append(time.perf_counter())
        self.cpu_times.append(time.process_time())

    def __enter__(self) -> StepClock:
        self.handle = register_optimizer_step_post_hook(self._record)
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()

    @staticmethod
    def _intervals(times: list[float], warmup: int) -> list[float]:
        return [b - a for a, b in itertools.pairwise(times[max(warmup - 1, 0) :])]

    def step_seconds(self, warmup: int) -> list[float]:
        """Seconds between consecutive steps, after the first ``warmup`` steps."""
        return self._intervals(self.times, warmup)

    def step_cpu_seconds(self, warmup: int) -> list[float]:
        """This process's CPU seconds between consecutive steps (workers' decoding not included)."""
        return self._intervals(self.cpu_times, warmup)


def fresh_accelerate_state() -> None:
    """Each loop builds its own Accelerator (Trainer does too): start each from accelerate's clean state."""
    AcceleratorState._reset_state(reset_partial_state=True)


def run_fit(setup, model, config, workers: int, output_dir: Path) -> dict:
    args = TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=1,
        max_steps=config["steps"],
        per_device_train_batch_size=config["batch_size"],
        gradient_accumulation_steps=config["accumulation"],
        learning_rate=LEARNING_RATE,
        weight_decay=WEIGHT_DECAY,
        max_grad_norm=MAX_GRAD_NORM,
        warmup_steps=WARMUP_SHARE,
        report_to=["none"],
        overwrite_output_dir=True,
    )
    result = fit(
        model=model,
        processor=setup.processor,
        train_dataset=setup.train_dataset,
        args=args,
        clip_decoder=setup.clip_decoder,
        num_workers=workers,
    )
    return result.history[-1]


def plain_sampler(dataset) -> RandomSampler:
    """The plain loop's shuffle, seeded as accelerate seeds fit's and Trainer's (seed 0, first epoch): all three
    loops read the same clips in the same order. With 0 workers decoding is most of a step and one clip costs more
    than another: with different clips the comparison read +10 % in either direction."""
    return RandomSampler(dataset, generator=torch.Generator().manual_seed(0))


def run_plain(setup, model, config, workers: int, output_dir: Path) -> dict:
    """The loop a user writes by hand."""
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and not n.endswith(".bias")]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1 or n.endswith(".bias")]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=LEARNING_RATE,
    )
    steps, accumulation = config["steps"], config["accumulation"]
    scheduler = transformers.get_scheduler(
        "cosine", optimizer, num_warmup_steps=math.ceil(WARMUP_SHARE * steps), num_training_steps=steps
    )
    setup.clip_decoder.set_epoch(0)
    loader = DataLoader(
        setup.train_dataset,
        batch_size=config["batch_size"],
        sampler=plain_sampler(setup.train_dataset),
        num_workers=workers,
        collate_fn=SkillCollator(),
    )
    taken = 0
    for i, batch in enumerate(loader):
        loss = model(pixel_values=batch["pixel_values"], labels=batch["labels"]).loss
        (loss / accumulation).backward()
        if (i + 1) % accumulation == 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            taken += 1
            if taken == steps:
                break
    return {}


class ClipDataset(torch.utils.data.Dataset):
    """The clips as a plain torch Dataset (the tutorial's pytorchvideo datasets, replaced)."""

    def __init__(self, clips):
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict:
        return self.clips[index]


def tutorial_collate_fn(examples: list[dict]) -> dict:
    """As the tutorial's collate_fn: stack the clips, tensor of the labels (its clips were (C, T, H, W) and were
    permuted; ours are already (T, C, H, W))."""
    pixel_values = torch.stack([example["pixel_values"] for example in examples])
    labels = torch.tensor([example["labels"] for example in examples])
    return {"pixel_values": pixel_values, "labels": labels}


def run_trainer(setup, model, config, workers: int, output_dir: Path) -> dict:
    steps = config["steps"]
    args = transformers.TrainingArguments(
        output_dir=str(output_dir),
        remove_unused_columns=False,  # as the tutorial: the clips are not the model's argument names
        per_device_train_batch_size=config["batch_size"],
        gradient_accumulation_steps=config["accumulation"],
        learning_rate=LEARNING_RATE,
        weight_decay=WEIGHT_DECAY,
        max_grad_norm=MAX_GRAD_NORM,
        lr_scheduler_type="cosine",
        warmup_steps=math.ceil(WARMUP_SHARE * steps),
        max_steps=steps,
        logging_steps=10,
        dataloader_num_workers=workers,
        eval_strategy="no",
        save_strategy="no",
        report_to="none",
        seed=0,
    )
    setup.clip_decoder.set_epoch(0)
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=ClipDataset(setup.train_dataset), data_collator=tutorial_collate_fn
    )
    trainer.train()
    return {}


RUNNERS = {"fit": run_fit, "plain": run_plain, "trainer": run_trainer}


@contextlib.contextmanager
def quiet():
    """Progress bars and log lines (fit's and Trainer's, both on as users run them) go to /dev/null."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
        yield


def timed_run(loop: str, setup, initial_model, config, workers: int) -> tuple[StepClock, dict]:
    """One run of ``loop`` from ``initial_model``'s weights: its step clock, and its record (``fit``'s epoch)."""
    fresh_accelerate_state()
    torch.manual_seed(0)
    model = copy.deepcopy(initial_model)
    with tempfile.TemporaryDirectory(dir=WORK) as output_dir, StepClock() as clock, quiet():
        record = RUNNERS[loop](setup, model, config, workers, Path(output_dir))
    if len(clock.times) != config["steps"]:
        raise RuntimeError(f"{loop} took {len(clock.times)} optimizer steps, not {config['steps']}")
    return clock, record


def overhead(steps: list[list[float]], reference_steps: list[list[float]], typical=np.mean) -> dict:
    """How much longer ``steps`` take than ``reference_steps`` (each a list of groups of steady-state step times,
    one group per configuration, as many steps per group in both): by default their total time's ratio - 1, i.e.
    the ratio of clip throughputs over the same clips; with ``typical=np.median``, the ratio of median steps
    (for steps that all do the same work, where a slow step is the machine's noise). With a 95 % bootstrap interval
    (percentile, steps resampled within each group and loop): on 2 shared cores a single step moves by +-30 %,
    and the interval says how much of the estimate that leaves."""
    groups = len(steps)

    def ratio(*samples, axis=-1):
        mine = sum(typical(sample, axis=axis) for sample in samples[:groups])
        theirs = sum(typical(sample, axis=axis) for sample in samples[groups:])
        return mine / theirs - 1

    samples = [np.asarray(group) for group in (*steps, *reference_steps)]
    interval = stats.bootstrap(
        samples, ratio, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile", random_state=0, vectorized=True
    ).confidence_interval
    return {"estimate": float(ratio(*samples)), "low": float(interval.low), "high": float(interval.high)}


def interval_text(value: dict) -> str:
    return f"{value['estimate']:+.1%} [{value['low']:+.1%}, {value['high']:+.1%}]"


def model_config(model_name: str, config: dict) -> dict:
    """``config`` with the model's batch size, accumulation and (unless ``config`` sets it) timed steps."""
    spec = MODELS[model_name]
    config = {**config, **{key: spec[key] for key in ("batch_size", "accumulation", "num_frames")}}
    config["timed"] = config.get("timed") or spec["timed"]
    config["steps"] = config["warmup"] + config["timed"]
    return config


def pooled_overhead(results: list[dict], loop: str = "plain") -> dict:
    """``fit`` against ``loop`` over all worker counts of one model (decoded clips, not those in memory): the loop's
    own cost does not depend on them, and pooling triples the steps the estimate rests on."""
    decoded = [r for r in results if r["num_workers"] != IN_MEMORY]
    return overhead([r["step_seconds"]["fit"] for r in decoded], [r["step_seconds"][loop] for r in decoded])


class DecodedClips(torch.utils.data.Dataset):
    """A clip dataset's clips, decoded (with its first epoch's augmentation) once and held in memory: the loops
    then differ only in what they do around the model, which decoding would otherwise drown in its noise."""

    def __init__(self, dataset):
        self.clips = [dataset[i] for i in range(len(dataset))]

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict:
        return self.clips[index]

    def __getitems__(self, indices: list[int]) -> list[dict]:
        return [self.clips[i] for i in indices]


IN_MEMORY = "in memory"  # the "workers" of the configuration that reads DecodedClips in the main process


def compare_loops(model_name: str, data, workers_list, config) -> list[dict]:
    """Every loop, ``config["rounds"]`` times in turn, for each worker count, then (unless a quick run) on the clips
    held in memory (0 workers, more steps: they are cheap); one result per configuration."""
    config = model_config(model_name, config)
    clips_per_step = config["batch_size"] * config["accumulation"]
    memory_config = {**config, "timed": MODELS[model_name]["timed_in_memory"]}
    memory_config["steps"] = memory_config["warmup"] + memory_config["timed"]
    configurations = [(workers, config) for workers in workers_list]
    if config["rounds"] > 1:
        configurations.append((IN_MEMORY, memory_config))
    clips_needed = max(c["steps"] for _, c in configurations) * clips_per_step
    clips_per_video = math.ceil(clips_needed / len(data["train"]))
    with tempfile.TemporaryDirectory(dir=WORK) as scratch:
        setup = training_setup(model_name, data, clips_per_video, Path(scratch))
    initial = copy.deepcopy(setup.model)
    results = []
    for workers, config in configurations:
        if workers == IN_MEMORY:
            setup.clip_decoder.set_epoch(0)
            setup = copy.copy(setup)
            setup.train_dataset = DecodedClips(setup.train_dataset)
        steps = {loop: [] for loop in LOOPS}
        cpu = {loop: [] for loop in LOOPS}
        round_means = {loop: [] for loop in LOOPS}
        for round_ in range(config["rounds"]):
            shift = (round_ + (workers if workers != IN_MEMORY else 0)) % len(LOOPS)
            for loop in LOOPS[shift:] + LOOPS[:shift]:  # who goes first changes from round to round
                clock, _ = timed_run(loop, setup, initial, config, 0 if workers == IN_MEMORY else workers)
                seconds = clock.step_seconds(config["warmup"])
                steps[loop].extend(seconds)
                cpu[loop].extend(clock.step_cpu_seconds(config["warmup"]))
                round_means[loop].append(statistics.fmean(seconds))
        typical = np.median if workers == IN_MEMORY else np.mean
        medians = {loop: statistics.median(values) for loop, values in steps.items()}
        means = {loop: statistics.fmean(values) for loop, values in steps.items()}
        cpu_medians = {loop: statistics.median(values) for loop, values in cpu.items()}

        result = {
            "model": model_name,
            "num_workers": workers,
            "num_frames": config["num_frames"],
            "batch_size": config["batch_size"],
            "accumulation": config["accumulation"],
            "clips_per_step": clips_per_step,
            "steps_timed": {loop: len(values) for loop, values in steps.items()},
            "median_step_seconds": medians,
            "mean_step_seconds": means,
            "clips_per_second": {loop: clips_per_step / means[loop] for loop in LOOPS},
            "step_seconds": steps,
            "round_mean_step_seconds": round_means,
            # how far one loop's mean step moved between rounds: the noise the overhead is read against
            "round_spread": max(max(v) / min(v) - 1 for v in round_means.values()),
            "median_step_cpu_seconds": cpu_medians,
            # in memory every step does the same work: the median step; decoded clips differ: throughput
            "fit_overhead_vs_plain": overhead([steps["fit"]], [steps["plain"]], typical),
            "fit_overhead_vs_trainer": overhead([steps["fit"]], [steps["trainer"]], typical),
            # the main process's own CPU per step: what the loop itself costs, whatever else ran on the cores
            "fit_cpu_overhead_vs_plain": overhead([cpu["fit"]], [cpu["plain"]], typical),
            # what fit does around the model, per optimizer step: its median step less the plain loop's
            "fit_extra_ms_per_step": (medians["fit"] - medians["plain"]) * 1000,
        }
        print(
            f"  {model_name:<9} workers {workers}: step "
            + ", ".join(f"{loop} {medians[loop] * 1000:.0f} ms" for loop in LOOPS)
            + f"; fit vs plain {interval_text(result['fit_overhead_vs_plain'])}, "
            f"vs Trainer {interval_text(result['fit_overhead_vs_trainer'])}; main-process CPU per step "
            + ", ".join(f"{loop} {cpu_medians[loop] * 1000:.0f} ms" for loop in LOOPS),
            flush=True,
        )
        results.append(result)
    return results


# ------------------------------------------------------------------------------------------------ data wait


def data_wait(config) -> dict:
    """`fit`'s data-wait share (CNN-RNN, 2 workers) on raw 60 s 720p long-GOP recordings and on their proxies."""
    videos = ensure_recordings(4)
    raw = skill_data(videos)
    settings = ProxySettings(short_side=256, fps=10, keyframe_interval_seconds=1)  # as bench_data.py
    report = prepare_proxies([str(v) for v in videos], WORK / "proxies", settings, progress=False)
    proxied = use_proxies(raw, WORK / "proxies", settings)
    out = {"proxy_preparation": report.summary()}
    for name, data in (("raw 720p", raw), ("proxies", proxied)):
        steps = config["wait_steps"]
        run_config = {**model_config("cnn_rnn", config), "steps": steps, "warmup": 1}
        clips = steps * run_config["batch_size"] * run_config["accumulation"]
        with tempfile.TemporaryDirectory(dir=WORK) as scratch:
            setup = training_setup("cnn_rnn", data, math.ceil(clips / len(videos)), Path(scratch))
        clock, record = timed_run("fit", setup, setup.model, run_config, workers=2)
        seconds = clock.step_seconds(run_config["warmup"])
        out[name] = {
            "data_wait_share": record["data_wait_share"],
            "clips_per_second": record["clips_per_second"],
            "steps": steps,
            "median_step_seconds": statistics.median(seconds),
        }
        print(
            f"  {name:<9} data wait {record['data_wait_share']:.0%} of the epoch, "
            f"{record['clips_per_second']:.2f} clips/s, median step {statistics.median(seconds):.2f} s",
            flush=True,
        )
    return out


# ------------------------------------------------------------------------------------------------ report


def verdict(overhead: dict) -> str:
    return "met" if overhead["estimate"] < OVERHEAD_TARGET else "missed"


def judged(results: list[dict], pooled: dict, model_name: str) -> dict:
    """The figure the target is judged on for a model: fit vs plain as the issue defines it (the same decoded
    clips, 0, 1 and 2 workers), pooled over the worker counts. The clips-in-memory row is the diagnostic beside
    it: what the loop itself costs in milliseconds, against the model's compute alone."""
    return pooled[model_name]["plain"]


def section(results: list[dict], pooled: dict, wait: dict, config: dict) -> tuple[str, bool]:
    rows = []
    for r in results:
        med, rate = r["median_step_seconds"], r["clips_per_second"]
        rows.append(
            [
                MODELS[r["model"]]["label"],
                f"{r['num_frames']} x 112 x 112, {r['batch_size']} x {r['accumulation']}",
                r["num_workers"],
                f"{med['fit'] * 1000:.0f} / {med['plain'] * 1000:.0f} / {med['trainer'] * 1000:.0f}",
                f"{rate['fit']:.2f} / {rate['plain']:.2f} / {rate['trainer']:.2f}",
                interval_text(r["fit_overhead_vs_plain"]),
                f"{r['fit_cpu_overhead_vs_plain']['estimate']:+.1%}",
                interval_text(r["fit_overhead_vs_trainer"]),
            ]
        )
    header = [
        "model",
        "clip, batch x accumulation",
        "workers",
        "median step (ms) fit / plain / Trainer",
        "clips/s fit / plain / Trainer",
        "fit vs plain [95 % interval]",
        "fit vs plain, main-process CPU",
        "fit vs Trainer [95 % interval]",
    ]
    pooled_rows = []
    for name, both in pooled.items():
        memory = [r for r in results if r["model"] == name and r["num_workers"] == IN_MEMORY]
        pooled_rows.append(
            [
                MODELS[name]["label"],
                interval_text(memory[0]["fit_overhead_vs_plain"]) if memory else "not run",
                f"{memory[0]['fit_extra_ms_per_step']:+.1f}" if memory else "not run",
                sum(r["steps_timed"]["fit"] for r in results if r["model"] == name and r not in memory),
                interval_text(both["plain"]),
                interval_text(both["trainer"]),
                verdict(judged(results, pooled, name)),
            ]
        )
    pooled_header = [
        "model",
        "clips in memory: fit vs plain [95 % interval]",
        "fit's own cost (ms per step)",
        "decoded clips: steps per loop",
        "decoded clips: fit vs plain [95 % interval]",
        "decoded clips: fit vs Trainer [95 % interval]",
        f"fit vs plain < {OVERHEAD_TARGET:.0%}",
    ]
    met = all(verdict(judged(results, pooled, name)) == "met" for name in pooled)
    extra = [r["fit_extra_ms_per_step"] for r in results if r["num_workers"] == IN_MEMORY]
    own_cost = (
        ", ".join(f"{ms:+.1f} ms" for ms in extra) + " per step for the two models in this run"
        if extra
        else "not measured in a one-round run"
    )
    timed = {name: MODELS[name]["timed"] if config["timed"] is None else config["timed"] for name in pooled}
    if config["rounds"] > 1:
        spread = max(r["round_spread"] for r in results)
        noise = (
            f"Noise to read it against: one loop's mean step moved by up to {spread:.0%} between rounds of the "
            "same configuration, and single steps of the same clips by more; the intervals say what that leaves."
        )
    else:
        noise = "One round only: no measure of the noise."
    wait_rows = [
        [
            name,
            f"{wait[name]['data_wait_share']:.0%}",
            f"{wait[name]['clips_per_second']:.2f}",
            f"{wait[name]['median_step_seconds']:.2f}",
        ]
        for name in ("raw 720p", "proxies")
    ]
    markdown = f"""
`fit` against a plain PyTorch loop written in the benchmark and against `transformers.Trainer`: the same model and
initial weights, the same clips (small generated 160x128 10 fps videos through `ClipDecoder` with training
augmentation, 112 px crops, `SkillCollator`), the same batch size and gradient accumulation (in the table), fp32,
AdamW with warm-up and cosine decay, gradient clipping at {MAX_GRAD_NORM}, the same `num_workers`. `fit`'s AdamW is
torch's fused kernel where the device has one (a CPU does), as Trainer's default is; the plain loop's is
`torch.optim.AdamW(...)` as a user writes it, which on a CPU runs a per-tensor loop (45 ms a step over the
CNN-RNN's 12.8 M parameters, against 8.6 ms fused, measured apart): that is where `fit` can come out faster.

A step is the time between two optimizer steps (one optimizer step hook for all three loops: data wait, forward,
backward, step and whatever the loop does around them). Each run skips its first {config["warmup"]} step(s) and times the next
{" and ".join(f"{steps} ({MODELS[name]['label'].split(' (')[0]})" for name, steps in timed.items())} ({" and ".join(str(MODELS[name]["timed_in_memory"]) for name in timed)} on clips in memory); the
three loops took turns, {config["rounds"]} round(s) per configuration. **All three read the same clips in the same order** (the plain loop's shuffle
is seeded as accelerate seeds the other two; tested): with 0 workers decoding is most of a step and one clip costs
more than another, and with different clips the comparison had read +10 % either way. No loop validates or
checkpoints during the timed steps: there is no validation set, and `fit` saves its model after its last step.
`fit` ran as `recipes/train.py` runs it (progress bar on). Trainer was fed as the HF video-classification tutorial
feeds it, through a torch Dataset of the clips and a collate_fn that stacks `pixel_values` and `labels` (the
tutorial's pytorchvideo datasets no longer import), with its defaults otherwise (progress bar on). Neither wrote
to a tracker.

Overhead = `fit`'s total time over the timed steps / the other loop's - 1 (the inverse ratio of their clips/s over
the same clips), with a 95 % bootstrap interval (2000 resamples of the steps, percentile). Two measurements per
model:

* **clips in memory**: the clips decoded once (first epoch's augmentation) and held in memory, 0 workers. A step
  is then the model's forward, backward and optimizer step plus what the loop does around them, so the ratio is
  what the loop itself costs, against the smallest step it could be compared to. Every step does the same work
  here, so the ratio is of the median steps (a slow step is the machine's noise), and "fit's own cost" is the
  difference of the median steps in milliseconds.
* **decoded clips**: as a user trains, decoding in the step (0 workers) or in 1 or 2 workers, pooled over the
  worker counts (what the loop itself costs does not depend on them). On 2 shared cores a single step of the same
  clips moves by +-30 %, and the interval is wide.

{markdown_table(pooled_header, pooled_rows)}

Target (`fit` less than {OVERHEAD_TARGET:.0%} slower than the plain loop for each model, on the decoded clips as a user
trains, pooled over the worker counts): **{"met" if met else "missed"}**. {noise} The clips-in-memory column is
what the loop itself costs per optimizer step (progress bar, accumulation bookkeeping, the finite-loss check, the
window's loss reduction): {own_cost}, which is a visible share of the tiny VideoMAE's compute-only step and a
percent or two of a real one.

Per configuration ("main-process CPU": the same ratio for the main process's own CPU time per step, without
an interval; idle intra-op threads spinning while other processes hold the cores make it as noisy as wall time):

{markdown_table(header, rows)}

Data wait: the share of `fit`'s epoch spent waiting for the next batch (`data_wait_share` in its epoch record and
log line), CNN-RNN as above, 2 workers, {wait["raw 720p"]["steps"]} optimizer steps, on four 60 s 1280x720 h264 recordings
with the x264 default keyframe interval and on their proxies (256 px, 10 fps, a keyframe a second;
{wait["proxy_preparation"]}). The share is over the whole epoch, the first batch's wait for the workers to start
included.

{markdown_table(["videos", "data wait share", "clips/s", "median step (s)"], wait_rows)}
"""
    return markdown, met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 3 steps, one round, 0 workers (under a minute)"
    )
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--workers", nargs="*", type=int, default=None, help="num_workers values (default 0 1 2)")
    parser.add_argument("--skip-data-wait", action="store_true", help="leave out the raw 720p vs proxies part")
    args = parser.parse_args()
    if args.quick:
        config = {"warmup": 1, "timed": 2, "rounds": 1, "wait_steps": 2}
        workers = args.workers or [0]
    else:  # timed steps per run: the model's
        config = {"warmup": 2, "timed": None, "rounds": 2, "wait_steps": 8}  # inside make bench's 20 minutes
        workers = args.workers or [0, 1, 2]
    print(machine_line(), f"torch threads {torch.get_num_threads()}")
    transformers.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    started = time.perf_counter()
    data = skill_data(small_videos(24))
    results, pooled = [], {}
    for model_name in args.models:
        results += compare_loops(model_name, data, workers, config)
        mine = [r for r in results if r["model"] == model_name]
        pooled[model_name] = {loop: pooled_overhead(mine, loop) for loop in ("plain", "trainer")}
        print(
            f"  {model_name:<9} all worker counts: fit vs plain {interval_text(pooled[model_name]['plain'])}, "
            f"vs Trainer {interval_text(pooled[model_name]['trainer'])}",
            flush=True,
        )
    if args.skip_data_wait:
        print(f"({time.perf_counter() - started:.0f} s; data wait skipped, nothing saved)")
        return 0
    print("data wait, CNN-RNN, 2 workers:", flush=True)
    wait = data_wait(config)
    markdown, met = section(results, pooled, wait, config)
    print(f"\nfit vs plain loop under {OVERHEAD_TARGET:.0%}: {'met' if met else 'missed'}")
    print(f"({time.perf_counter() - started:.0f} s)")
    if not args.quick:  # a smoke run never replaces the README's figures
        save_section(
            "train",
            "Training loop overhead",
            markdown,
            {"config": config, "loops": results, "pooled_overhead": pooled, "data_wait": wait},
            goals_met=met,
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
