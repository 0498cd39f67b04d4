"""Decode benchmark: this project's `decode_frames` against the readers a user would otherwise use.

Two generated 60 s 1280x720 30 fps h264 videos with textured, moving content: one with x264's default
keyframe interval (250 frames, scene cuts on), one with a keyframe every second. Two sampling patterns: 16
uniformly spaced frames (TSN eval sampling) and 8 clips x 16 consecutive frames (whole-video inference).
Every method returns the same frames as RGB uint8 (checked: the run fails otherwise); each timing is the best of
several runs, the methods taking turns (interference from other work only ever adds time, so the fastest run is
the method's own cost, as Python's timeit advises; the medians are kept in the results too), and includes opening the file (and, for this project, probing it:
the probe cache is cleared before every run).

    python benchmarks/bench_decode.py            # what `make bench` runs
    python benchmarks/bench_decode.py --quick    # 10 s videos, for a smoke run (not saved for the README)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import av
import numpy as np
import torch

from common import ensure_video, machine_line, markdown_table, save_section
from surgical_skill.video import decode_frames, probe, sample_multi_clip_indices, sample_segment_indices
from surgical_skill.video.metadata import _probe_cached

OURS = "this project"
OURS_WARM = "this project, probe cached"
TC1 = "torchcodec exact, 1 thread (default)"
TC0 = "torchcodec exact, auto threads"
DECODE_ALL = "PyAV decode-all, keep needed"
SEEK_RUN = "PyAV seek per run"


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


def consecutive_runs(indices: np.ndarray) -> list[list[int]]:
    runs: list[list[int]] = []
    for index in indices.tolist():
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def pyav_seek_per_run(path: Path, indices: np.ndarray) -> torch.Tensor:
    """Seek to the first frame of each run of consecutive wanted frames and decode forward through the run: the
    plain way to read clips with PyAV (under uniform sampling every run is one frame: a seek per frame)."""
    out = []
    container, stream = _open(path)
    with container:
        frame_ticks = 1 / (stream.average_rate * stream.time_base)  # constant frame rate assumed
        for run in consecutive_runs(indices):
            first = round(run[0] * frame_ticks) + (stream.start_time or 0)
            container.seek(first, stream=stream, backward=True, any_frame=False)
            needed = len(run)
            for frame in container.decode(stream):
                if frame.pts >= first:
                    out.append(frame.to_ndarray(format="rgb24"))
                    needed -= 1
                    if not needed:
                        break
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)


def open_cost(path: Path, repeats: int = 7) -> dict[str, float]:
    """CPU ms of opening ``path`` with FFmpeg's stream-info decode and without it (as `decode_frames` opens)."""
    from surgical_skill.video.metadata import _NO_STREAM_INFO_DECODE

    cost = {}
    for name, options in (("full", None), ("skipped", _NO_STREAM_INFO_DECODE)):
        times = []
        for _ in range(repeats):
            started = time.process_time()
            av.open(str(path), options=options).close()
            times.append(time.process_time() - started)
        cost[name] = round(statistics.median(times) * 1000, 2)
    return cost


