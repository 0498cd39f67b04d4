"""Models on the Hub: a model card built from a run folder, :func:`prepare_hub_folder` (model, video processor,
the package's code for ``trust_remote_code``, card, evaluation report) and :func:`push_run` to upload it
(``surgical-skill push RUN_DIR --repo-id org/name``).

A push publishes only what is meant to be public. A run folder records where things were on the machine that
trained it (absolute paths carry user and directory names) and which surgeon made which video (surgeon
identifiers are personal data in many institutions). So the folder names the dataset instead of locating it,
reduces every local path to a base name, leaves the per-video files of the evaluation out unless asked
(:data:`PER_VIDEO_FILES`; then subjects are pseudonymised by a salted hash and videos named by base name), and
is checked for the run's absolute paths and the Hub token before it is complete. Repositories are private
unless asked otherwise; the token comes from ``HF_TOKEN`` or ``hf auth login``, never from the command line.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData, get_token
from huggingface_hub.utils import HFValidationError, validate_repo_id

from .errors import SurgicalSkillError, UsageError
from .evaluation.baselines import baselines_markdown
from .evaluation.formatting import fmt
from .evaluation.report import ReportExistsError
from .files import MARKER, staged_folder
from .markup import code_fence, csv_cell, markdown_inline, visible_controls
from .models.heads import (
    DEFAULT_DISTRIBUTION_BINS,
    is_ordinal,
    ordinal_loss,
    reported_score_names,
    score_head,
    target_names,
)
from .models.inputs import is_regression_model
from .models.loading import ModelNotFoundError
from .remote_code import save_remote_code

CARD_TAGS = ["surgical-skill", "video-classification", "surgery", "skill-assessment", "medical"]
# The figures of metrics.json that go into the card's metadata (those a run has), then each score's own
CARD_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "roc_auc",
    "quadratic_kappa",
    "expected_cost",
    "mae",
    "rmse",
    "mae_mean",
    "rmse_mean",
    "spearman_fisher_z",
    "pearson_fisher_z",
)
TARGET_CARD_METRICS = ("mae", "rmse", "pearson", "spearman")
LOSS_NAMES = {
    "cross_entropy": "cross-entropy",
    "cumulative_link": "the negative log-likelihood of a cumulative-link model",
    "coral": "CORAL's binary 'above threshold k' tasks",
}


class HubPushError(SurgicalSkillError, RuntimeError):
    """An upload to the Hub failed (offline, no token, no rights); the run and its folder are untouched."""


# ------------------------------------------------------------------------------------- what a push publishes

LOCAL_PATH = "<local path>"
# Recipe keys that hold a local path, published as the base name (a file's or run's name tells a reader what was
# used, its folders only where it was) or, for a folder whose name says nothing, as LOCAL_PATH
RECIPE_PATH_KEYS = {
    "dataset": "name",
    "model_name_or_path": "name",
    "backbone_weights": "name",
    "cv_fold_file": "name",
    "output_dir": "name",
    "resume_from_checkpoint": "name",
    "proxy_dir": "hidden",
}
MANIFEST_SUFFIXES = {".csv", ".tsv", ".jsonl", ".json", ".txt", ".parquet", ".xlsx", ".arrow"}
# A manifest called like this is named after its folder: "suturing", not "metadata"
GENERIC_MANIFEST_STEMS = {"metadata", "manifest", "labels", "index", "data", "dataset", "annotations", "all"}
# The evaluation files that hold figures over all videos: published as they are (their text scrubbed of paths)
AGGREGATE_EVAL_FILES = (
    "metrics.json",
    "report.md",
    "classification_report.txt",
    "confusion_matrix.png",
    "roc_pr.png",
    "reliability.png",
    "scores.png",
    "residuals.png",
)
# The files that list videos and their surgeons: published only with include_predictions
PER_VIDEO_FILES = ("predictions.csv", "misclassified.csv", "oof_predictions.csv", "timelines.png")
PER_VIDEO_PLOT_SUFFIX = "_timeline.png"
# What a push owns in the repository and deletes when it did not write it this time: the evaluation folder (only a
# push writes there) and the per-video files wherever they are, so that a push which leaves them out does not
# leave an earlier push's copy (with its paths and surgeons) on the Hub. Patterns as upload_folder reads them.
OWNED_PATTERNS = (
    "eval/*",
    *(pattern for name in PER_VIDEO_FILES for pattern in (name, f"*/{name}")),
    f"*{PER_VIDEO_PLOT_SUFFIX}",
)
# Never uploaded: the toolkit's folder marker says "surgical-skill made this, it may be replaced"
UNPUBLISHED_PATTERNS = (MARKER, f"*/{MARKER}")
# A dataset that cannot be named without naming a person (a home folder) is called this on the card
NEUTRAL_DATASET_NAME = "a local dataset"
LOCAL_URL = "<URL>"
# The folders of a path in free text (a note, a protocol line): from a root, a home or a drive, through every
# "name/" (names may hold spaces, not punctuation that ends a clause), so that only the base name stays. Not after
# a word character, a dot, a slash or "<", so "n/a", "org/name", "</b>" and the path of an https URL stay.
_PATH_FOLDERS = re.compile(
    r"(?<![\w/.:~\\<-])(?:~[^\s\\/]*|[A-Za-z]:|\\\\)?[\\/](?:[^,;:'\"`|()<>\[\]{}\n\\/]*[\\/])*(?=[^\s/\\])"
)
# A URL in free text (not its closing punctuation): reduced to its file name, since a query string can be a
# signature (``?X-Amz-Signature=...``) and the host and folders locate private data
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://(?:[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]])?")
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*")


def _md(value) -> str:
    """A data-derived value (class, score, metric name) as literal Markdown text; plain names stay as they are."""
    text = str(value)
    return text if _PLAIN_TEXT.fullmatch(text) else markdown_inline(text)


def _base_name(path: str) -> str:
    if "://" in str(path):
        return _url_name(str(path))
    name = re.split(r"[\\/]+", str(path).rstrip("/\\"))[-1]
    return name if name and name != "~" else LOCAL_PATH


def _url_name(url: str) -> str:
    """A URL's file name, without its host, folders, query string (a signature, a token) or fragment."""
    try:
        path = urlsplit(url).path
    except ValueError:  # an unparsable URL (a bad port, a bracket): nothing of it is kept
        return LOCAL_URL
    name = PurePosixPath(unquote(path)).name
    return name if name and "/" not in name and "\\" not in name else LOCAL_URL


