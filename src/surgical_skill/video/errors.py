"""The one exception the video layer raises for a video it cannot read."""

from __future__ import annotations

import os

from ..errors import SurgicalSkillError


class VideoDecodeError(SurgicalSkillError, RuntimeError):
    """A video could not be opened or decoded.

    Carries the offending ``path`` and a human-readable ``reason`` so that callers several layers up (a
    dataset transform, a collate function, a pipeline over many files) can report exactly which file failed
    and why, and decide whether to skip it.

    Example:
        >>> try:
        ...     decode_frames("missing.mp4", [0])
        ... except VideoDecodeError as err:
        ...     print(err.path, err.reason)
        missing.mp4 file not found
    """

    def __init__(self, path: str | os.PathLike | None, reason: str):
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        super().__init__(f"cannot decode video {self.path!r}: {reason}")

    def __reduce__(self):
        # DataLoader workers pickle exceptions back to the main process; keep both fields.
        return (type(self), (self.path, self.reason))
