"""Training the field's kinds of skill target: several named scores, a score distribution, every rater's score,
and ordered classes; each trains, saves, reloads with the Auto classes and predicts in range."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForVideoClassification

from surgical_skill.data import load_skill_dataset
from surgical_skill.data.raters import expand_rater_rows, rater_scores
from surgical_skill.errors import UsageError
from surgical_skill.models import clip_logits
from surgical_skill.models.heads import reported_score_names, scores_from_logits
from surgical_skill.training import RecipeError, train
from surgical_skill.training.loop import best_model_metric
from tests.helpers import tiny_arguments

ITEMS = ["respect_for_tissue", "suture_needle_handling", "instrument_handling", "time_and_motion", "flow_of_operation"]


def _validation_clips(output, count: int = 4) -> torch.Tensor:
    return torch.stack([output.eval_dataset[i]["pixel_values"] for i in range(count)])


def _train(manifest, out, *, data=None, model=None, **training):
    training = {"num_train_epochs": 2, "learning_rate": 0.01, **training}
    model_args, data_args, training_args = tiny_arguments(manifest, out, data_overrides=data, **training)
    for key, value in (model or {}).items():
        setattr(model_args, key, value)
    return train(model_args, data_args, training_args)


def test_several_named_scores_train_and_the_saved_model_names_its_outputs(synthetic_manifest, tmp_path):
    output = _train(
        synthetic_manifest,
        tmp_path / "run",
        data={"score_columns": ITEMS, "score_sum_name": "grs"},
        metric_for_best_model="video_respect_for_tissue/spearman",
    )
    record = output.result.history[-1]
    # one figure per score, and their Fisher-z mean under the single-score name
    assert {f"eval_video_{name}/spearman" for name in ITEMS} <= set(record) and "eval_video_spearman" in record
    model = AutoModelForVideoClassification.from_pretrained(output.result.model_dir).eval()
    config = model.config
    assert config.target_names == ITEMS and reported_score_names(config) == [*ITEMS, "grs"]
    assert [config.id2label[i] for i in range(config.num_labels)] == ITEMS and config.problem_type == "regression"
    assert config.normalize_scores  # several scores: learnt on one scale by default
    seen = np.concatenate([[list(r.values()) for r in output.data[s]["labels"]] for s in ("train", "validation")])
    assert config.score_ranges == [[float(seen[:, k].min()), float(seen[:, k].max())] for k in range(len(ITEMS))]
    scores = scores_from_logits(clip_logits(model, _validation_clips(output)), config)
    assert scores.shape == (4, len(ITEMS) + 1)
    assert torch.allclose(scores[:, -1], scores[:, :-1].sum(1))  # the reported GRS is the items' sum


def test_validation_reports_each_named_score_and_refuses_unknown_ones(synthetic_manifest, tmp_path):
    from surgical_skill.models import build_model

    model = build_model("small3d", target_names=["a", "b"], small3d_channels=[4, 8])
    assert best_model_metric(model.config, "video_b/spearman") == "video_b/spearman"
    with pytest.raises(RecipeError, match="'video_c/spearman' is not computed"):
        best_model_metric(model.config, "video_c/spearman")


def test_a_distribution_head_trained_on_every_raters_score_predicts_inside_the_scale(synthetic_manifest, tmp_path):
    output = _train(
        synthetic_manifest,
        tmp_path / "run",
        data={"score_columns": ["grs"], "score_ranges": {"grs": [5, 25]}, "rater_scores": "each"},
        model={"score_head": "distribution", "distribution_bins": 11},
    )
    assert len(output.train_dataset) == 3 * len(output.data["train"])  # three raters, a row each
    model = AutoModelForVideoClassification.from_pretrained(output.result.model_dir).eval()
    assert model.config.num_labels == 11 and model.config.score_head == "distribution"
    scores = scores_from_logits(clip_logits(model, _validation_clips(output)), model.config)
    assert scores.shape == (4, 1) and bool(((scores >= 5) & (scores <= 25)).all())


@pytest.mark.parametrize("loss", ["coral", "cumulative_link"])
def test_ordered_classes_train_with_an_ordinal_loss(synthetic_manifest, tmp_path, loss):
    output = _train(synthetic_manifest, tmp_path / "run", model={"ordinal_loss": loss}, num_train_epochs=1)
    model = AutoModelForVideoClassification.from_pretrained(output.result.model_dir).eval()
    assert model.config.ordinal_loss == loss and model.config.ordinal
    probabilities = scores_from_logits(clip_logits(model, _validation_clips(output)), model.config)
    assert bool((probabilities >= 0).all()) and torch.allclose(probabilities.sum(1), torch.ones(4))
    record = output.result.history[-1]
    assert {"eval_video_quadratic_kappa", "eval_video_expected_cost", "eval_clip_mean_absolute_class_error"} <= set(
        record
    )


def test_rater_rows_give_each_raters_score_and_keep_the_video(synthetic_manifest):
    data = load_skill_dataset(synthetic_manifest, score_column=["grs"], split_ratios=None)["train"]
    matrix, raters = rater_scores(data, "grs")
    assert raters == ["1", "2", "3"] and matrix.shape == (len(data), 3)
    assert np.allclose(matrix[:, 0], np.asarray(data["grs_rater_1"], dtype=float))
    rows = expand_rater_rows(data)
    assert [r["grs"] for r in rows["labels"][:3]] == matrix[0].tolist()
    assert rows["video_id"][:3] == [data["video_id"][0]] * 3
    with pytest.raises(UsageError, match="rater_scores 'each' needs every rater's score of 'score'"):
        expand_rater_rows(load_skill_dataset(synthetic_manifest, target="score", split_ratios=None)["train"])


@pytest.mark.parametrize(
    ("data", "model", "message"),
    [
        ({}, {"score_head": "distribution"}, "score_head: for score targets, and this data's target is classes"),
        ({"score_columns": ["grs"]}, {"ordinal_loss": "coral"}, "ordinal_loss and ordinal are for ordered classes"),
        ({"score_columns": ["grs"], "score_ranges": {"gsr": [5, 25]}}, {}, "score_ranges names gsr, which the data"),
        ({"score_columns": ["grs"], "score_sum_name": "grs"}, {}, "score_sum_name 'grs' is one of the predicted"),
    ],
    ids=[
        "a score head on classes",
        "an ordinal loss on scores",
        "a range of an unknown score",
        "a sum named as a score",
    ],
)
def test_head_settings_that_do_not_fit_the_data_are_refused_before_training(
    synthetic_manifest, tmp_path, data, model, message
):
    with pytest.raises(RecipeError, match=message):
        _train(synthetic_manifest, tmp_path / "run", data=data, model=model)
    assert not (tmp_path / "run" / "model").exists()


def test_score_columns_name_every_missing_or_non_numeric_column(synthetic_manifest, tmp_path):
    from surgical_skill.data import SkillDatasetError

    with pytest.raises(SkillDatasetError, match="no such column: score column 'gsr'"):
        load_skill_dataset(synthetic_manifest, score_column=["grs", "gsr"], probe_videos=False)
    text = synthetic_manifest.read_text().splitlines()
    header = text[0].split(",")
    rows = [line.split(",") for line in text[1:]]
    for row in rows:  # the manifest moves: its videos by absolute path
        row[header.index("video")] = str(synthetic_manifest.parent / row[header.index("video")])
    rows[0][header.index("grs")] = "n/a"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([text[0], *(",".join(row) for row in rows)]) + "\n")
    with pytest.raises(SkillDatasetError, match=r"(?s)scores that are not numbers.*row 1: 'n/a' \(grs\)"):
        load_skill_dataset(bad, score_column=["respect_for_tissue", "grs"], probe_videos=False)


def test_cross_validation_of_named_scores_pools_each_score_and_their_fisher_z_mean(tmp_path):
    """The summary of folds of three named scores and their sum: pooled figures equal the out-of-fold predictions'
    own (scipy), headed by the Fisher-z mean of the scores' Spearman, each fold's figures its report's."""
    import csv

    from scipy import stats

    from surgical_skill.evaluation.evaluate import VideoPrediction, score_predictions
    from surgical_skill.models import build_model
    from surgical_skill.training import summarize_cross_validation

    items = ITEMS[:3]
    config = build_model("small3d", target_names=items, score_sum_name="grs", small3d_channels=[4, 8]).config
    rng = np.random.default_rng(0)
    results = {}
    for fold in ("fold-1", "fold-2"):
        predictions = []
        for i in range(12):
            truth = rng.integers(1, 6, size=3).astype(float)
            predicted = truth + rng.normal(0, 1.0, size=3)
            label = [*truth.tolist(), float(truth.sum())]
            values = [*predicted.tolist(), float(predicted.sum())]
            predictions.append(VideoPrediction(i, f"{fold}-{i}.mp4", f"{fold}-s{i // 2}", label, values, [], []))
        results[fold] = score_predictions(predictions, config, bootstrap_samples=50)
    summary = summarize_cross_validation(results, tmp_path / "cv", bootstrap_samples=200)
    assert summary["labels"] == [*items, "grs"] and summary["targets"] == items
    assert summary["field_figure"]["metric"] == "spearman_fisher_z"
    rows = list(csv.DictReader((tmp_path / "cv" / "oof_predictions.csv").open()))
    assert len(rows) == 24 and {f"true_{n}" for n in [*items, "grs"]} <= set(rows[0])
    rhos = []
    for name in [*items, "grs"]:
        truth = [float(r[f"true_{name}"]) for r in rows]
        predicted = [float(r[f"predicted_{name}"]) for r in rows]
        rho = stats.spearmanr(truth, predicted)[0]
        assert summary["pooled"][f"{name}/spearman"] == pytest.approx(rho, abs=1e-5)
        rhos += [rho] if name != "grs" else []  # the sum is not in the headline
    assert summary["pooled"]["spearman_fisher_z"] == pytest.approx(np.tanh(np.mean(np.arctanh(rhos))), abs=1e-5)
    low, high = summary["pooled_confidence_intervals_95"]["spearman_fisher_z"]
    assert low <= summary["pooled"]["spearman_fisher_z"] <= high
    for fold, result in results.items():
        assert summary["per_fold"][fold]["spearman_fisher_z"] == pytest.approx(result.metrics["spearman_fisher_z"])
    text = (tmp_path / "cv" / "summary.md").read_text()
    assert "spearman fisher z" in text and "one class" not in text  # no class sentences for scores