def scrub_paths(text: str, known: dict[str, str] | None = None) -> str:
    """``text`` with every absolute or home-relative path reduced to its base name (``known`` first: exact
    strings and what to put instead, such as a run's video paths).

    A URL (``https://bucket.example/v.mp4?X-Amz-Signature=...``) is reduced to its file name (``v.mp4``): its
    query string can be a signature or a token.

    Example: ``"left out: /home/alice/my videos/S9 trial 1.mp4."`` gives ``"left out: S9 trial 1.mp4."``."""
    for secret in sorted(known or {}, key=len, reverse=True):
        text = text.replace(secret, known[secret])
    text = _URL.sub(lambda match: _url_name(match.group()), text)
    return _PATH_FOLDERS.sub("", text)


def _scrub_value(value, known: dict[str, str]):
    """:func:`scrub_paths` through every string of a JSON/YAML value."""
    if isinstance(value, str):
        return scrub_paths(value, known)
    if isinstance(value, dict):
        return {_scrub_value(k, known): _scrub_value(v, known) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(v, known) for v in value]
    return value


def _repo_id_like(text: str) -> bool:
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def _hub_id(text: str) -> bool:
    """Whether ``text`` reads as a Hub repository id (and is no local file or folder here)."""
    if "://" in text or text.startswith((".", "~", "/", "\\\\")) or re.match(r"[A-Za-z]:[\\/]", text):
        return False
    return _repo_id_like(text) and not Path(text).exists()


INTENDED_USE_CAUTION = (
    "For research and for training feedback on recorded procedures. It is not a medical device and must not be "
    "the sole basis of credentialing, certification or clinical decisions. Validate it on your own recordings first."
)
"""What the web app and a Space say about a model whose card has no intended-use section."""


def read_model_card(model: str | os.PathLike) -> str:
    """The card (``README.md``, YAML metadata included) of a local model folder, or of a Hub model where the Hub
    (or its cache) can give it now; ``""`` when there is none. A local folder's own card only: a README above it
    may be anything."""
    text = os.fspath(model)
    folder = Path(text).expanduser()
    if (folder / "README.md").is_file():
        try:
            return (folder / "README.md").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
    if folder.exists() or not _hub_id(text):
        return ""
    try:
        from huggingface_hub import ModelCard

        return ModelCard.load(text).content
    except Exception:  # offline, private, no card: only the card's text is lost
        return ""


def card_sections(card_text: str, *keywords: str) -> str:
    """The Markdown sections of a model card whose heading holds one of ``keywords`` (case insensitive, e.g.
    ``"intended use"``), each with its sub-sections, up to the next heading of the same or a higher level, headed
    ``### <heading>``; ``""`` when there is none."""
    sections, keep, level = [], False, 0
    for line in card_text.splitlines():
        heading = re.match(r"^(#{1,6})\s+(.*)", line)
        if heading:
            depth = len(heading.group(1))
            if keep and depth > level:  # a sub-heading of a kept section
                sections.append(line)
                continue
            keep = any(word.lower() in heading.group(2).lower() for word in keywords)
            level = depth
            if keep:
                sections.append("### " + heading.group(2).strip())
            continue
        if keep:
            sections.append(line)
    return "\n".join(sections).strip()


