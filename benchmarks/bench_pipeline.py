"""Whole-video inference: `pipeline("surgical-skill")` against transformers' own `pipeline("video-classification")`
with the same model, on a 5-minute 1280x720 30 fps h264 recording (five copies of the decode benchmark's generated
minute, x264 medium, default keyframe interval, remuxed into one file).

The model is a VideoMAE (random init, ViT-S sized: 6 layers of 384, 16 frames at 224) saved with its video
processor, as a model trained here is, twice: with `clip` sampling (16 consecutive frames, every 2nd: about a
second of motion; what the demo, r3d_18 and cnn_rnn recipes use) and with `uniform` (TSN) sampling (16 frames
spread over the whole video; the videomae and timesformer recipes). All pipelines load the same weights.
Timed separately, median of ``--repeats`` runs:

- decode + preprocess (path in, normalised (frames, 3, 224, 224) out) at equal frame counts (uniform against
  uniform is the like-for-like comparison; clip sampling shows what that choice costs instead): 16 frames
  (transformers' default call: one clip) and ``--clips`` x 16 (this project's default whole-video call; for
  transformers, as many frames sampled over the whole video by its video processor);
- the whole call as a user makes it (this project: ``--clips`` clips with clip sampling; transformers: its default);
- the real-time factor (video duration / decode + preprocess of this project's whole-video sample), against the
  floor of any exact decoder of this file: decoding every reference frame once (FFmpeg skipping only
  non-reference frames), which uniform sampling over every GOP cannot beat.

Goal (issue 8): the whole-video sample decodes at least 30x faster than real time on 2 cores (checked for clip
sampling; uniform sampling over every GOP is reported against the decoder's own bound).

    python benchmarks/bench_pipeline.py           # what `make bench` runs
    python benchmarks/bench_pipeline.py --quick   # a 1-minute video, for a smoke run (not saved)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from common import WORK, ensure_long_video, ensure_video, machine_line, markdown_table, save_section

GOAL_REALTIME = 30.0


def build_model_folder(folder: Path, **sampling) -> Path:
    """A ViT-S sized VideoMAE with its video processor (and ``sampling``), saved as training saves it."""
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
    build_video_processor("videomae", config=model.config, **sampling).save_pretrained(folder)
    return folder


def reference_frame_floor(path: str) -> float:
    """Seconds to decode every reference frame of ``path`` once (non-reference frames skipped, nothing
    converted): what any exact decoder pays when the wanted frames touch every GOP."""
    import av

    started = time.perf_counter()
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.skip_frame = "NONREF"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - started


def median_time(fn, repeats: int) -> tuple[float, object]:
    """Median of ``repeats`` timed runs after a warm-up; a warm-up that takes over 3 s (a call that decodes a
    whole file: thread pools are a rounding error there) counts as a run, and only two runs are made."""
    started = time.perf_counter()
    result = fn()
    first = time.perf_counter() - started
    times = [first] if first > 3 else []
    for _ in range(repeats - 1 if first > 3 else repeats):
        if first > 3 and len(times) >= 2:
            break
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 1-minute video instead of 5 (not saved)")
    parser.add_argument("--clips", type=int, default=8, help="clips per video for this project (default 8)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    from transformers import pipeline

    import surgical_skill  # noqa: F401  (registers the surgical-skill task)
    from surgical_skill.pipeline import SurgicalSkillPipeline
    from surgical_skill.video import probe
    from surgical_skill.video.metadata import _probe_cached

    copies = 1 if args.quick else 5  # minutes: five back-to-back copies of the decode benchmark's minute, remuxed
    minute = ensure_video("bench_60s_720p_keyint_default.mp4", 60, None)
    video = ensure_long_video(f"pipeline_{copies}min_720p.mp4", minute, copies)
    path = str(video)
    meta = probe(video)
    variants = {
        "clip": build_model_folder(WORK / "videomae_s_clip", sampling_strategy="clip", frame_stride=2),
        "uniform": build_model_folder(WORK / "videomae_s_uniform", sampling_strategy="uniform"),
    }
    print(machine_line())
    print(
        f"video: {video.name}, {meta.duration:.0f} s, {meta.width}x{meta.height}, {meta.total_num_frames} frames, "
        f"{len(meta.keyframe_indices)} keyframes; model: VideoMAE ViT-S (random init), 16 frames at 224"
    )
    ours = {
        name: pipeline("surgical-skill", model=str(folder), pipeline_class=SurgicalSkillPipeline)
        for name, folder in variants.items()
    }
    theirs = pipeline("video-classification", model=str(variants["uniform"]))
    frames = ours["clip"].sampling.num_frames

    def ours_preprocess(name: str, clips: int):
        def run():
            _probe_cached.cache_clear()  # a new video: pay for the probe
            # preprocess yields the clips a batch at a time (then the video's info): all of them, as a call does
            batches = ours[name].preprocess(path, num_clips=clips)
            pixels = [batch["pixel_values"] for batch in batches if "pixel_values" in batch]
            return pixels[0] if len(pixels) == 1 else torch.cat(pixels)

        return run

    def theirs_preprocess(count: int):
        return lambda: theirs.preprocess(path, num_frames=count)["pixel_values"]

    floor, _ = median_time(lambda: reference_frame_floor(path), args.repeats)
    rows = []
    for count in (frames, args.clips * frames):
        clips = count // frames
        row = {"frames": count}
        for key, run in (
            ("clip", ours_preprocess("clip", clips)),
            ("uniform", ours_preprocess("uniform", clips)),
            ("transformers", theirs_preprocess(count)),
        ):
            row[key], pixels = median_time(run, args.repeats)
            assert pixels.numel() == count * 3 * 224 * 224, (key, pixels.shape)
        rows.append(row)

    calls = {}

    def ours_call():
        _probe_cached.cache_clear()
        return ours["clip"](path, num_clips=args.clips)

    calls["clip"], result = median_time(ours_call, args.repeats)
    calls["transformers"], _ = median_time(lambda: theirs(path), args.repeats)
    # uniform sampling's whole call is its decode + preprocess (in the table) plus the same forward passes
    calls["uniform"] = rows[-1]["uniform"] + (calls["clip"] - rows[-1]["clip"])
    whole = rows[-1]
    realtime = {name: meta.duration / whole[name] for name in ("clip", "uniform")}

    table = markdown_table(
        [
            "frames decoded + preprocessed",
            "transformers (uniform)",
            "this project, uniform (same sampling)",
            "this project, clip sampling",
        ],
        [
            [
                row["frames"],
                f"{row['transformers']:.2f} s",
                f"{row['uniform']:.2f} s ({row['transformers'] / row['uniform']:.2f}x)",
                f"{row['clip']:.2f} s",
            ]
            for row in rows
        ],
    )
    print("\n" + table)
    met = realtime["clip"] >= GOAL_REALTIME
    like_for_like = [row["transformers"] / row["uniform"] for row in rows]
    floor_rtf = meta.duration / floor
    markdown = f"""
