"""Published checkpoints of reference implementations (PyTorchVideo's model zoo, I3D's Kinetics weights), read
safely and loaded into this package's models through a family's converter.

A converter is a pure function ``reference state dict -> this package's state dict`` written next to the family
(``x3d/convert_x3d.py`` ...). It maps every tensor it is given or raises :class:`WeightConversionError` naming
what it could not place; :func:`load_converted` then loads the result strictly, so a checkpoint that does not fit
never loads half-way.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import SurgicalSkillError

# where a published checkpoint keeps its weights, outermost first
_NESTED_KEYS = ("model_state", "state_dict", "model")


class WeightConversionError(SurgicalSkillError, ValueError):
    """A reference checkpoint's tensors do not map onto the model (keys left over or missing, shapes that differ)."""


def read_reference_checkpoint(
    source: str | os.PathLike, *, what: str, timeout: float = 60.0
) -> dict[str, torch.Tensor]:
    """The state dict of a published checkpoint: a local file, or an ``http(s)`` URL downloaded once into torch's
    hub cache (``torch.hub.get_dir()/checkpoints``; a file already there is used without network, which is how a
    machine without network gets it: copy the file there, or pass its path).

    Read with ``weights_only=True``: tensors and plain containers only, never code. Nested checkpoints
    (``{"model_state": ...}`` as PyTorchVideo's, ``{"state_dict": ...}``, ``{"model": ...}``) are unwrapped and a
    DataParallel ``module.`` prefix is dropped. ``what`` names the weights in messages (``"X3D-M Kinetics-400"``).

    Raises:
        WeightConversionError: the file cannot be read or holds no state dict (one line: which file, why, what to
            do).
    """
    text = os.fspath(source)
    url = text.startswith(("http://", "https://"))
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
    except Exception as err:  # URLError, HTTPError, an UnpicklingError from weights_only, a truncated file ...
        where = f"{torch.hub.get_dir()}/checkpoints/" if url else "its folder"
        raise WeightConversionError(
            f"could not read the {what} weights from {text}: {type(err).__name__}: {str(err).splitlines()[0]}. "
            + (
                f"Without network, copy the file into {where} or pass its local path; "
                if url
                else "Check that it is a PyTorch checkpoint (it is read with weights_only=True: tensors only); "
            )
            + "or build the model with backbone_pretrained=False."
        ) from err
    finally:
        socket.setdefaulttimeout(previous)
    return unwrap_state_dict(checkpoint, what=what, source=text)


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
