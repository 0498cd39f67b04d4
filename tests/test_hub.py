"""The model card renders and its metadata parses; the folder for the Hub carries the package's code and loads
where only transformers is installed; pushing without network fails clearly."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import yaml
from huggingface_hub import ModelCard

from surgical_skill.evaluation.evaluate import evaluate_model
from surgical_skill.hub import model_card, prepare_hub_folder, push_run
from surgical_skill.pipeline import run_inference
from tests.helpers import load_train_script, run_cli, write_tiny_recipe


@pytest.fixture
def run_dir(tiny_run, tmp_path):
    model_dir, data = tiny_run
    run = tmp_path / "run"
    shutil.copytree(model_dir, run / "model")
    (run / "recipe.yaml").write_text(
        yaml.safe_dump({"model_name_or_path": "small3d", "dataset": "data/x.csv", "num_epochs": 2})
    )
    evaluate_model(run / "model", data["test"], run / "eval", clips_per_video=2, num_workers=0, bootstrap_samples=100)
    return run


def test_model_card_metadata_parses(run_dir, tmp_path):
    card = model_card(run_dir, "lab/suturing-skill")
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    assert loaded.data.pipeline_tag == "video-classification"
    assert loaded.data.library_name == "transformers"
    assert "surgical-skill" in loaded.data.tags
    metrics = {r.metric_type: r.metric_value for r in loaded.data.eval_results}
    assert set(metrics) >= {"accuracy", "balanced_accuracy", "roc_auc"}
    text = loaded.text
    assert "Intended use and limitations" in text and "not a medical device" in text
    assert "| accuracy |" in text and "num_epochs: 2" in text
    assert 'pipeline("surgical-skill", model="lab/suturing-skill", trust_remote_code=True)' in text


def test_push_without_network_says_why(run_dir):
    before = sorted(p.name for p in (run_dir / "model").iterdir())
    with pytest.raises(RuntimeError, match=r"could not push .* to the Hub as lab/suturing-skill.*--output-dir"):
        push_run(run_dir, "lab/suturing-skill", token="hf_invalid")
    assert sorted(p.name for p in (run_dir / "model").iterdir()) == before  # the run folder is left as it was


REMOTE = textwrap.dedent(
    """
    import json, sys
    sys.modules["surgical_skill"] = None  # as on a machine without the package: `import surgical_skill` fails
    import torch
    from transformers import AutoModelForVideoClassification, pipeline

    folder, video, trust = sys.argv[1], sys.argv[2], sys.argv[3] == "trust"
    try:
        skill = pipeline("surgical-skill", model=folder, trust_remote_code=trust)
    except Exception as err:
        print(json.dumps({"error": str(err)}))
        sys.exit(0)
    model = AutoModelForVideoClassification.from_pretrained(folder, trust_remote_code=True).eval()
    torch.manual_seed(0)
    clip = torch.rand(2, skill.video_processor.num_frames, 3, 32, 32)
    with torch.no_grad():
        logits = model(pixel_values=clip).logits.tolist()
    result = skill(video, num_clips=3)
    skill.save_pretrained(folder + "-resaved")  # the copy saves itself, code included, without the package
    again = pipeline("surgical-skill", model=folder + "-resaved", trust_remote_code=True)(video, num_clips=3)
    print(json.dumps({"result": result, "again": again, "logits": logits, "pipeline": type(skill).__module__}))
    """
)


def _remote(folder, video, trust=True):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(folder.parent / "modules")}
    done = subprocess.run(
        [sys.executable, "-c", REMOTE, str(folder), str(video), "trust" if trust else "no"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_hub_folder_works_without_the_package(run_dir, tiny_run, tmp_path):
    """The folder `surgical-skill push` uploads loads in a fresh Python that cannot import surgical_skill, with
    `trust_remote_code=True`, and gives what the installed package gives."""
    import torch
    from transformers import AutoModelForVideoClassification

    folder = prepare_hub_folder(run_dir, tmp_path / "hub", "lab/suturing-skill")
    assert (folder / "model.safetensors").exists() and (folder / "README.md").exists()
    assert (folder / "eval" / "metrics.json").exists()
    config = json.loads((folder / "config.json").read_text())
    assert config["custom_pipelines"]["surgical-skill"]["impl"] == "surgical_skill_pipeline.SurgicalSkillPipeline"
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModelForVideoClassification"}
    video = tiny_run[1]["test"][0]["video"]

    remote = _remote(folder, video)
    assert remote["pipeline"].startswith("transformers_modules.")  # the copy in the folder, not the package
    installed = run_inference(run_dir / "model", video, num_clips=3)
    assert remote["result"]["label"] == installed["label"]
    for name, p in installed["probabilities"].items():
        assert remote["result"]["probabilities"][name] == pytest.approx(p, abs=1e-5)
        assert remote["again"]["probabilities"][name] == pytest.approx(p, abs=1e-5)
    model = AutoModelForVideoClassification.from_pretrained(run_dir / "model").eval()
    torch.manual_seed(0)
    with torch.no_grad():
        expected = model(pixel_values=torch.rand(2, remote["result"]["metadata"]["sampling"]["num_frames"], 3, 32, 32))
    torch.testing.assert_close(torch.tensor(remote["logits"]), expected.logits, atol=1e-5, rtol=1e-5)

    refused = _remote(folder, video, trust=False)
    assert "trust_remote_code" in refused["error"]
    # With the package installed, its own commands use the installed code on such a folder, no trust needed
    assert run_inference(folder, video, num_clips=3)["label"] == installed["label"]


def test_the_pipeline_saves_its_code(tiny_run, tmp_path):
    from transformers import pipeline

    model_dir, _ = tiny_run
    skill = pipeline("surgical-skill", model=str(model_dir))
    skill.save_pretrained(tmp_path / "saved")
    files = {p.name for p in (tmp_path / "saved").iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "video_preprocessor_config.json",
        "surgical_skill_pipeline.py",
    } <= files
    source = (tmp_path / "saved" / "surgical_skill_pipeline.py").read_text()
    assert "from .surgical_skill_video_decode import decode_frames" in source and "from ..video" not in source
    processor = json.loads((tmp_path / "saved" / "video_preprocessor_config.json").read_text())
    assert processor["auto_map"]["AutoVideoProcessor"].startswith("surgical_skill_models_video_processor.")


def test_push_command_writes_the_folder_with_output_dir(run_dir, tmp_path):
    result = run_cli("push", run_dir, "--repo-id", "lab/suturing-skill", "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "nothing pushed" in result.stdout and (tmp_path / "out" / "surgical_skill_pipeline.py").exists()
    again = run_cli("push", run_dir, "--repo-id", "lab/suturing-skill", "--output-dir", tmp_path / "out")
    assert again.returncode == 2 and "is not empty" in again.stderr and "Traceback" not in again.stderr
    missing = run_cli("push", tmp_path, "--repo-id", "lab/suturing-skill", "--output-dir", tmp_path / "out2")
    assert missing.returncode == 2 and "holds no saved model" in missing.stderr and "Traceback" not in missing.stderr


def test_a_recipe_with_push_to_hub_keeps_the_run_when_the_hub_is_unreachable(synthetic_manifest, tmp_path, caplog):
    """`push_to_hub: true` pushes at the end of `recipes/train.py`; without network the run is kept whole and
    the script fails saying how to push later."""
    from accelerate.state import AcceleratorState

    recipe = write_tiny_recipe(
        tmp_path / "push.yaml",
        synthetic_manifest,
        output_dir=str(tmp_path / "run"),
        push_to_hub=True,
        hub_model_id="lab/suturing-skill",
    )
    train = load_train_script()
    try:
        assert train.main([str(recipe)]) == 1
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    assert "could not push" in caplog.text and "lab/suturing-skill" in caplog.text
    assert (tmp_path / "run" / "model" / "model.safetensors").exists()
    assert (tmp_path / "run" / "eval" / "report.md").exists()


def test_the_card_says_n_a_where_an_interval_is_undefined(run_dir, tmp_path):
    """Too few surgeons can leave a metric's bootstrap interval undefined (null in metrics.json)."""
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    metrics["confidence_intervals_95"]["roc_auc"] = [None, None]
    (run_dir / "eval" / "metrics.json").write_text(json.dumps(metrics))
    card = model_card(run_dir, "lab/suturing-skill")
    assert f"| roc_auc | {metrics['metrics']['roc_auc']:.3f} | n/a |" in card.text
    folder = prepare_hub_folder(run_dir, tmp_path / "hub")
    assert (folder / "README.md").exists() and not list(tmp_path.glob(".tmp-*"))


