"""Memory benchmark: peak resident memory of the pipeline and of training against the recording's length.

Recordings: a generated 60 s 1280x720 30 fps h264 video (x264 default keyframe interval) and 10- and 60-minute
recordings made of back-to-back copies of it (`ensure_long_video`: remuxed, so the long files have the source's
encoding and keyframe layout throughout; each is checked first: frame count, keyframes, and frames decoded
across a copy boundary and at the end equal to the source's). The model is a tiny random-init `small3d` (4
frames of 32x32, `clip` sampling) saved with its video processor, as training saves one.

Each case runs in a fresh Python process, so one case's peak cannot hide in another's. Inside it, after imports
and loading the model, the kernel's peak-memory mark is restarted (``/proc/self/clear_refs``), so the peak is that
of the work itself (``VmHWM``: the process's largest resident size during the work, everything it already held
included), never an import-time spike:

- **pipeline**: `pipeline("surgical-skill", model=folder)` and its default whole-video call (8 clips spread over
  the recording: probe, decode, preprocess, forward);
- **training**: `fit` for a few optimizer steps (batches of 2, `num_workers=0`, so decoding runs in the measured
  process) on a dataset of four rows of the recording (probed by `load_skill_dataset`, as a dataset is).

Goal: peak memory does not grow with the recording's length: the 60-minute peak within 50 MB of the 1-minute
peak, for both (about 5 % of what the process holds before the work).

    python benchmarks/bench_memory.py          # what `make bench` runs (about 2 minutes on 2 cores; 10 s once to make the 60-min file)
    python benchmarks/bench_memory.py --quick  # 1- and 10-minute recordings only (a smoke run: not saved for the README)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import (
    WORK,
    ensure_long_video,
    ensure_video,
    machine_line,
    markdown_table,
    peak_rss_mb,
    reset_peak_rss,
    rss_mb,
    save_section,
)

GOAL_MB = 50.0  # the longest recording's peak may exceed the 1-minute peak by this much at most
SCRATCH = WORK / "memory_bench"


def build_tiny_model(folder: Path) -> Path:
    """A random-init two-layer small3d classifier (4 frames of 32x32, clip sampling) and its video processor."""
    from surgical_skill.models import build_model, build_video_processor

    if (folder / "config.json").exists():
        return folder
    build_model(
        "small3d", small3d_channels=[4, 8], num_labels=2, id2label={0: "lower-skilled", 1: "higher-skilled"}
    ).save_pretrained(folder)
    build_video_processor(
        "small3d",
        num_frames=4,
        sampling_strategy="clip",
        size={"shortest_edge": 32},
        crop_size={"height": 32, "width": 32},
    ).save_pretrained(folder)
    return folder


def verify_long_video(long: Path, source: Path, copies: int) -> dict:
    """Check that ``long`` is ``copies`` copies of ``source``: frame count, duration and keyframes scale, frame
    timestamps are evenly spaced, and frames across the last copy boundary and at the very end decode equal to
    the source's frames."""
    import numpy as np
    import torch

    from surgical_skill.video import decode_frames, probe

    one, many = probe(source), probe(long)
    n = one.total_num_frames
    assert many.total_num_frames == copies * n, (many.total_num_frames, copies * n)
    assert abs(many.duration - copies * one.duration) < 1e-3, (many.duration, one.duration)
    expected_keyframes = np.concatenate([one.keyframe_indices + k * n for k in range(copies)])
    assert np.array_equal(many.keyframe_indices, expected_keyframes), "keyframes differ from the copies' layout"
    steps = np.diff(many.frame_timestamps())
    assert np.allclose(steps, 1 / one.fps, atol=1e-4), (steps.min(), steps.max())
    boundary = (copies - 1) * n
    wanted = [boundary - 3, boundary - 1, boundary, boundary + 2, copies * n - 1]
    source_frames = [n - 3, n - 1, 0, 2, n - 1]
    assert torch.equal(decode_frames(long, wanted), decode_frames(source, source_frames)), "frames differ"
    return {
        "frames": many.total_num_frames,
        "duration_s": many.duration,
        "keyframes": len(many.keyframe_indices),
        "file_mb": long.stat().st_size / 2**20,
    }


def start_measuring() -> dict:
    """What the process holds after imports and loading; then restart the peak mark for the work that follows."""
    before = {"import_peak_mb": peak_rss_mb(), "loaded_mb": rss_mb()}
    if not reset_peak_rss():
        raise RuntimeError("cannot reset the peak-memory mark (/proc/self/clear_refs): Linux 4.0+ is needed")
    return before


