"""Data benchmark: random training clips from raw long-GOP 720p videos vs their proxies, per process and per
DataLoader worker; how `prepare_proxies` time and memory grow with the archive; the workers a GPU needs.

Inputs: four 60 s 1280x720 30 fps h264 recordings (x264 default keyframe interval, as cameras and screen recorders
write them: one generated minute and three remuxed copies of it under other titles, which the proxy cache, keyed by
content, prepares as recordings of their own) and the proxies `surgical-skill prepare` makes of them (short side 256, 10 fps, a keyframe
every second). Every clip is a training clip: `ClipDecoder` with 16-frame TSN sampling at random positions,
decoded at a 224 short side and augmented (random resized crop to 224, flip, colour jitter).

1. **Clips per second**, raw vs proxies: in one process (the decoder's own threads), and read through a torch
   `DataLoader` as training reads them (`make_loader`: `SkillCollator`, shuffled, one decoder thread per
   worker) with 1 and 2 workers; per worker = clips/s / workers, timed after each worker's first batch (worker
   start-up excluded). Goal: proxies at least 10x faster per clip.
2. **Workers a GPU needs**: for a GPU that trains N clips/s, ceil(N / per-worker rate) workers (CPU cores of
   this kind), from the 1-worker rate.
3. **`prepare_proxies` against the archive's size**: archives of 1, 2, 4 and 8 units, a unit being one minute
   of 720p recording (one recording of n minutes, n back-to-back copies of the first video remuxed by
   `ensure_long_video`: each copy is transcoded again, as new content would be). Each size in a fresh process
   (a cold cache; the peak resident size of that process during the preparation, its mark restarted after the
   imports). Goals: time linear in the archive (a straight line fits, R^2 >= 0.98)
   and peak memory flat (the 8-unit peak within 50 MB of the 1-unit peak).
4. **`prepare_proxies` over processes**: the four videos with 1 vs 2 worker processes (wall time, and peak RSS of
   the parent and of the largest worker process; forked workers' RSS counts the pages they share with the
   parent).

    python benchmarks/bench_data.py          # what `make bench` runs (about 5 minutes on 2 cores)
    python benchmarks/bench_data.py --quick  # fewer clips, archives of 1 and 2 units, 2 videos (a smoke run: not saved for the README)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset

from common import (
    WORK,
    ensure_long_video,
    ensure_recordings,
    machine_line,
    markdown_table,
    peak_rss_mb,
    reset_peak_rss,
    rss_mb,
    save_section,
)
from surgical_skill.data import (
    ClipDecoder,
    ClipSampling,
    ClipTransforms,
    expand_clips,
    load_skill_dataset,
    use_proxies,
)
from surgical_skill.training import make_loader
from surgical_skill.video import ProxySettings, prepare_proxies, probe

GOAL_SPEEDUP = 10.0
GOAL_R2 = 0.98
GOAL_PER_UNIT_DRIFT = 0.20  # the largest archive's seconds per unit at most 20 % above the smallest's
GOAL_MEMORY_MB = 50.0  # the 8-unit peak may exceed the 1-unit peak by this much at most
GPU_SPEEDS = (25, 50, 100, 200, 400)
SETTINGS = ProxySettings(short_side=256, fps=10, keyframe_interval_seconds=1)
SCRATCH = WORK / "data_bench"


def clip_decoder(seed: int = 0) -> ClipDecoder:
    return ClipDecoder(
        ClipSampling(num_frames=16, strategy="uniform"),
        ClipTransforms(resize=224, crop_size=224, training=True),
        training=True,
        seed=seed,
    )


def one_process_rate(dataset, clips: int, seed: int) -> tuple[float, list[float]]:
    """Clips/s reading ``clips`` random clips one after another in this process."""
    loader = clip_decoder(seed)
    data = dataset.with_transform(loader)
    times = []
    for i in range(clips):
        loader.set_epoch(i // len(dataset))  # a new random clip of the same videos each pass
        started = time.perf_counter()
        sample = data[i % len(dataset)]
        times.append(time.perf_counter() - started)
        assert sample["pixel_values"].shape == (16, 3, 224, 224), sample["decode_error"]
    return len(times) / sum(times), times


def loader_rate(dataset, clips: int, workers: int, batch_size: int) -> dict:
    """Clips/s through a training ``DataLoader`` with ``workers`` workers, timed from the moment every worker
    has delivered its first batch (worker start-up and the first decode are excluded)."""
    per_video = max(1, math.ceil(clips / len(dataset)))
    data = expand_clips(dataset, per_video).with_transform(clip_decoder())
    loader = make_loader(data, batch_size, shuffle=True, num_workers=workers, seed=0)
    arrivals, sizes = [], []
    started = time.perf_counter()
    for batch in loader:
        arrivals.append(time.perf_counter())
        assert batch["pixel_values"].shape[1:] == (16, 3, 224, 224)
        sizes.append(batch["pixel_values"].shape[0])
    warm = min(workers, len(arrivals) - 1) if workers else 1  # the batches that include a worker's start
    counted = sum(sizes[warm:])
    rate = counted / (arrivals[-1] - arrivals[warm - 1])
    return {
        "workers": workers,
        "clips": sum(sizes),
        "clips_timed": counted,
        "clips_per_second": rate,
        "per_worker": rate / max(workers, 1),
        "first_batch_s": arrivals[0] - started,
    }


def prepare_in_subprocess(videos: list[Path], workers: int, cache: Path) -> dict:
    """``prepare_proxies`` of ``videos`` into an empty ``cache`` in a fresh process: wall time and peak RSS."""
    shutil.rmtree(cache, ignore_errors=True)
    job = json.dumps({"videos": [str(v) for v in videos], "cache": str(cache), "workers": workers})
    done = subprocess.run(
        [sys.executable, __file__, "--prepare-job", job], capture_output=True, text=True, env=os.environ.copy()
    )
    if done.returncode:
        raise RuntimeError(f"prepare job failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare_job(job: str) -> None:
    """Run in the subprocess: prepare, then print the figures as one JSON line."""
    spec = json.loads(job)
    baseline = rss_mb()  # after the imports: what any process of this toolkit holds before work
    reset_peak_rss()  # the peak of the preparation, not of the imports
    report = prepare_proxies(spec["videos"], spec["cache"], SETTINGS, workers=spec["workers"], progress=False)
    assert not report.failures, report.failures
    print(
        json.dumps(
            {
                "workers": spec["workers"],
                "elapsed_s": report.elapsed,
                "seconds_of_video": report.seconds_of_video,
                "realtime_factor": report.realtime_factor,
                "made": report.made,
                "peak_rss_mb": peak_rss_mb(),
                "peak_worker_rss_mb": peak_rss_mb(children=True),
                "rss_after_imports_mb": baseline,
            }
        )
    )


def linear_fit(x: list[float], y: list[float]) -> tuple[float, float, float]:
    """Least-squares ``y = a + b x``: ``(a, b, R^2)``."""
    slope, intercept = np.polyfit(x, y, 1)
    predicted = intercept + slope * np.asarray(x)
    residual = float(((np.asarray(y) - predicted) ** 2).sum())
    total = float(((np.asarray(y) - np.mean(y)) ** 2).sum())
    return float(intercept), float(slope), 1.0 - residual / total if total else 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer clips, smaller archives")
    parser.add_argument(
        "--raw-clips",
        type=int,
        default=None,
        help="random raw-video clips timed in one process (default 8; 2 with --quick)",
    )
    parser.add_argument(
        "--proxy-clips",
        type=int,
        default=None,
        help="random proxy clips timed per reading (default 32; 8 with --quick)",
    )
    parser.add_argument("--batch-size", type=int, default=2, help="DataLoader batch size (clips)")
    parser.add_argument("--prepare-job", help=argparse.SUPPRESS)  # internal: one prepare in a fresh process
    args = parser.parse_args()
    if args.prepare_job:
        prepare_job(args.prepare_job)
        return 0
    raw_clips = args.raw_clips or (2 if args.quick else 8)
    proxy_clips = args.proxy_clips or (8 if args.quick else 32)
    units = (1, 2) if args.quick else (1, 2, 4, 8)

    videos = ensure_recordings(4)
    archives = {1: videos[0]}
    archives.update({n: ensure_long_video(f"bench_{n}min_720p.mp4", videos[0], n) for n in units if n > 1})
    print(machine_line())
    unit_seconds = probe(videos[0]).duration

    # --- prepare: spread over processes (its cache then serves the clip readings) -------------------------
    spread_videos = videos[:2] if args.quick else videos
    cache = SCRATCH / "spread_2"  # the proxies the 2-process run made serve the clip readings (the index names them)
    spread = {w: prepare_in_subprocess(spread_videos, w, SCRATCH / f"spread_{w}") for w in (1, 2)}
    shutil.rmtree(SCRATCH / "spread_1", ignore_errors=True)
    spread_speedup = spread[1]["elapsed_s"] / spread[2]["elapsed_s"]
    print(
        f"\nprepare {len(spread_videos)} x 60 s: 1 process {spread[1]['elapsed_s']:.1f} s "
        f"(peak {spread[1]['peak_rss_mb']:.0f} MB), 2 worker processes {spread[2]['elapsed_s']:.1f} s "
        f"(parent {spread[2]['peak_rss_mb']:.0f} MB, largest worker {spread[2]['peak_worker_rss_mb']:.0f} MB): "
        f"{spread_speedup:.2f}x"
    )

    # --- prepare: growth with the archive -------------------------------------------------------------------
    growth = []
    for n in units:
        result = prepare_in_subprocess([archives[n]], 1, SCRATCH / f"archive_{n}")
        shutil.rmtree(SCRATCH / f"archive_{n}", ignore_errors=True)
        growth.append({"units": n, **result})
        print(
            f"prepare archive of {n} unit(s) ({result['seconds_of_video']:.0f} s of 720p): "
            f"{result['elapsed_s']:.1f} s, peak {result['peak_rss_mb']:.0f} MB"
        )
    intercept, slope, r2 = linear_fit([g["units"] for g in growth], [g["elapsed_s"] for g in growth])
    # R^2 alone cannot reject mildly superlinear growth: the time per unit must also stay flat
    per_unit = [g["elapsed_s"] / g["units"] for g in growth]
    per_unit_drift = per_unit[-1] / per_unit[0] - 1
    time_linear = r2 >= GOAL_R2 and per_unit_drift <= GOAL_PER_UNIT_DRIFT
    first_peak, last_peak = growth[0]["peak_rss_mb"], growth[-1]["peak_rss_mb"]
    memory_growth = last_peak - first_peak
    memory_flat = memory_growth <= GOAL_MEMORY_MB

    # --- random training clips ------------------------------------------------------------------------------
    rows = Dataset.from_dict(
        {
            "video": [str(v) for v in spread_videos],
            "label": ["lower-skilled", "higher-skilled"] * (len(spread_videos) // 2),
            "subject": [f"S{i}" for i in range(len(spread_videos))],
        }
    )
    raw = load_skill_dataset(rows, split_ratios=None)["train"]
    proxied = use_proxies(raw, cache, SETTINGS)
    assert all(Path(v).parent == cache for v in proxied["video"]), "a video has no proxy"

    torch.set_num_threads(1)  # as in a DataLoader worker
    raw_rate, raw_times = one_process_rate(raw, raw_clips, seed=0)
    proxy_rate, proxy_times = one_process_rate(proxied, proxy_clips, seed=0)
    loaders = {"raw": {}, "proxies": {}}
    for workers in (1, 2):
        loaders["raw"][workers] = loader_rate(raw, max(raw_clips, 4) + 4 * (workers - 1), workers, args.batch_size)
        loaders["proxies"][workers] = loader_rate(proxied, proxy_clips * workers, workers, args.batch_size)
    speedup = proxy_rate / raw_rate
    worker_speedup = loaders["proxies"][1]["per_worker"] / loaders["raw"][1]["per_worker"]
    met = speedup >= GOAL_SPEEDUP and worker_speedup >= GOAL_SPEEDUP

    # --- tables ------------------------------------------------------------------------------------------------
    def rate_row(name: str, one: float, times: list[float], per: dict) -> list[object]:
        return [
            name,
            f"{one:.2f} ({statistics.median(times) * 1000:.0f} ms/clip)",
            f"{per[1]['per_worker']:.2f}",
            f"{per[2]['clips_per_second']:.2f} ({per[2]['per_worker']:.2f} per worker, "
            f"{per[2]['per_worker'] / per[1]['per_worker']:.0%} of 1 worker's)",
        ]

    clips_table = markdown_table(
        ["input", "one process, clips/s", "DataLoader, 1 worker: clips/s", "DataLoader, 2 workers: clips/s"],
        [
            rate_row("raw 720p, keyframe every 250 frames", raw_rate, raw_times, loaders["raw"]),
            rate_row(
                "proxies (256 short side, 10 fps, keyframe every 1 s)", proxy_rate, proxy_times, loaders["proxies"]
            ),
        ],
    )
    per_worker = {name: loaders[name][1]["per_worker"] for name in loaders}
    needs = {name: {s: math.ceil(s / rate) for s in GPU_SPEEDS} for name, rate in per_worker.items()}
    needs_table = markdown_table(
        ["GPU trains (clips/s)", "workers on raw 720p (at least)", "workers on proxies (at least)"],
        [[s, needs["raw"][s], needs["proxies"][s]] for s in GPU_SPEEDS],
    )
    growth_table = markdown_table(
        ["archive", "video", "prepare time", "per minute of video", "real-time factor", "peak RSS"],
        [
            [
                f"{g['units']} unit{'s' if g['units'] > 1 else ''}",
                f"{g['seconds_of_video'] / 60:.0f} min",
                f"{g['elapsed_s']:.1f} s",
                f"{g['elapsed_s'] / (g['seconds_of_video'] / 60):.1f} s",
                f"{g['realtime_factor']:.1f}x",
                f"{g['peak_rss_mb']:.0f} MB",
            ]
            for g in growth
        ],
    )
    spread_table = markdown_table(
        ["processes", "wall time", "real-time factor", "peak RSS: main process", "peak RSS: largest worker"],
        [
            [
                w,
                f"{spread[w]['elapsed_s']:.1f} s",
                f"{spread[w]['realtime_factor']:.1f}x",
                f"{spread[w]['peak_rss_mb']:.0f} MB",
                f"{spread[w]['peak_worker_rss_mb']:.0f} MB" if w > 1 else "(no workers: runs in the main process)",
            ]
            for w in (1, 2)
        ],
    )
    verdict = "met" if met else "missed"
    markdown = f"""