def _score_report(names, layout):
    """A metrics.json of a several-score model in one of two layouts: each score's figures only as
    ``"<name>/<metric>"`` keys of ``metrics`` (as multi_target_regression_metrics names them), or also in a
    ``per_target`` mapping with each score's videos and intervals, and static baselines per score (as the
    evaluation report writes them). The figures are computed on noisy predictions of random scores, with
    intervals by subject. Returns the report, the figures and their intervals."""
    import numpy as np

    from surgical_skill.evaluation.metrics import multi_target_intervals, multi_target_regression_metrics

    rng = np.random.default_rng(0)
    truth = rng.uniform(1, 5, (30, len(names) - 1))
    truth = np.c_[truth, truth.sum(1)]
    predicted = truth + rng.normal(0, 0.5, truth.shape)
    metrics = multi_target_regression_metrics(truth, predicted, names)
    intervals = multi_target_intervals(truth, predicted, names, np.repeat(np.arange(10), 3), samples=200)
    report = {"split": "test", "videos": 30, "bootstrap": {"samples": 200, "resampled_by": "subject"}}
    if layout == "flat":
        flat = {k: list(v) for k, v in intervals.items()}
        return {**report, "metrics": metrics, "confidence_intervals_95": flat}, metrics, intervals
    per_target = {
        name: {
            **{k.split("/")[1]: v for k, v in metrics.items() if k.startswith(f"{name}/")},
            "videos": 30,
            "confidence_intervals_95": {
                k.split("/")[1]: list(v) for k, v in intervals.items() if k.startswith(f"{name}/")
            },
        }
        for name in names
    }
    duration = {
        "name": "duration",
        "description": "trial length only",
        "metric": "spearman",
        "value": 0.25,
        "confidence_interval_95": [0.05, 0.45],
    }
    baselines = {
        "metric": "spearman",
        "protocol": "Held out by surgeon.",
        "chance": 0.0,
        "baselines": {"duration": duration},
        "skipped": {},
    }
    report["baselines"] = {"per_target": {"grs": baselines}, "verdicts": ["grs: the model beats trial length"]}
    return {**report, "metrics": metrics, "per_target": per_target, "confidence_intervals_95": {}}, metrics, intervals


