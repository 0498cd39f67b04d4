import json
import re
import shutil
from pathlib import Path

import pytest
import torch

import surgical_skill
from surgical_skill import cli
from tests.helpers import ORDERED_CLASSES, THREE_SCORES, run_cli, save_tiny_model


def test_help_lists_subcommands_with_examples():
    result = run_cli("--help")  # in this process: the installed script runs in test_pipeline's test_predict_command
    assert result.returncode == 0
    assert "probe" in result.stdout and "examples:" in result.stdout


def test_version():
    result = run_cli("--version")  # in this process, as --help
    assert result.returncode == 0 and surgical_skill.__version__ in result.stdout


def test_no_command_prints_help_and_fails():
    result = run_cli()
    assert result.returncode == 2 and "usage:" in result.stdout


def test_probe_json_and_errors(videos):
    result = run_cli("probe", str(videos["vfr"]), str(videos["text"]), "--json")
    assert result.returncode == 1  # one of the two files is bad
    good, bad = (json.loads(line) for line in result.stdout.splitlines())
    assert good["total_num_frames"] == 60 and good["is_variable_frame_rate"] is True
    assert bad["path"] == str(videos["text"]) and "not a readable video" in bad["error"]


def test_probe_table(videos):
    result = run_cli("probe", str(videos["truncated"]))
    assert result.returncode == 0
    assert "(header says 90)" in result.stdout and "keyframes" in result.stdout


def one_line_error(result, *parts: str) -> str:
    """The command failed as a user's mistake: exit code 2, one line on stderr naming ``parts``, no traceback,
    and nothing done (no output). Progress bars of work done before the mistake showed are not messages."""
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip() and not re.search(r"\d+%\|", line)]
    assert len(lines) == 1 and "error: " in lines[0] and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert all(part in lines[0] for part in parts), lines[0]
    assert not result.stdout
    return lines[0]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["predict", "v.mp4", "--model", "m", "--batch-size", "0"],
            "argument --batch-size: must be at least 1, got 0",
        ),
        (["predict", "v.mp4", "--model", "m", "--num-clips", "0"], "argument --num-clips: must be at least 1, got 0"),
        (["predict", "v.mp4", "--model", "m", "--num-clips", "-2"], "argument --num-clips: must be at least 1"),
        (["predict", "v.mp4", "--model", "m", "--num-clips", "two"], "'two' is not a whole number"),
        (["predict", "v.mp4", "--model", "m", "--clip-stride-seconds", "0"], "--clip-stride-seconds: must be above 0"),
        (["predict", "v.mp4", "--model", "m", "--threshold", "1.5"], "--threshold: must be a probability in [0, 1]"),
        (["evaluate", "run", "--clips-per-video", "0"], "argument --clips-per-video/--eval_clips_per_video: must be"),
        (["evaluate", "run", "--num-workers", "-1"], "must be at least 0, got -1"),
        (["audit", "data.csv", "--folds", "1"], "argument --folds: must be at least 2, got 1"),
        (["compare", "a", "b", "--samples", "0"], "argument --samples: must be at least 1, got 0"),
        (["synth", "out", "--num-videos", "0"], "argument --num-videos: must be at least 1, got 0"),
        (["prepare", "v.mp4", "--cache-dir", "c", "--short-side", "0"], "argument --short-side: must be at least 1"),
        (["predict", "v.mp4"], "the following arguments are required: --model"),
    ],
)
def test_a_count_or_value_out_of_range_is_one_line(args, message):
    line = one_line_error(run_cli(*args), message)
    assert line.startswith(f"surgical-skill {args[0]}: error: ") and line.endswith(f"{args[0]} --help)")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible here")
def test_device_cuda_without_a_gpu_says_to_use_cpu(model_dir, videos):
    one_line_error(
        run_cli("predict", videos["short_gop"], "--model", model_dir, "--device", "cuda"),
        "--device cuda: no CUDA device is visible",
        "use --device cpu",
    )


