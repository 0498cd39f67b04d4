"""Resource budgets: how much one video, one call or one manifest may ask of this process.

A video file can declare frames far larger than it is (30 black 8192x8192 frames fit in 200 kB and decode to
gigabytes), a caller can ask for thousands of clips, a manifest can hold millions of rows. Each such request is
checked against a budget here before the memory or time is spent, and refused with a
:class:`ResourceLimitError` that names the budget, the value and how to raise it.

The budgets are process-wide, as Pillow's ``Image.MAX_IMAGE_PIXELS`` is: read them with :func:`get_limits`,
change them with :func:`set_limits` (or, for a block, :func:`limited`), or set ``SURGICAL_SKILL_<FIELD>`` in the
environment (read once, at import; DataLoader workers started by ``spawn`` see the environment, not a
``set_limits`` made in the parent). The defaults are generous for real surgery: 3 hours of 1080p at 60 fps fits
every budget with room to spare; raise one only for an input you trust.

Example:
    >>> from surgical_skill import limits
    >>> limits.get_limits().max_frame_pixels
    16777216
    >>> with limits.limited(max_clips_per_call=64):
    ...     ...  # a pipeline call asking for more than 64 clips is refused here
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator

from .errors import UsageError

ENV_PREFIX = "SURGICAL_SKILL_"


class ResourceLimitError(UsageError):
    """An input or a request exceeds a resource budget (:mod:`surgical_skill.limits`)."""


@dataclasses.dataclass(frozen=True)
class ResourceLimits:
    """The budgets. Every field can be set with :func:`set_limits` or ``SURGICAL_SKILL_<FIELD upper case>``."""

    max_frame_pixels: int = 4096 * 4096
    """Width x height of one decoded frame: 4K UHD (3840x2160) and DCI 4K fit; an 8192x8192 frame does not."""
    max_video_frames: int = 2_000_000
    """Frames in one video stream: 3 hours at 60 fps is 648,000; 2 M is 9 hours at 60 fps."""
    max_clips_per_call: int = 50_000
    """Clips one pipeline call may score: a clip a second over 3 hours is 10,800."""
    clip_batch_size: int = 64
    """Clips decoded and held at once by a pipeline call; memory stays flat in the clip count."""
    max_manifest_rows: int = 200_000
    """Rows of one CSV/JSONL manifest or label file, checked while reading (not after loading it all)."""
    max_manifest_line_chars: int = 1_000_000
    """Characters in one line of a manifest or label file."""
    max_upload_bytes: int = 4 * 1024**3
    """Size of one uploaded video (the web app)."""
    url_connect_timeout_s: float = 10.0
    """Seconds to wait for an http(s) server to accept and answer when a video is opened by URL."""
    url_read_timeout_s: float = 30.0
    """Seconds to wait for the next bytes of an http(s) video being read."""

    def __post_init__(self):
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise UsageError(f"limits: {item.name} must be a positive number, got {value!r}")
            if item.type == "int" and value != int(value):
                raise UsageError(f"limits: {item.name} must be a whole number, got {value!r}")


def _from_env(base: ResourceLimits) -> ResourceLimits:
    changes = {}
    for item in dataclasses.fields(base):
        raw = os.environ.get(ENV_PREFIX + item.name.upper())
        if raw is None or not raw.strip():
            continue
        try:
            changes[item.name] = int(raw) if item.type == "int" else float(raw)
        except ValueError:
            raise UsageError(
                f"environment variable {ENV_PREFIX + item.name.upper()}={raw!r} is not a number; "
                f"unset it or give a positive {'whole ' if item.type == 'int' else ''}number"
            ) from None
    return dataclasses.replace(base, **changes)


_current = _from_env(ResourceLimits())


def get_limits() -> ResourceLimits:
    """The budgets in force in this process."""
    return _current


def set_limits(**changes) -> ResourceLimits:
    """Change some budgets for the rest of the process; returns the previous ones (to restore them).

    Unknown names and non-positive values raise :class:`~surgical_skill.errors.UsageError`.
    """
    global _current
    known = {item.name for item in dataclasses.fields(ResourceLimits)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise UsageError(f"unknown limit(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    previous = _current
    _current = dataclasses.replace(_current, **changes)
    return previous


@contextlib.contextmanager
def limited(**changes) -> Iterator[ResourceLimits]:
    """:func:`set_limits` for the duration of a ``with`` block."""
    global _current
    previous = set_limits(**changes)
    try:
        yield _current
    finally:
        _current = previous


def exceeded(budget: str, where: str, what: str) -> ResourceLimitError:
    """The error for a request over the budget ``budget`` (a :class:`ResourceLimits` field) at ``where``.

    ``what`` describes the request ("an 8192x8192 frame (67.1 M pixels)").
    """
    limit = getattr(_current, budget)
    return ResourceLimitError(
        f"{where}: {what} exceeds the {budget} budget ({limit:,}); if this input is trusted, raise it with "
        f"surgical_skill.limits.set_limits({budget}=...) or {ENV_PREFIX}{budget.upper()}=..."
    )
