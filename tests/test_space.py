"""`surgical-skill export-space`: a Space folder that is complete, honest about the model, and really runs."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import surgical_skill
from surgical_skill.errors import ModelLoadError, UsageError
from surgical_skill.hub import INTENDED_USE_CAUTION, card_sections
from surgical_skill.space import DEFAULT_GRADIO_VERSION, export_space
from tests.helpers import run_cli, save_tiny_model

CARD = """---
license: cc-by-nc-4.0
---

# tiny-suturing

## Usage

Call the pipeline.

## Intended use and limitations

- Only for feedback on bench-top suturing drills (a sentence no other card has).

## Training recipe

```yaml
lr: 0.1
```
"""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    folder = save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    (folder / "README.md").write_text(CARD)
    return folder


def front_matter(readme: Path) -> dict:
    text = readme.read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_local_model_space_has_app_requirements_metadata_and_a_copy_of_the_model(tiny_model, tmp_path):
    out = export_space(tiny_model, tmp_path / "space")

    assert {p.name for p in out.iterdir()} >= {"app.py", "requirements.txt", "README.md", "model"}
    assert (out / "model" / "config.json").read_bytes() == (tiny_model / "config.json").read_bytes()
    assert (out / "model" / "model.safetensors").exists()
    meta = front_matter(out / "README.md")
    assert meta["sdk"] == "gradio"
    assert meta["app_file"] == "app.py"
    assert meta["sdk_version"] == (importlib.metadata.version("gradio") if _has("gradio") else DEFAULT_GRADIO_VERSION)
    assert meta["license"] == "cc-by-nc-4.0"  # the model card's
    assert "models" not in meta  # a local model is no Hub id
    assert meta["title"] and meta["emoji"]
    body = (out / "README.md").read_text()
    assert "bench-top suturing drills (a sentence no other card has)" in body
    assert "lr: 0.1" not in body  # only the intended-use section, not the whole card
    assert "surgical-skill[app]" in (out / "requirements.txt").read_text()
    app = (out / "app.py").read_text()
    compile(app, "app.py", "exec")
    assert "from surgical_skill.app import launch_app" in app
    assert '/ "model"' in app and str(tiny_model) not in app  # the copy beside app.py, not this machine's path


def test_hub_model_space_names_the_model_and_copies_nothing(tmp_path):
    out = export_space("my-lab/suturing-skill", tmp_path / "space", requirement="surgical-skill[app] @ git+https://x")
    meta = front_matter(out / "README.md")
    assert meta["models"] == ["my-lab/suturing-skill"]
    assert meta["license"] == "apache-2.0"
    assert not (out / "model").exists()
    assert "MODEL = 'my-lab/suturing-skill'" in (out / "app.py").read_text()
    # offline here (conftest): the card cannot be read, so the toolkit's own intended-use text stands in
    assert INTENDED_USE_CAUTION in (out / "README.md").read_text()
    assert (out / "requirements.txt").read_text().splitlines()[-1] == "surgical-skill[app] @ git+https://x"


def test_a_folder_of_someone_elses_is_refused_and_left_alone_but_an_export_is_replaced(tiny_model, tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.txt").write_text("mine")
    with pytest.raises(UsageError):
        export_space(tiny_model, theirs)
    assert [p.name for p in theirs.iterdir()] == ["thesis.txt"]

    out = export_space("my-lab/a", tmp_path / "space")
    export_space(tiny_model, out)  # an earlier export is the toolkit's: replaced
    assert (out / "model" / "config.json").exists()
    assert "models" not in front_matter(out / "README.md")


def test_bad_models_and_options_are_one_clear_message(tmp_path):
    not_a_model = tmp_path / "videos"
    not_a_model.mkdir()
    (not_a_model / "a.mp4").write_bytes(b"")
    with pytest.raises(ModelLoadError):
        export_space(not_a_model, tmp_path / "space")
    assert not (tmp_path / "space").exists()  # nothing half-made

    result = run_cli("export-space", "--model", "no such/thing here", "--output-dir", tmp_path / "s")
    assert result.returncode == 2
    assert "neither a folder here nor a Hub model id" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli("export-space", "--model", "org/m", "--output-dir", tmp_path / "s", "--requirement", "a\nb")
    assert result.returncode == 2 and "one line" in result.stderr


def test_the_command_writes_the_folder_and_says_how_to_try_and_publish_it(tiny_model, tmp_path):
    result = run_cli("export-space", "--model", tiny_model, "--output-dir", tmp_path / "space", "--license", "mit")
    assert result.returncode == 0, result.stderr
    assert "python app.py" in result.stdout and "hf upload --repo-type space" in result.stdout
    assert front_matter(tmp_path / "space" / "README.md")["license"] == "mit"
    assert (tmp_path / "space" / "model" / "config.json").exists()


def test_card_sections_keep_their_sub_sections_and_stop_at_the_next_heading_of_their_level():
    card = "# M\n## Intended use\nA\n### Detail\nB\n## Limitations\nC\n## Other\nD\n"
    assert card_sections(card, "intended use") == "### Intended use\nA\n### Detail\nB"
    assert card_sections(card, "limitation") == "### Limitations\nC"
    assert (
        card_sections(card, "intended use", "limitation") == "### Intended use\nA\n### Detail\nB\n### Limitations\nC"
    )
    assert card_sections(card, "nothing") == ""


def _has(module: str) -> bool:
    try:
        importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_exported_app_runs_on_loopback_and_scores_like_the_pipeline(tiny_model, tmp_path):
    pytest.importorskip("gradio")
    gradio_client = pytest.importorskip("gradio_client")
    pytest.importorskip("surgical_skill.app")
    from surgical_skill.pipeline import load_pipeline
    from surgical_skill.testing_utils import make_test_video

    out = export_space(tiny_model, tmp_path / "space")
    video = make_test_video(tmp_path / "trial.mp4", 48, seed=3)
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "OMP_NUM_THREADS": "1",
        # the same package as this process (the exported app imports it as a Space's pip install would)
        "PYTHONPATH": os.pathsep.join(
            [str(Path(surgical_skill.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    server = subprocess.Popen(
        [sys.executable, "app.py"], cwd=out, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        expected = load_pipeline(tiny_model)(str(video), num_clips=8)  # while the server starts
        client = _connect(gradio_client, f"http://127.0.0.1:{port}/", server)
        label, _, _, download, _, errors = client.predict([gradio_client.handle_file(str(video))], api_name="/score")
        assert errors == ""
        assert label["label"] == expected["label"]
        scored = json.loads(Path(download).read_text())[0]
        assert scored["label"] == expected["label"]
        assert scored["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-5)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.mark.parametrize(
    ("env", "host"),
    [
        ({}, "127.0.0.1"),  # run by hand: this computer only
        ({"SPACE_ID": "my-lab/demo"}, "0.0.0.0"),  # inside a Space, as Spaces expect
        ({"SPACE_ID": "my-lab/demo", "GRADIO_SERVER_NAME": "10.0.0.5"}, "10.0.0.5"),
    ],
)
def test_the_exported_app_listens_on_loopback_unless_in_a_space(tmp_path, monkeypatch, env, host):
    pytest.importorskip("surgical_skill.app")
    out = export_space("my-lab/suturing-skill", tmp_path / "space")
    for name in ("SPACE_ID", "GRADIO_SERVER_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("exported_space_app", out / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: nothing is launched
    assert module.server_host() == host
    assert module.MODEL == "my-lab/suturing-skill"


def _connect(gradio_client, url: str, server: subprocess.Popen):
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            pytest.fail(f"the exported app exited ({server.returncode}):\n{server.stdout.read()}")
        try:
            return gradio_client.Client(url, verbose=False)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