Random training clips (16 frames spread over the video, TSN sampling at random positions, decoded at a 224 short
side, random resized crop to 224, flip, colour jitter) from {len(spread_videos)} 60 s 1280x720 30 fps h264 recordings (one generated minute and remuxed copies) with the x264
default keyframe interval (250), and from their proxies. "One process" reads clips one after another with the
decoder's own threads; the DataLoader columns read them as `fit` does (`make_loader`, one decoder thread per
worker, batches of {args.batch_size}), timed after every worker's first batch.

{clips_table}

Proxies are **{speedup:.1f}x** faster per clip in one process and **{worker_speedup:.1f}x** per DataLoader worker
(goal: at least {GOAL_SPEEDUP:.0f}x): **{verdict}**.

**Workers a GPU needs**, at least (from the measured 1-worker rates: {per_worker["raw"]:.2f} clips/s on raw 720p,
{per_worker["proxies"]:.1f} clips/s on proxies; one worker per CPU core of this kind: a lower bound where workers
slow each other down, and 2 workers here ran at
{loaders["raw"][2]["per_worker"] / per_worker["raw"]:.0%} (raw) and
{loaders["proxies"][2]["per_worker"] / per_worker["proxies"]:.0%} (proxies) of the 1-worker rate each):

{needs_table}

