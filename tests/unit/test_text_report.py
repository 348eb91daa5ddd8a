"""The terminal rendering of the report: the PR comment's Markdown as clean text."""

from __future__ import annotations

import pytest

from prompt_review.report import render_markdown
from prompt_review.report.filters import fence, md_cell
from prompt_review.report.text import render_text, visible, width
from prompt_review.results import PromptResult, ReviewResult


def review(*prompts: PromptResult, summary: str = "1 prompt: 1 error") -> ReviewResult:
    return ReviewResult(
        result="error",
        summary=summary,
        prompts=prompts,
        commit="0123456789abcdef0123456789abcdef01234567",
        base="main",
        experiment="exp",
        tracking_uri="sqlite:////repo/.prompt-review/mlflow.db",
    )


def test_a_rendered_report_loses_comments_entities_and_markup() -> None:
    failing = PromptResult(
        name="a_b",
        source_path="prompts/a_b.yaml",
        status="modified",
        reason="prompt file modified",
        result="error",
        error="x < y & <b>bold</b>",
        git_dirty=True,
        dirty_files=("prompts/a_b.yaml",),
    )
    markdown = render_markdown(review(failing))

    text = render_text(markdown)

    assert "<!--" in markdown and "<!--" not in text
    assert "a_b error" in text  # code span: `a_b` without the backticks
    assert "    x < y & <b>bold</b>" in text  # the error block, verbatim and indented
    assert "Uncommitted edits in prompts/a_b.yaml: tagged git_dirty=true" in text
    assert "**" not in text and "&lt;" not in text and "<sub>" not in text
    assert "Commit 0123456 vs base main" in text


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("## ✅ done", "✅ done\n" + "=" * 7),
        ("- **Why:** p=0.01 &lt; alpha", "- Why: p=0.01 < alpha"),
        (r"max\_length \| a\*b", "max_length | a*b"),
        ("_left out to fit_.", "left out to fit."),
        ("see [the run](https://x.test/r/1)", "see the run (https://x.test/r/1)"),
        ("<details><summary>Prompt &amp; diff</summary>", "▸ Prompt & diff"),
        ("</details>", ""),
        ("> [!NOTE]\n> cut to fit", "Note:\n  cut to fit"),
        ("`**kept**` and `a_b_`", "**kept** and a_b_"),
        ("a<br>b", "a\nb"),
    ],
    ids=["heading", "entity", "escapes", "italic", "link", "summary", "close", "callout",
         "code-span", "break"],
)  # fmt: skip
def test_inline_markdown(markdown: str, expected: str) -> None:
    assert render_text(markdown) == expected


def test_tables_are_aligned_and_numbers_right_aligned() -> None:
    markdown = (
        "| Scorer | Candidate | Verdict |\n"
        "|:--|--:|:--|\n"
        "| exact\\_match | 0.20 | ❌ dropped |\n"
        "| contains | 1.00 | a<br>b |\n"
    )

    assert render_text(markdown).splitlines() == [
        "Scorer       Candidate  Verdict",
        "───────────  ─────────  ──────────",
        "exact_match       0.20  ❌ dropped",
        "contains          1.00  a / b",
    ]


def test_code_blocks_keep_markdown_and_html_verbatim() -> None:
    content = "## not a heading\n<!-- kept -->\n| not | a table |\n&lt; stays"
    text = render_text("before\n\n" + fence(content) + "\n\nafter")

    assert text == "before\n\n" + "\n".join("    " + line for line in content.split("\n")) + (
        "\n\nafter"
    )


@pytest.mark.robustness(
    area="content",
    case="a model output with terminal escape sequences (ESC, BEL, CR, C1 CSI, bidi overrides)",
    behaviour="the terminal report shows them as \\x1b-style escapes; none reaches the terminal",
)
def test_control_characters_cannot_drive_the_terminal() -> None:
    hostile = "ok\x1b]0;pwned\x07\x1b[2J gone\x9b31m\u202eevil"
    cell = md_cell(hostile)
    markdown = f"- **Output:** {cell}\n\n{fence(hostile)}\n\n| a |\n|--|\n| {cell} |"

    text = render_text(markdown)

    for char in "\x1b\x07\x9b\u202e":
        assert char not in text
    # The report's filters already strip escape sequences and bidi overrides ...
    assert text.count("ok goneevil") == 3  # the list item, the code block and the table cell
    # ... and what reaches the terminal renderer raw is shown, never obeyed.
    shown = "ok\\x1b]0;pwned\\x07\\x1b[2J gone\\x9b31m\\u202eevil"
    assert render_text(hostile) == shown
    assert render_text("a\rb") == "a\\x0db"  # a bare CR would overwrite the line
    assert visible("tab\tand\nnewline") == "tab\tand\nnewline"


def test_wide_characters_count_two_columns() -> None:
    assert width("abc") == 3
    assert width("✅ ok") == 5
    assert width("⚠️ x") == 4  # warning sign + emoji variation selector
    assert width("漢字") == 4
