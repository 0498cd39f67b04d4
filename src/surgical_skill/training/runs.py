"""Run folders, and evaluating a trained model again without ever scoring a surgeon it trained on.

A training run leaves ``recipe.yaml`` (every setting), ``splits.json`` (which surgeons and videos went to
train, validation and test) and ``model/`` (weights, config with the validation-chosen decision threshold, the
video processor). :func:`evaluate_saved_model` reads them: on the run's own dataset it evaluates exactly the
recorded test surgeons and refuses any request that would put a training or validation surgeon in the scored
set; on another dataset it says the figures are on new data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import fnmatch
import functools
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import socket
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from datasets import Dataset, DatasetDict, concatenate_datasets

from ..data import load_skill_dataset
from ..data.building import score_target_names, video_roots
from ..data.splits import make_splits
from ..errors import SurgicalSkillError
from ..evaluation.baselines import SCALAR_BASELINES, static_baselines, static_baselines_or_none
from ..evaluation.evaluate import align_labels, choose_threshold, decision_threshold, evaluate_model
from ..evaluation.report import EvaluationResult, check_output_dir, headline_summary, load_report, model_figure
from ..files import MARKER, folder_kind, mark_folder, unwritable_reason, write_json_atomic
from ..models.heads import target_names
from ..models.inputs import is_regression_model
from ..models.loading import (
    ModelNotFoundError,
    check_model_source,
    describe_non_model,
    load_trained_model,
    load_trained_video_processor,
)
from .arguments import DataArguments, ModelArguments, TrainingArguments, rename_deprecated_keys
from .checkpoints import checkpoint_info, checkpoints_in
from .data_setup import label_info, public_dataset_options, trained_label_names, video_sources
from .recipe import RecipeError, recipe_to_dict

logger = logging.getLogger(__name__)

SPLIT_RECORD = "splits.json"
RECIPE = "recipe.yaml"
RUN_LOCK = ".training.lock"
RUN_KIND = "training-run"  # the kind in a run folder's marker (surgical_skill.files.MARKER)
SPLITS = ("train", "validation", "test")


class EvaluationRefused(SurgicalSkillError, ValueError):
    """An evaluation that would score surgeons the model saw, or that contradicts the run it comes from."""


FINGERPRINT_BYTES = 1 << 20


def video_path(row: dict[str, Any]) -> str:
    """The recording as the user has it: the original behind a proxy, resolved (a URL as it is)."""
    path = str(row.get("source_video") or row["video"])
    return path if "://" in path else os.path.realpath(path)


def video_fingerprint(path: str) -> str:
    """How a recording is recognised across runs, folders and machines: its size and a hash of its first MiB
    (so a copy, a moved dataset or a re-downloaded Hub file is the same video; a URL is its address)."""
    if "://" in path:
        return path
    stat = os.stat(path)
    return _fingerprint(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=65536)
def _fingerprint(path: str, size: int, mtime_ns: int) -> str:
    # keyed on size and modification time too: a file rewritten in place is read again; selecting a run's
    # split and then checking it against the record read each file once
    with open(path, "rb") as handle:
        head = handle.read(FINGERPRINT_BYTES)
    return f"{size}-{hashlib.blake2b(head, digest_size=12).hexdigest()}"


def _fingerprints(split: Dataset) -> list[str]:
    """One key per row: the video's content fingerprint, and for a row covering a segment (a HeiChole phase)
    its frames, so the rows of one video stay apart."""
    segments = [c for c in ("segment_start", "segment_end") if c in split.column_names]
    keys = []
    for row in split.select_columns(_key_columns(split) + segments):
        key = video_fingerprint(video_path(row))
        frames = [row.get(c) for c in segments]
        if any(v is not None and str(v).strip() not in ("", "nan") for v in frames):
            key += "#frames:" + "-".join(str(v) for v in frames)
        keys.append(key)
    return keys


def resolve_dataset(dataset: str) -> str:
    """A local dataset's resolved path; a Hub id unchanged."""
    path = Path(dataset).expanduser()
    return os.path.realpath(path) if path.exists() else str(dataset)


def split_record(data: DatasetDict, data_args: DataArguments) -> dict[str, Any]:
    """Which subjects and videos each split holds, and how the data was read."""
    return {
        "dataset": data_args.dataset,
        "dataset_resolved": resolve_dataset(data_args.dataset),
        "split_ratios": list(data_args.split_ratios),
        "split_seed": data_args.split_seed,
        "splits": {
            name: {
                "subjects": sorted({s for s in split["subject"] if s}),
                "videos": [video_path(row) for row in split.select_columns(_key_columns(split))],
                "fingerprints": _fingerprints(split),
            }
            for name, split in data.items()
        },
    }


def _key_columns(split: Dataset) -> list[str]:
    return [c for c in ("video", "source_video") if c in split.column_names]


def write_split_record(run_dir: str | os.PathLike, data: DatasetDict, data_args: DataArguments) -> Path:
    """``<run_dir>/splits.json`` (atomically): what ``surgical-skill evaluate RUN`` holds the run to."""
    path = Path(run_dir) / SPLIT_RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(path, split_record(data, data_args))


