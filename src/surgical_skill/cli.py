"""The ``surgical-skill`` command.

Each subcommand is one small function registered in ``COMMANDS``; later features add theirs there.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from datasets import concatenate_datasets
from tqdm.auto import tqdm

from . import __version__
from .data import load_skill_dataset
from .data.building import VIDEO_EXTENSIONS, check_row_sources, read_manifest
from .data.synthetic import SyntheticConfig, generate_dataset, is_generated, save_previews
from .errors import DEBUG_ENV, USAGE_EXIT_CODE, UsageError, run_reporting_errors
from .evaluation.baselines import SCALAR_BASELINES, static_baselines
from .evaluation.compare import compare_reports
from .evaluation.evaluate import parse_label_map
from .evaluation.plots import prediction_timeline
from .files import unwritable_reason, write_json_atomic
from .hub import prepare_hub_folder, push_run
from .limits import ResourceLimitError
from .models import check_device
from .pipeline import SurgicalSkillPipeline, load_pipeline
from .training.runs import audit_run, evaluate_saved_model, run_score_names
from .video import ProxySettings, VideoDecodeError, prepare_proxies, probe

EPILOG = """examples:
  surgical-skill probe video.mp4               frame count, fps, duration, size, rotation, keyframes
  surgical-skill probe videos/*.mp4 --json     one JSON object per line
  surgical-skill prepare ratings.csv --cache-dir proxies/    transcode every video once to a fast training proxy
  surgical-skill synth data/synthetic --num-videos 120        built-in suturing videos, skill in the motion
  surgical-skill predict trial.mp4 --model runs/demo/model --plot timelines/   score whole videos
  surgical-skill evaluate runs/demo --output-dir again/   a run again, on exactly its own held-out surgeons
  surgical-skill evaluate runs/demo --dataset other.csv      the same model on new data (said so in the report)
  surgical-skill inspect JIGSAWS --protocol jigsaws-louo   videos, surgeons, targets, problems, each fold
  surgical-skill audit ratings.csv             can duration, file size or one frame predict the label?
  surgical-skill compare report-a/ report-b/ --json comparison.json   is model B really better than A?
  surgical-skill push runs/demo --repo-id my-lab/suturing-skill   model, processor, code, card, report -> Hub
  surgical-skill app --model runs/demo/model   a web page: upload recordings, see the skill and when it shows
"""


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    example: str = ""


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line that points to ``--help`` (the usage block of a command with
    a dozen options would bury the one line that matters)."""

    def error(self, message: str):
        self.exit(USAGE_EXIT_CODE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _counted(minimum: int):
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _number_where(holds: Callable[[float], bool], rule: str) -> Callable[[str], float]:
    """An argparse type: a number for which ``holds`` is true (``rule`` says which, in the error)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not holds(value):  # comparisons are false for nan, so it is refused too
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value

    return parse


_positive_number = _number_where(lambda value: value > 0, "above 0")
_probability = _number_where(lambda value: 0.0 <= value <= 1.0, "a probability in [0, 1]")


POSITIVE = _counted(1)
NON_NEGATIVE = _counted(0)


def _check_writable(path: str | None, flag: str, *, folder: bool = False) -> None:
    """Refuse an output target that cannot be written before any work, so no result is computed and then lost."""
    reason = unwritable_reason(path, folder=folder) if path else None
    if reason:
        raise UsageError(f"{flag} {path}: {reason}; give another {'folder' if folder else 'file'} (nothing was done)")


def _write_json(path: str, payload, what: str) -> None:
    """A command's ``--json PATH`` output (folders made as needed, written atomically), said in one line."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, payload)
    print(f"{what}: {path}")


def _add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="+", help="video files to probe")
    parser.add_argument("--json", action="store_true", help="print one JSON object per video instead of a table")
    parser.add_argument(
        "--allow-urls",
        action="store_true",
        help="let VIDEOS be http(s) URLs (off: every argument is a local file; other protocols are always refused)",
    )


def _run_probe(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.videos:
        try:
            info = probe(path, allow_urls=args.allow_urls).to_dict()
        except (VideoDecodeError, ResourceLimitError) as err:
            failed += 1
            reason = err.reason if isinstance(err, VideoDecodeError) else str(err)
            if args.json:
                print(json.dumps({"path": path, "error": reason}))
            else:
                print(f"{path}: ERROR {reason}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(info))
        else:
            vfr = " (variable)" if info["is_variable_frame_rate"] else ""
            header = info["total_num_frames_from_header"]
            lie = f" (header says {header})" if header and header != info["total_num_frames"] else ""
            print(
                f"{path}: {info['total_num_frames']} frames{lie}, {info['fps']:.3f} fps{vfr}, {info['duration']:.2f} s, "
                f"{info['width']}x{info['height']}, rotation {info['rotation']}, {info['codec']} "
                f"{info['pixel_format']}, {info['num_keyframes']} keyframes (longest GOP {info['max_gop']})"
            )
    return 1 if failed else 0


def _add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ProxySettings()
    parser.add_argument("sources", nargs="+", help="video files, folders of videos, or CSV/JSONL manifests")
    parser.add_argument("--cache-dir", required=True, help="folder for the proxies (and their index.jsonl)")
    parser.add_argument("--short-side", type=POSITIVE, default=defaults.short_side, help="proxy short side in pixels")
    parser.add_argument("--fps", type=_positive_number, default=defaults.fps, help="proxy frame rate (never raised)")
    parser.add_argument(
        "--keyframe-seconds",
        type=_positive_number,
        default=defaults.keyframe_interval_seconds,
        help="seconds between keyframes (short = cheap seeking)",
    )
    parser.add_argument(
        "--crf", type=NON_NEGATIVE, default=defaults.crf, help="x264 quality (lower is better and larger)"
    )
    parser.add_argument("--preset", default=defaults.preset, help="x264 speed preset")
    parser.add_argument("--workers", type=POSITIVE, default=None, help="parallel transcodes (default: one per core)")
    _add_source_arguments(parser)


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """--allow-urls and --root: what a dataset's video paths may open (see load_skill_dataset)."""
    parser.add_argument(
        "--allow-urls",
        action="store_true",
        help="let video paths in the data be http(s) URLs (other protocols, such as file: or tcp:, are always "
        "refused)",
    )
    parser.add_argument(
        "--root",
        dest="video_root",  # inspect's positional is called root
        default=None,
        metavar="DIR",
        help="refuse any video path that does not resolve (.. and symlinks followed) inside DIR; for data from "
        "someone else",
    )


def _collect_videos(sources: Sequence[str], *, allow_urls: bool = False, root: str | None = None) -> list[str]:
    """The videos to prepare, each checked as a dataset's rows are (check_row_sources), before any is opened."""
    videos: list[str] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
            check_row_sources([{"video": v} for v in found], source, found, allow_urls=allow_urls, root=root)
        elif path.suffix.lower() in (".csv", ".jsonl", ".json"):
            rows = [{"video": row["video"]} for row in read_manifest(path)[0] if row.get("video")]
            check_row_sources(rows, source, allow_urls=allow_urls, root=root)
            found = [row["video"] for row in rows]
        else:
            check_row_sources([{"video": source}], "the command line", [source], allow_urls=allow_urls, root=root)
            found = [source]
        videos += found
    return videos


def _run_prepare(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    settings = ProxySettings(
        short_side=args.short_side,
        fps=args.fps,
        keyframe_interval_seconds=args.keyframe_seconds,
        crf=args.crf,
        preset=args.preset,
    )
    videos = _collect_videos(args.sources, allow_urls=args.allow_urls, root=args.video_root)
    if not videos:
        raise UsageError(
            f"no videos found in {', '.join(args.sources)}: give video files, folders holding videos "
            f"({', '.join(VIDEO_EXTENSIONS)}) or CSV/JSONL manifests"
        )
    report = prepare_proxies(videos, args.cache_dir, settings, workers=args.workers)
    print(report.summary())
    for source, reason in report.failures.items():
        print(f"FAILED {source}: {reason}", file=sys.stderr)
    return 1 if report.failures else 0


def _add_synth_arguments(parser: argparse.ArgumentParser) -> None:
    d = SyntheticConfig()
    parser.add_argument("out_dir", help="folder for videos/ and metadata.csv")
    parser.add_argument("--num-videos", type=POSITIVE, default=d.num_videos, help="how many videos (classes balanced)")
    parser.add_argument(
        "--classes",
        type=int,
        choices=(2, 3),
        default=d.num_classes,
        help="2: lower-/higher-skilled; 3: novice/intermediate/expert",
    )
    parser.add_argument("--trials-per-subject", type=POSITIVE, default=d.trials_per_subject, help="videos per surgeon")
    parser.add_argument("--size", type=POSITIVE, nargs=2, metavar=("HEIGHT", "WIDTH"), default=(d.height, d.width))
    parser.add_argument("--fps", type=_positive_number, default=d.fps)
    parser.add_argument(
        "--duration",
        type=_positive_number,
        default=d.duration,
        help="seconds for a mid-skill trial (skill and personal pace change it)",
    )
    parser.add_argument("--camera-shake", action="store_true", help="add a slight hand-held camera wobble")
    parser.add_argument(
        "--outcome-cues",
        action="store_true",
        help="a static cue: the finished suture (last frame) shows the skill (off: only the motion does)",
    )
    parser.add_argument(
        "--duration-cue", action="store_true", help="a static cue: less skilled surgeons take longer (off: no)"
    )
    parser.add_argument("--noise", type=float, default=d.noise, help="camera noise (std, 8-bit levels)")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--workers", type=POSITIVE, default=None, help="parallel renderers (default: one per core)")
    parser.add_argument("--preview", action="store_true", help="also save a PNG frame of each class")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="do nothing when OUT_DIR already holds these videos (same settings, same generator version)",
    )


def _run_synth(args: argparse.Namespace) -> int:
    config = SyntheticConfig(
        num_videos=args.num_videos,
        num_classes=args.classes,
        trials_per_subject=args.trials_per_subject,
        height=args.size[0],
        width=args.size[1],
        fps=args.fps,
        duration=args.duration,
        camera_shake=args.camera_shake,
        outcome_cues=args.outcome_cues,
        duration_cue=args.duration_cue,
        noise=args.noise,
        seed=args.seed,
    )
    if args.reuse and is_generated(args.out_dir, config):
        print(f"up to date: {args.out_dir} already holds these {config.num_videos} videos")
        return 0
    started = time.perf_counter()
    manifest = generate_dataset(args.out_dir, config, workers=args.workers, progress=True)
    print(f"wrote {config.num_videos} videos and {manifest} in {time.perf_counter() - started:.1f} s")
    if args.preview:
        for path in save_previews(args.out_dir, config):
            print(f"preview: {path}")
    return 0


def _add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="+", help="video files (or http(s) URLs, with --allow-urls)")
    parser.add_argument("--model", required=True, help="a trained model folder or Hub id")
    parser.add_argument(
        "--allow-urls",
        action="store_true",
        help="read videos given as http(s) URLs (by default every video is a local file; other protocols such as "
        "file:, tcp: or concat: are always refused)",
    )
    parser.add_argument("--num-clips", type=POSITIVE, default=8, help="clips spread over each video")
    parser.add_argument(
        "--clip-stride-seconds", type=_positive_number, default=None, help="or: one clip every n seconds"
    )
    parser.add_argument("--batch-size", type=POSITIVE, default=8, help="clips per forward pass")
    parser.add_argument(
        "--threshold",
        type=_probability,
        default=None,
        help="two classes: decide p(class 1) >= this (default: the threshold saved with the model, chosen on "
        "validation; else the largest probability)",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: GPU when present)")
    parser.add_argument("--json", default=None, metavar="PATH", help="write every result to this JSON file")
    parser.add_argument("--plot", default=None, metavar="DIR", help="write a timeline PNG per video into DIR")
    parser.add_argument(
        "--errors",
        choices=("skip", "raise"),
        default="skip",
        help="an unreadable video: report it and go on (skip), or stop (raise)",
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="load a model whose weights are only a pickle checkpoint (pytorch_model.bin), with "
        "torch.load(weights_only=True); by default only safetensors weights are loaded",
    )


def _run_predict(args: argparse.Namespace) -> int:
    _check_writable(args.json, "--json")  # before the model is loaded and the videos scored
    _check_writable(args.plot, "--plot", folder=True)
    check_device(args.device)
    # The installed code, also for Hub folders that carry their own copy (which would ask for trust_remote_code)
    skill = load_pipeline(args.model, device=args.device, allow_pickle=args.allow_pickle)
    options = {"num_clips": args.num_clips, "batch_size": args.batch_size, "allow_urls": args.allow_urls}
    if args.threshold is not None:
        options["threshold"] = args.threshold
    if args.clip_stride_seconds:
        options["clip_stride_seconds"] = args.clip_stride_seconds
    results = []
    # The pipeline logs a short video or another frame rate; here they are printed with the video's result.
    pipeline_logger = logging.getLogger(SurgicalSkillPipeline.__module__)
    level = pipeline_logger.level
    pipeline_logger.setLevel(logging.ERROR)
    try:
        for video in tqdm(args.videos, desc="Scoring", unit="video", disable=len(args.videos) < 3):
            try:
                result = skill(video, **options)
            except VideoDecodeError as err:  # too short for the model's clips too (VideoTooShortError)
                if args.errors == "raise":
                    raise
                result = {"video": video, "error": err.reason}
            results.append({"video": video, **result})
    finally:
        pipeline_logger.setLevel(level)
    decisions = {json.dumps(r["metadata"]["decision"]) for r in results if "decision" in r.get("metadata", {})}
    for decision in map(json.loads, sorted(decisions)):
        if "threshold" in decision:
            print(f"decision: {decision['rule']} {decision['threshold']:.3f}, {decision['source']}")
        else:
            print(f"decision: {decision['rule']}")
    if any("expected_score_spread" in r for r in results):
        print("sd: the standard deviation of the model's predicted score distribution (its own uncertainty)")
    width = max(len(Path(r["video"]).name) for r in results)
    for r in results:
        name = Path(r["video"]).name.ljust(width)
        if "error" in r:
            print(f"{name}  ERROR {r['error']}")
        else:
            duration = r["metadata"]["duration"]
            clips = f"{r['metadata']['clips']} clips" + (f", {duration:.1f} s" if duration else "")
            if "label" in r:
                expected = f"  expected class {r['expected_class']:.2f}" if "expected_class" in r else ""
                print(f"{name}  {r['label']:<16} {r['score']:.3f}{expected}   {clips}")
            else:
                print(f"{name}  {_scores_text(r)}   {clips}")
        for warning in r.get("metadata", {}).get("warnings", []):
            print(f"{' ' * width}  warning: {warning}")
    if args.json:
        _write_json(args.json, results, "results")
    if args.plot:
        for r in results:
            if "error" not in r:
                print(f"timeline: {prediction_timeline(r, args.plot)}")
    return 1 if any("error" in r for r in results) else 0


def _scores_text(result: dict) -> str:
    """A score model's result on one line: every score by name (``score 3.21`` for a model of one unnamed
    score), with the distribution head's own spread as ``(sd ...)`` where it has one."""
    scores = result.get("scores") or {"score": result["predicted_score"]}
    spreads = result.get("expected_score_spread", {})
    return "  ".join(
        f"{name} {value:.2f}" + (f" (sd {spreads[name]:.2f})" if name in spreads else "")
        for name, value in scores.items()
    )


def _add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run",
        nargs="?",
        metavar="RUN_OR_MODEL",
        help="a training run folder (or its model/): its own data, split and settings are used",
    )
    parser.add_argument("--model", help="the same as RUN_OR_MODEL (a run, a model folder or a Hub id)")
    parser.add_argument(
        "--dataset",
        help="data to evaluate on (default: the run's own). Another dataset is new data: all of it is scored "
        "and the report says so",
    )
    # The recipe-style spellings (recipes/evaluate.py, training's keys) are accepted too.
    parser.add_argument(
        "--output-dir",
        "--output_dir",
        dest="output_dir",
        help="report folder (default: RUN/eval, or RUN/eval-DATASET for new data)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing report in the output folder")
    parser.add_argument(
        "--split",
        default=None,
        help="the run's data: only 'test' (the default) is held out. New data: 'all' (default) or a split it has",
    )
    parser.add_argument(
        "--label-map",
        "--label_map",
        dest="label_map",
        help="dataset class -> model class, when the names differ: 'novice=lower-skilled,expert=higher-skilled' "
        "or a JSON object",
    )
    parser.add_argument(
        "--split-ratios",
        "--split_ratios",
        dest="split_ratios",
        type=float,
        nargs=3,
        default=None,
        help="only to split new data (the run's own split is always the recorded one)",
    )
    parser.add_argument("--split-seed", "--split_seed", dest="split_seed", type=int, default=None)
    parser.add_argument(
        "--clips-per-video",
        "--eval_clips_per_video",
        dest="clips_per_video",
        type=POSITIVE,
        default=None,
        help="clips spread over each video (default: the run's eval_clips_per_video)",
    )
    parser.add_argument("--num-workers", "--num_workers", dest="num_workers", type=NON_NEGATIVE, default=None)
    parser.add_argument(
        "--no-baselines",
        dest="baselines",
        action="store_false",
        help="skip the static baselines (duration, file size, single frames) beside the model",
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="load a model whose weights are only a pickle checkpoint (pytorch_model.bin), with "
        "torch.load(weights_only=True); by default only safetensors weights are loaded",
    )
    _add_source_arguments(parser)


def _run_evaluate(args: argparse.Namespace) -> int:
    if bool(args.run) == bool(args.model):
        raise UsageError("give the run or model once (RUN_OR_MODEL or --model)")
    _check_writable(args.output_dir, "--output-dir", folder=True)
    # A refusal, a model or data that cannot be read: a SurgicalSkillError, one line (main); a bug: its traceback
    evaluate_saved_model(
        args.run or args.model,
        dataset=args.dataset,
        split=args.split,
        output_dir=args.output_dir,
        overwrite=args.overwrite,
        label_map=parse_label_map(args.label_map),
        split_ratios=list(args.split_ratios) if args.split_ratios else None,
        split_seed=args.split_seed,
        clips_per_video=args.clips_per_video,
        num_workers=args.num_workers,
        baselines=args.baselines,
        allow_pickle=args.allow_pickle,
        allow_urls=args.allow_urls,
        root=args.video_root,
    )
    return 0


def _add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dataset",
        nargs="?",
        help="any source load_skill_dataset reads (manifest, class folder, save_to_disk folder, Hub id)",
    )
    parser.add_argument(
        "--run",
        help="a training run: fit on its training surgeons, score its test surgeons, and compare with its model",
    )
    parser.add_argument("--folds", type=_counted(2), default=5, help="cross-validation folds, grouped by surgeon")
    parser.add_argument("--seed", type=int, default=0, help="fold seed")
    parser.add_argument("--target", choices=("auto", "label", "score"), default="auto")
    parser.add_argument(
        "--score-column",
        action="append",
        default=None,
        metavar="NAME",
        help="a named score to audit (repeat for several; each is audited in turn): columns of DATASET, or scores "
        "of a --run that predicts several (default: each of them)",
    )
    parser.add_argument("--subject-column", default="subject", help="the column naming the surgeon")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the audit to this JSON file")
    _add_source_arguments(parser)


def _run_audit(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if not (args.run or args.dataset):
        raise UsageError("give a DATASET or --run RUN")
    _check_writable(args.json, "--json")
    sections: dict[str, tuple] = {}  # one audit, or one per named score ("" for a run of classes or one score)
    if args.run:
        names = args.score_column or run_score_names(args.run) or [None]
        for name in names:
            sections[name or ""] = audit_run(args.run, dataset=args.dataset, target=name)
    else:
        data = load_skill_dataset(  # pooled and cut into its own folds: a split column does not matter
            args.dataset,
            target=args.target,
            subject_column=args.subject_column,
            split_ratios=None,
            allow_shared_subjects=True,
            allow_urls=args.allow_urls,
            root=args.video_root,
            **({"score_column": list(args.score_column)} if args.score_column else {}),
        )
        pooled = next(iter(data.values())) if len(data) == 1 else _concatenate(data)
        for name in args.score_column or [None]:
            # for each of several named scores the one-number baselines (an image model per score would be slow)
            chosen = {"baselines": SCALAR_BASELINES} if len(args.score_column or []) > 1 else {}
            audit = static_baselines(pooled, folds=args.folds, seed=args.seed, target=name, **chosen)
            sections[name or ""] = (audit, None, None)
    payloads = {}
    for name, (audit, model_value, model_correct) in sections.items():
        if name:
            print(f"## {name}\n")
        print(audit.to_markdown(model_value))
        print()
        for line in audit.verdicts(model_value, model_correct):
            print(line)
        payloads[name] = {**audit.to_dict(), "verdicts": audit.verdicts(model_value, model_correct)}
        if model_value is not None:
            payloads[name]["model"] = model_value
        if name and len(sections) > 1:
            print()
    if args.json:
        _write_json(args.json, payloads[""] if list(payloads) == [""] else payloads, "audit")
    return 0


def _add_inspect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "root",
        metavar="ROOT",
        help="a public dataset's folder as distributed (JIGSAWS, AIxSuture, Cataract-LMM, HeiChole), or any source "
        "load_skill_dataset reads (manifest, class folder, save_to_disk folder)",
    )
    parser.add_argument(
        "--format", default=None, help="jigsaws, aixsuture, cataract-lmm or heichole (default: detected from ROOT)"
    )
    parser.add_argument(
        "--protocol",
        default=None,
        help="show each fold of a protocol: jigsaws-louo, jigsaws-loso, jigsaws-4fold (with --fold-file), kfold "
        "(with --folds) or leave-one-subject-out",
    )
    parser.add_argument("--folds", type=_counted(2), default=5, help="folds of --protocol kfold (grouped by surgeon)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --protocol kfold")
    parser.add_argument(
        "--target",
        default=None,
        help="the target --protocol kfold stratifies by, as a recipe with that target does (default: the dataset's)",
    )
    parser.add_argument("--task", default=None, help="JIGSAWS task (Suturing, Knot_Tying, Needle_Passing)")
    parser.add_argument("--view", default=None, help="JIGSAWS camera: capture1, capture2 or both")
    parser.add_argument("--fold-file", default=None, help="CSV of trial,fold for --protocol jigsaws-4fold")
    parser.add_argument(
        "--score-bins", type=float, nargs="+", default=None, metavar="EDGE", help="lower edges of score classes"
    )
    parser.add_argument("--json", default=None, metavar="OUT", help="also write the summary to this JSON file")
    _add_source_arguments(parser)


def _run_inspect(args: argparse.Namespace) -> int:
    import datasets

    from .data.inspection import inspect_dataset, inspection_text

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    datasets.disable_progress_bars()  # a summary, not a progress log
    _check_writable(args.json, "--json")
    summary = inspect_dataset(
        args.root,
        format=args.format,
        protocol=args.protocol,
        folds=args.folds,
        seed=args.seed,
        target=args.target,
        task=args.task,
        view=args.view,
        fold_file=args.fold_file,
        score_bins=args.score_bins,
        allow_urls=args.allow_urls,
        root=args.video_root,
    )
    print(inspection_text(summary))
    if args.json:
        _write_json(args.json, summary, "summary")
    return 0


def _concatenate(data):
    return concatenate_datasets(list(data.values()))


def _add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report_a", metavar="REPORT_A", help="an evaluation report folder (the baseline, A)")
    parser.add_argument("report_b", metavar="REPORT_B", help="a report folder of another model on the same videos")
    parser.add_argument("--samples", type=POSITIVE, default=2000, help="paired bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the comparison to this JSON file")


def _run_compare(args: argparse.Namespace) -> int:
    _check_writable(args.json, "--json")
    result = compare_reports(args.report_a, args.report_b, samples=args.samples, seed=args.seed)
    print(result.to_markdown())
    print()
    print(result.verdict())
    if args.json:
        _write_json(args.json, result.to_dict(), "comparison")
    return 0


def _add_push_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a training run folder (with model/, recipe.yaml and eval/)")
    parser.add_argument(
        "--repo-id", required=True, help="org/name on the Hub (the token: HF_TOKEN or `hf auth login`, never argv)"
    )
    visibility = parser.add_mutually_exclusive_group()
    visibility.add_argument("--public", action="store_true", help="create the repository public (default: private)")
    visibility.add_argument("--private", action="store_true", help=argparse.SUPPRESS)  # the default; kept for scripts
    parser.add_argument(
        "--include-predictions",
        action="store_true",
        help="also publish the per-video evaluation files (predictions.csv, misclassified.csv, timelines), with "
        "surgeons pseudonymised by a salted hash and videos by file name (default: left out)",
    )
    parser.add_argument(
        "--dataset-name",
        default=None,
        help="the dataset's name on the model card (default: its Hub id, or the local folder's or file's name)",
    )
    # Refused with a message: a token in argv shows in `ps` and in the shell's history
    parser.add_argument("--token", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--output-dir", default=None, help="write the folder that would be uploaded here and push nothing"
    )


def _run_push(args: argparse.Namespace) -> int:
    if args.token is not None:
        raise UsageError(
            "--token is not accepted: a token on the command line shows in `ps` and in the shell's history; "
            "set HF_TOKEN in the environment or run `hf auth login`, then push again"
        )
    _check_writable(args.output_dir, "--output-dir", folder=True)
    options = {"include_predictions": args.include_predictions, "dataset": args.dataset_name}
    if args.output_dir:
        folder = prepare_hub_folder(args.run_dir, args.output_dir, args.repo_id, **options)
        print(f"ready to upload (nothing pushed): {folder}")
    else:
        url = push_run(args.run_dir, args.repo_id, private=not args.public, **options)
        print(f"pushed ({'private' if url.private else 'public'}): {url}")
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return port


def _add_app_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a trained model folder or Hub id")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to serve on (default 127.0.0.1: this computer only; 0.0.0.0 opens it to the network)",
    )
    parser.add_argument("--port", type=_port, default=None, help="the port (default: Gradio's, 7860 or the next free)")
    parser.add_argument(
        "--share", action="store_true", help="also open a public gradio.live link to the page (off by default)"
    )
    parser.add_argument("--num-clips", type=POSITIVE, default=8, help="clips spread over each video")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: GPU when present)")


def _run_app(args: argparse.Namespace) -> int:
    from .app import launch_app  # Gradio is an optional extra: imported by this command only

    check_device(args.device)
    launch_app(
        args.model, host=args.host, port=args.port, share=args.share, device=args.device, num_clips=args.num_clips
    )
    return 0


def _add_export_space_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, help="a trained model folder (copied into the Space) or a Hub model id (org/name)"
    )
    parser.add_argument("--output-dir", required=True, help="the Space folder to write (app.py, requirements.txt ...)")
    parser.add_argument(
        "--requirement",
        default=None,
        metavar="SPEC",
        help="the toolkit's line in requirements.txt (default: surgical-skill[app]>=this version), e.g. "
        "'surgical-skill[app] @ git+https://github.com/surgical-skill/surgical-skill'",
    )
    parser.add_argument(
        "--license", default=None, help="the Space's license (default: the model card's, else apache-2.0)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing folder the toolkit did not make")


def _run_export_space(args: argparse.Namespace) -> int:
    from .space import export_space

    folder = export_space(
        args.model, args.output_dir, requirement=args.requirement, license=args.license, overwrite=args.overwrite
    )
    print(f"Space folder written: {folder}")
    print(f"  try it here:  cd {folder} && python app.py   (http://127.0.0.1:7860)")
    print(f"  publish it:   hf upload --repo-type space ORG/NAME {folder} .")
    return 0


COMMANDS: dict[str, Command] = {
    "probe": Command(
        help="print what a video holds: frames, fps, duration, size, rotation, codec, keyframes",
        add_arguments=_add_probe_arguments,
        run=_run_probe,
        example="surgical-skill probe video.mp4 --json",
    ),
    "prepare": Command(
        help="transcode videos once into small, seek-friendly training proxies (resumable, parallel)",
        add_arguments=_add_prepare_arguments,
        run=_run_prepare,
        example="surgical-skill prepare ratings.csv --cache-dir proxies/ --short-side 256 --fps 10",
    ),
    "synth": Command(
        help="generate a synthetic suturing dataset whose skill labels live in the instrument motion",
        add_arguments=_add_synth_arguments,
        run=_run_synth,
        example="surgical-skill synth data/synthetic --num-videos 120 --classes 2 --seed 0",
    ),
    "predict": Command(
        help="score whole videos with a trained model: label, probability, and a per-clip timeline",
        add_arguments=_add_predict_arguments,
        run=_run_predict,
        example="surgical-skill predict trial1.mp4 trial2.mp4 --model runs/demo/model --json out.json --plot plots/",
    ),
    "evaluate": Command(
        help="evaluate a trained model on its held-out surgeons (or new data): metrics with 95 %% intervals, "
        "static baselines, plots, report.md",
        add_arguments=_add_evaluate_arguments,
        run=_run_evaluate,
        example="surgical-skill evaluate runs/demo --output-dir runs/demo/eval-again",
    ),
    "inspect": Command(
        help="what a dataset holds: videos, surgeons, targets and their spread, missing or odd files, and each "
        "fold of a protocol",
        add_arguments=_add_inspect_arguments,
        run=_run_inspect,
        example="surgical-skill inspect JIGSAWS --task Suturing --protocol jigsaws-louo --json jigsaws.json",
    ),
    "audit": Command(
        help="shortcut audit: can trial length, file size or a single frame predict the label on held-out surgeons?",
        add_arguments=_add_audit_arguments,
        run=_run_audit,
        example="surgical-skill audit ratings.csv --folds 5   (or: surgical-skill audit --run runs/demo)",
    ),
    "compare": Command(
        help="compare two models' evaluation reports of the same videos: paired bootstrap and McNemar's test",
        add_arguments=_add_compare_arguments,
        run=_run_compare,
        example="surgical-skill compare eval/baseline eval/new-model --json comparison.json",
    ),
    "push": Command(
        help="upload a trained model, its video processor, a model card and the evaluation report to the Hub",
        add_arguments=_add_push_arguments,
        run=_run_push,
        example="surgical-skill push runs/demo --repo-id my-lab/suturing-skill",
    ),
    "app": Command(
        help="serve a web page that scores uploaded videos with a trained model (pip install surgical-skill[app])",
        add_arguments=_add_app_arguments,
        run=_run_app,
        example="surgical-skill app --model runs/demo/model   then open http://127.0.0.1:7860",
    ),
    "export-space": Command(
        help="write a Hugging Face Space folder (app.py, requirements.txt, README with Space metadata) that runs "
        "the web app on a model",
        add_arguments=_add_export_space_arguments,
        run=_run_export_space,
        example="surgical-skill export-space --model runs/demo/model --output-dir space/",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="surgical-skill",
        description="Judge surgical skill from video on the Hugging Face stack.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the full traceback of an error instead of its one-line message (or set {DEBUG_ENV}=1)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(
            name,
            help=command.help,
            description=command.help % (),  # the help strings escape % as %% for argparse
            epilog=f"example:\n  {command.example}" if command.example else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A mistake the user can fix (:class:`SurgicalSkillError`) prints one ``error:`` line and
    returns 2; ``--debug`` (or ``SURGICAL_SKILL_DEBUG=1``) shows its traceback instead."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    return run_reporting_errors(lambda: args._run(args), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