def pipeline_case(video: str, model: str) -> dict:
    from transformers import pipeline

    import surgical_skill  # noqa: F401  (registers the surgical-skill task)

    skill = pipeline("surgical-skill", model=model)
    before = start_measuring()
    started = time.perf_counter()
    result = skill(video)
    assert result["label"] in ("lower-skilled", "higher-skilled") and len(result["clips"]) == 8, result
    return {**before, "peak_mb": peak_rss_mb(), "seconds": time.perf_counter() - started}


def training_case(video: str, model: str, output_dir: str, steps: int) -> dict:
    from datasets import Dataset

    from surgical_skill.data import ClipDecoder, ClipSampling, ClipTransforms, expand_clips, load_skill_dataset
    from surgical_skill.models import build_video_processor, load_trained_model
    from surgical_skill.training import TrainingArguments, fit

    network = load_trained_model(model)
    processor = build_video_processor(model, config=network.config)
    before = start_measuring()
    started = time.perf_counter()
    # four recordings: links to the one file under four names (a dataset refuses a video listed twice)
    links = []
    for k in range(4):
        links.append(Path(output_dir).parent / f"{Path(output_dir).name}-recording{k}{Path(video).suffix}")
        links[-1].unlink(missing_ok=True)
        links[-1].symlink_to(video)
    rows = Dataset.from_dict(
        {
            "video": [str(p) for p in links],
            "label": ["lower-skilled", "higher-skilled"] * 2,
            "subject": ["S1", "S2", "S3", "S4"],
        }
    )
    train = load_skill_dataset(rows, split_ratios=None)["train"]  # probes the recording, as a dataset does
    decoder = ClipDecoder(
        ClipSampling.from_video_processor(processor),
        ClipTransforms.from_video_processor(processor, training=True),
        training=True,
    )
    args = TrainingArguments(
        output_dir=output_dir,
        max_steps=steps,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        report_to=["none"],
        progress_bar=False,
        overwrite_output_dir=True,
    )
    result = fit(
        model=network,
        processor=processor,
        train_dataset=expand_clips(train, steps).with_transform(decoder),
        args=args,
        clip_decoder=decoder,
        num_workers=0,
    )
    assert result.history and result.history[-1]["step"] == steps, result.history
    return {**before, "peak_mb": peak_rss_mb(), "seconds": time.perf_counter() - started}