@dataclass
class RunFolder:
    """A trained model and, when it came from a run, the run's recipe and split record."""

    model_dir: str  # a folder or a Hub id
    run_dir: Path | None = None
    recipe: dict[str, Any] | None = None
    splits: dict[str, Any] | None = None

    @classmethod
    def locate(cls, path: str | os.PathLike) -> RunFolder:
        """``path`` is a run folder (``recipe.yaml``, ``model/``), a cross-validation fold folder, a model
        folder inside one of them, a model folder on its own, or a Hub id."""
        folder = Path(path).expanduser()
        if not folder.exists():
            if str(path).startswith((".", "/", "~")) or str(path).count("/") != 1:
                raise ModelNotFoundError(
                    f"{path}: no such run or model folder; give a training run (its output_dir), the model folder "
                    "inside it, or a Hub id (org/name)"
                )
            return cls(model_dir=str(path))  # a Hub id
        folds = (
            sorted(p.name for p in folder.iterdir() if (p / "model" / "config.json").is_file())
            if folder.is_dir()
            else []
        )
        if (folder / RECIPE).is_file() and not (folder / "model").exists() and folds:
            raise EvaluationRefused(
                f"{folder} is a cross-validation run: evaluate one of its folds ({', '.join(folds[:6])}"
                + (", ..." if len(folds) > 6 else "")
                + f"), e.g. `surgical-skill evaluate {folder / folds[0]} --output-dir ...`"
            )
        if (folder / "model" / "config.json").is_file():
            run_dir, model_dir = folder, folder / "model"
        elif (folder / "config.json").is_file():
            run_dir, model_dir = folder.parent, folder
        else:
            raise ModelNotFoundError(describe_non_model(folder, str(path)))
        recipe_path = next((p / RECIPE for p in (run_dir, run_dir.parent) if (p / RECIPE).is_file()), None)
        if recipe_path is None:
            return cls(model_dir=str(model_dir))
        recipe = yaml.safe_load(recipe_path.read_text()) or {}
        record = run_dir / SPLIT_RECORD
        splits = json.loads(record.read_text()) if record.is_file() else None
        return cls(model_dir=str(model_dir), run_dir=run_dir, recipe=recipe, splits=splits)

    def data_arguments(self) -> DataArguments:
        names = {f.name for f in dataclasses.fields(DataArguments)}
        return DataArguments(**{k: v for k, v in (self.recipe or {}).items() if k in names})

    def is_same_dataset(self, dataset: str) -> bool:
        trained_on = {resolve_dataset(str(self.recipe.get("dataset", "")))}
        if self.splits:
            trained_on.add(self.splits["dataset_resolved"])
        return resolve_dataset(dataset) in trained_on

    def seen(self) -> tuple[set[str], set[str]]:
        """Subjects and video fingerprints the model trained or was selected on (empty without a record)."""
        subjects: set[str] = set()
        videos: set[str] = set()
        for name in ("train", "validation"):
            part = (self.splits or {}).get("splits", {}).get(name, {})
            subjects.update(part.get("subjects", []))
            videos.update(part.get("fingerprints", []))
        return subjects, videos


def claim_output_dir(output_dir: str | os.PathLike, *, overwrite: bool, resume: bool, remove: bool = True) -> None:
    """Check that a new training run may write into ``output_dir``, before anything is loaded or written.

    An absent or empty folder is fine, and so is a resume (it continues the run that is there). Otherwise the
    folder is refused, naming what it holds, unless ``overwrite``: then an earlier run there is deleted whole, so
    none of its checkpoints, model or report can mix with the new run's, but only a run this toolkit made (its
    folder marker, written by :func:`hold_run`); a folder that holds no run is written into as it is, and never
    marked (so never deleted by a later run). Under several processes every one checks, and only the one given
    ``remove`` deletes.

    A run written before run folders were marked is deleted only when it holds nothing but what such a run
    writes (its recipe with its split record or history, ``model/``, ``checkpoints/``, ``eval*/`` ...): a
    ``recipe.yaml`` alone does not prove the folder holds nothing else of value.

    Raises:
        RecipeError: the folder holds something and neither ``overwrite`` nor ``resume`` was asked, or
            ``overwrite`` would delete a folder without the marker that holds a ``recipe.yaml``.
    """
    folder = Path(output_dir)
    if resume or not folder.exists():
        return
    if not folder.is_dir():
        raise RecipeError(f"output_dir {folder} is a file, not a folder; choose another output_dir")
    held = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if p.name not in (RUN_LOCK, MARKER))
    if not held:
        return
    if not overwrite:
        what = "a training run" if (folder / RECIPE).exists() else "files"
        raise RecipeError(
            f"output_dir {folder} already holds {what} ({', '.join(held[:6])}{', ...' if len(held) > 6 else ''}); "
            "choose a new output_dir, continue it with --resume_from_checkpoint latest, or replace it with "
            "--overwrite_output_dir true"
        )
    ours = folder_kind(folder) == RUN_KIND or _is_legacy_run(folder)
    if not ours and (folder / RECIPE).exists():
        strange = _not_of_a_run(folder)
        why = (
            f"more than a run made by an older surgical-skill holds ({', '.join(strange[:4])})"
            if strange
            else f"no {SPLIT_RECORD} or training history beside it"
        )
        raise RecipeError(
            f"output_dir {folder} holds a recipe.yaml but no {MARKER}, and {why}: it is not deleted; delete it "
            "yourself if it is an old run, or choose a new output_dir"
        )
    if remove and ours:
        logger.warning("overwrite_output_dir: deleting the earlier run in %s", folder)
        shutil.rmtree(folder)


