"""The import rule of the code shipped in model folders (``surgical_skill.remote_code``'s docstring), checked for
every module shipped for every model family; and each family's folder loading in a Python where
``surgical_skill`` cannot be imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from surgical_skill import remote_code
from surgical_skill.models import (
    FAMILIES,
    MODEL_REGISTRY,
    SurgicalSkillVideoProcessor,
    build_model,
    build_video_processor,
)
from surgical_skill.remote_code import (
    PIPELINE_MODULE,
    check_import_rule,
    flat_name,
    import_rule_violations,
    save_remote_code,
    shipped_modules,
)
from tests.models.test_models import TINY

LABELS = ["lower-skilled", "higher-skilled"]
# the first registry name of each family of the package, and a transformers model (it ships the pipeline only)
FOLDERS = [
    *(next(name for name, spec in MODEL_REGISTRY.items() if spec.model_class is head) for _, _, head in FAMILIES),
    "videomae",
]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda family: family[0].model_type)
def test_every_module_shipped_for_a_family_follows_the_import_rule(family):
    config_class, base_class, head_class = family
    modules = shipped_modules(config_class, head_class, SurgicalSkillVideoProcessor)
    expected = {PIPELINE_MODULE, config_class.__module__, head_class.__module__, base_class.__module__}
    assert expected | {SurgicalSkillVideoProcessor.__module__} <= set(modules)
    check_import_rule(modules)  # raises listing every break
    assert shipped_modules() == shipped_modules(None, None, None)  # a transformers model: the pipeline's closure


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A package ``fakepkg`` with one module per kind of import the rule allows or refuses."""
    package = tmp_path / "fakepkg"
    package.mkdir()
    files = {
        "__init__.py": "from .helpers import helper\nCONSTANT = 1\n",
        "helpers.py": "def helper():\n    return 1\n",
        "fine.py": (
            "import json\nimport torch\nfrom . import helper\nfrom .helpers import helper as again\n\n"
            "def optional():\n    try:\n        import torchcodec\n    except ImportError:\n        return None\n"
        ),
        "plain_import.py": "import fakepkg.helpers\n",
        "name_from_init.py": "from . import CONSTANT\n",
        "extra_dependency.py": "def later():\n    import accelerate\n",
        "a_b.py": "",
        "a/__init__.py": "",
        "a/b.py": "",
    }
    for name, source in files.items():
        (package / name).parent.mkdir(exist_ok=True)
        (package / name).write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(remote_code, "PACKAGE", "fakepkg")
    yield "fakepkg"
    for module in [m for m in sys.modules if m.split(".")[0] == "fakepkg"]:
        del sys.modules[module]


def test_the_rule_says_what_each_break_is(fake_package):
    assert import_rule_violations("fakepkg.fine") == []
    assert "fakepkg.helpers" in remote_code.module_closure(["fakepkg.fine"])
    assert "from .fakepkg_helpers import helper" in remote_code.flattened_source("fakepkg.fine")
    (plain,) = import_rule_violations("fakepkg.plain_import")
    assert "`import fakepkg...` cannot be flattened" in plain
    (constant,) = import_rule_violations("fakepkg.name_from_init")
    assert "`from fakepkg import CONSTANT` cannot be flattened" in constant
    (extra,) = import_rule_violations("fakepkg.extra_dependency")
    assert "imports 'accelerate', which a model folder's user need not have" in extra
    with pytest.raises(ValueError, match=r"(?s)cannot ship.*CONSTANT.*accelerate"):
        check_import_rule(["fakepkg.fine", "fakepkg.name_from_init", "fakepkg.extra_dependency"])


def test_flat_names_must_not_clash(fake_package):
    assert flat_name("surgical_skill.video.decode") == "surgical_skill_video_decode"
    with pytest.raises(ValueError, match=r"fakepkg\.a\.b and fakepkg\.a_b share the flat file name fakepkg_a_b"):
        check_import_rule(["fakepkg.a.b", "fakepkg.a_b"])


WITHOUT_THE_PACKAGE = textwrap.dedent(
    """
    import importlib, json, shutil, sys
    from pathlib import Path

    sys.modules["surgical_skill"] = None  # as on a machine without the package
    try:
        import surgical_skill.models
    except ImportError:
        pass
    else:
        raise SystemExit("surgical_skill is importable")
    import torch
    from transformers import AutoModelForVideoClassification, AutoVideoProcessor, pipeline

    root, flat = Path(sys.argv[1]), Path(sys.argv[2])
    sys.path.insert(0, str(flat))
    results = {}
    for name in sys.argv[3:]:
        folder = root / name
        # every shipped file imports, as a module of a package made of the folder's flat files
        package = flat / f"flat_{name}"
        package.mkdir()
        (package / "__init__.py").write_text("")
        for source in sorted(folder.glob("surgical_skill_*.py")):
            shutil.copy(source, package / source.name)
        for source in sorted(package.glob("surgical_skill_*.py")):
            importlib.import_module(f"{package.name}.{source.stem}")
        model = AutoModelForVideoClassification.from_pretrained(folder, trust_remote_code=True).eval()
        clip = torch.load(folder / "clip.pt")
        with torch.no_grad():
            logits = model(pixel_values=clip).logits.tolist()
        skill = pipeline("surgical-skill", model=str(folder), trust_remote_code=True)
        processor = AutoVideoProcessor.from_pretrained(folder, trust_remote_code=True)
        results[name] = {
            "logits": logits,
            "model": type(model).__module__,
            "pipeline": type(skill).__module__,
            "processor": type(processor).__module__,
        }
    print(json.dumps(results))
    """
)


