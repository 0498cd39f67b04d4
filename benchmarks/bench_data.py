"""Data benchmark: random training clips per second from raw 60 s 720p videos vs their proxies.

A dataset of four generated 60 s 1280x720 30 fps h264 videos (x264 default keyframe interval, as cameras
and screen recorders write them) is read the way training reads it: `ClipDecoder` with 16-frame TSN
sampling at random positions, decoded at a 224 short side and augmented (random resized crop to 224, flip,
colour jitter). The same loader then reads the proxies `surgical-skill prepare` makes (short side 256,
10 fps, a keyframe every second). Times are per clip in one process; the proxy preparation is timed too and
reported as a multiple of real time.

    python benchmarks/bench_data.py          # what `make bench` runs
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time

import torch
from datasets import Dataset

from common import WORK, ensure_video, machine_line
from surgical_skill.data import ClipDecoder, ClipSampling, ClipTransforms, load_skill_dataset, use_proxies
from surgical_skill.video import ProxySettings, prepare_proxies


def clips_per_second(dataset, clips: int, seed: int) -> tuple[float, list[float]]:
    loader = ClipDecoder(
        ClipSampling(num_frames=16, strategy="uniform"),
        ClipTransforms(resize=224, crop_size=224, training=True),
        training=True,
        seed=seed,
    )
    data = dataset.with_transform(loader)
    times = []
    for i in range(clips):
        loader.set_epoch(i // len(dataset))  # a new random clip of the same videos each pass
        started = time.perf_counter()
        sample = data[i % len(dataset)]
        times.append(time.perf_counter() - started)
        assert sample["pixel_values"].shape == (16, 3, 224, 224), sample["decode_error"]
    return len(times) / sum(times), times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw-clips", type=int, default=8, help="random clips timed on the raw videos")
    parser.add_argument("--proxy-clips", type=int, default=64, help="random clips timed on the proxies")
    args = parser.parse_args()
    videos = [ensure_video("bench_60s_720p_keyint_default.mp4", 60, None, seed=1)]
    videos += [ensure_video(f"bench_60s_720p_keyint_default_{i}.mp4", 60, None, seed=i) for i in (2, 3, 4)]
    print(machine_line())
    rows = Dataset.from_dict(
        {
            "video": [str(v) for v in videos],
            "label": ["lower-skilled", "higher-skilled"] * 2,
            "subject": [f"S{i}" for i in range(len(videos))],
        }
    )
    raw = load_skill_dataset(rows, split_ratios=None)["train"]

    cache = WORK / "proxies"
    shutil.rmtree(cache, ignore_errors=True)  # time a cold preparation
    settings = ProxySettings(short_side=256, fps=10, keyframe_interval_seconds=1)
    report = prepare_proxies([str(v) for v in videos], cache, settings, progress=False)
    print(f"\nprepare: {report.summary()}")
    proxied = use_proxies(raw, cache, settings)

    torch.set_num_threads(1)  # as in a DataLoader worker
    raw_rate, raw_times = clips_per_second(raw, args.raw_clips, seed=0)
    proxy_rate, proxy_times = clips_per_second(proxied, args.proxy_clips, seed=0)
    print("\nrandom training clips (16 frames, 224x224, augmented), one process:")
    print(f"  raw 720p videos     {raw_rate:7.2f} clips/s   median {statistics.median(raw_times) * 1000:7.0f} ms/clip")
    print(
        f"  proxies (256p/10fps){proxy_rate:7.2f} clips/s   median {statistics.median(proxy_times) * 1000:7.0f} ms/clip"
    )
    speedup = proxy_rate / raw_rate
    print(f"  -> proxies are {speedup:.1f}x faster per clip {'OK' if speedup >= 10 else '(below the 10x goal)'}")
    print(
        f"  -> prepare ran at {report.realtime_factor:.1f}x real time "
        f"({report.seconds_of_video:.0f} s of video in {report.elapsed:.1f} s, 2 workers)"
    )
    return 0 if speedup >= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