def run_case(case: str, video: Path, model: Path, steps: int, warm_up: Path | None = None) -> dict:
    """One case in a fresh process; its figures come back as the last line of its output (JSON)."""
    job = json.dumps({"case": case, "video": str(video), "model": str(model), "steps": steps, "warm_up": str(warm_up)})
    done = subprocess.run([sys.executable, __file__, "--case-job", job], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{case} on {video.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def probe_case(video: str, warm_up: str) -> dict:
    """``probe`` alone: the per-frame index it builds (and the packet lists it scans) is the part of a call whose
    size follows the recording's length."""
    from surgical_skill.video import probe
    from surgical_skill.video.metadata import _probe_cached

    probe(warm_up)  # FFmpeg's libraries and the decoder loaded before the measurement (a short recording)
    _probe_cached.cache_clear()
    before = start_measuring()
    started = time.perf_counter()
    meta = probe(video)
    assert meta.total_num_frames > 0
    return {
        **before,
        "peak_mb": peak_rss_mb(),
        "kept_mb": rss_mb() - before["loaded_mb"],
        "seconds": time.perf_counter() - started,
    }


def case_job(job: str) -> None:
    spec = json.loads(job)
    if spec["case"] == "pipeline":
        result = pipeline_case(spec["video"], spec["model"])
    elif spec["case"] == "probe":
        result = probe_case(spec["video"], spec["warm_up"])
    else:
        output = SCRATCH / f"run-{os.getpid()}"
        SCRATCH.mkdir(parents=True, exist_ok=True)
        try:
            result = training_case(spec["video"], spec["model"], str(output), spec["steps"])
        finally:
            shutil.rmtree(output, ignore_errors=True)
            for link in SCRATCH.glob(f"{output.name}-recording*"):
                link.unlink()
    print(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1- and 10-minute recordings only")
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps of the training case")
    parser.add_argument("--case-job", help=argparse.SUPPRESS)  # internal: one case in a fresh process
    args = parser.parse_args()
    if args.case_job:
        case_job(args.case_job)
        return 0

    source = ensure_video("bench_60s_720p_keyint_default.mp4", 60, None, seed=1)
    minutes = (1, 10) if args.quick else (1, 10, 60)
    videos = {1: source}
    checks = {}
    for m in minutes[1:]:
        started = time.perf_counter()
        videos[m] = ensure_long_video(f"bench_{m}min_720p.mp4", source, m)
        checks[m] = verify_long_video(videos[m], source, m)
        print(f"{videos[m].name}: {checks[m]} (made or found and checked in {time.perf_counter() - started:.1f} s)")
    print(machine_line())
    SCRATCH.mkdir(parents=True, exist_ok=True)
    model = build_tiny_model(SCRATCH / "tiny_small3d")

    results = {"pipeline": {}, "training": {}}
    for case in results:
        for m in minutes:
            results[case][m] = run_case(case, videos[m], model, args.steps)
            r = results[case][m]
            print(
                f"{case:9s} {m:3d} min: peak {r['peak_mb']:.0f} MB (after loading {r['loaded_mb']:.0f} MB), "
                f"{r['seconds']:.1f} s"
            )

    probes = {m: run_case("probe", videos[m], model, args.steps, warm_up=source) for m in (minutes[0], minutes[-1])}
    probe_growth = {m: r["peak_mb"] - r["loaded_mb"] for m, r in probes.items()}
    print(f"probe alone: peak over its start {probe_growth}")

    verdicts = {}
    for case, by_length in results.items():
        first, last = by_length[minutes[0]]["peak_mb"], by_length[minutes[-1]]["peak_mb"]
        per_hour = (last - first) / (minutes[-1] - minutes[0]) * 60
        verdicts[case] = {"growth_mb": last - first, "per_hour_mb": per_hour, "met": last - first <= GOAL_MB}

    header = ["recording", "pipeline: peak RSS", "pipeline: call", "training: peak RSS", "training: fit"]
    rows = []
    for m in minutes:
        p, t = results["pipeline"][m], results["training"][m]
        rows.append(
            [
                f"{m} min ({m * 60 * 30:,} frames)",
                f"{p['peak_mb']:.0f} MB ({p['peak_mb'] - p['loaded_mb']:+.0f} MB over loading)",
                f"{p['seconds']:.1f} s",
                f"{t['peak_mb']:.0f} MB ({t['peak_mb'] - t['loaded_mb']:+.0f} MB over loading)",
                f"{t['seconds']:.1f} s",
            ]
        )

    def sentence(case: str, what: str) -> str:
        v = verdicts[case]
        return (
            f"{what}: the {minutes[-1]}-minute peak is {v['growth_mb']:+.0f} MB from the 1-minute peak "
            f"(allowed: {GOAL_MB:.0f} MB): "
            f"**{'met' if v['met'] else 'missed'}**."
        )

    markdown = f"""
Peak resident memory (RSS) of one process per case, on 1280x720 30 fps h264 recordings of growing length (the
long ones are back-to-back copies of a 60 s recording, remuxed). Pipeline: `pipeline("surgical-skill")` with a
tiny saved model and its default whole-video call (8 clips over the recording). Training: `fit` for
{args.steps} optimizer steps (batches of 2 clips, `num_workers=0`, so decoding is in the measured process) on
four rows of the recording (links to it under four names). The peak is the process's largest resident size
during the work (the mark restarted after imports and loading); "over loading" is that peak minus what the
process held before the work.

{markdown_table(header, rows)}

Goal: peak memory does not grow with the recording's length (the longest within {GOAL_MB:.0f} MB of the 1-minute
peak).
{sentence("pipeline", "Pipeline")} {sentence("training", "Training")}

What grows: `probe` alone (the frame-exact index it builds from every packet) peaks
{probe_growth[minutes[-1]]:.0f} MB over its start on the {minutes[-1]}-minute recording and
{probe_growth[minutes[0]]:.0f} MB on the 1-minute one, and keeps {probes[minutes[-1]]["kept_mb"]:.0f} MB resident
after it ({probes[minutes[-1]]["seconds"]:.1f} s for {minutes[-1] * 60 * 30:,} frames); the training case probes
four recordings.
"""
    print(markdown)
    met = all(v["met"] for v in verdicts.values())
    data = {
        "minutes": list(minutes),
        "results": {case: {str(m): r for m, r in by.items()} for case, by in results.items()},
        "verdicts": verdicts,
        "long_videos": {str(m): c for m, c in checks.items()},
        "probe": {str(m): r for m, r in probes.items()},
        "steps": args.steps,
        "quick": args.quick,
    }
    if not args.quick:  # a smoke run never replaces the README's figures
        save_section("memory", "Memory against recording length", markdown, data, goals_met=met)
    shutil.rmtree(SCRATCH, ignore_errors=True)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
