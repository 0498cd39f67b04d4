"""Decode benchmark: this project's `decode_frames` against the readers a user would otherwise use.

Two generated 60 s 1280x720 30 fps h264 videos with textured, moving content: one with x264's default
keyframe interval (250 frames, scene cuts on), one with a keyframe every second. Two sampling patterns: 16
uniformly spaced frames (TSN eval sampling) and 8 clips x 16 consecutive frames (whole-video inference).
Every method returns the same frames as RGB uint8 (checked); each timing is the median of ``--repeats``
runs, the methods taking turns, and includes opening the file (and, for this project, probing it: the
probe cache is cleared before every run).

    python benchmarks/bench_decode.py            # what `make bench` runs
    python benchmarks/bench_decode.py --quick    # 10 s videos, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import av
import numpy as np
import torch

from common import ensure_video, machine_line
from surgical_skill.video import decode_frames, probe, sample_multi_clip_indices, sample_segment_indices
from surgical_skill.video.metadata import _probe_cached


def this_project(path: Path, indices: np.ndarray) -> torch.Tensor:
    _probe_cached.cache_clear()  # cold: pay for the probe (packet scan) every time, as a fresh worker would
    return decode_frames(path, indices)


def this_project_warm(path: Path, indices: np.ndarray) -> torch.Tensor:
    return decode_frames(path, indices)  # metadata cached, as in a DataLoader worker after its first clip


def torchcodec_exact(threads: int):
    def run(path: Path, indices: np.ndarray) -> torch.Tensor:
        from torchcodec.decoders import VideoDecoder

        decoder = VideoDecoder(str(path), seek_mode="exact", num_ffmpeg_threads=threads)
        return decoder.get_frames_at(indices.tolist()).data

    return run


def _open(path: Path):
    container = av.open(str(path))
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def pyav_decode_all_keep_needed(path: Path, indices: np.ndarray) -> torch.Tensor:
    wanted = set(indices.tolist())
    kept = {}
    container, stream = _open(path)
    with container:
        for i, frame in enumerate(container.decode(stream)):
            if i in wanted:
                kept[i] = frame.to_ndarray(format="rgb24")
            if i >= indices.max():
                break
    return torch.from_numpy(np.stack([kept[i] for i in indices.tolist()])).permute(0, 3, 1, 2)


def pyav_seek_per_frame(path: Path, indices: np.ndarray) -> torch.Tensor:
    out = []
    container, stream = _open(path)
    with container:
        frame_ticks = 1 / (stream.average_rate * stream.time_base)  # constant frame rate assumed
        for i in indices.tolist():
            target = round(i * frame_ticks) + (stream.start_time or 0)
            container.seek(target, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                if frame.pts >= target:
                    out.append(frame.to_ndarray(format="rgb24"))
                    break
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)


def time_round_robin(methods, path, indices, repeats) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Median time per method; methods take turns within each repeat so load spikes hit all of them alike."""
    times = {name: [] for name in methods}
    frames = {}
    for _ in range(repeats):
        for name, fn in methods.items():
            started = time.perf_counter()
            frames[name] = fn(path, indices)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}, frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10 s videos instead of 60 s")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    seconds = 10 if args.quick else 60
    videos = {
        "x264 default keyframes (250)": ensure_video(f"bench_{seconds}s_720p_keyint_default.mp4", seconds, None),
        "1 s keyframes (30)": ensure_video(f"bench_{seconds}s_720p_keyint_30.mp4", seconds, 30),
    }
    methods = {"this project": this_project, "this project, probe cached": this_project_warm}
    try:
        import torchcodec.decoders  # noqa: F401

        methods["torchcodec exact, 1 thread (default)"] = torchcodec_exact(1)
        methods["torchcodec exact, auto threads"] = torchcodec_exact(0)
    except Exception as err:
        print(f"torchcodec unavailable ({err.__class__.__name__}: {err}); its rows are skipped", file=sys.stderr)
    methods["PyAV decode-all, keep needed"] = pyav_decode_all_keep_needed
    methods["PyAV seek per frame"] = pyav_seek_per_frame

    print(machine_line())
    results, failures = [], []
    for video_name, path in videos.items():
        meta = probe(path)
        patterns = {
            "16 uniform frames": sample_segment_indices(meta.total_num_frames, 16),
            "8 clips x 16 frames": sample_multi_clip_indices(meta.total_num_frames, 16, num_clips=8).reshape(-1),
        }
        path.read_bytes()  # page cache warm for every method alike
        for pattern_name, indices in patterns.items():
            print(
                f"\n{video_name} | {pattern_name} | {len(indices)} frames of {meta.total_num_frames}, "
                f"{len(meta.keyframe_indices)} keyframes"
            )
            rows, frames = time_round_robin(methods, path, indices, args.repeats)
            reference = frames["this project"]
            for method_name, result in frames.items():
                if not torch.equal(result, reference):
                    diff = (result.int() - reference.int()).abs().max().item()
                    print(f"  note: {method_name} differs from this project by up to {diff} (pixel values)")
            ours = rows["this project"]
            for method_name, seconds_taken in rows.items():
                ratio = seconds_taken / ours
                print(f"  {method_name:<38} {seconds_taken * 1000:8.0f} ms   {ratio:5.2f}x this project's time")
                results.append(
                    {
                        "video": video_name,
                        "pattern": pattern_name,
                        "method": method_name,
                        "seconds": round(seconds_taken, 4),
                        "ratio_to_this_project": round(ratio, 3),
                    }
                )
            others = {k: v for k, v in rows.items() if not k.startswith("this project")}
            best_name = min(others, key=others.get)
            verdict = ours <= 1.10 * others[best_name]
            print(
                f"  -> this project vs best other ({best_name}): {others[best_name] / ours:.2f}x "
                f"{'OK' if verdict else 'SLOWER than the 10 % allowance'}"
            )
            if not verdict:
                failures.append(f"{video_name} / {pattern_name}: slower than {best_name}")
            if video_name.startswith("1 s"):
                speedup = rows["PyAV decode-all, keep needed"] / ours
                print(f"  -> vs decode-all: {speedup:.1f}x faster {'OK' if speedup >= 3 else '(below the 3x goal)'}")
                if speedup < 3:
                    failures.append(f"{video_name} / {pattern_name}: only {speedup:.1f}x faster than decode-all")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print("\nall goals met" if not failures else "\ngoals missed:\n  " + "\n  ".join(failures))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