# What a run folder written before folders were marked holds: its files, its folders (the report of another
# dataset is eval-<name>; `make demo` scores new videos into predictions/; TensorBoard logs under the project name)
_LEGACY_RUN_FILES = (RECIPE, SPLIT_RECORD, "training_history.json", RUN_LOCK)
_LEGACY_RUN_FOLDERS = ("model", "checkpoints", "eval", "eval-*", "predictions", "surgical-skill", "cv")


def _not_of_a_run(folder: Path) -> list[str]:
    """The entries of ``folder`` that a run of an older version never wrote (its files as files, its folders as
    folders, nothing else, no links)."""
    strange = []
    for entry in sorted(folder.iterdir()):
        if entry.name == MARKER:
            continue
        names = _LEGACY_RUN_FOLDERS if entry.is_dir() else _LEGACY_RUN_FILES
        if entry.is_symlink() or not any(fnmatch.fnmatchcase(entry.name, name) for name in names):
            strange.append(entry.name + ("/" if entry.is_dir() else ""))
    return strange


def _is_legacy_run(folder: Path) -> bool:
    """Whether ``folder`` is a run of a version before run folders were marked: its recipe and split record or
    history, and nothing a run does not write (someone's recipe.yaml beside their thesis is not one)."""
    has_record = (folder / SPLIT_RECORD).is_file() or (folder / "training_history.json").is_file()
    return (folder / RECIPE).is_file() and has_record and not _not_of_a_run(folder)


def resume_command(argv: list[str], num_processes: int = 1, script: str = "recipes/train.py") -> str:
    """The command that continues a run started with ``script argv``: ``accelerate launch`` of the same script and
    arguments with ``--resume_from_checkpoint latest``, without ``--overwrite_output_dir`` (which would delete the
    run). ``num_processes`` above 1 is passed on; other options given to ``accelerate launch`` are not known here."""
    kept, args = [], iter(argv)
    for arg in args:
        flag, has_value, _ = arg.partition("=")
        if flag in ("--resume_from_checkpoint", "--overwrite_output_dir"):
            if not has_value and flag == "--resume_from_checkpoint":
                next(args, None)
            elif not has_value:  # a bool flag may stand alone or take a value
                value = next(args, None)
                if value is not None and value.lower() not in ("true", "false", "yes", "no", "1", "0", "t", "f"):
                    kept.append(value)
            continue
        kept.append(arg)
    launcher = ["accelerate", "launch"] + (["--num_processes", str(num_processes)] if num_processes > 1 else [])
    return shlex.join([*launcher, script, *kept, "--resume_from_checkpoint", "latest"])


def _lock_holder(run_dir: Path) -> str | None:
    """Who holds ``run_dir``'s lock (``host pid``), or ``None`` when nobody alive does (a killed run's lock is
    stale: same host, no such process)."""
    try:
        host, pid = (run_dir / RUN_LOCK).read_text().split()
    except (FileNotFoundError, ValueError):
        return None
    if host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return None
        except PermissionError:  # alive, another user's
            pass
    return f"{host} pid {pid}"


def check_run_is_free(run_dir: str | os.PathLike) -> None:
    """Refuse a run folder another live training process is writing (its lock, :func:`hold_run`, names it).

    Raises:
        RecipeError: naming the process, and the usual cause (several processes that are not one run).
    """
    holder = _lock_holder(Path(run_dir))
    if holder is not None and holder != f"{socket.gethostname()} pid {os.getpid()}":
        raise RecipeError(
            f"output_dir {run_dir} is being written by another training process ({holder}): wait for it, or choose "
            "another output_dir. Started as several processes (accelerate launch) on a machine without a GPU? Set "
            "ACCELERATE_USE_CPU=1 so they train as one run (if that process is gone, delete "
            f"{Path(run_dir) / RUN_LOCK})"
        )


@contextlib.contextmanager
def hold_run(run_dir: str | os.PathLike, *, active: bool = True) -> Iterator[None]:
    """Hold ``<run_dir>/.training.lock`` (this host and pid) while the block trains, so a second, uncoordinated
    process writing the same run is refused (:func:`check_run_is_free`); a lock left by a killed process is
    taken over. Only the process given ``active`` (the main one) holds it.

    A run folder that was absent or empty gets the toolkit's marker (:data:`surgical_skill.files.MARKER`), which
    lets a later ``overwrite_output_dir`` delete it whole; if the block leaves nothing in it (refused data), the
    marker goes too, so the next attempt finds the folder as it was.

    Raises:
        RecipeError: another live process holds it.
    """
    if not active:
        yield
        return
    path = Path(run_dir) / RUN_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = f"{socket.gethostname()} {os.getpid()}"
    while True:
        try:
            with open(path, "x") as handle:  # exclusive: of two processes starting at once, one wins
                handle.write(mine)
            break
        except FileExistsError:
            check_run_is_free(run_dir)
            path.unlink(missing_ok=True)  # stale: its process is gone
    folder = path.parent
    marked_here = folder_kind(folder) is None and not _run_entries(folder)
    if marked_here:
        mark_folder(folder, RUN_KIND)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            if path.read_text() == mine:
                path.unlink()
        if marked_here and folder.is_dir() and not _run_entries(folder):
            (folder / MARKER).unlink(missing_ok=True)


