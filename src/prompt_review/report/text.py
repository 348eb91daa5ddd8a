"""The report on a terminal: the PR comment's Markdown turned into clean text.

The comment is written for GitHub: hidden HTML comments, entity-escaped and
backslash-escaped text, ``<details>`` blocks, tables, code fences. Read raw in a terminal
that is noise, so this converts the same Markdown (whatever the templates, a user's
override included) into text: comments dropped, escapes decoded, tables aligned, code
indented. Code blocks keep their content verbatim, except that control characters (in a
model's output, say) are shown as ``\\x1b``-style escapes: printed raw they could rewrite the
terminal.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator

RULE = "─" * 72
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_COMMENT = re.compile(r"<!--.*?-->")
_TABLE_ROW = re.compile(r"\s*\|.*\|\s*")
_ALIGN_ROW = re.compile(r"\s*\|?(\s*:?-+:?\s*\|)+\s*(:?-+:?\s*)?")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
_SUMMARY = re.compile(r"<details>\s*<summary>(.*?)</summary>", re.IGNORECASE)
_TAGS = re.compile(r"</?(?:details|summary|sub|sup|b|strong|i|em|code|kbd|p)\s*>", re.IGNORECASE)
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_LINK = re.compile(r"(?<!\\)\[((?:\\.|[^\]\\])*)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"(?<!\\)\*\*(.+?)(?<!\\)\*\*")
_ITALIC = re.compile(r"(?<![\\\w])_(?=\S)(.+?)(?<=\S)(?<!\\)_(?!\w)")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_HEADING = re.compile(r"(#{1,6})\s+(.*)")
_CALLOUT = re.compile(r">\s*\[!(\w+)\]\s*")
# C0/C1 controls except tab and newline, and the bidirectional overrides that reorder text.
# Code spans are held out of the inline rules by private-use placeholders.
_HOLD_OPEN, _HOLD_CLOSE = "\ue000", "\ue001"
_HELD = re.compile(f"{_HOLD_OPEN}(\\d+){_HOLD_CLOSE}")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def render_text(markdown: str) -> str:
    """Plain text of a report rendered by ``render_markdown`` (or any Markdown like it)."""
    out: list[str] = []
    table: list[str] = []
    lines = iter(markdown.replace("\r\n", "\n").split("\n"))
    for line in lines:
        if table and not _TABLE_ROW.fullmatch(line):
            out.extend(_table(table))
            table = []
        opening = _FENCE.match(line)
        if opening:
            out.extend(_code_block(lines, opening.group(1)))
        elif _TABLE_ROW.fullmatch(line):
            table.append(line)
        else:
            out.extend(_block_line(line))
    out.extend(_table(table))
    return _squeeze_blank_lines(out)


def visible(text: str) -> str:
    """Control characters as ``\\xNN`` / ``\\uNNNN`` escapes, so nothing drives the terminal."""

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group(0))
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"

    return _CONTROL.sub(escape, text)


def _code_block(lines: Iterator[str], fence: str) -> list[str]:
    """An indented copy of the block's content; the iterator ends up past its closing fence."""
    block: list[str] = []
    for line in lines:
        closing = _FENCE.match(line)
        if (
            closing
            and closing.group(1)[0] == fence[0]
            and len(closing.group(1)) >= len(fence)
            and not line[closing.end() :].strip()
        ):
            break
        block.append("    " + visible(line))
    return block


def _block_line(line: str) -> list[str]:
    line = _COMMENT.sub("", line)
    stripped = line.strip()
    if not stripped:
        return [""]
    if stripped == "---":
        return [RULE]
    if stripped.lower() == "</details>":
        return []
    callout = _CALLOUT.fullmatch(stripped)
    if callout:
        return [callout.group(1).capitalize() + ":"]
    if stripped.startswith(">"):
        return ["  " + text for text in _inline(stripped[1:].strip()).split("\n")]
    heading = _HEADING.fullmatch(stripped)
    if heading:
        title = _inline(heading.group(2))
        underline = "=" if len(heading.group(1)) <= 2 else "-"
        return ["", title, underline * width(title)]
    summary = _SUMMARY.match(stripped)
    if summary:
        rest = stripped[summary.end() :]
        return ["▸ " + _inline(summary.group(1), markdown=False) + _inline(rest)]
    return _inline(line.rstrip()).split("\n")


def _inline(text: str, *, markdown: bool = True, breaks: str = "\n") -> str:
    """Inline Markdown to text; code spans are kept verbatim (only made visible)."""
    if not markdown:
        return _plain(text, breaks, markdown=False)
    spans: list[str] = []

    def hold(span: re.Match[str]) -> str:
        code = span.group(2)
        if len(code) > 2 and code.startswith(" ") and code.endswith(" "):
            code = code[1:-1]
        spans.append(visible(code))
        return f"{_HOLD_OPEN}{len(spans) - 1}{_HOLD_CLOSE}"

    held = _CODE_SPAN.sub(hold, text.replace(_HOLD_OPEN, "\ufffd").replace(_HOLD_CLOSE, "\ufffd"))
    plain = _plain(held, breaks, markdown=True)
    return _HELD.sub(lambda m: spans[int(m.group(1))], plain)


def _plain(text: str, breaks: str, markdown: bool) -> str:
    text = _BREAK.sub(breaks, text)
    text = _TAGS.sub("", text)
    if markdown:
        text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
        text = _BOLD.sub(r"\1", text)
        text = _ITALIC.sub(r"\1", text)
        text = _ESCAPE.sub(r"\1", text)
    return visible(html.unescape(text))


def _table(rows: list[str]) -> list[str]:
    if not rows:
        return []
    cells = [_cells(row) for row in rows if not _ALIGN_ROW.fullmatch(row)]
    align = next((_alignment(row) for row in rows if _ALIGN_ROW.fullmatch(row)), [])
    columns = max(len(row) for row in cells)
    cells = [row + [""] * (columns - len(row)) for row in cells]
    widths = [max(width(row[i]) for row in cells) for i in range(columns)]

    def line(row: list[str]) -> str:
        padded = []
        for i, cell in enumerate(row):
            gap = " " * (widths[i] - width(cell))
            right = i < len(align) and align[i] == "right"
            padded.append(gap + cell if right else cell + gap)
        return "  ".join(padded).rstrip()

    header, *body = cells
    return [line(header), "  ".join("─" * w for w in widths), *(line(row) for row in body)]


def _cells(row: str) -> list[str]:
    inner = row.strip().removeprefix("|").removesuffix("|")
    return [_inline(cell.strip(), breaks=" / ") for cell in _CELL_SPLIT.split(inner)]


def _alignment(row: str) -> list[str]:
    inner = row.strip().removeprefix("|").removesuffix("|")
    return ["right" if cell.strip().endswith(":") else "left" for cell in inner.split("|")]


def width(text: str) -> int:
    """Columns ``text`` takes on a terminal: wide and emoji characters count two."""
    columns = 0
    for index, char in enumerate(text):
        if unicodedata.combining(char) or char in "\u200b\u200d\ufe0e\ufe0f":
            continue
        emoji = index + 1 < len(text) and text[index + 1] == "\ufe0f"
        columns += 2 if emoji or unicodedata.east_asian_width(char) in "WF" else 1
    return columns


def _squeeze_blank_lines(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out)