def test_a_run_of_named_scores_is_reevaluated_and_audited_score_by_score(synthetic_manifest, tmp_path, capsys):
    """train.py with two named scores (two outputs, yet no class threshold): its report; `evaluate RUN` scores the
    same test surgeons to the same figures; `audit --run` fits each score's baselines on the training surgeons,
    beside the model's figure on that score (the report's baselines: test_multi_target_eval)."""
    from surgical_skill.cli import main as cli
    from tests.helpers import load_train_script, write_tiny_recipe

    names = ["time_and_motion", "grs"]
    run = tmp_path / "run"
    recipe = write_tiny_recipe(
        tmp_path / "r.yaml",
        synthetic_manifest,
        score_columns=names,
        eval_clips_per_video=1,
        output_dir=str(run),
    )
    assert load_train_script().main([str(recipe)]) == 0
    assert "test: video-level Spearman over 2 targets (Fisher-z mean)" in capsys.readouterr().out
    assert "decision_threshold" not in json.loads((run / "model" / "config.json").read_text())
    report = json.loads((run / "eval" / "metrics.json").read_text())
    assert cli(["evaluate", str(run), "--output-dir", str(tmp_path / "again"), "--num-workers", "0"]) == 0
    assert json.loads((tmp_path / "again" / "metrics.json").read_text())["metrics"] == report["metrics"]
    assert cli(["audit", "--run", str(run), "--json", str(tmp_path / "audit.json")]) == 0
    payload = json.loads((tmp_path / "audit.json").read_text())
    assert list(payload) == names
    for name in payload:
        assert payload[name]["model"] == pytest.approx(report["metrics"][f"{name}/spearman"], nan_ok=True)
        assert set(payload[name]["baselines"]) == {"duration", "file_size", "bitrate"}


