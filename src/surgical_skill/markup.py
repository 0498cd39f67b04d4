"""Text from data made safe for the files people open: spreadsheets (CSV) and Markdown/HTML pages.

Labels, subject IDs, file names and recipe values come from other people's spreadsheets and folders. Written
as they are, a cell ``=HYPERLINK("http://…")`` runs as a formula when a reviewer opens ``predictions.csv`` in a
spreadsheet, and a label holding a newline, ``|``, a backtick fence or ``<script>`` breaks a Markdown table or
injects markup into a report or a model card rendered on the Hub. Writers pass such values through these
functions; numbers are left alone.
"""

from __future__ import annotations

import html
import re

# OWASP "CSV injection": a cell a spreadsheet may read as a formula starts with one of these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators (str.splitlines and many renderers break
# lines at U+2028, U+2029 and NEL)
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Characters with a meaning anywhere in a line of CommonMark/GFM inline text or a table cell (``<``, ``>`` and
# ``&`` are HTML-escaped instead), and those that mean something only at the start of a line (heading, list).
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")
_LINE_START = re.compile(r"^([#+-])")


def csv_cell(value):
    """``value`` as a spreadsheet shows it but never runs it: a string starting with ``= + - @``, tab or CR gets
    a leading ``'`` (what spreadsheets themselves use to mark text). Non-strings (numbers, None) are returned
    unchanged, so ``-0.5`` stays a number."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def visible_controls(text: str) -> str:
    """Control characters (newline, tab, NUL ...) shown as their escapes (``\\n``), so one value stays one line."""
    return CONTROL_CHARACTERS.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def markdown_inline(value) -> str:
    """``value`` as literal text inside one line of Markdown (a table cell, a sentence, a heading): control
    characters made visible, HTML escaped (``<script>`` shows as text) and Markdown punctuation backslash-escaped
    (a ``|`` cannot end a cell, a backtick cannot open code)."""
    text = visible_controls(str(value))
    text = html.escape(text, quote=False)
    return _LINE_START.sub(r"\\\1", _MARKDOWN_PUNCTUATION.sub(r"\\\1", text))


def code_fence(text: str, info: str = "") -> str:
    """``text`` inside a fenced code block whose fence is longer than any run of backticks in it, so the
    content cannot close the block early (CommonMark: a closing fence is at least as long as the opening)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip(chr(10))}\n{fence}"
