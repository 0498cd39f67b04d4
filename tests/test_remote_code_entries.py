"""Re-saving a folder keeps only the code entries the toolkit writes: an ``auto_map`` or ``custom_pipelines``
entry someone else added (another module, another repository's ``org/repo--module.Class``) is dropped with a
warning naming it, so it cannot run for the next user who loads the folder with ``trust_remote_code=True``; the
toolkit's own entries stay, and the folder still loads."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from surgical_skill.models import build_model
from surgical_skill.pipeline import load_pipeline
from surgical_skill.remote_code import save_remote_code
from tests.helpers import save_tiny_model

FOREIGN_MODEL = "attacker/repo--evil.EvilModel"
FOREIGN_PIPELINE = {"impl": "evil.EvilPipeline", "pt": ["AutoModel"], "tf": [], "type": "video"}


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def _with_foreign_entries(folder: Path) -> dict:
    """A folder as the toolkit pushes it (its code recorded), then given foreign entries; returns its own."""
    save_tiny_model(folder)
    save_remote_code(folder)
    config, processor = _read(folder / "config.json"), _read(folder / "video_preprocessor_config.json")
    own = {"config": dict(config["auto_map"]), "processor": dict(processor["auto_map"])}
    config["auto_map"]["AutoModel"] = FOREIGN_MODEL
    config["custom_pipelines"]["other-task"] = FOREIGN_PIPELINE
    processor["auto_map"]["AutoImageProcessor"] = "evil.EvilImageProcessor"
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "video_preprocessor_config.json").write_text(json.dumps(processor))
    return own


def _assert_only_own(folder: Path, own: dict) -> None:
    config, processor = _read(folder / "config.json"), _read(folder / "video_preprocessor_config.json")
    assert config["auto_map"] == own["config"]
    assert list(config["custom_pipelines"]) == ["surgical-skill"]
    assert processor["auto_map"] == own["processor"]
    text = (folder / "config.json").read_text() + (folder / "video_preprocessor_config.json").read_text()
    assert "evil" not in text


def test_the_pipeline_resaved_keeps_only_its_own_entries(tmp_path, caplog):
    own = _with_foreign_entries(tmp_path / "pushed")
    assert own["config"]["AutoConfig"].startswith("surgical_skill_models_")
    with caplog.at_level(logging.WARNING):
        skill = load_pipeline(tmp_path / "pushed")
        skill.save_pretrained(tmp_path / "again")
    _assert_only_own(tmp_path / "again", own)
    assert "dropped auto_map.AutoModel, custom_pipelines.other-task" in caplog.text
    assert FOREIGN_MODEL in caplog.text and "auto_map.AutoImageProcessor" in caplog.text
    assert load_pipeline(tmp_path / "again").model.config.model_type == "surgical_3d_cnn"  # still loads


def test_recording_the_code_again_in_place_drops_foreign_entries(tmp_path, caplog):
    own = _with_foreign_entries(tmp_path / "pushed")
    with caplog.at_level(logging.WARNING):
        save_remote_code(tmp_path / "pushed")
    _assert_only_own(tmp_path / "pushed", own)
    assert "dropped auto_map.AutoModel" in caplog.text


def test_a_model_built_from_the_folder_saves_without_them(tmp_path, caplog):
    _with_foreign_entries(tmp_path / "pushed")
    with caplog.at_level(logging.WARNING):
        model = build_model(tmp_path / "pushed", id2label=["a", "b"])
    assert "dropped auto_map.AutoModel" in caplog.text
    model.save_pretrained(tmp_path / "fine-tuned")
    config = _read(tmp_path / "fine-tuned" / "config.json")
    assert "AutoModel" not in config.get("auto_map", {}) and "evil" not in json.dumps(config)


def test_a_folder_without_foreign_entries_is_resaved_silently(tmp_path, caplog):
    save_tiny_model(tmp_path / "model")
    save_remote_code(tmp_path / "model")
    with caplog.at_level(logging.WARNING):
        load_pipeline(tmp_path / "model").save_pretrained(tmp_path / "again")
        save_remote_code(tmp_path / "again")
    assert "dropped" not in caplog.text


def test_a_transformers_model_folder_loses_foreign_entries_when_its_code_is_recorded(tmp_path, caplog):
    """A transformers family (VideoMAE) gets no auto_map of the toolkit's: every entry there is foreign."""
    from surgical_skill.models import build_video_processor
    from tests.training.test_engine import TINY_VIDEOMAE

    folder = tmp_path / "videomae"
    build_model("videomae", id2label=["a", "b"], **TINY_VIDEOMAE).save_pretrained(folder)
    build_video_processor("videomae", num_frames=4).save_pretrained(folder)
    config = _read(folder / "config.json")
    config["auto_map"] = {"AutoModelForVideoClassification": FOREIGN_MODEL}
    (folder / "config.json").write_text(json.dumps(config))
    with caplog.at_level(logging.WARNING):
        save_remote_code(folder)
    config = _read(folder / "config.json")
    assert "auto_map" not in config and list(config["custom_pipelines"]) == ["surgical-skill"]
    assert "auto_map.AutoModelForVideoClassification=attacker/repo--evil.EvilModel" in caplog.text