def test_a_new_head_on_a_saved_model_keeps_nothing_of_the_old_one(tmp_path):
    """Fine-tuning: a class head on a saved score model, and a score head on a saved ordinal model, each drop
    the other kind's settings and train a step."""
    from surgical_skill.models import build_model, skill_loss

    tiny = {"small3d_channels": [4, 8]}
    clips = torch.randn(2, 8, 3, 32, 32)
    scores = build_model(
        "small3d", target_names=["a", "b"], score_ranges=[[1, 5], [6, 30]], score_head="distribution", **tiny
    )
    scores.save_pretrained(tmp_path / "scores")
    classes = build_model(tmp_path / "scores", id2label=["lower", "higher"])
    assert classes.config.problem_type != "regression" and classes.config.num_labels == 2
    assert not any(
        hasattr(classes.config, key) for key in ("target_names", "score_ranges", "score_head", "distribution_bins")
    )
    skill_loss(classes(pixel_values=clips).logits, torch.tensor([0, 1]), classes.config).backward()
    ordinal = build_model("small3d", id2label=["n", "i", "e"], ordinal_loss="coral", **tiny)
    ordinal.save_pretrained(tmp_path / "ordinal")
    again = build_model(tmp_path / "ordinal", target_names=["grs"], score_ranges=[[6, 30]])
    assert again.config.problem_type == "regression" and not hasattr(again.config, "ordinal_loss")
    skill_loss(again(pixel_values=clips).logits, torch.tensor([[12.0], [25.0]]), again.config).backward()


