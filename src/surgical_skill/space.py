"""A Hugging Face Space for a trained model: the toolkit's web app (:mod:`surgical_skill.app`) on one model.

:func:`export_space` writes a folder that is a complete Gradio Space (upload it with ``hf upload
--repo-type space org/name DIR`` or ``huggingface_hub.upload_folder``):

- ``app.py``: starts the same app as ``surgical-skill app``, on the model (``launch_app``). Inside a Space it
  listens on ``0.0.0.0`` as Spaces expect; run anywhere else (``python app.py``) it stays on ``127.0.0.1`` unless
  ``GRADIO_SERVER_NAME`` says otherwise.
- ``requirements.txt``: the toolkit with its ``app`` extra (Gradio itself is the Space's ``sdk_version``).
- ``README.md``: the Space's YAML metadata (title, emoji, ``sdk: gradio``, ``sdk_version``, ``app_file``,
  ``models`` for a Hub model, license) and a short description with the model card's intended-use text.
- ``model/``: a copy of a local model folder (a Hub model is downloaded by the Space when it starts).

Gradio is not needed to export (only its version is read when it is installed).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
from pathlib import Path

import yaml

from .errors import ModelLoadError, UsageError
from .files import MARKER, staged_folder
from .hub import INTENDED_USE_CAUTION, card_sections, read_model_card

SPACE_KIND = "space"
MODEL_FOLDER = "model"
DEFAULT_GRADIO_VERSION = "6.31.0"  # when Gradio is not installed where the Space is exported
APP_TEMPLATE = '''\
"""A web app that scores a surgical recording with {name}: upload a video, see the skill and when it shows.

Written by `surgical-skill export-space`. In a Hugging Face Space it listens on 0.0.0.0, as Spaces expect; run
here with `python app.py` it listens on 127.0.0.1 only (GRADIO_SERVER_NAME and GRADIO_SERVER_PORT override).
"""

import os
from pathlib import Path

from surgical_skill.app import launch_app

MODEL = {model}


def server_host() -> str:
    # A Space sets SPACE_ID and routes to 0.0.0.0; anywhere else only this machine may connect unless told.
    return os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1")


if __name__ == "__main__":
    port = os.environ.get("GRADIO_SERVER_PORT")
    launch_app(MODEL, host=server_host(), port=int(port) if port else None)
'''


def toolkit_version() -> str:
    try:
        return importlib.metadata.version("surgical-skill")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0.1.0.dev0"


def gradio_version() -> str:
    """The installed Gradio's version (the Space's ``sdk_version``), else the one this toolkit was tested with."""
    try:
        return importlib.metadata.version("gradio")
    except importlib.metadata.PackageNotFoundError:
        return DEFAULT_GRADIO_VERSION


def _is_hub_id(model: str) -> bool:
    from .hub import _hub_id

    return _hub_id(model)


def _front_matter_license(card_text: str) -> str | None:
    match = re.match(r"---\n(.*?)\n---", card_text, re.S)
    if not match:
        return None
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return None
    value = data.get("license") if isinstance(data, dict) else None
    return value if isinstance(value, str) and re.fullmatch(r"[\w.+-]+", value) else None


def _title(name: str) -> str:
    text = re.sub(r"[^\w .+-]", " ", name).strip() or "model"
    return f"Surgical skill: {text}"[:60]


def space_readme(
    *, title: str, model_name: str, hub_id: str | None, license: str, sdk_version: str, intended_use: str
) -> str:
    """The Space's README: YAML metadata that the Hub reads to build the Space, then a short description."""
    meta = {
        "title": title,
        "emoji": "🩺",
        "colorFrom": "blue",
        "colorTo": "green",
        "sdk": "gradio",
        "sdk_version": sdk_version,
        "app_file": "app.py",
        "pinned": False,
        "license": license,
        "short_description": "Score surgical skill in a recorded procedure",
    }
    if hub_id:
        meta["models"] = [hub_id]
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    source = f"[{hub_id}](https://huggingface.co/{hub_id})" if hub_id else f"`{model_name}` (in `model/`)"
    return (
        f"---\n{front}---\n\n# {title}\n\n"
        f"Upload a recording of a procedure: the app scores its technical skill with the model {source}, plots "
        "the skill over the recording, shows the frames of the clips that pulled the score down most, and offers "
        "the full result as JSON. Made with [surgical-skill](https://github.com/surgical-skill/surgical-skill) "
        "(`surgical-skill export-space`).\n\n"
        f"## Intended use and limitations\n\n{intended_use.strip()}\n"
    )