def _run_entries(folder: Path) -> list[str]:
    """What a run folder holds besides its lock and marker."""
    return [p.name for p in folder.iterdir() if p.name not in (RUN_LOCK, MARKER)]


# What a resume may change: how long, how often, where to log, how fast. Every other key decides what the
# checkpoint's weights, optimizer state, data order or best-model record mean, so it must stay as the run began.
RESUMABLE_KEYS = {
    "num_train_epochs": "the learning-rate schedule is recomputed for the new length",
    "max_steps": "the learning-rate schedule is recomputed for the new length",
    "early_stopping_patience": "",
    "eval_every_epochs": "",
    "save_steps": "",
    "save_every_epochs": "",
    "save_total_limit": "",
    "report_to": "",
    "allow_pickle": "",  # the starting weights are read once; a resume reads its checkpoint
    "logging_steps": "",
    "progress_bar": "",
    "push_to_hub": "",
    "hub_model_id": "",
    "num_workers": "",
    "per_device_eval_batch_size": "",
    "static_baselines": "",
    "max_decode_failure_share": "",
    "auto_find_batch_size": "",
    "nonfinite_loss": "",
    "output_dir": "the run folder was moved",
}
_NOT_COMPARED = {"resume_from_checkpoint", "overwrite_output_dir"}


def check_resume(
    run_dir: str | os.PathLike, model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments
) -> list[str]:
    """Refuse a resume whose recipe differs from the run's ``recipe.yaml`` in a key that decides what the
    checkpoint means (the model, its config, the data, its split, the frames, the image size, the optimizer ...);
    return the allowed changes (:data:`RESUMABLE_KEYS`: more epochs, logging, workers ...) as sentences to log.
    Reads only: call it before anything in the run is written. A run without ``recipe.yaml`` has nothing to
    compare (the checkpoint's own check, :func:`~surgical_skill.training.checkpoints.check_checkpoint_fits`,
    still applies).

    Raises:
        RecipeError: naming every refused key with the run's value and the new one.
    """
    path = Path(run_dir) / RECIPE
    if not path.is_file():
        return []
    with warnings.catch_warnings():  # a run folder from before the renames is not the user's to fix
        warnings.simplefilter("ignore", FutureWarning)
        saved = rename_deprecated_keys(yaml.safe_load(path.read_text()) or {}, where=str(path))
        defaults = recipe_to_dict(ModelArguments(), DataArguments(), TrainingArguments())
    now = yaml.safe_load(yaml.safe_dump(recipe_to_dict(model_args, data_args, training_args), sort_keys=False))
    defaults = yaml.safe_load(yaml.safe_dump(defaults, sort_keys=False))
    refused, allowed = [], []
    for key in now:
        before = saved.get(key, defaults.get(key))  # a key newer than the run: the run had its default
        if key in _NOT_COMPARED or before == now[key]:
            continue
        change = f"{key} {before!r} -> {now[key]!r}"
        if key in RESUMABLE_KEYS:
            allowed.append(change + (f" ({RESUMABLE_KEYS[key]})" if RESUMABLE_KEYS[key] else ""))
        else:
            refused.append(change)
    if refused:
        raise RecipeError(
            f"cannot resume {run_dir}: the recipe changed {'; '.join(refused)} since the run began (see its "
            f"{RECIPE}); a resume continues the same run, so put these back, or train a new run in another output_dir"
        )
    return allowed


def check_resumed_data(
    folds: list[tuple[Path, DatasetDict]], data_args: DataArguments
) -> list[tuple[Path, DatasetDict]]:
    """Refuse a resume whose data differs from what the run trained on, and give each run (or cross-validation
    fold) folder the splits it trained on. ``folds`` pairs each folder with its data as this version splits it.

    The class names are checked against the newest checkpoint's model, and the videos against ``splits.json``
    (by content). Where this version's splitting puts the same videos otherwise (a run begun under an earlier
    release), the recorded splits are rebuilt from the data and returned instead, so the run goes on with the
    surgeons it began with, provided that: the split was made by ratio or by cross-validation (a ``split``
    column edited since is refused as before), each split holds the subjects recorded for it and no subject is in
    two, and a cross-validation's held-out parts still divide the videos between the folds. Reads only.

    Raises:
        RecipeError: naming the labels or the split, with what the run had and what the data has now.
    """
    rebuilt: list[tuple[Path, DatasetDict]] = []
    for folder, data in folds:
        found = checkpoints_in(folder)
        info = checkpoint_info(found[-1]) if found else None
        if info is not None and "train" in data:
            trained = trained_label_names(info["config"])
            now = label_info(data)
            labels = now.get("target_names") or [str(now["id2label"][k]) for k in sorted(now["id2label"])]
            if trained != labels:
                raise RecipeError(
                    f"cannot resume {folder}: the data's classes {labels} are not the ones the run "
                    f"trained on {trained} (in {found[-1]}): resume with the data as it was, or "
                    "train a new run in another output_dir"
                )
        rebuilt.append((folder, _recorded_splits(Path(folder) / SPLIT_RECORD, data, data_args)))
    if len(folds) > 1 and any(before is not after for (_, before), (_, after) in zip(folds, rebuilt)):
        held_out = [set(_fingerprints(data["test"])) if "test" in data else set() for _, data in rebuilt]
        expected = set().union(*(set(_fingerprints(data["test"])) for _, data in folds if "test" in data))
        if sum(map(len, held_out)) != len(expected) or set().union(*held_out) != expected:
            raise RecipeError(
                f"cannot resume the cross-validation in {Path(folds[0][0]).parent}: its finished folds hold out "
                "surgeons as an earlier version chose them and its other folds would hold out surgeons as this "
                "version does, so the folds would no longer divide the videos between them. Train the "
                "cross-validation again in another output_dir"
            )
    return rebuilt