def test_unwritable_outputs_are_refused_before_any_work(model_dir, videos, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder\n")
    video = videos["short_gop"]
    one_line_error(
        run_cli("predict", video, "--model", model_dir, "--json", a_file / "results.json"),
        f"--json {a_file / 'results.json'}: {a_file} is a file",
        "nothing was done",
    )
    one_line_error(
        run_cli("predict", video, "--model", model_dir, "--plot", a_file), "--plot", "is a file; give a folder"
    )
    one_line_error(
        run_cli("predict", video, "--model", model_dir, "--json", tmp_path), "is a folder; give a file name"
    )
    one_line_error(
        run_cli("evaluate", model_dir, "--dataset", "d.csv", "--output-dir", a_file / "eval"), "--output-dir"
    )
    one_line_error(run_cli("audit", "d.csv", "--json", a_file / "audit.json"), "--json")
    one_line_error(run_cli("compare", "a", "b", "--json", a_file / "c.json"), "--json")
    one_line_error(run_cli("push", "run", "--repo-id", "a/b", "--output-dir", a_file / "hub"), "--output-dir")
    assert a_file.read_text() == "not a folder\n"


def test_evaluate_split_names_the_splits_there_are(model_dir, synthetic_manifest, tmp_path):
    run = tmp_path / "run"  # a run folder as training leaves it, as far as evaluate reads before the split
    shutil.copytree(model_dir, run / "model")
    (run / "recipe.yaml").write_text(f"dataset: {synthetic_manifest}\n")
    one_line_error(
        run_cli("evaluate", run, "--split", "tset"),
        "--split tset: the run's data has the splits train, validation, test",
        "use --split test",
    )
    one_line_error(
        run_cli("evaluate", model_dir, "--dataset", synthetic_manifest, "--split", "tset", "--output-dir", run / "x"),
        "--split tset:",
        "it has all, train, validation, test (did you mean test?)",
    )
    assert not (run / "eval").exists() and not (run / "x").exists()


def test_evaluate_takes_the_model_once():
    one_line_error(run_cli("evaluate", "runs/a", "--model", "runs/b"), "give the run or model once")


def test_a_bug_keeps_its_traceback(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in surgical-skill")

    monkeypatch.setattr(cli, "evaluate_saved_model", broken)
    with pytest.raises(RuntimeError, match="a bug in surgical-skill"):  # not swallowed into one line
        run_cli("evaluate", "runs/demo")


def test_predict_prints_every_score_of_each_video_and_the_json_has_them_all(videos, tmp_path):
    """Several videos at once: one line per video with every score (the distribution head's own spread beside
    each item), and the pipeline's results in --json; a single score and ordered classes print as before."""
    torch.manual_seed(0)
    three = save_tiny_model(tmp_path / "three", **THREE_SCORES)
    clips = ["short_gop", "long_gop", "mkv"]
    out = tmp_path / "results.json"
    result = run_cli("predict", *(videos[v] for v in clips), "--model", three, "--num-clips", "2", "--json", out)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads(out.read_text())
    assert [r["video"] for r in results] == [str(videos[v]) for v in clips]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("sd: the standard deviation of the model's predicted score distribution")
    assert len(lines) == 2 + len(clips) and lines[-1] == f"results: {out}"
    width = max(len(Path(r["video"]).name) for r in results)
    for line, r in zip(lines[1:-1], results):
        assert list(r["scores"]) == [*THREE_SCORES["target_names"], "grs"]
        spreads = r["expected_score_spread"]
        expected = "  ".join(
            f"{name} {value:.2f}" + (f" (sd {spreads[name]:.2f})" if name in spreads else "")
            for name, value in r["scores"].items()
        )
        duration = r["metadata"]["duration"]
        assert line == f"{Path(r['video']).name.ljust(width)}  {expected}   2 clips, {duration:.1f} s", line

    one = run_cli("predict", videos["short_gop"], "--model", save_tiny_model(tmp_path / "one", num_labels=1))
    assert one.returncode == 0 and re.fullmatch(r"short_gop\.mp4  score -?\d+\.\d\d   8 clips, 3\.0 s\n", one.stdout)
    ordered = run_cli(
        "predict", videos["short_gop"], "--model", save_tiny_model(tmp_path / "ordered", **ORDERED_CLASSES)
    )
    assert ordered.returncode == 0
    assert re.search(
        r"short_gop\.mp4  (novice|intermediate|expert) +\d\.\d{3}  expected class \d\.\d\d   8 clips, 3\.0 s",
        ordered.stdout,
    )
