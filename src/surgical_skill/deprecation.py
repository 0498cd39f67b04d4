"""Renamed names keep working for one release, with a ``FutureWarning`` that names the new one.

One place for the wording and the release they go in. Not transformers' ``deprecate_kwarg``: it compares its
``version`` with *transformers'* version, so a removal version of this package would read as already past.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

REMOVED_IN = "0.2.0"  # the release that drops the old names

T = TypeVar("T")


def warn_renamed(old: str, new: str, *, note: str = "", stacklevel: int = 3) -> None:
    """Warn that ``old`` is now ``new`` (``stacklevel`` 3: the caller of the function that calls this)."""
    warnings.warn(
        f"`{old}` is deprecated and will be removed in surgical-skill {REMOVED_IN}; use `{new}`"
        + (f" ({note})" if note else "")
        + ".",
        FutureWarning,
        stacklevel=stacklevel,
    )


def renamed_keywords(note: str = "", **old_to_new: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """A decorator: the old keyword names still work (and warn). ``@renamed_keywords(num_frames="total_num_frames")``."""

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            for old, new in old_to_new.items():
                if old in kwargs:
                    name = func.__qualname__.split("<locals>.")[-1].removesuffix(".__init__")
                    if new in kwargs:
                        raise TypeError(f"{name}() got both {old}= (its old name) and {new}=")
                    warn_renamed(f"{name}({old}=...)", f"{name}({new}=...)", note=note)
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return decorate


def renamed_class(new: type[T], old_name: str, *, note: str = "") -> type[T]:
    """A subclass of ``new`` under its old name that warns when constructed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warn_renamed(old_name, f"{new.__module__.rsplit('.', 1)[0]}.{new.__name__}", note=note)
        new.__init__(self, *args, **kwargs)

    doc = f"Deprecated name of :class:`{new.__name__}` (removed in {REMOVED_IN})."
    return type(old_name, (new,), {"__init__": __init__, "__doc__": doc, "__module__": new.__module__})


class RenamedKeys(dict):
    """A plain ``dict`` (JSON-able as it is) whose renamed keys still read under their old names, with a warning,
    for one release: ``metadata["num_frames"]`` gives ``metadata["total_num_frames"]``. Old keys are not stored,
    so JSON written from it holds only the new names."""

    def __init__(self, data: dict[str, Any], renamed: dict[str, str], *, where: str, note: str = "") -> None:
        super().__init__(data)
        self._renamed, self._where, self._note = renamed, where, note

    def __missing__(self, key: str) -> Any:
        if key in self._renamed and self._renamed[key] in self:
            new = self._renamed[key]
            warn_renamed(f'{self._where}["{key}"]', f'{self._where}["{new}"]', note=self._note, stacklevel=3)
            return self[new]
        raise KeyError(key)

    def __reduce__(self):  # pickles (and deep-copies) as the plain dict it stands for
        return (dict, (dict(self),))