def _recorded_splits(record: Path, data: DatasetDict, data_args: DataArguments) -> DatasetDict:
    """``data`` when it splits the videos as ``record`` does (or there is no record); the recorded splits rebuilt
    from the same videos when this version splits them otherwise; refused when the videos, their subjects or a
    given ``split`` column changed."""
    if not record.is_file():
        return data
    saved = json.loads(record.read_text())["splits"]
    now = split_record(data, data_args)["splits"]
    names = sorted(set(saved) | set(now))
    if all(saved.get(name, {}).get("fingerprints") == now.get(name, {}).get("fingerprints") for name in names):
        return data

    def changed(why: str = "the data changed since") -> RecipeError:
        name = next(n for n in names if saved.get(n, {}).get("fingerprints") != now.get(n, {}).get("fingerprints"))
        return RecipeError(
            f"cannot resume {record.parent}: its {name} split is not the one it trained on "
            f"({_split_difference(saved.get(name, {}), now.get(name, {}))}; recorded in {record}): {why}. Resume "
            "with the data as it was, or train a new run in another output_dir"
        )

    pool = _pool(data)
    keys = _fingerprints(pool)
    if sorted(keys) != sorted(key for part in saved.values() for key in part.get("fingerprints", [])):
        raise changed()  # videos gone or new
    if not data_args.cv and not _split_by_ratio(data, data_args):
        raise changed("the data's split column changed since")  # a split the data gave, not one made here
    result = DatasetDict({name: _select_videos(pool, keys, part, name, record) for name, part in saved.items()})
    subjects = {name: {s for s in split["subject"] if s} for name, split in result.items()}
    seen = Counter(s for members in subjects.values() for s in members)
    shared = sorted(s for s, splits_of in seen.items() if splits_of > 1)
    if shared or any(sorted(subjects[name]) != saved[name].get("subjects", sorted(subjects[name])) for name in saved):
        raise changed(
            "the videos' subjects changed since" + (f" ({shared[0]} would be in two splits)" if shared else "")
        )
    logger.warning(
        "%s: this version splits the run's videos otherwise than the version it began under; resuming with the "
        "splits it trained on, as recorded in %s",
        record.parent,
        record,
    )
    return result


def _split_by_ratio(data: DatasetDict, data_args: DataArguments) -> bool:
    """Whether ``data`` is the split this version makes by ``split_ratios`` (not one a ``split`` column gave)."""
    try:
        remade = make_splits(_pool(data), tuple(data_args.split_ratios), seed=data_args.split_seed)
    except SurgicalSkillError:
        return False
    return set(remade) == set(data) and all(
        sorted(_fingerprints(remade[name])) == sorted(_fingerprints(data[name])) for name in data
    )


def _split_difference(before: dict[str, Any], after: dict[str, Any]) -> str:
    """How many videos a split had and has, and the first one gone and the first one new."""
    text = f"{len(before.get('videos', []))} videos then, {len(after.get('videos', []))} now"
    for label, one, other in (("gone", before, after), ("new", after, before)):
        keys = set(other.get("fingerprints", []))
        first = next((v for v, k in zip(one.get("videos", []), one.get("fingerprints", [])) if k not in keys), None)
        text += f"; first {label}: {first}" if first else ""
    return text


def _pool(data: DatasetDict) -> Dataset:
    return concatenate_datasets(list(data.values())) if len(data) > 1 else next(iter(data.values()))


def _select_videos(pool: Dataset, keys: list[str], part: dict[str, Any], what: str, record: Path) -> Dataset:
    """The rows of ``pool`` (whose fingerprints are ``keys``) that the record lists for one split."""
    position = {key: i for i, key in enumerate(keys)}
    missing = [video for video, key in zip(part["videos"], part["fingerprints"]) if key not in position]
    if missing:
        raise EvaluationRefused(
            f"{len(missing)} of the {len(part['videos'])} {what} videos recorded in {record} are not in the "
            f"dataset any more (first: {missing[0]}): the data changed since training, so the run's split "
            "cannot be rebuilt"
        )
    return pool.select([position[key] for key in part["fingerprints"]])


def _slug(dataset: str) -> str:
    path = Path(dataset)
    name = f"{path.parent.name}-{path.stem}" if path.stem in ("metadata", "ratings", "labels") else path.stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name or str(dataset)).strip("_") or "data"


