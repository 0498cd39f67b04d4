"""Whole-video inference: `pipeline("surgical-skill")` against transformers' own `pipeline("video-classification")`
with the same model, on a generated 5-minute 1280x720 30 fps h264 video (x264 medium, default keyframe interval).

The model is a VideoMAE (random init, ViT-S sized: 6 layers of 384, 16 frames at 224) saved with its video
processor, as a model trained here is. Both pipelines load that same folder. Timed separately, median of
``--repeats`` runs, the two taking turns:

- decode + preprocess (path in, normalised (clips, 16, 3, 224, 224) tensor out), at equal frame counts:
  16 frames (one clip, transformers' default call) and ``--clips`` x 16 frames (this project's whole-video
  call; for transformers the same number of frames sampled over the whole video by its video processor);
- the whole call, as a user makes it: this project with ``--clips`` clips, transformers with its default
  single 16-frame clip;
- real-time factor: the video's duration over this project's decode + preprocess time (goal: at least 30x).

    python benchmarks/bench_pipeline.py           # what `make bench` runs (first run: about 8 min to generate)
    python benchmarks/bench_pipeline.py --quick   # a 30 s video, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from common import WORK, ensure_video, machine_line

GOAL_REALTIME = 30.0


def build_model_folder(folder: Path) -> Path:
    """A ViT-S sized VideoMAE with the project's video processor, saved as training saves it."""
    from surgical_skill.models import build_model, build_video_processor

    if (folder / "config.json").exists():
        return folder
    torch.manual_seed(0)
    model = build_model(
        "videomae",
        num_labels=2,
        id2label={0: "lower-skilled", 1: "higher-skilled"},
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=6,
        intermediate_size=1536,
    )
    model.save_pretrained(folder)
    build_video_processor("videomae", config=model.config).save_pretrained(folder)
    return folder


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 30 s video instead of 5 minutes")
    parser.add_argument("--clips", type=int, default=8, help="clips per video for this project (default 8)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    from transformers import pipeline

    import surgical_skill  # noqa: F401  (registers the surgical-skill task)
    from surgical_skill.pipeline import SurgicalSkillPipeline
    from surgical_skill.video import probe
    from surgical_skill.video.metadata import _probe_cached

    seconds = 30 if args.quick else 300
    video = ensure_video(f"pipeline_{seconds}s_720p.mp4", seconds, keyframe_interval=None, seed=3)
    meta = probe(video)
    folder = build_model_folder(WORK / "videomae_s")
    print(machine_line())
    print(
        f"video: {video.name}, {meta.duration:.0f} s, {meta.width}x{meta.height}, {meta.num_frames} frames, "
        f"{len(meta.keyframes)} keyframes; model: VideoMAE ViT-S (random init), 16 frames at 224"
    )
    torch.set_num_threads(torch.get_num_threads())
    ours = pipeline("surgical-skill", model=str(folder), pipeline_class=SurgicalSkillPipeline)
    theirs = pipeline("video-classification", model=str(folder))
    frames = ours.sampling.num_frames
    path = str(video)

    def ours_preprocess(clips: int):
        def run():
            _probe_cached.cache_clear()  # a new video: pay for the probe
            return ours.preprocess(path, num_clips=clips)["pixel_values"]

        return run

    def theirs_preprocess(count: int):
        return lambda: theirs.preprocess(path, num_frames=count)["pixel_values"]

    rows = []
    for count in (frames, args.clips * frames):
        clips = count // frames
        # warm-up (file cache, thread pools), then the two take turns
        ours_preprocess(clips)()
        theirs_preprocess(count)()
        t_ours, x_ours = median_time(ours_preprocess(clips), args.repeats)
        t_theirs, x_theirs = median_time(theirs_preprocess(count), args.repeats)
        assert x_ours.shape[0] * x_ours.shape[1] == count and x_theirs.numel() == x_ours.numel(), (
            x_ours.shape,
            x_theirs.shape,
        )
        rows.append({"frames": count, "ours_s": t_ours, "transformers_s": t_theirs, "ratio": t_theirs / t_ours})

    def ours_call():
        _probe_cached.cache_clear()
        return ours(path, num_clips=args.clips)

    def theirs_call():
        return theirs(path)

    ours_call(), theirs_call()
    t_ours_call, result = median_time(ours_call, args.repeats)
    t_theirs_call, _ = median_time(theirs_call, args.repeats)
    decode_whole = rows[-1]["ours_s"]
    realtime = meta.duration / decode_whole

    print()
    print("| frames | this project, decode + preprocess | transformers, decode + preprocess | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['frames']} | {row['ours_s']:.2f} s | {row['transformers_s']:.2f} s | "
            f"{row['ratio']:.1f}x faster |"
        )
    print()
    print(
        f"whole call: this project {args.clips} clips ({args.clips * frames} frames over the whole video) "
        f"{t_ours_call:.2f} s; transformers' default (one {frames}-frame clip) {t_theirs_call:.2f} s"
    )
    print(
        f"real-time factor (decode + preprocess of the whole-video sample): {realtime:.0f}x "
        f"(whole call with the model: {meta.duration / t_ours_call:.0f}x)"
    )
    print(f"result: {result['label']} {result['score']:.3f}, {len(result['clips'])} clips")
    met = realtime >= GOAL_REALTIME
    print(
        f"goal: decoding at least {GOAL_REALTIME:.0f}x faster than real time: "
        + ("met" if met else "MISSED")
        + ("" if not args.quick else " (quick run: the goal is for the 5-minute video)")
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "video_seconds": meta.duration,
                    "rows": rows,
                    "ours_call_s": t_ours_call,
                    "transformers_call_s": t_theirs_call,
                    "realtime_factor": realtime,
                },
                indent=2,
            )
        )
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
