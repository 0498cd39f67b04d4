"""Models on the Hub: a model card built from a run folder, :func:`prepare_hub_folder` (model, video processor,
the package's code for ``trust_remote_code``, card, evaluation report) and :func:`push_run` to upload it
(``surgical-skill push RUN_DIR --repo-id org/name``)."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData

from .errors import SurgicalSkillError
from .evaluation.baselines import baselines_markdown
from .evaluation.formatting import fmt
from .evaluation.report import ReportExistsError
from .files import staged_folder
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


def _load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    return json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())


def model_card(run_dir: str | os.PathLike, repo_id: str | None = None):
    """A ``huggingface_hub.ModelCard`` for a training run: YAML metadata (pipeline tag, tags, library, dataset,
    evaluation results with their 95 % intervals) and a body with usage, the evaluation, intended use and
    limitations for clinical settings, and the exact training recipe."""
    run = Path(run_dir)
    config = _load(run / "model" / "config.json") or {}
    recipe = _load(run / "recipe.yaml") or {}
    report = _load(run / "eval" / "metrics.json")
    labels = [config.get("id2label", {}).get(str(i)) for i in range(len(config.get("id2label", {})))]
    name = repo_id or run.name
    dataset = str(recipe.get("dataset", "unknown"))
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
                        dataset_type=dataset,
                        dataset_name=Path(dataset).stem,
                        metric_type=metric,
                        metric_name=metric_name,
                        metric_value=value,
                        dataset_split=report.get("split"),
                    )
                )
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag="video-classification",
        tags=CARD_TAGS,
        license="apache-2.0",
        base_model=recipe.get("model_name_or_path") if "/" in str(recipe.get("model_name_or_path", "")) else None,
        model_name=name,
        eval_results=results or None,
    )
    body = _card_body(name, config, recipe, report, labels)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


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


def _card_body(name, config, recipe, report, labels) -> str:
    sections = [
        _card_usage(name, config, labels),
        _card_outputs(config, labels),
        _card_evaluation(report, labels) if report else [],
        _card_target_evaluation(report, config) if report else [],
        _card_baselines(report, config) if report and report.get("baselines") else [],
        _card_limitations(),
        ["## Training recipe", "", "```yaml", yaml.safe_dump(recipe, sort_keys=False).strip(), "```", ""],
    ]
    return "\n".join(line for section in sections for line in section)


def _card_usage(name, config, labels) -> list[str]:
    regression = is_regression_model(config)
    if regression:
        names, total = target_names(config), config.get("score_sum_name")
        predicts = f"It predicts {_listed(names)}" + (f" and their sum, {total}." if total else ".")
        if names == ["score"] and not total:
            predicts = "It predicts a skill score."
    else:
        predicts = f"Classes: {', '.join(map(str, labels))}."
    reads = 'result["scores"], result["clips"]' if regression else 'result["label"], result["score"], result["clips"]'
    return [
        f"# {name}",
        "",
        f"A surgical skill assessment model ({config.get('model_type', 'video model')}) trained with "
        "[surgical-skill](https://github.com/surgical-skill/surgical-skill). It scores a whole recording from "
        "clips spread over it. " + predicts,
        "",
        "## Use",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        "# The repository carries surgical-skill's code: transformers, torch, torchvision and av suffice",
        f'skill = pipeline("surgical-skill", model="{name}", trust_remote_code=True)',
        'result = skill("trial.mp4", num_clips=8)',
        f"{reads}  # the clips are the timeline of the evidence",
        "```",
        "",
        "With the package installed (`pip install surgical-skill`): "
        f"`surgical-skill predict trial.mp4 --model {name} --plot`.",
        "",
    ]


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{len(names)} scores ({', '.join(names)})"


def _card_outputs(config, labels) -> list[str]:
    """What each output means: the scores (names, ranges, the head) or the classes (ordered or not, the loss)."""
    lines = ["## Outputs", ""]
    if not is_regression_model(config):
        if is_ordinal(config):
            lines.append(
                f"Ordered classes: {' < '.join(map(str, labels))}; ordinal metrics (quadratic kappa, "
                "Expected Cost) apply."
            )
        else:
            lines.append(f"Classes: {', '.join(map(str, labels))}.")
        loss = ordinal_loss(config)
        lines.append(f"Trained with {LOSS_NAMES.get(loss, loss)}.")
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
        lines.append(f"| {name} | {low_high} | predicted |")
    if total:
        span = f"{sum(r[0] for r in ranges):g} to {sum(r[1] for r in ranges):g}" if ranges else "not saved"
        lines.append(f"| {total} | {span} | the sum of the scores above |")
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
    lines = ["### Each score", "", "| score | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
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
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, "", "In brackets: the 95 % interval, where the report gives one.", ""]


def _card_evaluation(report, labels) -> list[str]:
    intervals = report.get("confidence_intervals_95", {})
    lines = [
        f"## Evaluation ({report.get('split')} split, {report.get('videos')} videos)",
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
            lines.append(f"| {metric} | {fmt(value)} | {interval} |")
    lines += ["", f"Intervals: bootstrap resampling whole {report['bootstrap']['resampled_by']}s."]
    lines += [f"The {m.replace('_', ' ')} interval: {how}." for m, how in report.get("interval_methods", {}).items()]
    lines.append("")
    if report.get("protocol"):
        lines += [report["protocol"], ""]
    if report.get("threshold") is not None:
        saved = str(report.get("threshold_source", "")).startswith("saved with the model")
        rule = "the pipeline decides with it" if saved else "the pipeline decides by the larger probability"
        source = report.get("threshold_source") or "given"
        lines += [f"Decision: p({labels[1]}) >= {report['threshold']:.3f}, {source} ({rule}).", ""]
    return lines + [f"Note: {note}" for note in report.get("notes", [])]


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
            lines += [f"**{name}**", "", baselines_markdown(table, figure), ""]
    elif "metric" in baselines:
        lines += [baselines_markdown(baselines, report["metrics"].get(baselines["metric"])), ""]
    return [*lines, *(f"- {verdict}" for verdict in baselines.get("verdicts", [])), ""]


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


def prepare_hub_folder(run_dir: str | os.PathLike, output_dir: str | os.PathLike, repo_id: str | None = None) -> Path:
    """Write what :func:`push_run` uploads into ``output_dir``: the model (safetensors weights, config, video
    processor), the package's code recorded for ``trust_remote_code`` (see :mod:`surgical_skill.remote_code`),
    ``README.md`` (the model card) and ``eval/`` (the evaluation report, when the run has one)."""
    run = Path(run_dir)
    model_dir = run / "model"
    if not (model_dir / "config.json").exists():
        raise ModelNotFoundError(
            f"{model_dir} holds no saved model (config.json): is {run} a training run? train first"
        )
    out = Path(output_dir).resolve()
    if out.exists() and any(out.iterdir()):
        raise ReportExistsError(f"{out} is not empty; choose a new folder")
    with staged_folder(out) as tmp:  # whole or absent: a failure leaves no half-made folder
        shutil.copytree(model_dir, tmp, dirs_exist_ok=True)
        save_remote_code(tmp)
        model_card(run, repo_id).save(tmp / "README.md")
        if (run / "eval").is_dir():
            shutil.copytree(run / "eval", tmp / "eval")
    return out


def push_run(run_dir: str | os.PathLike, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Upload a run's model, video processor, code, model card and evaluation report to ``repo_id`` in one
    commit (see :func:`prepare_hub_folder`); returns the repository URL."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = prepare_hub_folder(run_dir, Path(tmp) / "upload", repo_id)
        api = HfApi(token=token)
        try:
            url = api.create_repo(repo_id, private=private, exist_ok=True)
            api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message="Upload skill model")
        except Exception as err:  # offline, no token, no rights: say which repository and why
            raise HubPushError(
                f"could not push {Path(run_dir) / 'model'} to the Hub as {repo_id}: {type(err).__name__}: {err}. "
                "`surgical-skill push RUN_DIR --repo-id ... --output-dir DIR` writes the folder to upload by hand."
            ) from err
    return str(url)