@pytest.mark.parametrize("layout", ["flat", "per_target"])
def test_the_card_of_several_scores_lists_them_their_head_and_each_ones_metrics(layout, tmp_path):
    from tests.helpers import THREE_SCORES, save_tiny_model

    run = tmp_path / "run"
    save_tiny_model(run / "model", **THREE_SCORES)
    names = [*THREE_SCORES["target_names"], "grs"]
    (run / "eval").mkdir()
    report, metrics, intervals = _score_report(names, layout)
    (run / "eval" / "metrics.json").write_text(json.dumps(report))
    card = model_card(run, "lab/osats")
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    text = loaded.text
    assert "It predicts 3 scores (respect_for_tissue, time_and_motion, flow_of_operation) and their sum, grs." in text
    assert (
        "| respect_for_tissue | 1 to 5 | predicted |" in text
        and "| grs | 3 to 15 | the sum of the scores above |" in text
    )
    assert "a score distribution (USDL) over 9 bins" in text and "`expected_score_spread`" in text
    assert 'result["scores"], result["clips"]' in text
    videos = " videos |" if layout == "per_target" else ""
    assert f"| score | mae | rmse | pearson | spearman |{videos}" in text
    columns = 7 if layout == "per_target" else 6
    rows = [line for line in text.splitlines() if line.startswith("| ") and "(" in line and line.count("|") == columns]
    assert [row.split(" | ")[0][2:] for row in rows] == names  # one row per score, in the model's order
    for name, row in zip(names, rows):
        low, high = intervals[f"{name}/spearman"]
        spearman = f"| {metrics[f'{name}/spearman']:.3f} ({low:.3f} to {high:.3f}) |"
        assert row.endswith(spearman + (" 30 |" if layout == "per_target" else "")), row
        assert f"| {metrics[f'{name}/mae']:.3f} |" in row
    assert "| respect_for_tissue/spearman |" not in text  # each score's figures are in their own table only
    if layout == "per_target":  # each score's baselines against the model's figure on that score
        assert "**grs**\n\n| static baseline | held-out spearman | 95 % interval |" in text
        assert f"| **the model** | **{metrics['grs/spearman']:.3f}** | |" in text
        assert "| trial length only | 0.250 | 0.050 to 0.450 |" in text and "- grs: the model beats" in text
    named = {r.metric_name: r.metric_value for r in loaded.data.eval_results if r.metric_name}
    assert named["grs spearman"] == pytest.approx(metrics["grs/spearman"])
    assert named["time_and_motion mae"] == pytest.approx(metrics["time_and_motion/mae"])
    overall = {r.metric_type: r.metric_value for r in loaded.data.eval_results if not r.metric_name}
    assert overall["spearman_fisher_z"] == pytest.approx(metrics["spearman_fisher_z"])


def test_the_card_of_ordered_classes_says_so_and_names_the_loss(tmp_path):
    from tests.helpers import ORDERED_CLASSES, save_tiny_model

    save_tiny_model(tmp_path / "run" / "model", **ORDERED_CLASSES)
    text = model_card(tmp_path / "run", "lab/oss").text
    assert "Ordered classes: novice < intermediate < expert" in text and "Trained with CORAL's" in text
    save_tiny_model(tmp_path / "plain" / "model")
    plain = model_card(tmp_path / "plain", "lab/plain").text
    assert "Ordered classes" not in plain and "Trained with cross-entropy." in plain
    save_tiny_model(
        tmp_path / "normalised" / "model", target_names=["grs"], score_ranges=[[6, 30]], normalize_scores=True
    )
    normalised = model_card(tmp_path / "normalised", "lab/grs").text
    assert "It predicts grs." in normalised and "| grs | 6 to 30 | predicted |" in normalised
    assert "learned on [0, 1] (each score scaled by its range, MSE)" in normalised
