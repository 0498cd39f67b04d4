"""What a video "path" may name: a local file, or an http(s) URL the caller asked for.

FFmpeg reads a string as a URL of any protocol it was built with: ``file:``, ``concat:``, ``subfile,...:``,
``tcp://host:port?listen=1``, ``cache:``, ``async:`` ... A path column in a dataset from the Hub, a manifest
from a collaborator or a name typed into a form could therefore make this process read other local files,
connect to hosts or listen on a port. So every video source goes through :func:`check_source` first: plain
paths are local files (opened by FFmpeg through the ``file`` protocol only), ``http``/``https`` URLs are opened
only when the caller opts in (``allow_urls=True``, ``--allow-urls``), and every other protocol is refused with
one line. With ``root``, a local path must resolve (symlinks included) inside that folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError
from .errors import VideoDecodeError

URL_SCHEMES = ("http", "https")

# FFmpeg's own rule (libavformat/avio.c, url_find_protocol): a name of letters, digits, "+", "-" and "." right
# before a ":" is a protocol, and so is "subfile,<options>:". One letter before ":" is a Windows drive.
_PROTOCOL = re.compile(r"^(?:(?P<name>[A-Za-z0-9+.-]{2,}):|(?P<subfile>subfile),[^:]*:)")


def url_scheme(path: str | os.PathLike) -> str | None:
    """The protocol FFmpeg would read ``path`` with (``"http"``, ``"file"``, ``"concat"`` ...), lower case, or
    ``None`` for a plain path."""
    match = _PROTOCOL.match(os.fspath(path))
    if match is None:
        return None
    return (match.group("name") or match.group("subfile")).lower()


def is_url(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a protocol rather than a plain local path (any protocol, allowed or not)."""
    return url_scheme(path) is not None


def check_source(
    path: str | os.PathLike,
    *,
    allow_urls: bool = False,
    root: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
) -> str:
    """``path`` as a string if this process may open it, else one clear error.

    Args:
        path: a local file path, or an ``http``/``https`` URL.
        allow_urls: whether an http(s) URL may be opened (off by default: a path from data is a local file).
        root: when given, a local path must resolve (``..`` and symlinks followed) to a file inside this folder
            (or inside one of several: a dataset's and its proxies' folders), and URLs are refused.

    Raises:
        VideoDecodeError: a protocol other than http(s), a URL without ``allow_urls``, a URL or a path outside
            ``root``, or a path with a NUL character.
    """
    text = os.fspath(path)
    if not isinstance(text, str):
        raise UsageError(f"a video path must be a string, got {type(path).__name__}")
    if "\x00" in text:
        raise VideoDecodeError(text, "the path contains a NUL character")
    scheme = url_scheme(text)
    if scheme is not None and isinstance(path, os.PathLike):
        # A pathlib.Path can only name a local file, whatever its name looks like: hand it on as one.
        text, scheme = (text if os.path.isabs(text) else os.path.join(".", text)), None
    if scheme is not None:
        if scheme not in URL_SCHEMES:
            local = "" if "://" in text else f" (a local file whose name contains ':' as ./{text})"
            raise VideoDecodeError(
                text,
                f"the {scheme!r} protocol is not allowed: give a local file path{local}, or an http(s) URL with "
                "allow_urls=True",
            )
        if root is not None:
            raise VideoDecodeError(text, f"is a URL, but videos must be files inside the dataset root {root}")
        if not allow_urls:
            raise VideoDecodeError(
                text,
                "is a URL; URLs are opened only when asked for (allow_urls=True, or --allow-urls on the command "
                "line); otherwise give a local file",
            )
        return scheme + text[len(scheme) :]  # FFmpeg's protocol names are lower case: HTTPS://... works too
    if root is not None:
        resolved = Path(text).resolve()
        bases = [Path(r).expanduser().resolve() for r in ([root] if isinstance(root, str | os.PathLike) else root)]
        if not any(resolved.is_relative_to(base) for base in bases):
            where = f"the dataset root {bases[0]}" + (
                f" (or {', '.join(map(str, bases[1:]))}, where the toolkit writes its videos)"
                if len(bases) > 1
                else ""
            )
            raise VideoDecodeError(text, f"resolves to {resolved}, outside {where}; videos must be files inside it")
    return text