def evaluate_saved_model(
    path: str | os.PathLike,
    *,
    dataset: str | None = None,
    split: str | None = None,
    output_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    label_map: dict[str, str] | None = None,
    split_ratios: list[float] | None = None,
    split_seed: int | None = None,
    clips_per_video: int | None = None,
    num_workers: int | None = None,
    baselines: bool = True,
    bootstrap_samples: int = 1000,
    allow_pickle: bool = False,
    allow_urls: bool = False,
    root: str | os.PathLike | None = None,
) -> EvaluationResult:
    """Evaluate a trained model (a run folder, its ``model/``, a model folder or a Hub id) into a report.

    On the run's own dataset (``dataset`` omitted or the same): the dataset, sampling, label names and split
    come from the run (``recipe.yaml`` and ``splits.json``), the scored videos are exactly the run's recorded
    test split, and anything that would score a training or validation surgeon is refused
    (:class:`EvaluationRefused`): another split, other split ratios or seed, or a dataset that changed since.
    The report goes to ``<run>/eval`` unless ``output_dir`` says otherwise, and an existing report is never
    replaced without ``overwrite``.

    On another dataset: every video is scored (or ``split``), the report says the figures are on new data,
    and videos the model trained on are refused; the report goes to ``<run>/eval-<dataset>`` by default.
    Class names are matched to the model's by name (``label_map`` renames the dataset's first).

    Video paths may be http(s) URLs only with ``allow_urls`` (or a recipe that allowed them, on its own data) and
    must lie inside ``root`` when given (on the run's own data, the recipe's ``root`` holds too).

    The model loads from safetensors weights only, unless ``allow_pickle`` (see
    :func:`~surgical_skill.models.load_trained_model`); a model folder that cannot be loaded, an unwritable
    report folder and every refusal are found before any video is scored.
    """
    run = RunFolder.locate(path)
    check_model_source(run.model_dir, allow_pickle=allow_pickle)
    same = _is_own_data(run, path, dataset)
    output_dir = _report_folder(run, output_dir, same, dataset)
    check_output_dir(output_dir, overwrite=overwrite)  # before any work
    unwritable = unwritable_reason(output_dir, folder=True)
    if unwritable:
        raise EvaluationRefused(f"the report cannot be written to {output_dir}: {unwritable}; choose --output-dir")
    recipe_args = run.data_arguments() if run.recipe is not None else DataArguments(dataset=str(dataset))
    if same:
        split = split or "test"
        _refuse_a_different_split(run, recipe_args, split, split_ratios, split_seed)
    if same:  # the recipe's rule for its own videos, plus what the caller allows now
        sources = video_sources(recipe_args)
        sources["allow_urls"] = sources["allow_urls"] or allow_urls
        if root is not None:  # the caller's root confines, whatever the recipe's was
            sources["root"] = video_roots(root, recipe_args.proxy_dir)
    else:
        sources = {"allow_urls": allow_urls, "root": video_roots(root)}
    options = {
        "clips_per_video": clips_per_video or recipe_args.eval_clips_per_video,
        "num_workers": recipe_args.num_workers if num_workers is None else num_workers,
        **sources,
    }
    model = load_trained_model(run.model_dir, allow_pickle=allow_pickle)
    processor = load_trained_video_processor(run.model_dir, config=model.config)
    if same:
        evaluated, fitted_on, validation, protocol = _run_split(run, recipe_args)
    else:
        evaluated, protocol, split = _new_data(model, dataset, split, split_ratios, split_seed, run, **sources)
        fitted_on = validation = None
    evaluated = align_labels(evaluated, model.config, label_map)  # a name the model does not know: refuse now
    protocol += _refuse_seen(evaluated, same, run, recipe_args)
    threshold, source = _decision_threshold_of_run(model, processor, validation, **options)
    reference = None
    if baselines:  # fitted on the run's training surgeons; on new data, cross-validated within it
        fitted_on = align_labels(fitted_on, model.config, label_map) if fitted_on is not None else None
        reference = static_baselines_or_none(
            *((fitted_on, evaluated) if fitted_on is not None else (evaluated,)), **sources
        )
    result = evaluate_model(
        model,
        evaluated,
        output_dir,
        processor=processor,
        threshold=threshold,
        bootstrap_samples=bootstrap_samples,
        split_name=split,
        protocol=protocol,
        threshold_source=source,
        baselines=reference,
        overwrite=overwrite,
        **options,
    )
    data_name = str(recipe_args.dataset if same else dataset)
    print(
        ("" if same else f"NEW DATA: {data_name} (the model was trained on other data)\n")
        + headline_summary(result, split)
    )
    return result


def _is_own_data(run: RunFolder, path: str | os.PathLike, dataset: str | None) -> bool:
    """Whether the evaluation is on the run's own data (a model without its run needs ``dataset``)."""
    if run.recipe is None and dataset is None:
        where = (
            f"is a model without its training run (no {RECIPE} beside it)"
            if Path(run.model_dir).exists()
            else "is no folder here (as a Hub id, a model carries no training run)"
        )
        raise EvaluationRefused(f"{path} {where}: name the data to evaluate with --dataset")
    return run.recipe is not None and (dataset is None or run.is_same_dataset(dataset))


