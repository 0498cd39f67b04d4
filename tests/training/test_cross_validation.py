"""Cross-validation: grouped folds that hold every video out once, one model per fold, and a summary."""

from __future__ import annotations

import csv
import json

import pytest

from surgical_skill.training import DataArguments, cross_validation_folds, load_data
from tests.helpers import load_train_script, write_tiny_recipe


def _folds(manifest, **cv):
    args = DataArguments(dataset=str(manifest), **cv)
    data = load_data(args)
    assert list(data) == ["train"]  # cross-validation pools the data and makes its own folds
    return data["train"], list(cross_validation_folds(data, args))


@pytest.mark.parametrize("cv", [{"cv_folds": 3}, {"cv": "leave-one-subject-out"}], ids=["kfold", "loso"])
def test_folds_hold_every_video_out_once_and_never_split_a_surgeon(synthetic_manifest, cv):
    pool, folds = _folds(synthetic_manifest, **cv)
    held_out = [v for _, parts in folds for v in parts["test"]["video"]]
    assert sorted(held_out) == sorted(pool["video"])
    subjects = set(pool["subject"])
    assert len(folds) == (3 if "cv_folds" in cv else len(subjects))
    for name, parts in folds:
        seen = {split: set(part["subject"]) for split, part in parts.items()}
        assert seen["train"] and seen["validation"] and seen["test"], name
        assert not seen["train"] & seen["test"] and not seen["validation"] & seen["test"], name
        assert not seen["train"] & seen["validation"], name
    if "cv" in cv:
        assert {name for name, _ in folds} == {f"subject-{s}" for s in subjects}


@pytest.mark.parametrize(
    "cv, message",
    [
        ({"cv": "kfold"}, "cv: kfold needs cv_folds"),
        ({"cv_folds": 1}, "cv: kfold needs cv_folds"),
        ({"cv": "loo"}, "cv='loo' is not one of"),
        ({"cv": "leave-one-subject-out", "cv_folds": 3}, "not both"),
    ],
)
def test_bad_cross_validation_settings_say_what_to_fix(cv, message):
    with pytest.raises(ValueError, match=message):
        DataArguments(**cv)


def test_train_py_cross_validates_and_summarises(synthetic_manifest, tmp_path):
    """`recipes/train.py` with `cv_folds: 3` trains three models and writes the summary with mean ± std over
    folds and pooled out-of-fold metrics; every video is predicted once."""
    recipe = write_tiny_recipe(
        tmp_path / "cv.yaml",
        synthetic_manifest,
        cv_folds=3,
        per_device_train_batch_size=4,
        output_dir=str(tmp_path / "run"),
    )
    train = load_train_script()
    assert train.main([str(recipe)]) == 0

    run = tmp_path / "run"
    for fold in ("fold-1", "fold-2", "fold-3"):
        assert (run / fold / "model" / "model.safetensors").exists(), fold
        assert (run / fold / "eval" / "metrics.json").exists(), fold
    summary = json.loads((run / "cv" / "summary.json").read_text())
    assert summary["folds"] == 3 and set(summary["per_fold"]) == {"fold-1", "fold-2", "fold-3"}
    accuracies = [summary["per_fold"][f]["accuracy"] for f in summary["per_fold"]]
    assert summary["mean"]["accuracy"] == pytest.approx(sum(accuracies) / 3)
    assert summary["std"]["accuracy"] is not None
    low, high = summary["pooled_confidence_intervals_95"]["accuracy"]
    assert low <= summary["pooled"]["accuracy"] <= high
    rows = list(csv.DictReader((run / "cv" / "oof_predictions.csv").open()))
    assert len(rows) == summary["videos"] == 24
    assert len({r["video"] for r in rows}) == 24
    pooled = sum(
        (float(r["p_higher-skilled"]) > float(r["p_lower-skilled"])) == (r["label"] == "higher-skilled") for r in rows
    )
    assert summary["pooled"]["accuracy"] == pytest.approx(pooled / 24)
    assert "mean ± std over folds" in (run / "cv" / "summary.md").read_text()

    # Stopped and restarted with `--resume_from_checkpoint latest`: finished folds are not trained again
    trained = (run / "fold-2" / "model" / "model.safetensors").stat().st_mtime_ns
    assert train.main([str(recipe), "--resume_from_checkpoint", "latest"]) == 0
    assert (run / "fold-2" / "model" / "model.safetensors").stat().st_mtime_ns == trained
    again = json.loads((run / "cv" / "summary.json").read_text())
    assert again["per_fold"] == summary["per_fold"]
    # pooled from the reports read back (probabilities to 6 decimals; ranks of near-ties may move AUC a little)
    assert again["pooled"]["accuracy"] == pytest.approx(summary["pooled"]["accuracy"])