`pipeline("surgical-skill")` against transformers' own `pipeline("video-classification")` loading the same folder:
a VideoMAE (ViT-S sized, random init, 16 frames at 224) saved with its video processor as training saves it, once
with `clip` sampling (16 consecutive frames, every 2nd: about a second of motion, as the demo, r3d_18 and cnn_rnn
recipes sample) and once with `uniform` (TSN) sampling (as the videomae and timesformer recipes do). Input: a
{meta.duration / 60:.0f}-minute 1280x720 30 fps h264 recording ({meta.total_num_frames} frames,
{len(meta.keyframe_indices)} keyframes: {copies} back-to-back copies of the decode benchmark's default-keyframe
minute, remuxed). Decode + preprocess = path in, normalised (frames, 3, 224, 224) float tensor out, probe
included; median of {args.repeats} runs after a warm-up (2 runs, the first counted, for calls over 3 s).
transformers' pipeline decodes through torchcodec (exact seek) and samples its frames uniformly over the whole
video; at {args.clips * frames} frames it was asked for {args.clips * frames} frames, the same count as this
project's {args.clips} clips x {frames} (fed to the model as one clip, which VideoMAE cannot take, so only its
preprocessing is timed there).

{table}

- Like for like (uniform against uniform), this project takes {1 / like_for_like[0]:.2f}x transformers' time at
  {rows[0]["frames"]} frames and {1 / like_for_like[-1]:.2f}x at {rows[-1]["frames"]}. The clip-sampling column is
  a different choice of frames, not a faster implementation: {args.clips} clips of {frames} consecutive frames
  touch a keyframe interval or two each instead of all {len(meta.keyframe_indices)}, which makes it
  {whole["uniform"] / whole["clip"]:.1f}x cheaper than uniform sampling here.
- Whole call as a user makes it: this project, {args.clips} clips, label + probabilities + timeline:
  {calls["clip"]:.1f} s with clip sampling (about {calls["uniform"]:.1f} s with uniform sampling: its decode +
  preprocess above plus the same forward passes); transformers' default call, one {frames}-frame clip and a bare
  label: {calls["transformers"]:.1f} s.
- Real-time factor of the whole-video sample (decode + preprocess): **{realtime["clip"]:.0f}x with clip
  sampling** (goal of issue 8: {GOAL_REALTIME:.0f}x, {"met" if met else "**missed**"});
  {realtime["uniform"]:.0f}x with uniform sampling.
- Uniform sampling at {rows[-1]["frames"]} frames touches nearly every GOP, so any exact decoder must decode nearly every
  reference frame of the file: doing just that (FFmpeg through PyAV, non-reference frames skipped, nothing
  converted) takes {floor:.2f} s here ({floor_rtf:.0f}x real time), against this project's
  {whole["uniform"]:.2f} s: the decoder, not the toolkit, sets that bound. For uniform sampling of long
  recordings, prepare proxies (`surgical-skill prepare`: 10 fps, a keyframe every second; see the data section)
  or use clip sampling.
"""
    print(markdown)
    print(f"result: {result['label']} {result['score']:.3f}, {len(result['clips'])} clips")
    data = {
        "video_seconds": meta.duration,
        "rows": rows,
        "calls_s": calls,
        "realtime_factor": realtime,
        "reference_frame_floor_s": floor,
    }
    if args.json:
        args.json.write_text(json.dumps(data, indent=2))
    if not args.quick:
        save_section(
            "pipeline", "Whole-video inference: the pipeline against transformers'", markdown, data, goals_met=met
        )
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
