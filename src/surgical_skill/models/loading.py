"""Loading a trained model a user names (a folder or a Hub id): checked first, safetensors only, one-line errors.

:func:`load_trained_model` and :func:`load_trained_video_processor` are what ``surgical-skill predict`` and
``evaluate``, :func:`surgical_skill.pipeline.load_pipeline` and ``evaluate_model`` load with. Before anything is
read, :func:`check_model_source` says in one :class:`~surgical_skill.errors.ModelLoadError` what a folder is
instead of a model (empty, videos, the run folder beside ``model/``, config without weights, no video processor)
and what to give instead.

Weights load from safetensors only. A pickle checkpoint (``pytorch_model.bin``) is a Python pickle: unpickling
can run any code its author put in it. It is refused, with how to convert it, unless the caller opts in with
``allow_pickle=True`` (``--allow-pickle``); even then it is read with ``torch.load(weights_only=True)``, which
unpickles tensors and plain containers only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mimetypes
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoModelForVideoClassification, AutoVideoProcessor, PreTrainedModel
from transformers.utils.hub import is_offline_mode

from ..errors import ModelLoadError, UsageError

logger = logging.getLogger(__name__)

SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
PROCESSOR_FILES = ("video_preprocessor_config.json", "preprocessor_config.json", "processor_config.json")


class ModelNotFoundError(ModelLoadError, FileNotFoundError):
    """No model where the user pointed: no such folder, or a folder that holds none (still a FileNotFoundError)."""


GIVE_A_MODEL = (
    "give a model folder saved by training (<output_dir>/model) or by save_pretrained, or a Hub id (org/name)"
)


def looks_like_hub_id(name: str) -> bool:
    """``org/name`` that is not a path here."""
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~")) and not os.path.exists(name)


def _listing(folder: Path, limit: int = 4) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def describe_non_model(folder: Path, name: str) -> str:
    """What ``folder`` (no ``config.json``), named ``name`` to the user, is instead of a model, and what to give."""
    entries = list(folder.iterdir())
    if not entries:
        return f"{name} is an empty folder, not a model: {GIVE_A_MODEL}"
    if (folder / "model" / "config.json").is_file():
        return f"{name} is a training run, not its model: give its model folder, {folder / 'model'}"
    sibling = folder.parent / "model"
    if (sibling / "config.json").is_file() and sibling.resolve() != folder.resolve():
        return f"{name} holds no model (no config.json); the run's model is beside it: give {sibling}"
    videos = [p for p in entries if (mimetypes.guess_type(p.name)[0] or "").startswith("video/")]
    if videos:
        return (
            f"{name} holds {len(videos)} video file(s) ({_listing(folder)}), not a model (no config.json): the videos "
            f"to score go before the options; with --model {GIVE_A_MODEL}"
        )
    return f"{name} holds no model (no config.json among {_listing(folder)}): {GIVE_A_MODEL}"


def pickle_refusal(where: str, weights: str) -> str:
    """Why a pickle checkpoint is not loaded, and the two ways on."""
    return (
        f"{where} holds its weights only as a pickle checkpoint ({weights}), which is refused: unpickling a file can "
        "run any code its author put in it, so only safetensors weights (model.safetensors) are loaded. If you trust "
        "where it came from, convert it once (transformers' `AutoModelForVideoClassification.from_pretrained(path, "
        "use_safetensors=False).save_pretrained(path)` writes model.safetensors), or opt in with --allow-pickle "
        "(allow_pickle=True; in a recipe, allow_pickle: true), which reads it with torch.load(weights_only=True): tensors only, no code"
    )


def check_model_source(name_or_path: str | os.PathLike, *, allow_pickle: bool = False, processor: bool = True) -> str:
    """Check, before anything is loaded, that ``name_or_path`` can hold a trained model; returns ``"folder"`` or
    ``"hub"`` (a Hub id is checked as it loads: see :func:`load_trained_model`).

    A local folder needs ``config.json``, safetensors weights (a pickle checkpoint only with ``allow_pickle``)
    and, with ``processor``, a video or image processor config.

    Raises:
        ModelLoadError: what the path is instead (missing, a file, empty, videos, a run folder or the folder
            beside its model, weights or processor missing, a pickle checkpoint), and what to give instead.
    """
    name = os.fspath(name_or_path)
    folder = Path(name).expanduser()
    if not folder.exists():
        if looks_like_hub_id(name):
            return "hub"
        raise ModelNotFoundError(f"{name}: no such model folder; {GIVE_A_MODEL}")
    if not folder.is_dir():
        raise ModelLoadError(f"{name} is a file, not a model folder: {GIVE_A_MODEL}")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ModelNotFoundError(describe_non_model(folder, name))
    try:
        config = json.loads(config_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"{config_file} is not a readable JSON model config ({err}): {GIVE_A_MODEL}") from err
    if not isinstance(config, dict) or "model_type" not in config:
        raise ModelLoadError(
            f"{config_file} is not a transformers model config (it has no model_type): {GIVE_A_MODEL}"
        )
    if not any((folder / f).is_file() for f in SAFE_WEIGHTS):
        pickles = [f for f in PICKLE_WEIGHTS if (folder / f).is_file()]
        if not pickles:
            raise ModelLoadError(
                f"{name} has a config.json but no weights (no model.safetensors among {_listing(folder)}): the run "
                "stopped before it saved its model, or the weights file was not copied; copy model.safetensors "
                "beside config.json, or give another model folder"
            )
        if not allow_pickle:
            raise ModelLoadError(pickle_refusal(name, pickles[0]))
    if processor and not any((folder / f).is_file() for f in PROCESSOR_FILES):
        raise ModelLoadError(_no_processor(name))
    return "folder"


def _no_processor(name: str) -> str:
    return (
        f"{name} has no video processor config (video_preprocessor_config.json), which says how the model's "
        "frames are sampled, sized and normalised: copy it from the folder the model was trained into, or save "
        "the processor used in training beside the model with `processor.save_pretrained(folder)`"
    )


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """No progress bars or load tables from transformers while loading: a failure is explained in one line."""
    verbosity = transformers.logging.get_verbosity()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(verbosity)
        if bars:
            transformers.utils.logging.enable_progress_bar()


def _is(err: Exception, name: str) -> bool:
    # by name: huggingface_hub's and safetensors' classes, without importing them here (this module ships in model
    # folders with the pipeline, where only transformers, torch ... may be imported; see surgical_skill.remote_code)
    return any(cls.__name__ == name for cls in type(err).__mro__)


def refuse_remote_code_option(options: dict[str, Any], where: str) -> None:
    """Refuse ``trust_remote_code`` among a caller's options: the toolkit loads with ``trust_remote_code=False``
    always (a folder's own Python code never runs here; its installed code loads instead).

    Raises:
        UsageError: the option was given.
    """
    if "trust_remote_code" in options:
        raise UsageError(
            f"{where}(trust_remote_code=...): surgical-skill never runs the Python code a model folder or Hub "
            "repository carries (it loads with trust_remote_code=False and uses its own installed code); leave "
            "the option out, or load the model yourself with transformers if you have read and trust that code"
        )


def is_unknown_model_error(err: Exception) -> bool:
    """Whether a ``ValueError`` of transformers says the model needs code it does not have: custom code refused
    (``trust_remote_code=False``) or a model type it does not know."""
    text = str(err)
    return any(
        phrase in text
        for phrase in ("trust_remote_code", "contains custom code", "Unrecognized model", "does not recognize this")
    )


def _custom_code_refusal(name: str) -> str:
    """Why a folder that asks for its own code is not loaded, naming what it asks for (from a local config)."""
    asked = ""
    config_file = Path(name).expanduser() / "config.json"
    with contextlib.suppress(OSError, UnicodeDecodeError, ValueError):
        config = json.loads(config_file.read_text())
        entries = config.get("auto_map") if isinstance(config, dict) else None
        if isinstance(entries, dict):
            asked = " (" + ", ".join(f"{k}: {v}" for k, v in list(entries.items())[:3])[:200] + ")"
        if isinstance(config, dict) and "model_type" in config:
            asked += f" for its model type {str(config['model_type'])[:60]!r}"
    return (
        f"{name} asks to run its own Python code to load{asked}, which surgical-skill never does "
        f"(trust_remote_code=False): neither surgical-skill nor transformers {transformers.__version__} knows the "
        "model. Give a model folder saved by surgical-skill or transformers; run that code with transformers "
        "yourself (trust_remote_code=True) only if you have read it and trust its author"
    )


def explain_load_error(name: str, err: Exception) -> str:
    """A transformers / Hub loading error as one line saying what to do (offline, unknown id, unknown model type,
    custom code refused)."""
    text = " ".join(str(err).split())
    if "contains custom code" in text or "references custom code" in text or "trust_remote_code=True" in text:
        return _custom_code_refusal(name)
    if "Unrecognized model" in text or "does not recognize this architecture" in text:  # before offline: local too
        return (
            f"{name}: its config.json names a model type that neither surgical-skill nor transformers "
            f"{transformers.__version__} knows; upgrade them if the model is newer, or load it with its own code "
            f"(trust_remote_code) only if you trust its author ({text[:200]})"
        )
    offline = is_offline_mode()
    if _is(err, "GatedRepoError"):
        return f"{name} is a gated model on the Hub: ask for access on its page, then log in with `hf auth login`"
    if _is(err, "RepositoryNotFoundError"):
        return f"{name}: no such folder here, and no such model on the Hub (or it is private: `hf auth login`)"
    if _is(err, "RevisionNotFoundError"):
        return f"{name}: the Hub has no such revision of this model ({text})"
    if offline or "couldn't connect" in text.lower() or "connection" in text.lower():
        reason = "the Hub is switched off here (HF_HUB_OFFLINE=1)" if offline else "the Hub cannot be reached"
        return (
            f"{name} is no folder here, and as a Hub id it is not in the local cache while {reason}: connect and "
            f"try again, download it first (`hf download {name}`, where online), or give a local model folder"
        )
    if (
        "does not appear to have a file named model.safetensors" in text
        or "cannot be loaded with `safetensors`" in text
    ):
        return pickle_refusal(f"The Hub model {name}", "pytorch_model.bin")
    return f"could not load the model {name}: {text[:400]}"


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    found = next((line for line in lines if "GLOBAL" in line), lines[0] if lines else type(err).__name__)
    return found[:200]


def _weights_mismatch(name: str, info: dict[str, Any]) -> str | None:
    mismatched = sorted(info.get("mismatched_keys") or ())
    missing = sorted(info.get("missing_keys") or ())
    if not mismatched and not missing:
        return None
    if mismatched:
        key, saved, expected = mismatched[0]
        what = (
            f"{len(mismatched)} tensor(s) have other sizes than config.json describes (first: {key} is "
            f"{tuple(saved)} in the weights, {tuple(expected)} by the config)"
        )
    else:
        what = f"{len(missing)} tensor(s) the config's model needs are not in the weights (first: {missing[0]})"
    return (
        f"the weights in {name} do not fit its config.json: {what}. The config was edited or comes from another "
        "model; put back the config.json saved with these weights"
    )


def load_trained_model(
    name_or_path: str | os.PathLike, *, allow_pickle: bool = False, **kwargs: Any
) -> PreTrainedModel:
    """A trained video classifier from a folder or Hub id, whole or not at all.

    Checked first (:func:`check_model_source`); weights from safetensors only unless ``allow_pickle``, and a
    pickle checkpoint then only with ``weights_only=True``. Weights that do not fit the config (other sizes,
    tensors missing) are refused: transformers would start those tensors from random values with a warning.
    ``kwargs`` go to ``from_pretrained`` (``dtype``, ``revision`` ...).

    Raises:
        ModelLoadError: the folder or id holds no loadable model, or loading it safely is impossible; the message
            says why and what to do.
    """
    name = os.fspath(name_or_path)
    refuse_remote_code_option(kwargs, "load_trained_model")
    check_model_source(name, allow_pickle=allow_pickle, processor=False)
    try:
        with _quiet_loading():
            model, info = AutoModelForVideoClassification.from_pretrained(
                name,
                use_safetensors=None if allow_pickle else True,
                weights_only=True,
                trust_remote_code=False,
                ignore_mismatched_sizes=True,  # found below and refused with the sizes, not as a log table
                output_loading_info=True,
                **kwargs,
            )
    except (OSError, ValueError, KeyError) as err:
        raise ModelLoadError(explain_load_error(name, err)) from err
    except pickle.UnpicklingError as err:  # weights_only=True met something that is not a tensor
        raise ModelLoadError(
            f"{name}: the pickle checkpoint holds more than tensors ({_first_line(err)}), so it is refused even "
            "with --allow-pickle: loading it would run code from the file. Do not use it unless you can check its "
            "source; ask its author for model.safetensors"
        ) from err
    except Exception as err:
        if not _is(err, "SafetensorError"):
            raise
        raise ModelLoadError(
            f"{name}: the weights file is damaged or incomplete ({_first_line(err)}): copy or download it again"
        ) from err
    problem = _weights_mismatch(name, info)
    if problem:
        raise ModelLoadError(problem)
    drop_foreign_code(
        model.config, {"AutoConfig": type(model.config), "AutoModelForVideoClassification": type(model)}, where=name
    )
    return model


def load_trained_video_processor(name_or_path: str | os.PathLike, config=None):
    """The video processor saved with a model (a checkpoint with only an image processor gets the matching video
    processor built from its settings, as :func:`~surgical_skill.models.build_video_processor` does).

    Raises:
        ModelLoadError: no processor config in the folder or Hub repository, saying what to do.
    """
    from .factory import build_video_processor  # the factory imports this module

    name = os.fspath(name_or_path)
    folder = Path(name).expanduser()
    if folder.is_dir() and not any((folder / f).is_file() for f in PROCESSOR_FILES):
        raise ModelLoadError(_no_processor(name))
    try:
        with _quiet_loading():
            processor = AutoVideoProcessor.from_pretrained(name, trust_remote_code=False)
        drop_foreign_code(processor, {"AutoVideoProcessor": type(processor)}, where=name)
        return processor
    except (OSError, ValueError, KeyError) as err:
        try:  # an image processor only (most older Hub video models)
            return build_video_processor(name, config=config)
        except (OSError, ValueError, KeyError):
            raise ModelLoadError(explain_load_error(name, err)) from err


# What the toolkit records in a folder it ships code in (surgical_skill.remote_code): auto_map entries naming its
# own flat modules, and its pipeline under custom_pipelines. Anything else names code it did not write.
OWN_PIPELINE_TASK = "surgical-skill"
OWN_PIPELINE_IMPL = "surgical_skill_pipeline.SurgicalSkillPipeline"


def own_code_entry(cls: type | None) -> str | None:
    """``cls`` as the toolkit names it in ``auto_map`` (its flat module and class name), or ``None`` for a class
    that is not the package's (a transformers class needs no entry: transformers has its code)."""
    if cls is None or cls.__module__.split(".")[0] != "surgical_skill":
        return None
    return f"{cls.__module__.replace('.', '_')}.{cls.__name__}"


def keep_own_code_entries(
    values: dict[str, Any], own: dict[str, type | None], *, where: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a config's or processor's dict (``values``) into what it keeps and what it drops: ``auto_map``
    keeps only the entries the toolkit writes for the classes ``own`` names (``{"AutoConfig": config class,
    ...}``), ``custom_pipelines`` only the toolkit's own task. A foreign entry (another module or class, another
    repository's ``org/repo--module.Class``) would make the next user who follows a README's
    ``trust_remote_code=True`` run code nobody here wrote, so it is dropped, with a warning naming it.

    Returns ``(kept values, dropped entries)``; an ``auto_map`` or ``custom_pipelines`` left empty is removed.
    """
    kept, dropped = dict(values), {}
    expected = {key: own_code_entry(cls) for key, cls in own.items()}
    entries = values.get("auto_map")
    if entries is not None:
        ours = (
            {k: v for k, v in entries.items() if expected.get(k) is not None and v == expected[k]}
            if isinstance(entries, dict)
            else {}
        )
        foreign = dict(entries) if isinstance(entries, dict) else {"": entries}
        dropped.update({f"auto_map.{k}": v for k, v in foreign.items() if k not in ours})
        if ours:
            kept["auto_map"] = ours
        else:
            kept.pop("auto_map")
    pipelines = values.get("custom_pipelines")
    if pipelines is not None:
        task = pipelines.get(OWN_PIPELINE_TASK) if isinstance(pipelines, dict) else None
        ours = {OWN_PIPELINE_TASK: task} if isinstance(task, dict) and task.get("impl") == OWN_PIPELINE_IMPL else {}
        foreign = pipelines if isinstance(pipelines, dict) else {"": pipelines}
        dropped.update({f"custom_pipelines.{k}": v for k, v in foreign.items() if k not in ours})
        if ours:
            kept["custom_pipelines"] = ours
        else:
            kept.pop("custom_pipelines")
    if dropped:
        logger.warning(
            "%s: dropped %s, which name code surgical-skill did not write (%s): a folder it saves records only its "
            "own code",
            where,
            ", ".join(dropped),
            "; ".join(f"{k}={str(v)[:80]}" for k, v in dropped.items())[:300],
        )
    return kept, dropped


def drop_foreign_code(obj: Any, own: dict[str, type | None], *, where: str) -> None:
    """:func:`keep_own_code_entries` on a loaded config or processor (its ``auto_map`` and ``custom_pipelines``
    attributes, which ``save_pretrained`` writes back), in place."""
    values = {key: getattr(obj, key) for key in ("auto_map", "custom_pipelines") if hasattr(obj, key)}
    kept, dropped = keep_own_code_entries(values, own, where=where)
    for key in values:
        if key in kept:
            setattr(obj, key, kept[key])
        elif dropped:
            delattr(obj, key)


def check_device(device: str | int | torch.device | None) -> None:
    """Refuse a device that is not here before a model is loaded: ``cuda`` without a visible GPU, ``cuda:3`` with
    two GPUs, ``mps`` off Apple silicon, or a name torch does not know.

    Raises:
        UsageError: which device, why it cannot be used, and what to use instead.
    """
    if device is None:
        return
    if isinstance(device, int):
        device = "cpu" if device < 0 else f"cuda:{device}"
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise UsageError(f"--device {device!r} is not a device torch knows: use cpu, cuda, cuda:1 ... or mps") from err
    if target.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(
                f"--device {device}: no CUDA device is visible (torch {torch.__version__} sees no GPU; check the "
                "driver and CUDA_VISIBLE_DEVICES); use --device cpu, or leave --device out to use a GPU when there is one"
            )
        if target.index is not None and target.index >= count:
            raise UsageError(
                f"--device {device}: only {count} CUDA device(s) are visible (cuda:0 to cuda:{count - 1}); "
                "pick one of them, or use --device cpu"
            )
    elif target.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {device}: Apple's MPS is not available here; use --device cpu")