def export_space(
    model: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    requirement: str | None = None,
    license: str | None = None,
    overwrite: bool = False,
    check_model: bool = True,
) -> Path:
    """Write a Gradio Space folder that runs :func:`surgical_skill.app.launch_app` on ``model``.

    ``model`` is a local model folder (copied into ``model/``; checked to load unless ``check_model=False``) or
    a Hub model id (named in the Space's ``models:`` metadata and loaded when the Space starts). ``requirement``
    replaces the toolkit's line in ``requirements.txt`` (e.g. ``surgical-skill[app] @ git+https://...``);
    ``license`` defaults to the model card's, else ``apache-2.0``. An existing ``output_dir`` is replaced only
    when it is empty or an earlier export (or with ``overwrite``); the folder appears whole or not at all.

    Raises:
        UsageError: ``model`` is neither a folder here nor a Hub id, or ``output_dir`` is someone else's folder.
        ModelLoadError: the local folder does not hold a model the app can load.

    Example::

        export_space("runs/demo/model", "space/")  # then: hf upload --repo-type space my-lab/skill-demo space/
    """
    if requirement is not None and (not requirement.strip() or any(c in requirement for c in "\r\n\x00")):
        raise UsageError("--requirement must be one line, e.g. 'surgical-skill[app]>=0.1'")
    if license is not None and not re.fullmatch(r"[\w.+-]+", license):
        raise UsageError(f"--license {license!r} is no license id (e.g. apache-2.0, mit, cc-by-nc-4.0)")
    text = os.fspath(model)
    local = Path(text).expanduser()
    if local.is_dir():
        hub_id = None
        if check_model:
            from .pipeline import load_pipeline  # the exact checks the app makes, here rather than in the Space

            load_pipeline(local)
        card_text = read_model_card(local)
        name = local.resolve().name if local.resolve().name != MODEL_FOLDER else local.resolve().parent.name
    elif local.exists():
        raise ModelLoadError(f"{text} is a file; give the model's folder (with config.json) or a Hub model id")
    elif _is_hub_id(text):
        hub_id, name = text, text.split("/")[-1]
        card_text = read_model_card(text)  # "" offline: the Space then carries the standard caution
    else:
        raise UsageError(f"--model {text!r} is neither a folder here nor a Hub model id (org/name)")

    intended = card_sections(card_text, "intended use", "limitation") or INTENDED_USE_CAUTION
    title = _title(name)
    readme = space_readme(
        title=title,
        model_name=name,
        hub_id=hub_id,
        license=license or _front_matter_license(card_text) or "apache-2.0",
        sdk_version=gradio_version(),
        intended_use=intended,
    )
    model_literal = repr(hub_id) if hub_id else f'str(Path(__file__).resolve().parent / "{MODEL_FOLDER}")'
    requirements = (
        "# the toolkit and its web-app extra; Gradio itself is the Space's sdk_version (README.md)\n"
        f"{requirement or f'surgical-skill[app]>={toolkit_version()}'}\n"
    )
    with staged_folder(output_dir, kind=SPACE_KIND, overwrite=overwrite) as tmp:
        if hub_id is None:
            shutil.copytree(local, tmp / MODEL_FOLDER, ignore=shutil.ignore_patterns(MARKER, ".*"))
        (tmp / "app.py").write_text(APP_TEMPLATE.format(name=title, model=model_literal))
        (tmp / "requirements.txt").write_text(requirements)
        (tmp / "README.md").write_text(readme)
    return Path(output_dir)
