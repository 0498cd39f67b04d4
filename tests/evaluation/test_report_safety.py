"""What a report writes from data cannot run or break anything: no CSV cell runs as a spreadsheet formula, no
label breaks report.md's tables or lines or injects HTML, and a folder that is not a report is never replaced.

The reports here are written from predictions made up in the test (no model): what is tested is the writing."""

import csv
import json
import re

import pytest
from transformers import PretrainedConfig

from surgical_skill.evaluation.evaluate import score_predictions
from surgical_skill.evaluation.inference import VideoPrediction
from surgical_skill.evaluation.report import ReportExistsError, check_output_dir, read_report, write_report
from surgical_skill.files import MARKER, folder_kind

FORMULAS = ['=HYPERLINK("http://x","y")', "+1", "-cmd", "@SUM(1)", "\tx"]
HOSTILE_LABEL = "bad\n| x | <script>alert(1)</script> ```"
LABELS = ['=HYPERLINK("http://x","y")', HOSTILE_LABEL]


def _predictions(regression: bool = False) -> list[VideoPrediction]:
    rows = []
    for i in range(10):
        subject = FORMULAS[i % len(FORMULAS)]
        video = f"{FORMULAS[(i + 1) % len(FORMULAS)]}{i}.mp4"  # the file names are data too
        if regression:
            label, values = -0.5 * i, [-1.25 * i + 0.1]
        else:
            label, values = i % 2, [0.3, 0.7] if i % 3 else [0.8, 0.2]
        rows.append(VideoPrediction(i, video, subject, label, values, [values, values], [(0.0, 1.0), (1.0, 2.0)]))
    return rows


