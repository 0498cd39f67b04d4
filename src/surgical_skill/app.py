"""A web page for a trained model: upload recordings, see the skill and when in the video it shows.

    >>> from surgical_skill.app import launch_app
    >>> launch_app("runs/demo/model")  # http://127.0.0.1:7860, or: surgical-skill app --model runs/demo/model

The page (Gradio, an optional extra: ``pip install surgical-skill[app]``) takes one or several uploaded videos
(uploads only: a visitor never names a path or URL on the server), scores each with the model's pipeline and
shows, for the first video scored, the label and score with every class's probability (or every score), a
timeline of the clips' probabilities or scores over the recording, the middle frames of the clips that pulled
the score down most, and a JSON download of every video's full result; several videos also fill a table. The
model card's intended-use and limitations text stands beside it. A file that cannot be scored (not a video,
damaged, too short, over a budget of :mod:`surgical_skill.limits`) puts its message in the error box; the
server goes on serving.

The same function is the API endpoint ``/score`` (``gradio_client.Client(url).predict(files, api_name="/score")``
with ``files`` a list of ``handle_file(path)``); its outputs, in order: the label (``gr.Label``), the timeline
(``gr.Plot``), the worst clips' frames (``gr.Gallery``), the JSON file (``gr.File``: a list with one result per
video, each with its ``video`` name), the table (``gr.Dataframe``: video, label, score, error) and the error
text (``gr.Textbox``: a line per file that could not be scored, and the pipeline's warnings, such as a video
shorter than one clip, as ``warning: ...``; empty when there is nothing to say).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import uuid
import weakref
from pathlib import Path
from typing import Any

from .errors import SurgicalSkillError, UsageError
from .hub import INTENDED_USE_CAUTION

logger = logging.getLogger(__name__)

WORST_CLIPS = 3
"""Clips whose middle frames the page shows: those that pulled the score down most."""
WORST_CAPTION = "Clips that pulled the score down most (middle frames)"
TABLE_HEADERS = ["video", "label", "score", "error"]
CARD_SECTIONS = ("intended use", "limitation")
"""Headings (lower case, any level) of the model card sections the page shows."""
NO_CARD = "This model has no model card with an *Intended use* or *Limitations* section. " + INTENDED_USE_CAUTION
INSTALL_HINT = "the web app needs Gradio: pip install surgical-skill[app]"


def _gradio():
    try:
        import gradio
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return gradio


def build_app(model, *, device: str | int | None = None, num_clips: int = 8):
    """The page for ``model`` (a model folder, a Hub id, or a loaded :class:`SurgicalSkillPipeline`), a
    ``gradio.Blocks`` to ``launch()`` (prefer :func:`launch_app`, which also bounds the upload size).

    Raises:
        UsageError: Gradio is not installed, or ``num_clips`` is not a whole number of clips within the
            ``max_clips_per_call`` budget.
        ModelLoadError: the model cannot be loaded.
    """
    gr = _gradio()
    from .data.building import VIDEO_EXTENSIONS
    from .limits import get_limits
    from .pipeline import SurgicalSkillPipeline, load_pipeline

    if isinstance(num_clips, bool) or not isinstance(num_clips, int) or num_clips < 1:
        raise UsageError(f"num_clips={num_clips!r} must be a whole number of clips, 1 or more")
    if num_clips > get_limits().max_clips_per_call:
        raise UsageError(
            f"num_clips={num_clips} exceeds the max_clips_per_call budget ({get_limits().max_clips_per_call:,})"
        )
    if isinstance(model, SurgicalSkillPipeline):
        skill, source = model, str(model.model.name_or_path or "")
    else:
        skill, source = load_pipeline(model, device=device), os.fspath(model)
    title = _model_title(source)
    card = model_card_text(source)
    outputs_dir = Path(tempfile.mkdtemp(prefix="surgical-skill-app-"))

    def score(files, progress=gr.Progress()):  # noqa: B008 (Gradio finds its progress tracker this way)
        return score_videos(skill, files, num_clips=num_clips, title=title, outputs_dir=outputs_dir, progress=progress)

    # delete_cache: Gradio removes uploads and served files an hour old, hourly; no analytics leave the server
    with gr.Blocks(title=f"{title} - surgical skill", delete_cache=(3600, 3600), analytics_enabled=False) as app:
        gr.Markdown(
            f"# Surgical skill: {_escape_markdown(title)}\nUpload one or several recordings and press *Score*. "
            "With several, the table lists every video and the details are the first one's."
        )
        with gr.Row():
            with gr.Column(scale=1):
                videos = gr.File(
                    label="Videos",
                    file_count="multiple",
                    file_types=list(VIDEO_EXTENSIONS),  # the ones the toolkit reads; Gradio refuses others
                    type="filepath",
                    elem_id="video-input",
                )
                button = gr.Button("Score", variant="primary", elem_id="score-button")
                errors = gr.Textbox(label="Errors and warnings", interactive=False, lines=2, elem_id="error-box")
                gr.Markdown(card, elem_id="model-card")
            with gr.Column(scale=2):
                label = gr.Label(label="Skill", elem_id="result-label")
                timeline = gr.Plot(label="Skill over the recording", elem_id="timeline-plot")
                worst = gr.Gallery(
                    label=WORST_CAPTION,
                    columns=WORST_CLIPS,
                    height="auto",
                    elem_id="worst-clips",
                )
                table = gr.Dataframe(
                    headers=TABLE_HEADERS, label="All videos", interactive=False, elem_id="results-table"
                )
                download = gr.File(label="Full result (JSON)", interactive=False, elem_id="result-json")
        button.click(
            score,
            inputs=videos,
            outputs=[label, timeline, worst, download, table, errors],
            api_name="score",
            concurrency_limit=1,  # one model, one video at a time
        )
    weakref.finalize(app, shutil.rmtree, outputs_dir, ignore_errors=True)
    return app


def launch_app(
    model, *, host: str = "127.0.0.1", port: int | None = None, share: bool = False, device=None, num_clips=8, **kw
):
    """Build the page (:func:`build_app`) and serve it on ``host:port`` (loopback by default; a public share
    link only with ``share=True``), uploads bounded by the ``max_upload_bytes`` budget. ``kw`` go to
    ``gradio.Blocks.launch`` (``prevent_thread_lock=True`` returns at once; ``app.close()`` stops it)."""
    from .limits import get_limits

    app = build_app(model, device=device, num_clips=num_clips)
    kw.setdefault("max_file_size", get_limits().max_upload_bytes)
    app.launch(server_name=host, server_port=port, share=share, **kw)
    return app


# ------------------------------------------------------------------------------------------------------------


def score_videos(skill, files, *, num_clips: int, title: str, outputs_dir: Path, progress=None) -> tuple:
    """Score each uploaded file; the page's outputs (see the module doc), errors as text, never raised."""
    from .limits import exceeded, get_limits

    paths = [os.fspath(getattr(f, "name", f)) for f in (files if isinstance(files, list | tuple) else [files]) if f]
    if not paths:
        return None, None, [], None, [], "no video: upload one or several video files first"
    results, rows, messages = [], [], []
    for k, path in enumerate(paths):
        name = Path(path).name
        if progress is not None:
            progress((k, len(paths)), desc=f"scoring {name}", unit="videos")
        try:
            size = os.path.getsize(path)
            if size > get_limits().max_upload_bytes:
                raise exceeded("max_upload_bytes", name, f"a file of {size:,} bytes")
            result = _public(skill(path, num_clips=num_clips), path, name, title)
        except SurgicalSkillError as err:  # not a video, damaged, too short, over a budget
            message = _public(str(err), path, name, title)
            message = message if name in message else f"{name}: {message}"
            rows.append([name, "", None, message])
            messages.append(message)
            continue
        except Exception as err:  # a bug: its traceback goes to the server's log, not to the visitor
            logger.exception("scoring %s failed", path)
            message = f"{name}: could not be scored ({type(err).__name__}); the server's log has the details"
            rows.append([name, "", None, message])
            messages.append(message)
            continue
        results.append({"video": name, **result})
        messages += [f"warning: {warning}" for warning in result["metadata"].get("warnings", [])]
        rows.append([name, result.get("label", _scores_line(result)), round(float(result["score"]), 4), ""])
    if progress is not None:
        progress((len(paths), len(paths)), desc="done", unit="videos")
    error_text = "\n".join(messages)
    if not results:
        return None, None, [], None, rows, error_text
    first, first_path = results[0], paths[[Path(p).name for p in paths].index(results[0]["video"])]
    folder = outputs_dir / uuid.uuid4().hex
    folder.mkdir(parents=True)
    download = folder / "surgical-skill-results.json"
    download.write_text(json.dumps(results, indent=2))
    _forget_old_downloads(outputs_dir)
    return (
        _label_value(first, folder),
        _timeline(first),
        worst_clip_frames(skill, first, first_path),
        str(download),
        rows,
        error_text,
    )