def test_score_ranges_hold_every_raters_score_when_training_on_each(synthetic_manifest):
    from surgical_skill.training import DataArguments, ModelArguments
    from surgical_skill.training.data_setup import score_head_options

    data = load_skill_dataset(synthetic_manifest, score_column=["grs"])
    seen = [data[s] for s in ("train", "validation")]
    means = np.concatenate([np.asarray(s["grs"], dtype=float) for s in seen])
    ratings = np.concatenate([rater_scores(s, "grs")[0].reshape(-1) for s in seen])
    model_args = ModelArguments(model_config={"small3d_channels": [4, 8]}, score_head="distribution")
    mean_only = score_head_options(model_args, DataArguments(score_columns=["grs"]), data)["score_ranges"]
    each = score_head_options(model_args, DataArguments(score_columns=["grs"], rater_scores="each"), data)
    assert mean_only == [[means.min(), means.max()]]
    assert each["score_ranges"] == [[min(ratings.min(), means.min()), max(ratings.max(), means.max())]]
    assert ratings.min() < means.min() or ratings.max() > means.max()  # the raters do stray past the mean's range


def test_a_saved_dataset_of_named_scores_loads_again(synthetic_manifest, tmp_path):
    data = load_skill_dataset(synthetic_manifest, score_column=["grs", "time_and_motion"], probe_videos=False)
    data.save_to_disk(tmp_path / "saved")
    again = load_skill_dataset(tmp_path / "saved", score_column=["grs", "time_and_motion"], probe_videos=False)
    for split in data:
        assert again[split]["labels"] == data[split]["labels"] and again[split]["video"] == data[split]["video"]


def test_recipes_may_pick_an_ordinal_or_a_named_scores_figure(synthetic_manifest, tmp_path):
    from surgical_skill.training import DataArguments, ModelArguments, TrainingArguments
    from surgical_skill.training.loop import _is_better
    from surgical_skill.training.recipe import check_recipe

    out = str(tmp_path / "run")
    check_recipe(
        ModelArguments(ordinal_loss="coral"),
        DataArguments(target="label"),
        TrainingArguments(output_dir=out, metric_for_best_model="video_expected_cost"),
    )
    check_recipe(
        ModelArguments(),
        DataArguments(target="score", score_columns=["grs", "time_and_motion"]),
        TrainingArguments(output_dir=out, metric_for_best_model="video_grs/spearman"),
    )
    with pytest.raises(RecipeError, match="not computed"):
        check_recipe(
            ModelArguments(),
            DataArguments(target="label"),
            TrainingArguments(output_dir=out, metric_for_best_model="video_expected_cost"),
        )
    assert _is_better(0.1, 0.2, "video_brier") and _is_better(0.1, 0.2, "video_expected_cost")
    assert not _is_better(0.1, 0.2, "video_quadratic_kappa")