def dataset_name(dataset: str | None) -> tuple[str, str | None]:
    """``(name, hub_id)`` of a recipe's ``dataset``: a Hub id is its own name; a local folder is named by its
    base name, a manifest file by its stem (or its folder's name when the stem is generic, like ``metadata``).
    ``hub_id`` is None for local data. Never a path, and never a home folder's name (``/home/alice``,
    ``C:\\Users\\alice``, this user's home): that names a person, so such data is :data:`NEUTRAL_DATASET_NAME`
    (``--dataset-name`` names it)."""
    text = str(dataset or "").strip()
    if not text:
        return "unknown", None
    if "://" in text:  # a URL: its file name, never its query string
        text = _url_name(text)
    if _hub_id(text) and PurePosixPath(text).suffix.lower() not in MANIFEST_SUFFIXES:
        return text, text
    path = PurePosixPath(text.replace("\\", "/").rstrip("/"))
    if path.suffix.lower() in MANIFEST_SUFFIXES and path.stem.lower() not in GENERIC_MANIFEST_STEMS:
        return path.stem, None
    if path.suffix.lower() in MANIFEST_SUFFIXES:
        path = path.parent
    if not path.name or path.name.startswith("~") or _home_folder(path):
        return NEUTRAL_DATASET_NAME, None
    return path.name, None


def _home_folder(path: PurePosixPath) -> bool:
    """Whether ``path`` is a user's home folder: directly under a ``home`` or ``Users`` folder (on whatever
    machine recorded it, a container's home differs from this one), or this user's home."""
    return path.parent.name.lower() in ("home", "users") or path.as_posix() == Path.home().as_posix()


def public_recipe(recipe: dict[str, Any], known: dict[str, str] | None = None) -> dict[str, Any]:
    """The recipe as the card shows it: local paths as base names (``proxy_dir`` as ``<local path>``), the
    dataset by :func:`dataset_name`, a model's registry name or Hub id and ``latest`` as they are, any other
    absolute path in any value reduced to its base name."""
    out = {}
    for key, value in recipe.items():
        if key in RECIPE_PATH_KEYS and isinstance(value, str) and value:
            value = _public_path(key, value)
        out[key] = _scrub_value(value, known or {})
    return out


def _public_path(key: str, value: str) -> str:
    if key == "dataset":
        return dataset_name(value)[1] or _base_name(value)
    if key == "resume_from_checkpoint" and value == "latest":
        return value
    if key == "model_name_or_path" and (_hub_id(value) or not re.search(r"[\\/]", value)):
        return value
    if key == "backbone_weights" and "://" in value:  # a published checkpoint's URL: its file name
        return _base_name(value.split("?")[0].split("#")[0])
    return LOCAL_PATH if RECIPE_PATH_KEYS[key] == "hidden" else _base_name(value)


def _private_paths(run: Path, recipe: dict[str, Any]) -> dict[str, str]:
    """The run's local paths that a report or a note may quote (the run folder, the dataset, every video of its
    split record and its predictions), each with the base name to publish instead."""
    paths = {str(run.resolve()), str(run.absolute())}
    splits = _load(run / "splits.json") or {}
    for key in ("dataset", "dataset_resolved"):
        paths.add(str(splits.get(key) or ""))
    paths.add(str(recipe.get("dataset") or ""))
    paths.add(str(recipe.get("output_dir") or ""))
    for split in (splits.get("splits") or {}).values():
        paths.update(str(v) for v in (split.get("videos") or []) if isinstance(split, dict))
    for name in ("predictions.csv", "misclassified.csv", "oof_predictions.csv"):
        for row in _csv_rows(run / "eval" / name):
            paths.update(str(row.get(column) or "") for column in ("video", "source_video"))
    known = {}
    for path in paths:
        if "://" in path:  # a video given as a URL (opt-in): its file name, never its query string
            known[path] = _url_name(path)
        elif len(path) > 1 and (Path(path).is_absolute() or path.startswith("~") or re.match(r"[A-Za-z]:[\\/]", path)):
            known[path] = _base_name(path)
    return known


def _csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def pseudonym(subject: str, salt: bytes) -> str:
    """A subject id as published: ``subject-`` and 12 hex digits of its HMAC-SHA256 under ``salt``; the same
    subject gets the same pseudonym within one push, and without the salt nobody can test a guessed name."""
    if not subject:
        return ""
    return "subject-" + hmac.new(salt, subject.encode("utf-8"), hashlib.sha256).hexdigest()[:12]


