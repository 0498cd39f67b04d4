"""Deprecated: renamed :mod:`surgical_skill.training.data_setup` (``training/data.py`` read as the ``data`` package).

Kept for one release; importing it warns.
"""

from ..deprecation import warn_renamed
from .data_setup import (  # noqa: F401
    apply_data_overrides,
    class_weights_for,
    clip_datasets,
    label_info,
    load_data,
    make_loader,
)

warn_renamed("surgical_skill.training.data", "surgical_skill.training.data_setup", stacklevel=2)