def worst_clip_frames(skill, result: dict, path: str, count: int = WORST_CLIPS) -> list[tuple[Any, str]]:
    """The middle frames of the ``count`` clips that pulled the score down most, each with a caption: for classes,
    the clips with the lowest probability of the decided class (the highest class of an ordered model); for scores, the lowest sum of the scores where the model reports one (else the lowest first
    score). Frames that several clips share (uniform clips span the whole video) are shown once."""
    from .video import decode_frames

    clips, meta = result["clips"], result["metadata"]
    fps, total = meta.get("fps"), int(meta.get("total_num_frames") or 0)
    if not clips or not fps or total < 1:
        return []
    if "probabilities" in result:
        names = list(clips[0]["probabilities"])
        # ordered classes (novice < ... < expert): the highest; otherwise the decided class, whose probability is
        # the video's score (which of two classes is the "skilled" one is the data's naming, not known here)
        target = names[-1] if "expected_class" in result else result["label"]
        values = [c["probabilities"][target] for c in clips]
        what = f"p({target})"
    else:
        scores = list(clips[0].get("scores") or {"score": None})
        target = scores[-1] if len(scores) > 1 and _has_sum(skill) else scores[0]
        values = [c["scores"][target] if "scores" in c else c["score"] for c in clips]
        what = target
    chosen, frames = [], []
    for k in sorted(range(len(clips)), key=lambda k: values[k]):
        middle = min(total - 1, max(0, round((clips[k]["start"] + clips[k]["end"]) / 2 * fps)))
        if middle not in frames:
            chosen.append(k)
            frames.append(middle)
        if len(chosen) == count:
            break
    try:
        decoded = decode_frames(path, frames)  # (N, C, H, W) uint8
    except SurgicalSkillError as err:
        logger.warning("could not decode the worst clips' frames: %s", err)
        return []
    return [
        (
            decoded[i].permute(1, 2, 0).numpy(),
            f"{clips[k]['start']:.1f}-{clips[k]['end']:.1f} s: {what} {values[k]:.3f}",
        )
        for i, k in enumerate(chosen)
    ]