def test_fold_names_stay_unique_when_subject_names_do_not():
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features(
        {"video": Value("string"), "labels": ClassLabel(names=["lo", "hi"]), "subject": Value("string")}
    )
    rows = {
        "video": [f"v{i}.mp4" for i in range(8)],
        "labels": [0, 1] * 4,
        "subject": ["A B", "A B", "A_B", "A_B", "C", "C", "D", "D"],
    }
    data = DatasetDict(train=Dataset.from_dict(rows, features=features))
    args = DataArguments(cv="leave-one-subject-out", cv_validation_share=0.0)
    names = [name for name, _ in cross_validation_folds(data, args)]
    assert sorted(names) == ["subject-A_B", "subject-A_B-2", "subject-C", "subject-D"]


def _fold_result(labels, probabilities, subject):
    """One fold's EvaluationResult of two classes ("lo", "hi") from its videos' labels and probabilities."""
    from surgical_skill.evaluation import classification_metrics
    from surgical_skill.evaluation.evaluate import EvaluationResult, VideoPrediction

    predictions = [
        VideoPrediction(i, f"{subject}-{i}.mp4", subject, label, p, [], [])
        for i, (label, p) in enumerate(zip(labels, probabilities))
    ]
    return EvaluationResult(classification_metrics(labels, probabilities), {}, predictions, None, ["lo", "hi"])