def _save_folder(name, folder):
    overrides, shape = TINY[name]
    torch.manual_seed(0)
    model = build_model(name, id2label=LABELS, **overrides).eval()
    build_video_processor(name, config=model.config).save_pretrained(folder)
    model.save_pretrained(folder)
    save_remote_code(folder, model)
    clip = torch.rand(2, *shape, generator=torch.Generator().manual_seed(1))
    torch.save(clip, folder / "clip.pt")
    with torch.no_grad():
        return model(pixel_values=clip).logits


def test_each_family_folder_loads_where_surgical_skill_cannot_be_imported(tmp_path):
    expected = {name: _save_folder(name, tmp_path / "folders" / name) for name in FOLDERS}
    (tmp_path / "flat").mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_THE_PACKAGE, str(tmp_path / "folders"), str(tmp_path / "flat"), *FOLDERS],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for name in FOLDERS:
        remote = results[name]
        assert remote["pipeline"].startswith("transformers_modules."), name
        ours = name != "videomae"
        assert remote["model"].startswith("transformers_modules." if ours else "transformers.models."), name
        assert remote["processor"].startswith("transformers_modules." if ours else "transformers.models."), name
        torch.testing.assert_close(torch.tensor(remote["logits"]), expected[name], rtol=0, atol=1e-6)


NAMED_OUTPUTS = textwrap.dedent(
    """
    import json, sys
    sys.modules["surgical_skill"] = None  # as on a machine without the package
    from transformers import AutoModelForVideoClassification, pipeline

    video, folders = sys.argv[1], sys.argv[2:]
    results = {}
    for folder in folders:
        config = AutoModelForVideoClassification.from_pretrained(folder, trust_remote_code=True).config
        skill = pipeline("surgical-skill", model=folder, trust_remote_code=True)
        results[folder] = {
            "result": skill(video, num_clips=3),
            "pipeline": type(skill).__module__,
            "target_names": getattr(config, "target_names", None),
        }
    print(json.dumps(results))
    """
)


def test_a_folder_of_named_scores_or_ordered_classes_reads_them_the_same_without_the_package(tmp_path):
    """The folder's own copy of the heads (models/heads.py, imported by inputs.py and losses.py) reads a
    distribution head's three scores and their sum, and ordered classes, as the installed package does."""
    from surgical_skill.pipeline import run_inference
    from surgical_skill.testing_utils import make_test_video
    from tests.helpers import ORDERED_CLASSES, THREE_SCORES, save_tiny_model

    torch.manual_seed(0)
    folders = {"scores": THREE_SCORES, "ordered": ORDERED_CLASSES}
    for name, head in folders.items():
        folder = save_tiny_model(tmp_path / name, **head)
        save_remote_code(folder)
        assert (folder / "surgical_skill_models_heads.py").exists()
        assert "from .surgical_skill_models_heads import" in (folder / "surgical_skill_models_inputs.py").read_text()
    video = str(make_test_video(tmp_path / "trial.mp4", 45, height=40, width=48))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    done = subprocess.run(
        [sys.executable, "-c", NAMED_OUTPUTS, video, *(str(tmp_path / name) for name in folders)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    remote = json.loads(done.stdout.strip().splitlines()[-1])
    scores, ordered = remote[str(tmp_path / "scores")], remote[str(tmp_path / "ordered")]
    assert scores["pipeline"].startswith("transformers_modules.")
    assert scores["target_names"] == THREE_SCORES["target_names"]
    installed = run_inference(tmp_path / "scores", video, num_clips=3)  # the installed package's code
    assert list(scores["result"]["scores"]) == [*THREE_SCORES["target_names"], "grs"]
    for key in ("scores", "spreads", "expected_score_spread"):
        assert scores["result"][key] == pytest.approx(installed[key], abs=1e-5), key
    for there, here in zip(scores["result"]["clips"], installed["clips"], strict=True):
        assert there["scores"] == pytest.approx(here["scores"], abs=1e-5)
    installed = run_inference(tmp_path / "ordered", video, num_clips=3)
    assert ordered["result"]["probabilities"] == pytest.approx(installed["probabilities"], abs=1e-5)
    assert ordered["result"]["expected_class"] == pytest.approx(installed["expected_class"], abs=1e-5)
    assert ordered["result"]["label"] == installed["label"]