def time_round_robin(methods, repeats: dict[str, int], path, indices):
    """Best and median time per method, and its frames; methods take turns within each round so load spikes hit
    all of them alike (the slow baselines run fewer rounds: their margin is far beyond the noise)."""
    times = {name: [] for name in methods}
    frames = {}
    for round_ in range(max(repeats.values())):
        for name, fn in methods.items():
            if round_ >= repeats[name]:
                continue
            started = time.perf_counter()
            frames[name] = fn(path, indices)
            times[name].append(time.perf_counter() - started)
    best = {name: min(t) for name, t in times.items()}
    median = {name: statistics.median(t) for name, t in times.items()}
    return best, median, frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="runs of this project and torchcodec per cell")
    parser.add_argument("--baseline-repeats", type=int, default=2, help="runs of the plain PyAV loops per cell")
    parser.add_argument("--quick", action="store_true", help="10 s videos instead of 60 s (not saved)")
    args = parser.parse_args()
    seconds = 10 if args.quick else 60
    videos = {
        "keyframes every 250 (x264 default)": ensure_video(f"bench_{seconds}s_720p_keyint_default.mp4", seconds, None),
        "keyframes every 30 (1 s)": ensure_video(f"bench_{seconds}s_720p_keyint_30.mp4", seconds, 30),
    }
    methods = {OURS: this_project, OURS_WARM: this_project_warm}
    try:
        import torchcodec.decoders  # noqa: F401

        methods[TC1] = torchcodec_exact(1)
        methods[TC0] = torchcodec_exact(0)
    except Exception as err:
        print(f"torchcodec unavailable ({err.__class__.__name__}: {err}); its columns are skipped", file=sys.stderr)
    methods[DECODE_ALL] = pyav_decode_all_keep_needed
    methods[SEEK_RUN] = pyav_seek_per_run
    repeats = {name: args.baseline_repeats if name.startswith("PyAV") else args.repeats for name in methods}

    print(machine_line())
    cells, failures, mismatches = [], [], []
    for video_name, path in videos.items():
        meta = probe(path)
        patterns = {
            "16 uniform": sample_segment_indices(meta.total_num_frames, 16),
            "8 clips x 16": sample_multi_clip_indices(meta.total_num_frames, 16, num_clips=8).reshape(-1),
        }
        path.read_bytes()  # page cache warm for every method alike
        open_cpu_ms = open_cost(path)
        for pattern_name, indices in patterns.items():
            print(f"\n{video_name} | {pattern_name} | {len(indices)} frames of {meta.total_num_frames}", flush=True)
            times, medians, frames = time_round_robin(methods, repeats, path, indices)
            reference = frames[OURS]
            for method_name, result in frames.items():
                if not torch.equal(result, reference):
                    diff = (result.int() - reference.int()).abs().max().item()
                    mismatches.append(f"{video_name} / {pattern_name}: {method_name} differs by up to {diff}")
            ours = times[OURS]
            for method_name, seconds_taken in times.items():
                print(f"  {method_name:<38} {seconds_taken * 1000:8.0f} ms   {seconds_taken / ours:5.2f}x ours")
            others = {k: v for k, v in times.items() if k not in (OURS, OURS_WARM)}
            best = min(others, key=others.get)
            ratio = ours / others[best]  # this project's time as a multiple of the best other's (goal: <= 1.0)
            print(f"  -> this project / best other ({best}): {ratio:.2f}x {'OK' if ratio <= 1.0 else 'SLOWER'}")
            if ratio > 1.0:
                failures.append(f"{video_name} / {pattern_name}: {ratio:.2f}x the time of {best}")
            cell = {
                "video": video_name,
                "pattern": pattern_name,
                "frames": len(indices),
                "total_frames": meta.total_num_frames,
                "keyframes": len(meta.keyframe_indices),
                "ms": {k: round(v * 1000, 1) for k, v in times.items()},
                "median_ms": {k: round(v * 1000, 1) for k, v in medians.items()},
                "best_other": best,
                "open_cpu_ms": open_cpu_ms,
                "ratio_to_best_other": round(ratio, 3),
            }
            if "every 30" in video_name:
                speedup = times[DECODE_ALL] / ours
                cell["speedup_vs_decode_all"] = round(speedup, 2)
                if speedup < 3:
                    failures.append(f"{video_name} / {pattern_name}: only {speedup:.1f}x faster than decode-all")
            cells.append(cell)
    failures += [f"frames differ: {m}" for m in mismatches]
    print("\nall goals met" if not failures else "\ngoals missed:\n  " + "\n  ".join(failures))
    if not args.quick:
        save_section(
            "decode",
            "Decoding: decode_frames against torchcodec and PyAV",
            section(cells, methods, failures, args),
            cells,
            goals_met=not failures,
        )
    return 0 if not failures else 1


