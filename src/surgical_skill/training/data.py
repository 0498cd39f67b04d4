"""Deprecated: renamed :mod:`surgical_skill.training.data_setup` (``training/data.py`` read as the ``data`` package).

Kept for one release; importing it warns.
"""

import warnings

from .data_setup import (  # noqa: F401
    apply_data_overrides,
    class_weights_for,
    clip_datasets,
    label_info,
    load_data,
    make_loader,
)

warnings.warn(
    "surgical_skill.training.data is deprecated and will be removed in the next release; "
    "import from surgical_skill.training.data_setup (or surgical_skill.training) instead",
    FutureWarning,
    stacklevel=2,
)