def test_single_class_folds_leave_the_class_comparing_metrics_out(tmp_path):
    """Leave-one-subject-out often holds out a surgeon rated one way only: there MCC, F1, kappa and ROC-AUC
    compare nothing, so they are n/a for that fold (not 0 or 0.5 dragging the mean), and the JSON stays valid."""
    from surgical_skill.training import summarize_cross_validation

    results = {
        "subject-a": _fold_result([1, 1], [[0.2, 0.8], [0.1, 0.9]], "a"),
        "subject-b": _fold_result([0, 1, 0], [[0.7, 0.3], [0.4, 0.6], [0.3, 0.7]], "b"),
    }
    summary = summarize_cross_validation(results, tmp_path / "cv", bootstrap_samples=50)
    json.loads((tmp_path / "cv" / "summary.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert summary["per_fold"]["subject-a"]["accuracy"] == 1.0
    assert summary["per_fold"]["subject-a"]["mcc"] is None and summary["per_fold"]["subject-a"]["f1_macro"] is None
    assert summary["mean"]["mcc"] == pytest.approx(summary["per_fold"]["subject-b"]["mcc"])
    assert summary["mean"]["accuracy"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert summary["pooled"]["accuracy"] == pytest.approx(4 / 5)


def test_cross_validation_resumes_only_from_latest(synthetic_manifest, tmp_path):
    recipe = write_tiny_recipe(
        tmp_path / "cv.yaml",
        synthetic_manifest,
        cv_folds=3,
        resume_from_checkpoint=str(tmp_path / "run" / "fold-1" / "checkpoints" / "checkpoint-4"),
        output_dir=str(tmp_path / "run"),
    )
    with pytest.raises(ValueError, match="resume_from_checkpoint can only be 'latest'"):
        load_train_script().main([str(recipe)])


@pytest.mark.parametrize(
    "keys, message",
    [
        ({"cv": "jigsaws-4fold"}, "needs cv_fold_file"),
        ({"cv_fold_file": "folds.csv"}, "for cv: jigsaws-4fold only"),
        ({"cv": "jigsaws-louo", "cv_folds": 4}, "not both"),
        ({"cv": "jigsaws-louo", "dataset_format": "aixsuture"}, "a jigsaws protocol, but dataset_format is aixsuture"),
        ({"dataset_format": "jigsaw"}, "dataset_format='jigsaw' is not one of: jigsaws, aixsuture"),
        ({"view": "capture3"}, "view='capture3' is not one of: capture1, capture2, both"),
        ({"target": "grs bins"}, "a public dataset's target name"),
        ({"score_bins": [16, 8]}, "ascending lower edges"),
        ({"dataset_options": {"task": "Suturing"}}, "dataset_options may not hold task: set task: as its own key"),
    ],
)
def test_published_protocol_settings_say_what_to_fix(keys, message):
    with pytest.raises(ValueError, match=message):
        DataArguments(**keys)


def test_a_published_protocol_needs_its_dataset_tree(synthetic_manifest):
    """`cv: jigsaws-louo` on a manifest: the folds of the protocol are not in the data; said before any fold."""
    from surgical_skill.data import SkillDatasetError

    args = DataArguments(dataset=str(synthetic_manifest), cv="jigsaws-louo")
    with pytest.raises(SkillDatasetError, match=r"was not read as a jigsaws tree .*no 'fold_louo'"):
        list(cross_validation_folds(load_data(args), args))


def _fold(subjects_by_split):
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features(
        {"video": Value("string"), "labels": ClassLabel(names=["lo", "hi"]), "subject": Value("string")}
    )
    return DatasetDict(
        {
            split: Dataset.from_dict(
                {"video": [f"{split}{i}.mp4" for i in range(len(s))], "labels": [0] * len(s), "subject": s},
                features=features,
            )
            for split, s in subjects_by_split.items()
        }
    )


def test_a_folds_protocol_sentence_says_whether_its_surgeons_are_new():
    """Each fold's report states its protocol; a leave-one-supertrial-out fold, whose surgeons also trained the
    model, says the figures are for new trials of known surgeons."""
    from surgical_skill.training import fold_protocol

    louo = DataArguments(cv="jigsaws-louo")
    new = fold_protocol("user-B", _fold({"train": ["C", "D"], "validation": ["E"], "test": ["B", "B"]}), louo, "x")
    assert new.startswith("JIGSAWS leave-one-user-out (LOUO") and "fold user-B (folds: x)" in new
    assert "2 held-out videos of 1 surgeon that the model never saw in training or validation" in new
    loso = DataArguments(cv="jigsaws-loso")
    shared = fold_protocol("supertrial-1", _fold({"train": ["B", "C"], "validation": ["D"], "test": ["B", "D"]}), loso)
    assert "Surgeons B, D also trained or selected this model" in shared
    assert "new trials of known surgeons, not for new surgeons" in shared


def test_the_summary_states_the_protocol_and_the_fields_figure(tmp_path):
    """summary.md opens with the protocol and where its folds came from, and gives the field's figure (accuracy
    for classes) both as the mean over folds and pooled, with its interval."""
    from surgical_skill.training import cross_validation_headline, summarize_cross_validation

    results = {
        "supertrial-1": _fold_result([1, 0], [[0.2, 0.8], [0.6, 0.4]], "a"),
        "supertrial-2": _fold_result([0, 1, 0], [[0.7, 0.3], [0.6, 0.4], [0.3, 0.7]], "b"),
    }
    protocol = {
        "name": "jigsaws-loso",
        "description": "JIGSAWS leave-one-supertrial-out (LOSO)",
        "fold_source": "official split files (Experimental_setup/Suturing/...)",
        "surgeons_held_out": False,
        "folds_sharing_surgeons": ["supertrial-1", "supertrial-2"],
    }
    summary = summarize_cross_validation(results, tmp_path / "cv", bootstrap_samples=50, protocol=protocol)
    assert summary["protocol"] == protocol
    field = summary["field_figure"]
    assert field["metric"] == "accuracy"
    assert field["mean_over_folds"] == pytest.approx((1.0 + 1 / 3) / 2)
    assert field["pooled"] == pytest.approx(3 / 5)
    text = (tmp_path / "cv" / "summary.md").read_text()
    assert "Protocol: JIGSAWS leave-one-supertrial-out (LOSO); folds: official split files" in text
    assert "The same surgeons are in training and test" in text
    assert "In 2 of 2 folds (supertrial-1, supertrial-2) held-out surgeons also trained or selected the model" in text
    assert "accuracy 0.667 as the mean over folds" in text and "0.600 pooled" in text
    line = cross_validation_headline(summary, tmp_path / "cv")
    assert line.startswith("cross-validation (jigsaws-loso) over 2 folds: accuracy 0.667 ±")
    assert "pooled 0.600 (95 % interval" in line


def test_the_summary_folder_and_files_are_safe_from_the_data(tmp_path):
    """Subjects, labels and fold names are data: no cell of oof_predictions.csv runs as a spreadsheet formula and
    no name breaks summary.md's tables; the cv/ folder replaces only an earlier summary (or an empty folder),
    never someone's folder unless asked."""
    from surgical_skill.errors import UsageError
    from surgical_skill.evaluation import classification_metrics
    from surgical_skill.evaluation.evaluate import EvaluationResult, VideoPrediction
    from surgical_skill.files import MARKER, folder_kind
    from surgical_skill.training import summarize_cross_validation

    labels = ["=1+1", "hi\n| x | <script>"]
    subjects = ["-cmd", '=HYPERLINK("http://x","y")']

    def fold(subject, truths, probabilities):
        predictions = [
            VideoPrediction(i, f"@{subject}-{i}.mp4", subject, t, p, [], [])
            for i, (t, p) in enumerate(zip(truths, probabilities))
        ]
        return EvaluationResult(classification_metrics(truths, probabilities), {}, predictions, None, labels)

    results = {
        "fold\n| a |": fold(subjects[0], [1, 0], [[0.2, 0.8], [0.6, 0.4]]),
        "+b": fold(subjects[1], [0, 1, 0], [[0.7, 0.3], [0.6, 0.4], [0.3, 0.7]]),
    }
    cv = tmp_path / "cv"
    summarize_cross_validation(results, cv, bootstrap_samples=20)
    with (cv / "oof_predictions.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 6 and all(not c.startswith(("=", "+", "-", "@", "\t")) for row in rows for c in row)
    assert rows[0][:4] == ["fold", "video", "subject", "label"]
    assert {row[3] for row in rows[1:]} == {"'=1+1", "hi\n| x | <script>"}
    assert {row[0] for row in rows[1:]} == {"fold\n| a |", "'+b"}
    assert {row[2] for row in rows[1:]} == {"'" + s for s in subjects}
    text = (cv / "summary.md").read_text()
    assert "<script>" not in text
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| fold |"))
    fold_rows = lines[header + 2 :]
    assert [line for line in fold_rows if line] == fold_rows[:2] and len([r for r in fold_rows if r]) == 2
    assert fold_rows[0].startswith(r"| fold\\n\| a \| |")
    assert folder_kind(cv) == "cross-validation"
    summarize_cross_validation(results, cv, bootstrap_samples=20)  # its own earlier summary: replaced
    (cv / MARKER).unlink()  # a summary written before the marker: only a summary's files, so replaced too
    summarize_cross_validation(results, cv, bootstrap_samples=20)
    thesis = tmp_path / "thesis"
    (thesis / "chapters").mkdir(parents=True)
    (thesis / "thesis.txt").write_text("four years")
    with pytest.raises(UsageError, match=r"thesis already exists and was not made by surgical-skill.*--overwrite"):
        summarize_cross_validation(results, thesis, bootstrap_samples=20)
    assert sorted(p.name for p in thesis.iterdir()) == ["chapters", "thesis.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cv", "thesis"]
    summarize_cross_validation(results, thesis, bootstrap_samples=20, overwrite=True)  # asked for: replaced
    assert folder_kind(thesis) == "cross-validation" and not (thesis / "thesis.txt").exists()
