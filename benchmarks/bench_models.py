"""Model benchmark: parameters and CPU forward time per clip of every registered model at its default size.

Each model is built by `build_model(name)` with its registry defaults (random weights), fed one clip of the
size its video processor asks for (frames x crop), in inference mode. Time is the median of `--repeats`
forward passes after one warm-up (one pass when the warm-up took over 2 s; the warm-up itself when it took
over 10 s), with all cores; a training
step costs roughly three forward passes.

    python benchmarks/bench_models.py                 # what `make bench` runs
    python benchmarks/bench_models.py --only small3d r3d_18
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from common import machine_line, markdown_table, save_section
from surgical_skill.models import MODEL_REGISTRY, build_model, build_video_processor

# Too slow for a CPU run of `make bench` (V-JEPA 2 ViT-L at 64 x 256 x 256: over two minutes a pass on 2 cores);
# measured with --only.
SKIPPED_BY_DEFAULT = {"vjepa2": "ViT-L at 64 x 256 x 256 (8192 tokens): 129 s a pass on this VM on 2026-11-26"}


def clip_shape(name: str, model) -> tuple[int, int, int, int]:
    processor = build_video_processor(name, config=model.config)
    crop = processor.crop_size
    return processor.num_frames, 3, crop["height"], crop["width"]


def describe(name: str, model) -> str:
    config = model.config
    backbone = getattr(config, "backbone", None)
    if backbone:
        return f"{name} ({backbone})"
    if getattr(config, "hidden_size", None) and getattr(config, "num_hidden_layers", None):
        return f"{name} ({config.num_hidden_layers} x {config.hidden_size})"
    return name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="registry names to run (default: all but vjepa2)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    names = args.only or [name for name in MODEL_REGISTRY if name not in SKIPPED_BY_DEFAULT]
    print(machine_line(), f"torch threads {torch.get_num_threads()}")
    print(f"\n{'model':<14} {'parameters':>12} {'clip (T x H x W)':>18} {'forward / clip':>15}")
    rows = []
    for name in names:
        torch.manual_seed(0)
        model = build_model(name, id2label=["lower-skilled", "higher-skilled"]).eval()
        frames, channels, height, width = clip_shape(name, model)
        batch = {model.main_input_name: torch.randn(1, frames, channels, height, width)}
        with torch.inference_mode():
            started = time.perf_counter()
            model(**batch)  # warm-up
            warm_up = time.perf_counter() - started
            times = [warm_up]
            if warm_up < 10:  # a model that takes longer than that is timed by this one pass
                times = []
                # a pass over 2 s (the Kinetics-sized 3D CNNs and ViTs) is timed once more, not --repeats times
                for _ in range(args.repeats if warm_up < 2 else 1):
                    started = time.perf_counter()
                    model(**batch)
                    times.append(time.perf_counter() - started)
        parameters = sum(p.numel() for p in model.parameters())
        seconds = statistics.median(times)
        shape = f"{frames} x {height} x {width}"
        print(f"{name:<14} {parameters / 1e6:>10.2f} M {shape:>18} {seconds * 1000:>12.0f} ms", flush=True)
        rows.append(
            {
                "model": describe(name, model),
                "parameters_m": round(parameters / 1e6, 2),
                "clip": shape,
                "forward_ms": round(seconds * 1000),
                "one_pass": len(times) == 1,
            }
        )
        del model
    if args.only is None:
        table = markdown_table(
            ["model", "parameters", "clip (frames x H x W)", "forward / clip"],
            [
                [
                    r["model"],
                    f"{r['parameters_m']:.2f} M",
                    r["clip"],
                    f"{r['forward_ms']} ms" + (" (one pass)" if r["one_pass"] else ""),
                ]
                for r in rows
            ]
            + [
                [name, "", "", f"not in `make bench`: {why} (`--only {name}`)"]
                for name, why in SKIPPED_BY_DEFAULT.items()
            ],
        )
        fastest = min(rows, key=lambda r: r["forward_ms"])
        slowest = max(rows, key=lambda r: r["forward_ms"])
        save_section(
            "models",
            "Models: parameters and CPU forward time",
            f"""
Parameters and CPU forward time for one clip (batch 1, inference mode, {torch.get_num_threads()} threads) of every
registered model at its default size: `build_model(name)` with registry defaults (random weights) and the clip
its video processor asks for; median of {args.repeats} passes after a warm-up (one pass for a model whose warm-up took over
2 s; the warm-up itself over 10 s). A training step costs roughly three
forward passes; batching amortises part of it. From {fastest["model"]} ({fastest["forward_ms"]} ms) to
{slowest["model"]} ({slowest["forward_ms"]} ms): the transformer models are meant for a GPU.

{table}
""",
            rows,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
