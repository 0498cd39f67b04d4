"""The ``surgical-skill`` command.

Each subcommand is one small function registered in ``COMMANDS``; later features add theirs there.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

EPILOG = """examples:
  surgical-skill probe video.mp4               frame count, fps, duration, size, rotation, keyframes
  surgical-skill probe videos/*.mp4 --json     one JSON object per line
"""


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    example: str = ""


def _add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="+", help="video files to probe")
    parser.add_argument("--json", action="store_true", help="print one JSON object per video instead of a table")


def _run_probe(args: argparse.Namespace) -> int:
    from .video import VideoDecodeError, probe

    failed = 0
    for path in args.videos:
        try:
            info = probe(path).to_dict()
        except VideoDecodeError as err:
            failed += 1
            if args.json:
                print(json.dumps({"path": path, "error": err.reason}))
            else:
                print(f"{path}: ERROR {err.reason}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(info))
        else:
            vfr = " (variable)" if info["is_variable_frame_rate"] else ""
            header = info["num_frames_from_header"]
            lie = f" (header says {header})" if header and header != info["num_frames"] else ""
            print(
                f"{path}: {info['num_frames']} frames{lie}, {info['fps']:.3f} fps{vfr}, {info['duration']:.2f} s, "
                f"{info['width']}x{info['height']}, rotation {info['rotation']}, {info['codec']} "
                f"{info['pixel_format']}, {info['num_keyframes']} keyframes (longest GOP {info['max_gop']})"
            )
    return 1 if failed else 0


COMMANDS: dict[str, Command] = {
    "probe": Command(
        help="print what a video holds: frames, fps, duration, size, rotation, codec, keyframes",
        add_arguments=_add_probe_arguments,
        run=_run_probe,
        example="surgical-skill probe video.mp4 --json",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="surgical-skill",
        description="Judge surgical skill from video on the Hugging Face stack.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(
            name,
            help=command.help,
            description=command.help,
            epilog=f"example:\n  {command.example}" if command.example else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    return args._run(args)


if __name__ == "__main__":
    sys.exit(main())
