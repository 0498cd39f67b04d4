"""Assemble benchmarks/README.md from the sections the benchmark scripts saved (benchmarks/_work/results/).

Nothing in the README is typed by hand: each section's prose and tables are computed by its script from the
numbers it measured, and this script adds where and when. `make bench` runs it last (through run_all.py).

    python benchmarks/render_readme.py          # rebuild the README from the saved sections
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "_work" / "results"
README = HERE / "README.md"

# (section name, the script that measures it); the README follows this order
SECTIONS = [
    ("decode", "bench_decode.py"),
    ("pipeline", "bench_pipeline.py"),
    ("data", "bench_data.py"),
    ("train", "bench_train.py"),
    ("memory", "bench_memory.py"),
    ("models", "bench_models.py"),
    ("gpu", "gpu/bench_gpu.py"),
]
GPU_SECTION = HERE / "gpu" / "section.json"  # committed: the last run on a GPU machine

INTRO = """# Benchmarks

Side-by-side comparisons against what a user would otherwise reach for, measured in one run, with ratios.
`make bench` runs every script (`benchmarks/run_all.py`) and then rebuilds this file from what they measured:
each section's text and tables are computed from that run's numbers, nothing here is typed by hand. Each script
also runs alone (`python benchmarks/<script>.py --help`; `--quick` for a smoke run). Generated inputs (720p
h264 recordings with textured moving content; long recordings are remuxed copies of a one-minute one) are
cached in `benchmarks/_work/`, which is not committed.
"""


def load_sections() -> list[tuple[str, str, dict | None]]:
    loaded = []
    for name, script in SECTIONS:
        path = RESULTS / f"{name}.json"
        if name == "gpu" and not path.exists() and GPU_SECTION.exists():
            path = GPU_SECTION
        record = json.loads(path.read_text()) if path.exists() else None
        loaded.append((name, script, record))
    return loaded


def machine_text(machine: dict) -> str:
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    gpu = machine.get("gpu") or "no GPU"
    ffmpeg = f"; PyAV's FFmpeg {machine['pyav_ffmpeg']}" if machine.get("pyav_ffmpeg") else ""
    system = f", system FFmpeg {machine['system_ffmpeg']}" if machine.get("system_ffmpeg") else ""
    return (
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, {gpu}; {machine['os']}; "
        f"Python {machine['python']}; {versions}{ffmpeg}{system}"
    )


def render(sections: list[tuple[str, str, dict | None]], timings: dict | None = None) -> str:
    parts = [INTRO]
    measured = [record for _, _, record in sections if record]
    machines = {machine_text(record["machine"]) for record in measured}
    if len(machines) == 1:
        parts.append(f"Every section below was measured on: {machines.pop()}.\n")
    rows = []
    for name, script, record in sections:
        if record is None:
            rows.append(f"| {name} | not measured yet (`python benchmarks/{script}`) | | |")
            continue
        goal = {True: "met", False: "**missed**", None: "(no goal)"}[record.get("goals_met")]
        took = ""
        if timings and name in timings:
            took = f"{timings[name]:.0f} s"
        rows.append(f"| [{record['title']}](#{anchor(record['title'])}) | {goal} | {record['date']} | {took} |")
    parts.append("| section | goals | measured | time in `make bench` |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
    if timings and "total" in timings:
        parts.append(f"The whole `make bench` took {timings['total'] / 60:.1f} minutes.\n")
    for name, script, record in sections:
        if record is None:
            title = "GPU" if name == "gpu" else name
            parts.append(
                f"## {title}\n\nNot measured yet: run `python benchmarks/{script}`"
                + (" on a machine with an NVIDIA GPU (on a CPU it skips in one line)." if name == "gpu" else ".")
                + "\n"
            )
            continue
        parts.append(f"## {record['title']}\n\n{record['markdown']}")
        where = machine_text(record["machine"])
        parts.append(f"*Measured {record['date']} by `python benchmarks/{script}` on {where}.*\n")
    return "\n".join(parts)


def anchor(title: str) -> str:
    keep = [c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_"]
    return "".join(keep)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timings", type=Path, default=None, help="run_all.py's per-script seconds (JSON)")
    parser.add_argument("--output", type=Path, default=README)
    args = parser.parse_args(argv)
    timings = json.loads(args.timings.read_text()) if args.timings and args.timings.exists() else None
    text = render(load_sections(), timings)
    partial = args.output.with_name(f".{args.output.name}.partial")
    partial.write_text(text)
    partial.replace(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