def _report_folder(
    run: RunFolder, output_dir: str | os.PathLike | None, same: bool, dataset: str | None
) -> str | os.PathLike:
    """``output_dir``, or by default ``<run>/eval`` (own data) or ``<run>/eval-<dataset>`` (new data)."""
    if output_dir is not None:
        return output_dir
    if run.run_dir is None:
        raise EvaluationRefused("name the report folder with --output-dir (the model is not in a run folder)")
    return run.run_dir / ("eval" if same else f"eval-{_slug(str(dataset))}")


def _decision_threshold_of_run(model, processor, validation: Dataset | None, **options) -> tuple[float | None, str]:
    """The threshold saved with the model; for a binary model saved without one, chosen now on the run's
    validation split (when there is one)."""
    threshold, source = decision_threshold(model.config)
    binary = model.config.num_labels == 2 and not is_regression_model(model.config)  # two named scores are no classes
    if threshold is None and binary and validation is not None and len(validation):
        threshold = choose_threshold(model, processor, align_labels(validation, model.config), **options)
        source = "chosen now on the run's validation split, as the model folder has none saved"
    return threshold, source


def audit_run(path: str | os.PathLike, dataset: str | None = None, *, target: str | None = None):
    """The static baselines of a run: fitted on its training and validation surgeons, scored on its test
    surgeons, beside the model's own figure from ``<run>/eval`` when it is there. Returns ``(baselines, model
    figure or None, the model's per-video right/wrong or None)``. A run of several named scores is audited one
    score at a time: ``target`` names it (:func:`run_score_names` lists them).

    Raises:
        EvaluationRefused: not a run, other data, or a run of several scores without its ``target``.
    """
    run = RunFolder.locate(path)
    if run.recipe is None:
        raise EvaluationRefused(f"{path} is not a training run (no {RECIPE}); audit a dataset instead")
    if dataset is not None and not run.is_same_dataset(dataset):
        raise EvaluationRefused("--run audits the run's own data; to audit other data, give only the dataset")
    recipe_args = run.data_arguments()
    test, fitted, _, _ = _run_split(run, recipe_args)
    sources = video_sources(recipe_args)
    names = score_target_names(test)
    if names is not None and target is None and len(names) == 1:
        target = names[0]
    if names is not None and target not in names:
        raise EvaluationRefused(
            f"{path} predicts several scores ({', '.join(names)}): audit one of them (target=...)"
            + (f"; {target!r} is not one" if target else "")
        )
    if names is not None:  # each score's one-number baselines, as its evaluation report has them
        baselines = static_baselines(fitted, test, target=target, baselines=SCALAR_BASELINES, **sources)
    else:
        baselines = static_baselines(fitted, test, **sources)
    report = run.run_dir / "eval"
    if not (report / "metrics.json").is_file():
        return baselines, None, None
    result = load_report(report)
    result.baselines = baselines
    value, correct = model_figure(result)
    return baselines, value, correct


def run_score_names(path: str | os.PathLike) -> list[str] | None:
    """The scores a run of several named scores predicts (its model's ``target_names``, or its recipe's
    ``score_columns``), None for a run of classes or of one score: what ``audit --run`` audits one by one."""
    run = RunFolder.locate(path)
    config = Path(run.model_dir) / "config.json"
    if config.is_file():
        names = json.loads(config.read_text()).get("target_names") or []
    else:
        names = (run.recipe or {}).get("score_columns") or []
    return list(names) if len(names) > 1 else None


def _refuse_a_different_split(
    run: RunFolder, args: DataArguments, split: str, split_ratios: list[float] | None, split_seed: int | None
) -> None:
    """On the run's own data only its recorded test split is held out: refuse anything else, before any work."""
    for name, asked, used in (
        ("split ratios", split_ratios, list(args.split_ratios)),
        ("split seed", split_seed, args.split_seed),
    ):
        if asked is not None and asked != used:
            raise EvaluationRefused(
                f"the run was split with {name} {used}; {asked} would put surgeons it trained on into the "
                "evaluated split. Drop the option (the run's own split is used), or give --dataset to evaluate "
                "other data"
            )
    if split in ("train", "validation"):
        raise EvaluationRefused(
            f"the model was trained (train) or selected (validation) on the {split} split's surgeons; only the "
            "run's test split is held out"
        )
    if split != "test":
        raise EvaluationRefused(
            f"--split {split}: the run's data has the splits {', '.join(SPLITS)}, and only test is held out: use "
            "--split test (the default), or give --dataset to evaluate other data"
        )
    if args.cv is not None and run.splits is None:
        raise EvaluationRefused(
            f"{run.run_dir} is a cross-validation run: evaluate one of its fold folders (they hold the folds)"
        )


