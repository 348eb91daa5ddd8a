"""sanitize.clean, and the report's filters that apply it before escaping for their context."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from prompt_review.report.filters import code_inline, fence, html_text, md_cell
from prompt_review.report.status import status_description
from prompt_review.results import ReviewResult
from prompt_review.sanitize import clean

ZWSP = "\u200b"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


@pytest.mark.robustness(
    area="content",
    case="ANSI escapes in model output: colours, cursor moves, an OSC 8 hyperlink, a window "
    "title, 8-bit CSI",
    behaviour="the sequences are removed, the visible text is kept",
)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b[2J\x1b[1;1Hclear", "clear"),
        ("\x1b]8;;https://evil.test\x1b\\click\x1b]8;;\x1b\\", "click"),
        ("\x1b]0;owned\x07title", "title"),
        ("\x9b31mc1", "c1"),
        ("\x1b(Bcharset \x1b7save", "charset save"),
        ("\x1b]unterminated", "unterminated"),
    ],
)
def test_ansi_sequences_are_removed(text: str, expected: str) -> None:
    assert clean(text) == expected


@pytest.mark.robustness(
    area="content",
    case="C0/C1 control characters, CR and Unicode line separators in model output",
    behaviour="removed; newline and tab kept; CR, CRLF, U+2028 and U+2029 become a newline",
)
def test_control_characters_go_newline_and_tab_stay() -> None:
    controls = "".join(
        chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if c not in (9, 10, 13)
    )

    assert clean(f"a{controls}b") == "ab"
    assert clean("code:\n\tindented\r\nwindows\rold mac\u2028line\u2029para") == (
        "code:\n\tindented\nwindows\nold mac\nline\npara"
    )


@pytest.mark.robustness(
    area="content",
    case="Unicode bidirectional overrides, isolates and marks (Trojan Source), zero-width and "
    "tag characters",
    behaviour="every format character (category Cf) is removed except ZWJ and ZWNJ",
)
def test_every_invisible_format_character_goes_except_the_joiners() -> None:
    every_cf = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    kept = {"\u200c", "\u200d"}

    assert clean("".join(every_cf)) == "".join(c for c in every_cf if c in kept)
    assert clean(f"admin{BIDI}\u200b\u2060\ufeff\U000e0041\u00ad") == "admin"
    assert clean("access = \u202euser\u2066 // ok") == "access = user // ok"


def test_real_text_is_kept() -> None:
    text = "Café — 東京 · القاهرة · עברית · 👨\u200d👩\u200d👧 · मैं\u200cने · naïve"

    assert clean(text) == text
    assert clean(clean(text)) == text


def test_lone_surrogates_become_replacement_characters() -> None:
    assert clean("ok \ud800 \udfff") == "ok \ufffd \ufffd"
    clean("ok \ud800").encode("utf-8")


# --- the report's filters -------------------------------------------------------------------

HOSTILE = (
    "\x1b[31mred\x1b[0m a\u202eevil\u202c b\x07 #1 GH-2 acme/repo#3 https://evil.test www.evil.test"
)


@pytest.mark.robustness(
    area="content",
    case="issue references (#1, GH-2, owner/repo#3) and bare URLs (https://, www.) in text",
    behaviour="a zero-width space after '#', 'GH-', the scheme or 'www' stops GitHub and mail "
    "clients from linking them (as @mentions are defused)",
)
def test_md_cell_and_html_clean_then_defuse_references_and_urls() -> None:
    expected = (
        f"red aevil b #{ZWSP}1 GH-{ZWSP}2 acme/repo#{ZWSP}3 https{ZWSP}://evil.test "
        f"www{ZWSP}.evil.test"
    )

    assert md_cell(HOSTILE) == expected
    assert html_text(HOSTILE) == expected
    assert md_cell("it's #1, @octocat") == f"it's #{ZWSP}1, @{ZWSP}octocat"
    assert html_text("it's #1") == f"it&#x27;s #{ZWSP}1"  # entities are not references


def test_fence_cleans_and_defuses_links_but_keeps_code_otherwise() -> None:
    block = fence(f"{HOSTILE}\n\tcode @user\n", "text")

    assert block == (
        "```text\n"
        f"red aevil b #{ZWSP}1 GH-{ZWSP}2 acme/repo#{ZWSP}3 https{ZWSP}://evil.test "
        f"www{ZWSP}.evil.test\n\tcode @user\n```"
    )


def test_code_inline_cleans_but_keeps_paths_as_written() -> None:
    assert code_inline("prompts/\u202ecap\u2066ital.yaml") == "`prompts/capital.yaml`"
    assert code_inline("https://mlflow.test:5000") == "`https://mlflow.test:5000`"


def test_status_description_is_clean() -> None:
    review = ReviewResult(
        result="error", summary="MLflow\x1b[31m failed \u202edeliberately", prompts=(), commit="a"
    )

    assert status_description(review) == "error: MLflow failed deliberately"