def model_card_text(model: str) -> str:
    """The intended-use and limitations sections of the model's card (``README.md`` in its folder, or on the Hub
    for a Hub id, where it can be read), as Markdown; a general caution when there is none."""
    from .hub import card_sections, read_model_card

    return card_sections(read_model_card(model) if model else "", *CARD_SECTIONS) or NO_CARD


def _model_title(source: str) -> str:
    if not source:
        return "model"
    path = Path(source)
    if path.exists():  # a local folder: its name (a run's "model" folder: the run's name), never its full path
        return path.parent.name if path.name == "model" and path.parent.name else path.name
    return source


def _public(value, path: str, name: str, title: str):
    """``value`` (a result, a message) with the server-side path of the upload replaced by the file's name: the
    visitor sees what they uploaded, not where the server keeps it."""
    if isinstance(value, str):
        return value.replace(path, name)
    if isinstance(value, dict):
        public = {key: _public(item, path, name, title) for key, item in value.items()}
        if isinstance(public.get("metadata"), dict) and "model" in public["metadata"]:
            public["metadata"]["model"] = title
        return public
    if isinstance(value, list | tuple):
        return [_public(item, path, name, title) for item in value]
    return value


def _label_value(result: dict, folder: Path) -> str:
    """What ``gr.Label`` shows: the decided class (a saved threshold may decide another class than the most
    probable: a dict of probabilities alone would show that one) with every probability, or the scores. A class
    result goes as a ``.json`` file, the form in which ``gr.Label`` takes a label and confidences together."""
    if "probabilities" not in result:
        return _scores_line(result)
    label = folder / "label.json"
    confidences = [{"label": name, "confidence": p} for name, p in result["probabilities"].items()]
    label.write_text(json.dumps({"label": result["label"], "confidences": confidences}))
    return str(label)


def _scores_line(result: dict) -> str:
    scores = result.get("scores") or {"score": result["score"]}
    return "  ".join(f"{name} {value:.2f}" for name, value in scores.items())


def _timeline(result: dict):
    from .evaluation.plots import prediction_timeline_figure

    return prediction_timeline_figure(result)


def _has_sum(skill) -> bool:
    from .models.heads import reported_score_names, target_names

    config = skill.model.config
    return len(reported_score_names(config)) > len(target_names(config))


def _forget_old_downloads(outputs_dir: Path, keep: int = 32) -> None:
    """Keep the JSON files of the last ``keep`` requests (Gradio copies each into its own cache, which it cleans)."""
    folders = sorted((p for p in outputs_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in folders[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _escape_markdown(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]()#+!<>|~-])", r"\\\1", text)