def section(cells: list[dict], methods: dict, failures: list[str], args: argparse.Namespace) -> str:
    names = list(methods)
    header = ["video", "pattern", *names, "ours / best other"]
    rows = []
    for cell in cells:
        ours = cell["ms"][OURS]
        row = [cell["video"], cell["pattern"]]
        for name in names:
            ms = cell["ms"][name]
            row.append(f"**{ms:.0f}**" if name == OURS else f"{ms:.0f} ({ms / ours:.2f}x)")
        row.append(f"**{cell['ratio_to_best_other']:.2f}x** ({cell['best_other']})")
        rows.append(row)
    ratios = [c["ratio_to_best_other"] for c in cells]
    noise = max(
        c["median_ms"][name] / c["ms"][name] - 1 for c in cells for name in c["ms"] if not name.startswith("PyAV")
    )
    open_cost = cells[-1]["open_cpu_ms"]
    worst = max(cells, key=lambda c: c["ratio_to_best_other"])
    decode_all = [c["speedup_vs_decode_all"] for c in cells if "speedup_vs_decode_all" in c]
    verdict = "met" if not failures else "missed: " + "; ".join(failures)
    return f"""
Two generated 60 s, 1280x720, 30 fps h264 videos (x264 `medium`, CRF 23, textured panning content with moving
objects): {cells[0]["keyframes"]} keyframes (x264's default interval of 250) and {cells[-1]["keyframes"]} (one a
second). Two sampling patterns: {cells[0]["frames"]} uniformly spaced frames (TSN evaluation sampling) and 8
evenly spaced clips of 16 consecutive frames (whole-video inference). Native resolution, RGB uint8 out. Every
method's frames are checked equal to this project's (pixel-exact, or the run fails). Each time is the best of the
rounds in which the methods take turns (interference only ever adds time, so the fastest run is the method's own
cost, as Python's `timeit` advises; medians are in the results JSON) (this project and torchcodec: {args.repeats} rounds; the plain PyAV loops: {args.baseline_repeats}),
and includes opening the file and, for this project, probing it cold (its packet scan: the probe cache is cleared
every run).

- **this project**: `surgical_skill.video.decode_frames`, probe included; **probe cached**: the same with the
  metadata cached, as in a DataLoader worker after its first clip of a video.
- **torchcodec exact**: `VideoDecoder(seek_mode="exact").get_frames_at(indices)`, with its default 1 thread and
  with FFmpeg's automatic thread count.
- **PyAV decode-all, keep needed**: decode every frame up to the last wanted one, convert only the wanted ones.
- **PyAV seek per run**: seek to the first frame of each run of consecutive wanted frames, decode forward
  through it (under uniform sampling, a seek per frame).

Times in ms; in brackets, that method's time as a multiple of this project's (above 1: this project is faster).
The last column is this project's time over the best other method's (goal: at most 1.00x).

{markdown_table(header, rows)}

Goal (issue 17): at or below the best of torchcodec and PyAV on every video and pattern, still pixel-exact:
**{verdict}** (this project's time is {min(ratios):.2f}x to {max(ratios):.2f}x the best other's; closest:
{worst["video"]}, {worst["pattern"]}). On the one-second-keyframe video it is {min(decode_all):.1f}x to
{max(decode_all):.1f}x faster than decode-all (goal of issue 2: at least 3x).

What makes the difference:
- opening a file, FFmpeg's `avformat_find_stream_info` decodes up to seven h264 frames single-threaded to guess
  the decoder's reordering delay, which these streams state in their headers: {open_cost["full"]:.1f} ms of CPU
  per open of the 1 s-keyframe video here; `probe` and `decode_frames` open with that pass decoding nothing where
  the delay is stated (`skip_frame=all` for it only: {open_cost["skipped"]:.1f} ms), so neither a cold call
  (probe + decode) nor a warm one pays it;
- the keyframe layout (from the packet scan) decides per wanted frame between seeking and decoding on;
- unwanted non-reference frames (most B-frames) are handed to FFmpeg with `skip_frame=NONREF`, so they are
  never decoded (the others decode them); this matters most on long GOPs;
- only wanted frames go through swscale, into one preallocated buffer, and the result is not copied again
  (a channels-last (T, C, H, W) view, as torchcodec returns).

Noise: in this run a method's median round was up to {noise:.0%} slower than its best round (this project and
torchcodec), more than some cells' margins; the goal is checked on the best rounds as they came out, and a cell
near 1.00x can read either side of it in another run.
"""


if __name__ == "__main__":
    sys.exit(main())
