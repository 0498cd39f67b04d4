"""`surgical-skill evaluate RUN` holds a run to its own held-out surgeons: the recorded split, the model's class
names and the threshold chosen on validation; anything that would score a surgeon the model saw is refused."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from surgical_skill.data.synthetic import SyntheticConfig, generate_dataset
from surgical_skill.files import folder_kind
from tests.helpers import load_train_script, run_cli, write_manifest, write_tiny_recipe

# not the defaults: the split and the class order must come from the run, not from evaluate's own options
RATIOS = [0.5, 0.2, 0.3]
CLASS_ORDER = ["higher-skilled", "lower-skilled"]


@pytest.fixture(scope="module")
def run(synthetic_manifest, tmp_path_factory):
    """A tiny run trained by recipes/train.py with non-default split ratios and class order."""
    from accelerate.state import AcceleratorState

    root = tmp_path_factory.mktemp("run")
    recipe = write_tiny_recipe(
        root / "recipe-in.yaml",
        synthetic_manifest,
        split_ratios=RATIOS,
        label_names=CLASS_ORDER,
        num_train_epochs=2,
        per_device_train_batch_size=4,
        learning_rate=0.01,
        static_baselines=True,
        output_dir=str(root / "run"),
    )
    assert load_train_script().main([str(recipe)]) == 0
    AcceleratorState._reset_state(reset_partial_state=True)
    return root / "run"


@pytest.fixture(scope="module")
def new_videos(tmp_path_factory):
    """Eight videos of four surgeons nobody trained on."""
    config = SyntheticConfig(num_videos=8, height=48, width=48, duration=2.0, seed=99)
    return generate_dataset(tmp_path_factory.mktemp("new"), config, workers=1)


def read(path):
    return json.loads(path.read_text())


def predictions(report):
    return list(csv.DictReader((report / "predictions.csv").open()))


def test_the_run_records_its_split_and_saves_the_validation_threshold(run):
    record = read(run / "splits.json")
    assert record["split_ratios"] == RATIOS
    subjects = {name: set(part["subjects"]) for name, part in record["splits"].items()}
    assert not subjects["test"] & (subjects["train"] | subjects["validation"])
    assert len(subjects["test"]) == round(0.3 * 12)
    config = read(run / "model" / "config.json")
    assert config["id2label"] == {"0": "higher-skilled", "1": "lower-skilled"}
    assert 0 <= config["decision_threshold"] <= 1
    assert config["decision_threshold_info"]["chosen_on"] == "the validation split"
    report = read(run / "eval" / "metrics.json")
    assert report["threshold"] == config["decision_threshold"]
    assert "saved with the model" in report["threshold_source"]
    assert set(report["baselines"]["baselines"]) == {"duration", "file_size", "bitrate", "middle_frame", "last_frame"}


def test_evaluate_run_scores_exactly_its_test_surgeons_with_the_same_figures(run, tmp_path):
    result = run_cli("evaluate", run, "--output-dir", tmp_path / "again")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test: video-level accuracy" in result.stdout and "decision: p(lower-skilled) >=" in result.stdout
    record = read(run / "splits.json")["splits"]
    assert sorted(r["video"] for r in predictions(tmp_path / "again")) == sorted(record["test"]["videos"])
    assert {r["subject"] for r in predictions(tmp_path / "again")} == set(record["test"]["subjects"])
    again, trained = read(tmp_path / "again" / "metrics.json"), read(run / "eval" / "metrics.json")
    assert again["labels"] == trained["labels"] == CLASS_ORDER
    assert again["threshold"] == trained["threshold"]
    for name in ("accuracy", "balanced_accuracy", "roc_auc", "mcc", "log_loss"):
        assert again["metrics"][name] == pytest.approx(trained["metrics"][name], abs=1e-6, nan_ok=True), name
    assert again["confidence_intervals_95"] == trained["confidence_intervals_95"]
    assert predictions(tmp_path / "again") == predictions(run / "eval")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--split-ratios", "0.7", "0.15", "0.15"], "the run was split with split ratios [0.5, 0.2, 0.3]"),
        (["--split-seed", "3"], "the run was split with split seed 0"),
        (["--split", "validation"], "trained (train) or selected (validation) on the validation split"),
    ],
)
def test_requests_that_would_score_seen_surgeons_are_refused(run, tmp_path, flags, message):
    result = run_cli("evaluate", run, "--output-dir", tmp_path / "eval", *flags)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "eval").exists()


def test_the_run_report_is_never_overwritten_unasked(run, tmp_path):
    before = (run / "eval" / "metrics.json").read_bytes()
    before_metrics = before.decode()
    result = run_cli("evaluate", run)  # the default output is the run's own eval/
    assert result.returncode == 2 and "already holds an evaluation report; pass --overwrite" in result.stderr
    assert (run / "eval" / "metrics.json").read_bytes() == before
    thesis = tmp_path / "thesis"
    (thesis / "chapters").mkdir(parents=True)
    (thesis / "chapters" / "one.tex").write_text("intro")
    (thesis / "thesis.txt").write_text("four years")
    (thesis / "metrics.json").write_text("{}")  # another tool's: it does not make the folder a report
    before = sorted((str(p.relative_to(thesis)), p.read_bytes() if p.is_file() else b"") for p in thesis.rglob("*"))
    for flags in ([], ["--overwrite"]):
        result = run_cli("evaluate", run, "--output-dir", thesis, *flags)
        assert result.returncode == 2 and "is not an evaluation report made by surgical-skill" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
        after = sorted((str(p.relative_to(thesis)), p.read_bytes() if p.is_file() else b"") for p in thesis.rglob("*"))
        assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # nothing staged beside it either
    # its own earlier report (the toolkit's marker) is replaced on request, with the same figures
    assert folder_kind(run) == "training-run" and folder_kind(run / "eval") == "evaluation-report"
    result = run_cli("evaluate", run, "--overwrite")
    assert result.returncode == 0, result.stderr[-3000:]
    again, earlier = read(run / "eval" / "metrics.json"), json.loads(before_metrics)
    assert again["metrics"]["accuracy"] == pytest.approx(earlier["metrics"]["accuracy"], abs=1e-6)
    assert folder_kind(run / "eval") == "evaluation-report"


def test_other_class_names_are_refused_listing_both_and_mapped_on_request(run, new_videos, tmp_path):
    rows = list(csv.DictReader(new_videos.open()))
    for row in rows:
        row["video"] = str(new_videos.parent / row["video"])
        row["label"] = {"lower-skilled": "novice", "higher-skilled": "expert"}[row["label"]]
    renamed = write_manifest(tmp_path / "renamed.csv", rows)
    result = run_cli("evaluate", run, "--dataset", renamed, "--output-dir", tmp_path / "eval")
    assert result.returncode == 2
    assert (
        "the dataset's classes ['novice', 'expert'] do not match the model's ['higher-skilled', 'lower-skilled']"
        in (result.stderr)
    )
    result = run_cli(
        "evaluate", run, "--dataset", renamed, "--output-dir", tmp_path / "eval",
        "--label-map", "novice=lower-skilled,expert=higher-skilled", "--no-baselines",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("NEW DATA:")
    report = read(tmp_path / "eval" / "metrics.json")
    assert report["split"] == "all" and report["videos"] == 8 and report["protocol"].startswith("New data:")
    truth = {r["video"]: r["label"] for r in rows}
    mapped = {"novice": "lower-skilled", "expert": "higher-skilled"}
    assert all(mapped[truth[r["video"]]] == r["label"] for r in predictions(tmp_path / "eval"))


def test_new_data_holding_copies_of_training_videos_is_refused(run, synthetic_manifest, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(synthetic_manifest.parent, copy)  # the same recordings in another folder are not new data
    rows = list(csv.DictReader((copy / "metadata.csv").open()))
    for row in rows:
        row["subject"] = "X" + row["subject"]  # renamed surgeons do not hide them either
    other = write_manifest(copy / "other.csv", rows)
    result = run_cli("evaluate", run, "--dataset", other, "--output-dir", copy / "e", "--no-baselines")
    assert result.returncode == 2 and "were used to train or select the model" in result.stderr
    assert str(copy / "videos") in result.stderr  # names the copy it found


def _copy_run(run, tmp_path):
    copy = tmp_path / "run-copy"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("eval", "checkpoints", "runs"))
    return copy


def test_the_recorded_split_wins_over_an_edited_recipe(run, tmp_path):
    copy = _copy_run(run, tmp_path)
    recipe = (copy / "recipe.yaml").read_text()
    (copy / "recipe.yaml").write_text(recipe.replace("split_seed: 0", "split_seed: 5"))
    result = run_cli("evaluate", copy, "--no-baselines")
    assert result.returncode == 0, result.stderr[-3000:]
    recorded = read(run / "splits.json")["splits"]["test"]["videos"]
    assert sorted(r["video"] for r in predictions(copy / "eval")) == sorted(recorded)


def test_a_run_whose_record_is_missing_or_contradicted_is_refused(run, tmp_path):
    copy = _copy_run(run, tmp_path)
    record = read(copy / "splits.json")
    (copy / "splits.json").unlink()
    result = run_cli("evaluate", copy, "--no-baselines")
    assert result.returncode == 2 and "has no splits.json" in result.stderr
    # a test video that the record also lists for training (the data changed under the run): refused
    record["splits"]["train"]["fingerprints"].append(record["splits"]["test"]["fingerprints"][0])
    (copy / "splits.json").write_text(json.dumps(record))
    result = run_cli("evaluate", copy, "--no-baselines")
    assert result.returncode == 2 and "were used to train or select the model" in result.stderr
    assert not (copy / "eval").exists()


def test_mistyped_paths_and_cross_validation_roots_say_what_to_do(tmp_path):
    result = run_cli("evaluate", tmp_path / "no-such-run")
    assert (
        result.returncode == 2 and "no such run or model folder" in result.stderr and "Traceback" not in result.stderr
    )
    root = tmp_path / "cv"
    (root / "fold-1" / "model").mkdir(parents=True)
    (root / "fold-1" / "model" / "config.json").write_text("{}")
    (root / "recipe.yaml").write_text("cv_folds: 2\n")
    result = run_cli("evaluate", root)
    assert result.returncode == 2 and "is a cross-validation run: evaluate one of its folds (fold-1)" in result.stderr


def test_fine_tuning_a_saved_model_drops_its_threshold(run):
    from surgical_skill.models import build_model

    model = build_model(str(run / "model"))
    assert not hasattr(model.config, "decision_threshold")


def test_the_pipeline_and_predict_decide_with_the_saved_threshold(run, new_videos):
    from transformers import pipeline

    import surgical_skill

    surgical_skill.register()
    threshold = read(run / "model" / "config.json")["decision_threshold"]
    video = str(new_videos.parent / "videos" / "S000_trial1.mp4")
    result = pipeline("surgical-skill", model=str(run / "model"))(video, num_clips=2)
    decision = result["metadata"]["decision"]
    assert decision["threshold"] == threshold and decision["rule"] == "p(lower-skilled) >= threshold"
    assert result["label"] == (
        "lower-skilled" if result["probabilities"]["lower-skilled"] >= threshold else "higher-skilled"
    )
    forced = pipeline("surgical-skill", model=str(run / "model"))(video, num_clips=2, threshold=0.0)
    assert forced["label"] == "lower-skilled" and forced["metadata"]["decision"]["source"] == "given"
    printed = run_cli("predict", video, "--model", run / "model", "--num-clips", "2")
    assert (
        printed.returncode == 0
        and f"decision: p(lower-skilled) >= threshold {threshold:.3f}, saved with the model" in printed.stdout
    )


def test_audit_of_a_run_puts_the_baselines_beside_the_model(run, tmp_path):
    result = run_cli("audit", "--run", run, "--json", tmp_path / "audit.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| **the model** |" in result.stdout and "trial length only" in result.stdout
    audit = read(tmp_path / "audit.json")
    assert audit["videos"] == read(run / "eval" / "metrics.json")["videos"]
    assert len(audit["verdicts"]) == 5 and audit["model"] == read(run / "eval" / "metrics.json")["metrics"]["accuracy"]


def test_the_model_card_shows_the_threshold_and_the_baselines(run):
    from surgical_skill.hub import model_card

    text = model_card(run, "lab/suturing-skill").text
    threshold = read(run / "model" / "config.json")["decision_threshold"]
    assert f"Decision: p(lower-skilled) >= {threshold:.3f}, saved with the model" in text
    assert "### Static baselines on the same videos" in text and "| **the model** |" in text
    assert "| trial length only |" in text and "| the last frame |" in text


def test_rows_of_one_video_keep_their_own_keys_in_the_split_record(tmp_path):
    """Two phases of one recording are two rows: the split record tells them apart by their frames, so a run is
    evaluated again on exactly its rows (the key of a whole-video row is unchanged)."""
    from datasets import Dataset

    from surgical_skill.testing_utils import make_test_video
    from surgical_skill.training.runs import _fingerprints, video_fingerprint

    video = str(make_test_video(tmp_path / "op.mp4", 12, height=24, width=32))
    rows = Dataset.from_dict({"video": [video] * 3, "segment_start": [2, 6, None], "segment_end": [6, 12, None]})
    keys = _fingerprints(rows)
    assert len(set(keys)) == 3 and keys[2] == video_fingerprint(video) and keys[0].endswith("#frames:2-6")
    assert _fingerprints(Dataset.from_dict({"video": [video]})) == [video_fingerprint(video)]


def test_a_fold_whose_protocol_shares_surgeons_is_evaluated_again_with_that_said(tmp_path):
    """LOSO, or a fold file mixing a surgeon's trials: the run's own record puts the surgeon in training and test,
    so evaluating the fold again is not refused but says the figures are for new videos of known surgeons; a
    surgeon the record never tested is still refused."""
    from datasets import Dataset

    from surgical_skill.testing_utils import make_test_video
    from surgical_skill.training import DataArguments, EvaluationRefused, RunFolder
    from surgical_skill.training.runs import _refuse_seen

    split = {"subjects": ["B", "C"], "videos": [], "fingerprints": []}
    record = {"splits": {"train": split, "validation": {**split, "subjects": ["D"]}, "test": split}}
    run = RunFolder(model_dir=str(tmp_path), run_dir=tmp_path, recipe={"dataset": "x"}, splits=record)
    video = str(make_test_video(tmp_path / "B003.mp4", 12, height=24, width=32))
    args = DataArguments(cv="jigsaws-4fold", cv_fold_file="folds.csv")
    said = _refuse_seen(Dataset.from_dict({"video": [video], "subject": ["B"]}), True, run, args)
    assert "(jigsaws-4fold) holds out videos, not surgeons" in said and "new videos of known surgeons" in said
    with pytest.raises(EvaluationRefused, match="surgeons D trained or selected the model"):
        _refuse_seen(Dataset.from_dict({"video": [video], "subject": ["D"]}), True, run, args)


def test_a_resume_keeps_the_recorded_splits_when_this_version_splits_the_same_videos_otherwise(
    synthetic_manifest, tmp_path
):
    """A run begun under an earlier splitting (another version, another scikit-learn) resumes on the surgeons it
    began with; new or missing videos are still refused, and a cross-validation that would mix recorded folds
    with folds made the new way is refused."""
    from datasets import DatasetDict, concatenate_datasets

    from surgical_skill.data import load_skill_dataset
    from surgical_skill.training import DataArguments, RecipeError, check_resumed_data, write_split_record

    args = DataArguments(dataset=str(synthetic_manifest), split_ratios=[0.5, 0.25, 0.25])
    data = load_skill_dataset(synthetic_manifest, split_ratios=(0.5, 0.25, 0.25), seed=0)
    pool = concatenate_datasets(list(data.values()))
    subjects = sorted(set(pool["subject"]))
    # how an earlier version might have split the same videos: the first surgeons to test, the last to train
    earlier = DatasetDict(
        {
            name: pool.filter(lambda row, chosen=chosen: row["subject"] in chosen)
            for name, chosen in (("train", subjects[6:]), ("validation", subjects[3:6]), ("test", subjects[:3]))
        }
    )
    assert set(earlier["test"]["subject"]) != set(data["test"]["subject"])
    write_split_record(tmp_path / "run", earlier, args)

    [(_, resumed)] = check_resumed_data([(tmp_path / "run", data)], args)
    for name in ("train", "validation", "test"):
        assert sorted(resumed[name]["video"]) == sorted(earlier[name]["video"]), name
    [(_, same)] = check_resumed_data([(tmp_path / "run", earlier)], args)
    assert same is earlier  # split as recorded: used as it is

    fewer = DatasetDict({**data, "train": data["train"].select(range(len(data["train"]) - 1))})
    with pytest.raises(RecipeError, match=r"split is not the one it trained on .* the data changed since"):
        check_resumed_data([(tmp_path / "run", fewer)], args)

    # a split the data gave (a split column edited since), not one this version makes by ratio: refused as before
    given = DatasetDict(train=data["train"], validation=data["test"], test=data["validation"])
    with pytest.raises(RecipeError, match=r"test split is not the one it trained on .* split column changed since"):
        check_resumed_data([(tmp_path / "run", given)], args)
    # subject ids edited since (two surgeons merged): the recorded split would put one surgeon in two splits
    merged_id = earlier["test"][0]["subject"]
    renamed = DatasetDict(
        {
            name: split.map(lambda row: {"subject": merged_id if row["subject"] == subjects[-1] else row["subject"]})
            for name, split in data.items()
        }
    )
    with pytest.raises(RecipeError, match=f"subjects changed since \\({merged_id} would be in two splits\\)"):
        check_resumed_data([(tmp_path / "run", renamed)], args)

    # a cross-validation whose finished fold holds out other surgeons than this version's folds would
    (tmp_path / "cv" / "fold-1").mkdir(parents=True)
    shutil.copy(tmp_path / "run" / "splits.json", tmp_path / "cv" / "fold-1" / "splits.json")
    with pytest.raises(RecipeError, match="folds would no longer divide the videos between them"):
        check_resumed_data([(tmp_path / "cv" / "fold-1", data), (tmp_path / "cv" / "fold-2", data)], args)