def _write_public_csv(source: Path, target: Path, salt: bytes) -> None:
    """A per-video CSV with its videos by base name and its subjects pseudonymised; other text cells formula-safe."""
    with source.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        target.write_text("")
        return
    header = rows[0]
    videos = {i for i, name in enumerate(header) if name in ("video", "source_video")}
    subjects = {i for i, name in enumerate(header) if name == "subject"}

    def cell(i: int, value: str):
        if i in videos:
            value = _base_name(value) if value else value
        elif i in subjects:
            value = pseudonym(value, salt)
        return value if _is_number(value) else csv_cell(value)

    with target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([csv_cell(name) for name in header])
        writer.writerows([cell(i, value) for i, value in enumerate(row)] for row in rows[1:])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _public_report_markdown(text: str, left_out: list[str], known: dict[str, str]) -> str:
    """``report.md`` without the sections and lines that show or point to a file left out, paths scrubbed."""
    kept, skipping = [], False
    # "\n" only: splitlines also splits on U+2028, U+2029 and \x85, which a label may hold, and would turn the
    # text after one into a line of its own (a heading, a table row) in the published report
    for line in text.removesuffix("\n").split("\n"):
        if line.startswith("#"):
            skipping = False
        if any(f"]({name})" in line for name in left_out):  # a figure left out: drop it and its own heading
            while kept and not kept[-1].strip():
                kept.pop()
            if kept and kept[-1].startswith("## "):
                kept.pop()
            skipping = True
            continue
        if skipping:
            continue
        if any(f"`{name}`" in line or name in line.split() for name in left_out):
            line = "Per-video files are left out of this published copy (see the model card)."
        kept.append(line)
    return scrub_paths("\n".join(kept) + "\n", known)


def _eval_files(run: Path, include_predictions: bool) -> tuple[list[str], list[str]]:
    """The names in ``run/eval`` that are published and those left out."""
    folder = run / "eval"
    if not folder.is_dir():
        return [], []
    published, left_out = [], []
    for path in sorted(folder.iterdir()):
        per_video = path.name in PER_VIDEO_FILES or path.name.endswith(PER_VIDEO_PLOT_SUFFIX)
        wanted = path.name in AGGREGATE_EVAL_FILES or (include_predictions and per_video)
        if path.is_file() and wanted:
            published.append(path.name)
        elif not path.name.startswith("."):
            left_out.append(path.name)
    return published, left_out


def _copy_public_eval(run: Path, target: Path, include_predictions: bool, known: dict[str, str]) -> list[str]:
    """Write the published part of ``run/eval`` into ``target``; returns the names left out."""
    published, left_out = _eval_files(run, include_predictions)
    if not published:
        return left_out
    target.mkdir()
    salt = secrets.token_bytes(32)  # one push, one salt, kept nowhere: pseudonyms cannot be reversed or linked
    for name in published:
        source = run / "eval" / name
        if name.endswith(".csv"):
            _write_public_csv(source, target / name, salt)
        elif name == "metrics.json":
            (target / name).write_text(json.dumps(_scrub_value(json.loads(source.read_text()), known), indent=2))
        elif name == "report.md":
            (target / name).write_text(_public_report_markdown(source.read_text(), left_out, known))
        elif name.endswith((".txt", ".md")):
            (target / name).write_text(scrub_paths(source.read_text(), known))
        else:
            shutil.copyfile(source, target / name)
    return left_out


def _private_markers(run: Path, known: dict[str, str]) -> dict[str, str]:
    """Strings that must appear nowhere in a published folder, each with what it is: the run's absolute folders
    (deep enough to be specific: ``/home/alice``, not ``/tmp``), the query strings of its videos' URLs (a
    signature, a token) and the Hub token."""
    markers: dict[str, str] = {}
    for path in known:
        query = urlsplit(path).query if "://" in path else ""
        if len(query) >= 8:
            markers[query] = "the query string of a video's URL (a signature or a token)"
    folders = {Path(path).parent for path in known if "://" not in path} | {run.resolve(), Path.home()}
    for folder in folders:
        if folder.is_absolute() and len(folder.parts) >= 3:
            markers[str(folder)] = "an absolute local path"
    token = get_token()
    if token and len(token) >= 8:
        markers[token] = "the Hub token"
    return markers


