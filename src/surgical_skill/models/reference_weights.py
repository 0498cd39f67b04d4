"""Published checkpoints of reference implementations (PyTorchVideo's model zoo, I3D's Kinetics weights), read
safely and loaded into this package's models through a family's converter.

A converter is a pure function ``reference state dict -> this package's state dict`` written next to the family
(``x3d/convert_x3d.py`` ...). It maps every tensor it is given or raises :class:`WeightConversionError` naming
what it could not place; :func:`load_converted` then loads the result strictly, so a checkpoint that does not fit
never loads half-way.
"""

from __future__ import annotations

import os
import pickle
import socket
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from ..errors import SurgicalSkillError

# where a published checkpoint keeps its weights, outermost first
_NESTED_KEYS = ("model_state", "state_dict", "model")


class WeightConversionError(SurgicalSkillError, ValueError):
    """A reference checkpoint's tensors do not map onto the model (keys left over or missing, shapes that differ)."""


def hub_cache_file(url: str) -> Path:
    """Where torch's hub cache keeps the download of ``url`` (``torch.hub.load_state_dict_from_url``'s own rule:
    ``<torch.hub.get_dir()>/checkpoints/<the URL's file name>``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def read_reference_checkpoint(
    source: str | os.PathLike, *, what: str, timeout: float = 60.0, local_path_option: bool = True
) -> dict[str, torch.Tensor]:
    """The state dict of a published checkpoint: a local file, or an ``http(s)`` URL downloaded once into torch's
    hub cache (:func:`hub_cache_file`; a file already there is used without network, which is how a machine
    without network gets it: copy the file there, or pass its path).

    Read with ``weights_only=True``: tensors and plain containers only, never code, whoever wrote the file (a
    file planted in the hub cache included). Nested checkpoints (``{"model_state": ...}`` as PyTorchVideo's,
    ``{"state_dict": ...}``, ``{"model": ...}``) are unwrapped and a DataParallel ``module.`` prefix is dropped.
    ``what`` names the weights in messages (``"X3D-M Kinetics-400"``); ``local_path_option`` says whether the
    caller can take a local path instead of the URL (messages offer it only then).

    Raises:
        WeightConversionError: the file cannot be read, holds more than tensors, or holds no state dict (one line:
            which file, why, what to do).
    """
    text = os.fspath(source)
    url = text.startswith(("http://", "https://"))
    where = str(hub_cache_file(text)) if url else text
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        if url:
            checkpoint = torch.hub.load_state_dict_from_url(
                text, map_location="cpu", progress=False, check_hash=False, weights_only=True
            )
        else:
            if not Path(text).is_file():
                raise WeightConversionError(f"no checkpoint file at {text} (the {what} weights): check the path")
            checkpoint = torch.load(text, map_location="cpu", weights_only=True)
    except WeightConversionError:
        raise
    except pickle.UnpicklingError as err:  # weights_only met a class or function: the file asks to run code
        raise WeightConversionError(
            f"the {what} weights in {where} hold more than tensors ({_global_named(err)}), so they are refused: "
            "they are read with weights_only=True, and loading them as they ask would run code from the file. "
            + (
                "Delete the file (it is downloaded again from its publisher)"
                if url
                else "Get the file again from its publisher"
            )
            + ", or build the model with backbone_pretrained=False"
        ) from err
    except Exception as err:  # URLError, HTTPError, a truncated file ...
        first = str(err).splitlines()[0] if str(err) else ""
        if url:
            hint = f"Without network, download {text} elsewhere and copy it to {where} (read with weights_only=True: tensors only)"
            hint += ", or pass its local path" if local_path_option else ""
        else:
            hint = "Check that it is a PyTorch checkpoint (it is read with weights_only=True: tensors only)"
        raise WeightConversionError(
            f"could not read the {what} weights from {text}: {type(err).__name__}: {first}. {hint}; "
            "or build the model with backbone_pretrained=False."
        ) from err
    finally:
        socket.setdefaulttimeout(previous)
    return unwrap_state_dict(checkpoint, what=what, source=where)


def _global_named(err: Exception) -> str:
    """The line of a weights_only refusal that names the class or function the file asked for."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return next((line for line in lines if "GLOBAL" in line), lines[0] if lines else type(err).__name__)[:200]


def unwrap_state_dict(checkpoint, *, what: str, source: str) -> dict[str, torch.Tensor]:
    """The tensors of ``checkpoint``: itself when it is a state dict, else the first nested state dict found under
    :data:`_NESTED_KEYS`; a ``module.`` prefix on every key (DataParallel) is dropped."""
    state = checkpoint
    while isinstance(state, Mapping) and not _is_state_dict(state):
        inner = next((state[key] for key in _NESTED_KEYS if isinstance(state.get(key), Mapping)), None)
        if inner is None:
            break
        state = inner
    if not isinstance(state, Mapping) or not _is_state_dict(state):
        keys = list(checkpoint)[:8] if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise WeightConversionError(f"{source} holds no state dict of tensors for the {what} weights (found {keys})")
    state = {str(key): value for key, value in state.items() if isinstance(value, torch.Tensor)}
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return state


def _is_state_dict(mapping: Mapping) -> bool:
    return bool(mapping) and all(isinstance(value, torch.Tensor) for value in mapping.values())


def check_mapped(converted: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], *, what: str) -> None:
    """Raise :class:`WeightConversionError` unless ``converted`` has exactly ``expected``'s keys, with the same
    shapes (``expected``: the target module's state dict)."""
    missing = [key for key in expected if key not in converted]
    unexpected = [key for key in converted if key not in expected]
    shapes = [
        f"{key} {tuple(converted[key].shape)} vs {tuple(expected[key].shape)}"
        for key in expected
        if key in converted and converted[key].shape != expected[key].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} not used (first: {', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} of another shape (first: {'; '.join(shapes[:2])})")
        raise WeightConversionError(
            f"the {what} weights do not fit this model: {', '.join(parts)}. Check that the checkpoint is the one "
            "for this architecture and size (the model's config must match it)"
        )


def load_converted(module: nn.Module, converted: Mapping[str, torch.Tensor], *, what: str) -> None:
    """Load a converter's output into ``module`` after :func:`check_mapped`: all of it, or nothing."""
    expected = module.state_dict()
    check_mapped(converted, expected, what=what)
    module.load_state_dict(dict(converted), strict=True)