**`prepare_proxies` against the archive's size.** A unit is one minute of 720p recording ({unit_seconds:.0f} s);
an archive of n units is one n-minute recording (`ensure_long_video`: n copies remuxed, each transcoded again),
prepared by one process in a fresh interpreter; peak RSS is that process's largest resident size during the
preparation (the imports alone hold {growth[0]["rss_after_imports_mb"]:.0f} MB).

{growth_table}

Time: {intercept:.1f} s + {slope:.1f} s per unit, R^2 = {r2:.3f}; seconds per unit {per_unit_drift:+.0%} from 1 to
{units[-1]} units (goal: linear, R^2 >= {GOAL_R2} and seconds per unit at most {GOAL_PER_UNIT_DRIFT:.0%} higher):
**{"met" if time_linear else "missed"}**. Peak memory: {first_peak:.0f} MB for 1 unit, {last_peak:.0f} MB for
{units[-1]} units ({memory_growth:+.0f} MB; goal: flat, within {GOAL_MEMORY_MB:.0f} MB):
**{"met" if memory_flat else "missed"}**.

**`prepare_proxies` over processes** ({len(spread_videos)} videos of 60 s, 1 vs 2 worker processes):

{spread_table}

2 worker processes prepare {spread_speedup:.2f}x as fast as one process on this {os.cpu_count()}-core machine
(one process already runs FFmpeg's own decoder threads).
"""
    print(markdown)
    all_met = met and time_linear and memory_flat
    data = {
        "one_process": {"raw_clips_per_second": raw_rate, "proxy_clips_per_second": proxy_rate, "speedup": speedup},
        "loader": {name: {str(w): r for w, r in per.items()} for name, per in loaders.items()},
        "per_worker_speedup": worker_speedup,
        "workers_needed": {name: {str(s): n for s, n in need.items()} for name, need in needs.items()},
        "prepare_growth": growth,
        "prepare_fit": {"intercept_s": intercept, "slope_s_per_unit": slope, "r2": r2, "unit_seconds": unit_seconds},
        "prepare_memory_growth_mb": memory_growth,
        "prepare_spread": {str(w): r for w, r in spread.items()},
        "goals": {"proxy_speedup": met, "prepare_time_linear": time_linear, "prepare_memory_flat": memory_flat},
        "quick": args.quick,
    }
    if not args.quick:  # a smoke run never replaces the README's figures
        save_section("data", "Data loading at scale", markdown, data, goals_met=all_met)
    shutil.rmtree(SCRATCH, ignore_errors=True)
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