def _write(tmp_path, regression: bool = False, name: str = "report"):
    if regression:
        config = PretrainedConfig(id2label={0: "score"}, label2id={"score": 0}, problem_type="regression")
    else:
        config = PretrainedConfig(id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    predictions = _predictions(regression)
    result = score_predictions(predictions, config, None if regression else 0.5, bootstrap_samples=20)
    result.threshold_source = "chosen on validation"
    result.notes.append(f"video {predictions[0].video!r} said:\n# not a heading")
    folder = write_report(
        result, tmp_path / name, split_name="test", clips_per_video=2, resampled_by="subject", bootstrap_samples=20
    )
    return folder, predictions


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    """A classification report whose class names, subjects and file names are hostile (written once)."""
    return _write(tmp_path_factory.mktemp("hostile"))


def _cells(path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_no_csv_cell_runs_as_a_formula_and_every_value_reads_back(hostile_report):
    folder, predictions = hostile_report
    for name in ("predictions.csv", "misclassified.csv"):
        rows = _cells(folder / name)
        assert len(rows) > 1, name
        for row in rows:
            assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), (name, row)
    text = (folder / "predictions.csv").read_text()
    assert "'=HYPERLINK" in text and "'+1" in text and "'-cmd" in text and "'@SUM(1)" in text and "'\tx" in text
    report = read_report(folder)  # compare and the cross-validation resume read it: the values come back exact
    assert report.videos == [p.video for p in predictions] and report.subjects == [p.subject for p in predictions]
    assert report.labels == LABELS and list(report.targets) == [p.label for p in predictions]


def test_scores_stay_numbers_in_the_csv(tmp_path):
    folder, predictions = _write(tmp_path, regression=True)
    rows = _cells(folder / "predictions.csv")
    header = rows[0]
    truths = [float(row[header.index("label")]) for row in rows[1:]]  # a number, not text with a quote
    scores = [float(row[header.index("predicted_score")]) for row in rows[1:]]
    assert truths == [p.label for p in predictions] and min(truths) < 0 and min(scores) < 0
    assert all(row[header.index("subject")].startswith("'") for row in rows[1:] if row[1] != "\tx")
    assert read_report(folder).subjects == [p.subject for p in predictions]


def _columns(line: str) -> int:
    return len(re.split(r"(?<!\\)\|", line.strip().strip("|")))  # a "\|" is text, not a cell boundary


def test_a_hostile_label_breaks_nothing_in_report_md(hostile_report):
    folder, _ = hostile_report
    text = (folder / "report.md").read_text()
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "```" not in text  # no fence opened by a label
    lines = text.splitlines()
    start = lines.index("| class | precision | recall | specificity | F1 | videos |")
    table = lines[start : start + 2 + len(LABELS) + 1]
    assert table[-1] == ""  # exactly one row per class, then the table ends
    assert all(_columns(line) == 6 for line in table[:-1]), table
    assert table[2].startswith("| '=HYPERLINK") is False and "HYPERLINK" in table[2]
    threshold = [line for line in lines if line.startswith("Decision threshold")]
    assert len(threshold) == 1 and threshold[0].endswith("0.500, chosen on validation.")
    assert r"bad\\n\| x \|" in threshold[0]  # the newline is shown as "\n" (escaped), not obeyed
    assert not any(line.startswith("# not a heading") for line in lines)  # nor in a note


def test_a_report_folder_is_marked_and_replaced_only_when_it_is_one(tmp_path):
    folder, _ = _write(tmp_path, regression=True)
    assert folder_kind(folder) == "evaluation-report"
    with pytest.raises(ReportExistsError, match="already holds an evaluation report; pass --overwrite"):
        check_output_dir(folder, overwrite=False)
    check_output_dir(folder, overwrite=True)
    _write(tmp_path, regression=True)  # its own earlier report: replaced
    assert json.loads((folder / MARKER).read_text())["kind"] == "evaluation-report"
    # a report from before the marker: recognised by holding nothing but a report's files
    (folder / MARKER).unlink()
    check_output_dir(folder, overwrite=True)
    _write(tmp_path, regression=True)
    assert folder_kind(folder) == "evaluation-report"
    # someone's folder that happens to hold a metrics.json: never a report
    thesis = tmp_path / "thesis"
    (thesis / "chapters").mkdir(parents=True)
    (thesis / "thesis.txt").write_text("four years")
    (thesis / "metrics.json").write_text("{}")
    with pytest.raises(ReportExistsError, match="is not an evaluation report made by surgical-skill"):
        check_output_dir(thesis, overwrite=True)
    with pytest.raises(ReportExistsError):
        _write(tmp_path, regression=True, name="thesis")
    assert sorted(p.name for p in thesis.iterdir()) == ["chapters", "metrics.json", "thesis.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "thesis"]  # no temporary left behind


def test_timeline_files_have_unique_safe_names(tmp_path):
    """Two videos called a.mp4 in different folders get two timeline files, and a newline, a path separator or a
    leading dot in a video's name never reaches a file name."""
    from surgical_skill.evaluation.plots import prediction_timeline, timeline_file_name

    def result(video):
        clips = [{"start": 2.0 * i, "end": 2.0 * i + 1, "score": 0.1 * i} for i in range(3)]
        return {"predicted_score": 0.1, "score": 0.1, "clips": clips, "metadata": {"video": video}}

    out = tmp_path / "plots"
    first = prediction_timeline(result("/data/day1/a.mp4"), out)
    second = prediction_timeline(result("/data/day2/a.mp4"), out)
    odd = prediction_timeline(result("/data/..\n$x$/../.hidden\nname $\\alpha$.mp4"), out)
    assert len({first, second, odd}) == 3 and sorted(out.iterdir()) == sorted([first, second, odd])
    assert first.name.startswith("a-") and first.name.endswith("_timeline.png")
    assert all(p.parent == out for p in (first, second, odd))
    assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", odd.name) and "\n" not in odd.name
    assert timeline_file_name("/data/day1/a.mp4") == first.name  # the same video: the same file, run after run
    escaped = timeline_file_name("../../etc/passwd")
    assert escaped.startswith("passwd-") and "/" not in escaped and escaped != timeline_file_name("passwd")
