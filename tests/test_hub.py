"""The model card renders and its metadata parses; pushing without network fails clearly."""

import shutil

import pytest
import yaml
from huggingface_hub import ModelCard

from surgical_skill.evaluation.evaluate import evaluate_model
from surgical_skill.hub import model_card, push_run


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
    assert 'pipeline("surgical-skill", model="lab/suturing-skill")' in text


def test_push_without_network_says_why(run_dir):
    with pytest.raises(RuntimeError, match=r"could not push .* to the Hub as lab/suturing-skill"):
        push_run(run_dir, "lab/suturing-skill", token="hf_invalid")
    assert (run_dir / "model" / "README.md").exists()  # the card is written locally first
