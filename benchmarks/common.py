"""Shared by the benchmarks: generated 720p inputs (made once, cached in benchmarks/_work/), the machine's
description, and each benchmark's results, which `render_readme.py` turns into benchmarks/README.md.

Every benchmark script ends with :func:`save_section`: a Markdown section whose text and tables are computed
from the numbers it just measured (never typed by hand), plus the raw numbers as JSON.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import subprocess
import time
from pathlib import Path

import av
import torch

from surgical_skill.testing_utils import make_test_video

WORK = Path(__file__).parent / "_work"
RESULTS = WORK / "results"


def ensure_video(name: str, seconds: int, keyframe_interval: int | None, seed: int = 1) -> Path:
    """A ``seconds`` long 1280x720 30 fps h264 video of textured moving content (x264 medium, CRF 23)."""
    WORK.mkdir(exist_ok=True)
    path = WORK / name
    if not path.exists():
        print(f"generating {path.name} ({seconds} s, 1280x720, 30 fps) ...", flush=True)
        started = time.perf_counter()
        partial = path.with_name(f".partial-{path.name}")
        make_test_video(
            partial, seconds * 30, fps=30, height=720, width=1280, keyframe_interval=keyframe_interval, seed=seed
        )
        partial.replace(path)
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def ensure_long_video(name: str, source: Path, copies: int, *, title: str | None = None) -> Path:
    """``copies`` back-to-back copies of ``source`` in one file, remuxed (no re-encoding: seconds, not hours).

    The result has the source's encoding, keyframe layout and bitrate throughout, so an hour-long 720p
    recording costs one minute of generation. Timestamps are shifted so the file plays as one recording.
    ``title`` goes into the container's metadata: with ``copies=1``, a file of the same frames but other bytes
    (the proxy cache, keyed by content, then treats it as a recording of its own).
    """
    WORK.mkdir(exist_ok=True)
    path = WORK / name
    if path.exists():
        return path
    partial = path.with_name(f".partial-{path.name}")
    with av.open(str(source)) as first:
        in_stream = first.streams.video[0]
        duration_ticks = None
        with av.open(str(partial), "w") as out:
            if title is not None:
                out.metadata["title"] = title
            out_stream = out.add_stream_from_template(in_stream)
            offset = 0
            for _ in range(copies):
                last = 0
                with av.open(str(source)) as container:
                    stream = container.streams.video[0]
                    for packet in container.demux(stream):
                        if packet.dts is None:
                            continue
                        packet.pts += offset
                        packet.dts += offset
                        last = max(last, packet.pts + (packet.duration or 0))
                        packet.stream = out_stream
                        out.mux(packet)
                duration_ticks = last - offset if duration_ticks is None else duration_ticks
                offset += duration_ticks
    partial.replace(path)
    return path


def ensure_recordings(count: int = 4) -> list[Path]:
    """``count`` 60 s 720p recordings with x264's default keyframe interval: the generated minute and remuxed copies
    of it under other titles (the same frames in other bytes: the proxy cache, keyed by content, prepares each as a
    recording of its own), instead of encoding more minutes of 720p (about 2 minutes each on 2 cores)."""
    first = ensure_video("bench_60s_720p_keyint_default.mp4", 60, None, seed=1)
    copies = [
        ensure_long_video(f"bench_60s_720p_keyint_default_copy{i}.mp4", first, 1, title=f"copy {i}")
        for i in range(2, count + 1)
    ]
    return [first, *copies]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict:
    """What a reader needs to compare these figures with their own: CPU, cores, memory, GPU, versions."""
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory_gb = float("nan")
    ffmpeg = None
    if shutil.which("ffmpeg"):
        try:
            ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, timeout=10).stdout
            ffmpeg = ffmpeg.split("\n", 1)[0].split(" Copyright")[0].replace("ffmpeg version ", "")
        except (OSError, subprocess.SubprocessError):
            ffmpeg = None
    return {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {
            name: _version(name)
            for name in ("torch", "torchvision", "transformers", "accelerate", "datasets", "av", "torchcodec")
        },
        "pyav_ffmpeg": ".".join(str(part) for part in av.ffmpeg_version_info.split(".")[:3])
        if isinstance(getattr(av, "ffmpeg_version_info", None), str)
        else None,
        "system_ffmpeg": ffmpeg,
    }


def machine_line() -> str:
    info = machine_info()
    return (
        f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB, "
        f"gpu {info['gpu'] or 'none'}, python {info['python']}, torch {info['versions']['torch']}, "
        f"av {info['versions']['av']}"
    )


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory of this process (or of its largest finished child) in MB.

    For this process it is the kernel's high-water mark of its own memory (``VmHWM``): ``ru_maxrss`` of a process
    started by ``subprocess`` also counts the memory of the process that started it (Linux carries the peak of
    the pre-``exec`` image over), so a fresh process measured that way never reports less than its parent held.
    Since :func:`reset_peak_rss` it is the peak since then. ``children=True`` reads ``ru_maxrss`` of finished
    children: right for forked workers (their resident pages include those shared with the parent), but for a
    child that ran another program it is at least this process's size at the time (measure inside it instead).
    """
    if not children:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
        except OSError:
            pass
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def rss_mb() -> float:
    """Resident memory of this process now, in MB (``VmRSS``; Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmRSS in /proc/self/status")


def reset_peak_rss() -> bool:
    """Restart this process's peak-memory mark at its present size (Linux 4.0+), so that :func:`peak_rss_mb`
    then measures the work that follows, not imports and loading before it. False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def save_section(name: str, title: str, markdown: str, data: object, *, goals_met: bool | None = None) -> Path:
    """Record one benchmark's section for benchmarks/README.md: ``markdown`` (computed from ``data``), the raw
    numbers, when and where they were measured. `render_readme.py` assembles the sections."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {
        "name": name,
        "title": title,
        "markdown": markdown.strip() + "\n",
        "data": data,
        "goals_met": goals_met,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
    }
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(record, indent=2, default=str))
    partial.replace(path)
    print(f"section '{title}' saved to {path}")
    return path


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
