"""The web app: the real Gradio server on 127.0.0.1, driven through the real ``gradio_client``, with tiny saved
models and generated videos. One server per model, shared by the tests of this module."""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import surgical_skill.app

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

from gradio_client import Client, handle_file

from surgical_skill import limits
from surgical_skill.app import NO_CARD, launch_app, model_card_text
from surgical_skill.cli import build_parser
from surgical_skill.pipeline import load_pipeline
from surgical_skill.testing_utils import make_test_video
from tests.helpers import ROOT, THREE_SCORES, run_cli, save_tiny_model

# The outputs of the /score endpoint, in order
LABEL, TIMELINE, WORST, DOWNLOAD, TABLE, ERROR = range(6)

CARD = """---
license: apache-2.0
---
# suturing-skill

## Usage
pip install surgical-skill

## Intended use and limitations

- For research and training feedback only; not a medical device.

### Data
- Seen only on bench-top suturing.

## Training
lr 1e-3
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("uploads")
    corrupt = root / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))  # an MP4 header, then noise
    return {
        "good": make_test_video(root / "trial one.mp4", 60),
        "other": make_test_video(root / "trial-2.mp4", 45, seed=3),
        "corrupt": corrupt,
    }


def _serve(folder: Path):
    app = launch_app(folder, port=free_port(), prevent_thread_lock=True, quiet=True)
    return app, Client(app.local_url, verbose=False)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    folder = save_tiny_model(tmp_path_factory.mktemp("classifier") / "model", id2label=["novice", "expert"])
    (folder / "README.md").write_text(CARD)
    app, client = _serve(folder)
    yield folder, app, client
    app.close()


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    folder = save_tiny_model(tmp_path_factory.mktemp("scorer") / "model", **THREE_SCORES)
    app, client = _serve(folder)
    yield folder, app, client
    app.close()


def score(client, *paths):
    return client.predict([handle_file(str(p)) for p in paths], api_name="/score")


def test_served_on_loopback_and_scores_as_the_pipeline_does(classifier, clips):
    folder, app, client = classifier
    assert app.local_url.startswith("http://127.0.0.1:")  # launch_app's default host
    expected = load_pipeline(folder)(str(clips["good"]), num_clips=8)

    out = score(client, clips["good"])

    assert out[ERROR] == ""
    label = out[LABEL]
    assert label["label"] == expected["label"]
    assert {c["label"]: c["confidence"] for c in label["confidences"]} == expected["probabilities"]
    result = json.loads(Path(out[DOWNLOAD]).read_text())  # the JSON download: one full result per video
    assert len(result) == 1 and result[0]["video"] == "trial one.mp4"
    assert result[0]["probabilities"] == expected["probabilities"]
    assert result[0]["clips"] == expected["clips"]
    assert result[0]["metadata"]["video"] == "trial one.mp4"  # the name uploaded, not where the server keeps it
    assert result[0]["metadata"]["model"] == "classifier0"  # a run's model folder is named by its run
    assert out[TABLE]["data"] == [["trial one.mp4", expected["label"], round(expected["score"], 4), ""]]
    assert out[TIMELINE]["type"] == "matplotlib" and out[TIMELINE]["plot"].startswith("data:image/")
    assert 1 <= len(out[WORST]) <= 3
    assert all(Path(item["image"]).is_file() and "p(expert)" in item["caption"] for item in out[WORST])
    lowest = min(c["probabilities"]["expert"] for c in expected["clips"])
    assert f"p(expert) {lowest:.3f}" in out[WORST][0]["caption"]  # the clip that pulled the score down most first


def test_a_corrupt_file_gives_its_message_and_the_server_goes_on(classifier, clips):
    _, _, client = classifier
    out = score(client, clips["corrupt"])
    assert "corrupt.mp4" in out[ERROR] and "cannot decode" in out[ERROR]
    assert "Traceback" not in out[ERROR] and "gradio" not in out[ERROR]  # no stack, no server-side path
    assert out[DOWNLOAD] is None and out[WORST] == []
    assert out[TABLE]["data"][0][:2] == ["corrupt.mp4", ""]

    again = score(client, clips["good"])  # the next request is served as usual
    assert again[ERROR] == "" and again[LABEL]["label"] in ("novice", "expert")


def test_several_videos_fill_the_table_and_one_bad_file_does_not_stop_the_others(classifier, clips):
    folder, _, client = classifier
    skill = load_pipeline(folder)
    out = score(client, clips["good"], clips["corrupt"], clips["other"])
    names = [row[0] for row in out[TABLE]["data"]]
    assert names == ["trial one.mp4", "corrupt.mp4", "trial-2.mp4"]
    for row, video in zip(out[TABLE]["data"], (clips["good"], None, clips["other"])):
        if video is None:
            assert "corrupt.mp4" in row[3] and row[2] is None
        else:
            assert row[1:] == [skill(str(video))["label"], round(skill(str(video))["score"], 4), ""]
    assert [r["video"] for r in json.loads(Path(out[DOWNLOAD]).read_text())] == ["trial one.mp4", "trial-2.mp4"]
    assert out[ERROR].count("\n") == 0 and "corrupt.mp4" in out[ERROR]


@pytest.mark.parametrize(
    ("budget", "value"),
    [("max_upload_bytes", 1000), ("max_clips_per_call", 4), ("max_frame_pixels", 64 * 64)],
)
def test_budgets_reach_the_page(classifier, clips, budget, value):
    _, _, client = classifier
    with limits.limited(**{budget: value}):  # the server runs in this process: it reads the same budgets
        out = score(client, clips["good"])
    assert budget in out[ERROR] and "trial one.mp4" in out[ERROR]
    assert out[LABEL] in ({}, None) and out[DOWNLOAD] is None
    assert score(client, clips["good"])[ERROR] == ""


def test_no_upload_says_so(classifier):
    assert "upload" in classifier[2].predict([], api_name="/score")[ERROR]


def test_score_models_show_every_score_and_their_timeline(scorer, clips):
    folder, _, client = scorer
    expected = load_pipeline(folder)(str(clips["good"]), num_clips=8)
    out = score(client, clips["good"])
    assert out[ERROR] == ""
    shown = out[LABEL]["label"]
    for name, value in expected["scores"].items():  # every item and their sum (grs)
        assert f"{name} {value:.2f}" in shown
    result = json.loads(Path(out[DOWNLOAD]).read_text())[0]
    assert result["scores"] == expected["scores"] and result["clips"] == expected["clips"]
    assert out[TABLE]["data"][0][2] == round(expected["score"], 4)
    assert out[TIMELINE]["type"] == "matplotlib"
    lowest = min(c["scores"]["grs"] for c in expected["clips"])
    assert out[WORST][0]["caption"].endswith(f"grs {lowest:.3f}")  # the lowest sum of the items first


def test_a_single_score_model(tmp_path, clips):
    folder = save_tiny_model(tmp_path / "one", num_labels=1)
    expected = load_pipeline(folder)(str(clips["good"]), num_clips=8)
    app, client = _serve(folder)
    try:
        out = score(client, clips["good"])
    finally:
        app.close()
    assert out[ERROR] == "" and out[LABEL]["label"] == f"score {expected['score']:.2f}"


def test_the_card_shows_intended_use_and_limitations(classifier, tmp_path):
    folder, app, _ = classifier
    text = model_card_text(str(folder))
    assert "not a medical device" in text and "bench-top" in text  # the section and its sub-section
    assert "lr 1e-3" not in text and "pip install" not in text  # not the other sections
    card = next(block for block in app.blocks.values() if getattr(block, "elem_id", None) == "model-card")
    assert "not a medical device" in card.value
    assert model_card_text(str(tmp_path)) == NO_CARD  # no card: a general caution


def test_command_defaults_to_loopback_and_no_share_link():
    args = build_parser().parse_args(["app", "--model", "m"])
    assert (args.host, args.port, args.share) == ("127.0.0.1", None, False)
    assert run_cli("app", "--model", "m", "--port", "0").returncode == 2  # not a port


def test_command_without_gradio_says_how_to_install(classifier, monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` now fails as where it is not installed
    importlib.reload(
        surgical_skill.app
    )  # the module itself imports without Gradio (the core package does not need it)
    done = run_cli("app", "--model", classifier[0])
    assert done.returncode == 2
    assert done.stderr.strip() == "error: the web app needs Gradio: pip install surgical-skill[app]"


def test_command_serves_the_page_on_127_0_0_1(classifier):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "surgical_skill.cli", "app", "--model", str(classifier[0]), "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        seen, deadline = "", time.monotonic() + 60
        while time.monotonic() < deadline and f"127.0.0.1:{port}" not in seen:
            line = server.stdout.readline()
            if not line:
                break
            seen += line
        assert f"http://127.0.0.1:{port}" in seen, seen
        assert "gradio.live" not in seen  # no public link unless --share
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_only_video_files_are_taken(classifier, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    with pytest.raises(Exception, match=r"(?i)invalid file type"):  # Gradio's own check, before any scoring
        score(classifier[2], text)
    assert score(classifier[2], make_test_video(tmp_path / "next.mkv", 40))[ERROR] == ""


def test_the_pipeline_warnings_reach_the_page(classifier, tmp_path):
    out = score(classifier[2], make_test_video(tmp_path / "three frames.mp4", 3))
    assert out[LABEL]["label"] in ("novice", "expert")  # scored, from clips that repeat frames
    assert out[ERROR].startswith("warning: three frames.mp4: 3 frames, shorter than one clip")
    assert str(tmp_path) not in out[ERROR]
