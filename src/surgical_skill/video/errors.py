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


class FramesLostError(VideoDecodeError):
    """Some of the frames asked for could not be decoded (a damaged stretch of the file); the others were.

    Decoding goes on past a damaged stretch, so this error carries what did decode:

    - ``lost``: the asked-for frame indices that could not be decoded (sorted, each once);
    - ``frames``: the frames in the order asked, as :func:`~surgical_skill.video.decode_frames` returns them
      (uint8 (T, C, H, W)), with the rows of lost frames all zero;
    - ``decoded``: a bool tensor (T,), ``False`` at the positions of lost frames;
    - ``lost_seconds``: ``(start, end)`` in seconds of each damaged stretch the lost frames fall in.

    A caller that can use a partial clip reads ``frames[decoded]``; one that cannot drops the clip and reports
    ``reason``. Never fill lost rows with copies of their neighbours: that looks like a hesitation.

    Example:
        >>> try:
        ...     clip = decode_frames("damaged.mp4", range(48))
        ... except FramesLostError as err:
        ...     print(err.lost, err.decoded.sum().item())
        [16, 17, 18, 19, 20, 21, 22, 23, 24, 25] 38
    """

    def __init__(
        self,
        path: str | os.PathLike | None,
        reason: str,
        lost=(),
        frames=None,
        decoded=None,
        lost_seconds=(),
    ):
        super().__init__(path, reason)
        self.lost = [int(i) for i in lost]
        self.frames = frames
        self.decoded = decoded
        self.lost_seconds = [(float(a), float(b)) for a, b in lost_seconds]

    def __reduce__(self):
        return (type(self), (self.path, self.reason, self.lost, self.frames, self.decoded, self.lost_seconds))