def _check_nothing_private(folder: Path, markers: dict[str, str]) -> None:
    """Refuse a folder that still holds one of ``markers`` in any file (weights: their header only)."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".safetensors":  # the tensors are numbers (gigabytes of them); the header holds text
            with path.open("rb") as handle:
                data = handle.read(min(int.from_bytes(handle.read(8), "little"), 100_000_000))
        else:
            data = path.read_bytes()
        for marker, what in markers.items():
            if marker.encode("utf-8") in data:
                raise UsageError(
                    f"refusing to publish {path.relative_to(folder)}: it holds {what}. Nothing was written; "
                    "remove it from the run folder (or report the file that carries it) and push again"
                )


def _load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    return json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())


def model_card(
    run_dir: str | os.PathLike,
    repo_id: str | None = None,
    *,
    dataset: str | None = None,
    include_predictions: bool = False,
):
    """A ``huggingface_hub.ModelCard`` for a training run: YAML metadata (pipeline tag, tags, library, dataset,
    evaluation results with their 95 % intervals) and a body with usage, the evaluation, intended use and
    limitations for clinical settings, what the published folder leaves out, and the exact training recipe.

    The dataset is named (``dataset``, else :func:`dataset_name` of the recipe's), never located; local paths in
    the recipe and the report's notes are reduced to base names; every class, score and note from the data is
    literal Markdown text. ``include_predictions`` says whether the folder carries the per-video files."""
    run = Path(run_dir)
    config = _load(run / "model" / "config.json") or {}
    recipe = _load(run / "recipe.yaml") or {}
    known = _private_paths(run, recipe)
    report = _load(run / "eval" / "metrics.json")
    report = _scrub_value(report, known) if report else report
    labels = [config.get("id2label", {}).get(str(i)) for i in range(len(config.get("id2label", {})))]
    name = repo_id or run.name
    data_name, data_id = (check_dataset_name(dataset), None) if dataset else dataset_name(recipe.get("dataset"))
    results = []
    if report:
        headline = [(metric, report["metrics"].get(metric), None) for metric in CARD_METRICS]
        per_target = [
            (metric, value, f"{target} {metric}")
            for target, metrics in target_metrics(report, config).items()
            for metric, value in metrics.items()
            if metric in TARGET_CARD_METRICS
        ]
        for metric, value, metric_name in headline + per_target:
            if isinstance(value, int | float) and math.isfinite(value):
                results.append(
                    EvalResult(
                        task_type="video-classification",
                        dataset_type=data_id or data_name,
                        dataset_name=data_name,
                        metric_type=metric,
                        metric_name=metric_name,
                        metric_value=value,
                        dataset_split=report.get("split"),
                    )
                )
    model = str(recipe.get("model_name_or_path", ""))
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag="video-classification",
        tags=CARD_TAGS,
        license="apache-2.0",
        base_model=model if "/" in model and _hub_id(model) else None,
        datasets=[data_id] if data_id else None,
        model_name=name,
        eval_results=results or None,
    )
    _, left_out = _eval_files(run, include_predictions)
    sections = [
        _card_usage(name, config, labels),
        _card_outputs(config, labels),
        _card_evaluation(report, labels) if report else [],
        _card_target_evaluation(report, config) if report else [],
        _card_baselines(report, config) if report and report.get("baselines") else [],
        _card_limitations(),
        _card_data(data_name, data_id),
        _card_left_out(left_out, include_predictions),
        ["## Training recipe", "", code_fence(yaml.safe_dump(public_recipe(recipe, known), sort_keys=False), "yaml")],
    ]
    body = "\n".join(line for section in sections for line in section)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")


def check_dataset_name(name: str) -> str:
    """A dataset name given for the card (``--dataset-name``): one line, and a name rather than a path."""
    text = str(name).strip()
    if not text or visible_controls(text) != text:  # a newline, a tab, U+2028 ...
        raise UsageError("--dataset-name must be one line of text, e.g. --dataset-name 'JIGSAWS suturing'")
    if scrub_paths(text) != text:
        raise UsageError(
            f"--dataset-name {text!r} looks like a local path, which the card would publish: give a name "
            "(e.g. the dataset's folder name or its Hub id)"
        )
    return text


def _card_data(name: str, hub_id: str | None) -> list[str]:
    if name == NEUTRAL_DATASET_NAME and not hub_id:  # its folder was a home folder: a person's name
        text = (
            f"Trained and evaluated on {NEUTRAL_DATASET_NAME}, not named here (its folder is a home folder); "
            "`surgical-skill push --dataset-name NAME` names it."
        )
        return ["## Training data", "", text, ""]
    where = f"[{name}](https://huggingface.co/datasets/{hub_id})" if hub_id else f"**{_md(name)}** (local data)"
    return ["## Training data", "", f"Trained and evaluated on {where}.", ""]


def _card_left_out(left_out: list[str], include_predictions: bool) -> list[str]:
    """One short paragraph: what the published folder does not carry, and why."""
    text = (
        "Local paths of the machine that trained the model, and URLs, are reduced to file names, and the dataset "
        "is named, not located. Each push replaces the evaluation folder (`eval/`) and the per-video files in "
        "the repository: what an earlier push put there and this one did not write is deleted."
    )
    if include_predictions:
        text += (
            " The per-video evaluation files are included with each video by its file name only and each surgeon "
            "replaced by a salted hash (`subject-...`); the salt was random and is kept nowhere, so the "
            "pseudonyms cannot be reversed or linked to another upload."
        )
    if left_out:
        text += (
            f" Not published from the evaluation: {', '.join(markdown_inline(name) for name in left_out)}. "
            "Per-video files list every video and the surgeon who made it, and surgeon identifiers are personal "
            "data in many institutions; the figures above summarise them."
        )
        if not include_predictions:
            text += " `surgical-skill push --include-predictions` publishes them with surgeons pseudonymised."
    return ["## What this folder leaves out", "", text, ""]


def _target_blocks(report: dict[str, Any]) -> dict[str, Any]:
    """metrics.json's ``per_target``: ``{name: {metric: value, "confidence_intervals_95": {...}, ...}}``."""
    blocks = report.get("per_target")
    return blocks if isinstance(blocks, dict) else {}


def target_metrics(report: dict[str, Any], config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each score's figures in a report's ``metrics.json``: ``{name: {metric: value}}``, in the model's order.

    Read from the report's ``per_target`` mapping, ``{name: {metric: value, ...}}``, where it has one, and from the ``"<name>/<metric>"`` keys of its ``metrics`` (as ``multi_target_regression_metrics``
    names them) for the names the model reports (its config's ``target_names`` and ``score_sum_name``). Only
    numbers are kept (``videos`` is the count of videos with a true value of that score). Empty for a single
    score or a class model, whose figures are the report's own ``metrics``."""
    found: dict[str, dict[str, Any]] = {}
    for name, metrics in _target_blocks(report).items():
        if isinstance(metrics, dict):
            numbers = {k: v for k, v in metrics.items() if isinstance(v, int | float | None) and k != "videos"}
            found[str(name)] = {**numbers, **({"videos": metrics["videos"]} if "videos" in metrics else {})}
    names = reported_score_names(config) if is_regression_model(config) else []
    for key, value in report.get("metrics", {}).items():
        name, _, metric = key.rpartition("/")
        if name in names and isinstance(value, int | float | None):
            found.setdefault(name, {}).setdefault(metric, value)
    order = {name: i for i, name in enumerate(names)}
    return dict(sorted(found.items(), key=lambda item: order.get(item[0], len(order))))


def _target_intervals(report: dict[str, Any], name: str) -> dict[str, Any]:
    """One score's 95 % intervals in ``metrics.json``: inside its ``per_target`` entry, or as
    ``"<name>/<metric>"`` keys of ``confidence_intervals_95``."""
    target = _target_blocks(report).get(name)
    inside = target.get("confidence_intervals_95", {}) if isinstance(target, dict) else {}
    flat = {
        key.rpartition("/")[2]: value
        for key, value in report.get("confidence_intervals_95", {}).items()
        if key.rpartition("/")[0] == name
    }
    return {**flat, **(inside if isinstance(inside, dict) else {})}


def _card_usage(name, config, labels) -> list[str]:
    regression = is_regression_model(config)
    if regression:
        names, total = target_names(config), config.get("score_sum_name")
        predicts = f"It predicts {_listed(names)}" + (f" and their sum, {_md(total)}." if total else ".")
        if names == ["score"] and not total:
            predicts = "It predicts a skill score."
    else:
        predicts = f"Classes: {', '.join(map(_md, labels))}."
    reads = 'result["scores"], result["clips"]' if regression else 'result["label"], result["score"], result["clips"]'
    code_name = name if _repo_id_like(name) else "your-org/your-model"
    return [
        f"# {_md(name)}",
        "",
        f"A surgical skill assessment model ({_md(config.get('model_type', 'video model'))}) trained with "
        "[surgical-skill](https://github.com/surgical-skill/surgical-skill). It scores a whole recording from "
        "clips spread over it. " + predicts,
        "",
        "## Use",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        "# The repository carries surgical-skill's code: transformers, torch, torchvision and av suffice",
        f'skill = pipeline("surgical-skill", model="{code_name}", trust_remote_code=True)',
        'result = skill("trial.mp4", num_clips=8)',
        f"{reads}  # the clips are the timeline of the evidence",
        "```",
        "",
        "With the package installed (`pip install surgical-skill`): "
        f"`surgical-skill predict trial.mp4 --model {code_name} --plot`.",
        "",
    ]


def _listed(names: list[str]) -> str:
    shown = [_md(name) for name in names]
    return shown[0] if len(shown) == 1 else f"{len(shown)} scores ({', '.join(shown)})"


def _card_outputs(config, labels) -> list[str]:
    """What each output means: the scores (names, ranges, the head) or the classes (ordered or not, the loss)."""
    lines = ["## Outputs", ""]
    if not is_regression_model(config):
        if is_ordinal(config):
            lines.append(
                f"Ordered classes: {' < '.join(map(_md, labels))}; ordinal metrics (quadratic kappa, "
                "Expected Cost) apply."
            )
        else:
            lines.append(f"Classes: {', '.join(map(_md, labels))}.")
        loss = ordinal_loss(config)
        lines.append(f"Trained with {LOSS_NAMES.get(loss) or _md(loss)}.")
        if loss != "cross_entropy":
            lines.append(
                "Class probabilities come from a cumulative-link reading of the outputs (a latent skill and "
                "increasing thresholds), so they never contradict the classes' order."
            )
        return [*lines, ""]
    names, ranges = target_names(config), config.get("score_ranges")
    total = config.get("score_sum_name")
    lines += ["| score | range | |", "|---|---|---|"]
    for i, name in enumerate(names):
        low_high = f"{ranges[i][0]:g} to {ranges[i][1]:g}" if ranges else "not saved"
        lines.append(f"| {_md(name)} | {low_high} | predicted |")
    if total:
        span = f"{sum(r[0] for r in ranges):g} to {sum(r[1] for r in ranges):g}" if ranges else "not saved"
        lines.append(f"| {_md(total)} | {span} | the sum of the scores above |")
    lines.append("")
    if score_head(config) == "distribution":
        bins = config.get("distribution_bins") or DEFAULT_DISTRIBUTION_BINS
        sigma = config.get("distribution_sigma")
        width = f"{sigma:g} score units wide" if sigma is not None else "two bins wide"
        lines.append(
            f"Head: a score distribution (USDL) over {bins} bins of each score's range, trained with the KL "
            f"divergence to a Gaussian around the true score ({width}); a score is the distribution's "
            "expectation, and the pipeline gives its standard deviation as `expected_score_spread`."
        )
    elif config.get("normalize_scores"):
        lines.append(
            "Head: one output per score, learned on [0, 1] (each score scaled by its range, MSE) and reported "
            "in the score's own units."
        )
    else:
        lines.append("Head: one output per score, in the score's own units (MSE).")
    return [*lines, ""]


def _card_target_evaluation(report, config) -> list[str]:
    """Each score's figures (MAE, RMSE in its units; Pearson, Spearman with their 95 % intervals)."""
    per_target = target_metrics(report, config)
    if not per_target:
        return []
    metrics = list(dict.fromkeys(m for values in per_target.values() for m in values if m != "videos"))
    metrics += ["videos"] if any("videos" in values for values in per_target.values()) else []
    header = "| score | " + " | ".join(map(_md, metrics)) + " |"
    lines = ["### Each score", "", header, "|---|" + "---|" * len(metrics)]
    for name, values in per_target.items():
        intervals = _target_intervals(report, name)
        cells = []
        for metric in metrics:
            value = values.get(metric)
            cell = "n/a" if value is None else (str(value) if metric == "videos" else fmt(value))
            low, high = [*(intervals.get(metric) or []), None, None][:2]
            if all(isinstance(v, int | float) and math.isfinite(v) for v in (value, low, high)):
                cell += f" ({fmt(low)} to {fmt(high)})"
            cells.append(cell)
        lines.append(f"| {_md(name)} | " + " | ".join(cells) + " |")
    return [*lines, "", "In brackets: the 95 % interval, where the report gives one.", ""]


def _card_evaluation(report, labels) -> list[str]:
    intervals = report.get("confidence_intervals_95", {})
    lines = [
        f"## Evaluation ({_md(report.get('split'))} split, {_md(report.get('videos'))} videos)",
        "",
        "| metric | value | 95 % interval |",
        "|---|---|---|",
    ]
    for metric, value in report["metrics"].items():
        if "/" in metric:  # one score's figure: in the table of each score
            continue
        if isinstance(value, int | float) and metric in intervals and intervals[metric]:
            low, high = intervals[metric]  # null where too few resamples define the metric
            interval = "n/a" if low is None or high is None else f"{fmt(low)} to {fmt(high)}"
            lines.append(f"| {_md(metric)} | {fmt(value)} | {interval} |")
    lines += ["", f"Intervals: bootstrap resampling whole {_md(report['bootstrap']['resampled_by'])}s."]
    methods = report.get("interval_methods", {}).items()
    lines += [f"The {_md(m.replace('_', ' '))} interval: {markdown_inline(how)}." for m, how in methods]
    lines.append("")
    if report.get("protocol"):
        lines += [markdown_inline(report["protocol"]), ""]
    if report.get("threshold") is not None:
        saved = str(report.get("threshold_source", "")).startswith("saved with the model")
        rule = "the pipeline decides with it" if saved else "the pipeline decides by the larger probability"
        source = markdown_inline(report.get("threshold_source") or "given")
        lines += [f"Decision: p({_md(labels[1])}) >= {report['threshold']:.3f}, {source} ({rule}).", ""]
    return lines + [f"Note: {markdown_inline(note)}" for note in report.get("notes", [])]


def _card_baselines(report, config) -> list[str]:
    """The static baselines beside the model's figure: one table, or for several named scores (``per_target``
    baselines) one table per score, against the model's figure on that score."""
    baselines = report["baselines"]
    lines = [
        "### Static baselines on the same videos",
        "",
        "What a model could score without watching anything move: read the model's figure against these.",
        "",
    ]
    if isinstance(baselines.get("per_target"), dict):
        figures = target_metrics(report, config)
        for name, table in baselines["per_target"].items():
            figure = figures.get(name, {}).get(table.get("metric"))
            lines += [f"**{_md(name)}**", "", baselines_markdown(table, figure), ""]
    elif "metric" in baselines:
        lines += [baselines_markdown(baselines, report["metrics"].get(baselines["metric"])), ""]
    return [*lines, *(f"- {markdown_inline(verdict)}" for verdict in baselines.get("verdicts", [])), ""]


def _card_limitations() -> list[str]:
    return [
        "## Intended use and limitations",
        "",
        "- For research and for training feedback on recorded procedures. It is not a medical device and must "
        "not be the sole basis of credentialing, certification or clinical decisions.",
        "- It has only seen the data described below: other procedures, camera set-ups, instruments or "
        "populations of surgeons can change its accuracy. Validate it on your own recordings first.",
        "- Skill labels and ratings carry rater bias; the model learns that bias along with the skill.",
        "- Video-level results come with confidence intervals because evaluation sets are small; "
        "read them, not only the point estimate.",
        "",
    ]


def prepare_hub_folder(
    run_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    repo_id: str | None = None,
    *,
    include_predictions: bool = False,
    dataset: str | None = None,
) -> Path:
    """Write what :func:`push_run` uploads into ``output_dir``: the model (safetensors weights, config, video
    processor), the package's code recorded for ``trust_remote_code`` (see :mod:`surgical_skill.remote_code`),
    ``README.md`` (the model card, see :func:`model_card`) and ``eval/``: the evaluation's figures over all
    videos, their text scrubbed of local paths. The per-video files (:data:`PER_VIDEO_FILES`) only with
    ``include_predictions``, then with videos by base name and subjects pseudonymised (:func:`pseudonym`).
    ``dataset`` names the data on the card (default: from the recipe's ``dataset``, never a path).

    Before the folder is complete every file is searched for the run's absolute paths and the Hub token; a
    folder holding one is refused and nothing is left behind."""
    run = Path(run_dir)
    model_dir = run / "model"
    if not (model_dir / "config.json").exists():
        raise ModelNotFoundError(
            f"{model_dir} holds no saved model (config.json): is {run} a training run? train first"
        )
    out = Path(output_dir).resolve()
    if out.exists() and any(out.iterdir()):
        raise ReportExistsError(f"{out} is not empty; choose a new folder")
    card = model_card(run, repo_id, dataset=dataset, include_predictions=include_predictions)
    known = _private_paths(run, _load(run / "recipe.yaml") or {})
    with staged_folder(out, kind="hub-folder") as tmp:  # whole or absent: a failure leaves no half-made folder
        # No marker in it: a downloaded model must not say "surgical-skill made this, it may be replaced", and
        # the folder may be uploaded by hand. A second export is refused anyway (the folder is not empty).
        (tmp / MARKER).unlink()
        shutil.copytree(model_dir, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(MARKER))
        save_remote_code(tmp)
        card.save(tmp / "README.md")
        _copy_public_eval(run, tmp / "eval", include_predictions, known)
        _check_nothing_private(tmp, _private_markers(run, known))
    return out


def push_run(
    run_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = True,
    include_predictions: bool = False,
    dataset: str | None = None,
    token: str | None = None,
) -> PushedRepo:
    """Upload a run's model, video processor, code, model card and evaluation figures to ``repo_id`` in one
    commit (see :func:`prepare_hub_folder`); returns the repository URL, with its visibility as the Hub reports
    it (``.private``). The repository is created private unless ``private=False``; an existing public one is
    refused unless ``private=False`` (``--public``), since creating it leaves its visibility as it is. The commit
    deletes what an earlier push wrote and this one did not (:data:`OWNED_PATTERNS`). The token: ``token`` from
    a caller's code, else huggingface_hub's own (``HF_TOKEN`` or ``hf auth login``).

    Raises:
        UsageError: the repository exists and is public, and ``private`` was asked (nothing is uploaded).
        HubPushError: the Hub could not be reached or refused the upload.
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = prepare_hub_folder(
            run_dir, Path(tmp) / "upload", repo_id, include_predictions=include_predictions, dataset=dataset
        )
        api = HfApi(token=token)
        try:
            url = api.create_repo(repo_id, private=private, exist_ok=True)
            is_private = api.repo_info(repo_id).private
        except Exception as err:
            raise _push_error(run_dir, repo_id, err) from err
        if private and is_private is not True:
            raise UsageError(
                f"{repo_id} already exists on the Hub and is public, so nothing was uploaded: make it private "
                "in its settings on the Hub and push again, or pass --public to publish into it"
            )
        try:
            api.upload_folder(
                repo_id=repo_id,
                folder_path=str(folder),
                commit_message="Upload skill model",
                delete_patterns=list(OWNED_PATTERNS),
                ignore_patterns=list(UNPUBLISHED_PATTERNS),
            )
        except Exception as err:  # offline, no token, no rights: say which repository and why
            raise _push_error(run_dir, repo_id, err) from err
    return PushedRepo(str(url), private=bool(is_private))


class PushedRepo(str):
    """A pushed repository's URL (a ``str``) with its visibility as the Hub reported it (``.private``)."""

    private: bool

    def __new__(cls, url: str, *, private: bool) -> PushedRepo:
        pushed = super().__new__(cls, url)
        pushed.private = private
        return pushed


def _push_error(run_dir, repo_id: str, err: Exception) -> HubPushError:
    return HubPushError(
        f"could not push {Path(run_dir) / 'model'} to the Hub as {repo_id}: {type(err).__name__}: {err}. "
        "`surgical-skill push RUN_DIR --repo-id ... --output-dir DIR` writes the folder to upload by hand."
    )
