"""The errors a user can cause, and how the command line shows them.

Every mistake a user can make (a path, a row, a recipe key, a model folder, a command-line value) ends in a
:class:`SurgicalSkillError` whose message says what is wrong, where (file, row, key, step) and what to do.
The ``surgical-skill`` command and ``recipes/train.py`` print that message as ``error: ...`` and exit with
:data:`USAGE_EXIT_CODE`; the traceback is shown only with ``--debug`` or ``SURGICAL_SKILL_DEBUG=1``. Anything
else (a bug) keeps its traceback.

Each subclass also derives from the built-in exception it used to be (``ValueError``, ``OSError`` ...), so
``except ValueError`` written against earlier versions still catches it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

DEBUG_ENV = "SURGICAL_SKILL_DEBUG"
USAGE_EXIT_CODE = 2  # argparse's code for a usage error; a user mistake is one too
INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class SurgicalSkillError(Exception):
    """A mistake the user can fix; the message says what, where and what to do."""


class UsageError(SurgicalSkillError, ValueError):
    """A command-line value or function argument that cannot be used (``--batch-size 0``, ``--split tset``)."""


class ModelLoadError(SurgicalSkillError, OSError):
    """A model folder or Hub id that does not hold a model this toolkit can load (or may not load safely)."""


def debug_enabled() -> bool:
    """Whether tracebacks of user errors are wanted (``SURGICAL_SKILL_DEBUG`` set to anything but 0/empty)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def run_reporting_errors(main: Callable[[], int | None], *, debug: bool = False, prefix: str = "error") -> int:
    """Run ``main`` and turn a user's mistake into one message on stderr and exit code 2.

    A :class:`SurgicalSkillError` prints ``<prefix>: <message>`` (its traceback too with ``debug`` or
    :data:`DEBUG_ENV`) and returns :data:`USAGE_EXIT_CODE`; Ctrl-C prints ``interrupted`` and returns 130.
    Other exceptions propagate with their traceback: they are bugs, and the traceback is what a report needs.
    """
    try:
        return int(main() or 0)
    except SurgicalSkillError as err:
        if debug or debug_enabled():
            raise
        print(f"{prefix}: {err}", file=sys.stderr)
        return USAGE_EXIT_CODE
    except KeyboardInterrupt:
        if debug or debug_enabled():
            raise
        print("interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT_CODE
