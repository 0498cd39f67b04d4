"""How numbers appear in reports: JSON without NaN, fixed decimals, p-values."""

from __future__ import annotations

import math
from typing import Any

from ..markup import csv_cell


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float, or None where it is missing, NaN or infinite (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None and NumPy scalars as Python numbers, through dicts and lists."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):  # a NumPy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def fmt(value: Any, signed: bool = False) -> str:
    """Three decimals (``+`` shown when ``signed``); "n/a" for a missing or non-finite value."""
    value = finite_or_none(value)
    if value is None:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def fmt_p(value: Any) -> str:
    """A p-value: three significant digits, "<0.001" below that."""
    value = finite_or_none(value)
    if value is None:
        return "n/a"
    return f"{value:.3g}" if value >= 0.001 else "<0.001"


def csv_text(value: Any) -> Any:
    """A cell of a CSV the toolkit writes and may read back (``predictions.csv``): a string a spreadsheet would
    run as a formula gets a leading ``'`` (:func:`surgical_skill.markup.csv_cell`), and so does one that already
    starts with ``'``, so that :func:`read_csv_text` gives every value back exactly. Numbers are unchanged."""
    if isinstance(value, str) and value.startswith("'"):
        return "'" + value
    return csv_cell(value)


def read_csv_text(cell: str) -> str:
    """The value :func:`csv_text` wrote as ``cell``."""
    return cell[1:] if cell.startswith("'") else cell
