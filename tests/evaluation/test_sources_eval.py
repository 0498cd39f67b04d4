"""Evaluation and the static baselines open a dataset's videos under the rules it was built with (issue 19):
http(s) URLs only with ``allow_urls``, files inside ``root`` when given; a row edited since the build to point
elsewhere is left out like an unreadable video, never opened."""

from __future__ import annotations

import shutil
import threading

import pytest

from surgical_skill.data import load_skill_dataset
from surgical_skill.evaluation.baselines import frame_pixels
from surgical_skill.evaluation.evaluate import evaluate_model
from surgical_skill.evaluation.inference import predict_videos
from surgical_skill.models import load_trained_model, load_trained_video_processor
from surgical_skill.testing_utils import make_test_video
from tests.helpers import save_tiny_model, write_manifest
from tests.video.test_sources import _Server


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """root/ with 6 videos of 6 surgeons and a manifest, a copy of the first video outside root, a tiny model."""
    base = tmp_path_factory.mktemp("eval_sources")
    root = base / "root"
    root.mkdir()
    rows = []
    for i in range(6):
        make_test_video(root / f"v{i}.mp4", 12, height=32, width=32, seed=i, keyframe_interval=4)
        rows.append({"video": f"v{i}.mp4", "label": ("novice", "expert")[i % 2], "subject": f"S{i}"})
    outside = str(shutil.copy(root / "v0.mp4", base / "outside.mp4"))
    dataset = load_skill_dataset(write_manifest(root / "ratings.csv", rows), split_ratios=None, root=root)["train"]
    edited = dataset.map(lambda row, i: {"video": outside if i == 0 else row["video"]}, with_indices=True)
    model_dir = save_tiny_model(base / "model", id2label=["novice", "expert"])
    return root, dataset, edited, model_dir


def test_an_edited_row_outside_the_root_is_left_out_of_the_evaluation(data, tmp_path):
    root, dataset, edited, model_dir = data
    assert len(evaluate_model(model_dir, edited, num_workers=0).predictions) == 6  # no root: the copy is fine
    result = evaluate_model(model_dir, edited, tmp_path / "report", num_workers=0, root=root)
    assert sorted(p.video for p in result.predictions) == sorted(edited["video"][1:])
    assert any("could not be decoded" in note and "outside.mp4" in note for note in result.notes)
    assert len(evaluate_model(model_dir, dataset, num_workers=0, root=root).predictions) == 6


def test_the_frame_baselines_do_not_open_a_row_outside_the_root(data):
    root, _, edited, _ = data
    _, decoded = frame_pixels(edited, "middle", root=root)
    assert decoded.tolist() == [False, True, True, True, True, True]
    assert frame_pixels(edited, "last")[1].all()


def test_url_rows_are_scored_only_when_allowed(data):
    root, dataset, _, model_dir = data
    server = _Server({"/v0.mp4": (root / "v0.mp4").read_bytes()}, {})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = server.url("v0.mp4")
        with_url = dataset.map(lambda row, i: {"video": url if i == 0 else row["video"]}, with_indices=True)
        model = load_trained_model(model_dir)
        processor = load_trained_video_processor(model_dir, config=model.config)
        refused = predict_videos(model, processor, with_url, num_workers=0)
        assert url not in [p.video for p in refused] and len(refused) == 5
        assert not server.requests  # refused before anything was opened
        allowed = predict_videos(model, processor, with_url, num_workers=0, allow_urls=True)
        local = predict_videos(model, processor, dataset.select([0]), num_workers=0)
        by_video = {p.video: p for p in allowed}
        assert len(allowed) == 6 and by_video[url].probabilities == pytest.approx(local[0].probabilities)
    finally:
        server.shutdown()
        server.server_close()