def _run_split(run: RunFolder, args: DataArguments) -> tuple[Dataset, Dataset, Dataset | None, str]:
    """The run's test split, what the baselines may fit on (training and validation) and the validation split,
    exactly as recorded in ``splits.json``, whatever the recipe says now."""
    if run.splits is None:
        raise EvaluationRefused(
            f"{run.run_dir} has no {SPLIT_RECORD} (a run from before surgical-skill recorded its splits, or the "
            "file was removed): which surgeons it trained on cannot be known, and a split rebuilt from the recipe "
            "can hold them. Evaluate on other data with --dataset, or train the run again"
        )
    record = run.run_dir / SPLIT_RECORD
    dataset = args.dataset if Path(args.dataset).expanduser().exists() else run.splits["dataset_resolved"]
    pool = _pool(
        load_skill_dataset(
            dataset,
            **({"score_column": list(args.score_columns)} if args.score_columns else {}),
            target=args.target,
            label_names=args.label_names,
            split_ratios=None,
            proxy_dir=args.proxy_dir,
            allow_shared_subjects=True,  # the recorded split decides here, checked by _refuse_seen
            **public_dataset_options(args),
        )
    )
    keys = _fingerprints(pool)
    parts = run.splits["splits"]
    if "test" not in parts or not parts["test"]["videos"]:
        raise EvaluationRefused(f"{record} records no test split: this run has no held-out surgeons to score")
    test = _select_videos(pool, keys, parts["test"], "test", record)
    fitted = {n: _select_videos(pool, keys, parts[n], n, record) for n in ("train", "validation") if n in parts}
    subjects = len({s for s in test["subject"] if s})
    protocol = (
        f"The run's test split: {len(test)} videos"
        + (f" of {subjects} surgeons" if subjects else "")
        + f" that the model never saw in training or validation (as recorded in {record})."
    )
    return test, concatenate_datasets(list(fitted.values())), fitted.get("validation"), protocol


def _new_data(
    model, dataset, split, split_ratios, split_seed, run, *, allow_urls: bool = False, root=None
) -> tuple[Dataset, str, str]:
    target = "score" if is_regression_model(model.config) else "label"
    # a model of named scores reads the new data's columns of those names (matched by name, never by position)
    named = target_names(model.config) if target == "score" else ["score"]
    columns = {"score_column": named} if named != ["score"] else {}
    ratios = tuple(split_ratios) if split_ratios else None
    if split not in (None, "all") and ratios is None:
        ratios = (0.7, 0.15, 0.15)
    # new data: none of it trained this model, so its own split column may share surgeons without harm
    loaded = load_skill_dataset(
        dataset,
        target=target,
        split_ratios=ratios,
        seed=split_seed or 0,
        allow_shared_subjects=True,
        allow_urls=allow_urls,
        root=root,
        **columns,
    )
    if split in (None, "all"):
        evaluated, split = _pool(loaded), "all"
    elif split not in loaded:
        close = difflib.get_close_matches(split, list(loaded), n=1)
        raise EvaluationRefused(
            f"--split {split}: {dataset} has no such split; it has {', '.join(['all', *loaded])}"
            + (f" (did you mean {close[0]}?)" if close else "")
        )
    else:
        evaluated = loaded[split]
    trained_on = (run.recipe or {}).get("dataset")
    protocol = (
        f"New data: {dataset}"
        + (f" ({split} split)" if split != "all" else "")
        + (f" is not the dataset the model was trained on ({trained_on})" if trained_on else " (no training record)")
        + "; these figures say how the model transfers to it."
    )
    return evaluated, protocol, split


def _refuse_seen(evaluated: Dataset, same: bool, run: RunFolder, args: DataArguments) -> str:
    """Refuse videos the model trained or was selected on (by content, wherever they are now), and surgeons it
    trained on in its own data; warn about shared surgeon ids in new data. Returns a sentence for the protocol
    when the run itself was trained with shared surgeons."""
    seen_subjects, seen_videos = run.seen()
    fingerprints = _fingerprints(evaluated)
    videos = [path for path, key in zip(_paths(evaluated), fingerprints) if key in seen_videos]
    if videos:
        raise EvaluationRefused(
            f"{len(videos)} of these videos were used to train or select the model (first: {videos[0]}); "
            "a held-out figure cannot include them"
        )
    subjects = sorted({s for s in evaluated["subject"] if s} & seen_subjects)
    if run.recipe is None:
        logger.warning("%s has no training record: nothing checks that these surgeons are new to it", run.model_dir)
    if not subjects:
        return ""
    shown = ", ".join(subjects[:10]) + (" ..." if len(subjects) > 10 else "")
    recorded_test = set(((run.splits or {}).get("splits", {}).get("test") or {}).get("subjects", []))
    if same and args.cv is not None and set(subjects) <= recorded_test:
        # the run's own folds held these surgeons' other videos in training (LOSO, a fold file mixing trials)
        logger.warning("a cross-validation fold whose protocol shares surgeons %s between training and test", shown)
        return (
            f" This fold's protocol ({args.cv}) holds out videos, not surgeons: {len(subjects)} of these surgeons "
            f"({shown}) also trained or selected the model, so these figures are for new videos of known surgeons."
        )
    if same and args.allow_shared_subjects:
        logger.warning("the run was trained with allow_shared_subjects: surgeons %s are in training and test", shown)
        return (
            f" The run was trained with allow_shared_subjects: {len(subjects)} of these surgeons ({shown}) also "
            "trained or selected the model, so these figures are optimistic."
        )
    if same:
        raise EvaluationRefused(
            f"surgeons {shown} trained or selected the model and are in the evaluated split: the data's subject "
            f"ids changed since {run.run_dir / SPLIT_RECORD} was written"
        )
    logger.warning(
        "surgeon ids %s of the new data also appear in the model's training data: if they are the same people, "
        "these figures are optimistic",
        shown,
    )
    return ""


def _paths(split: Dataset) -> list[str]:
    return [video_path(row) for row in split.select_columns(_key_columns(split))]
