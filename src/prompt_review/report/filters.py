"""Filters that make untrusted text safe in each Markdown context of the PR comment.

Model outputs, inputs, expectations, diffs and names come from a pull request or a model:
each filter cleans them (``sanitize.clean``), escapes what the context needs and defuses
mentions, issue references, bare URLs and copies of our hidden marker.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from urllib.parse import quote, urlsplit

from prompt_review.sanitize import clean

# --- escaping filters ---------------------------------------------------------------------
# Each filter first removes what a reader cannot see (``sanitize.clean``: escape sequences,
# control and bidirectional/invisible format characters), then escapes for its context.

TRACE_ID = re.compile(r"tr-[0-9a-f]{1,64}")  # safe to put in a link target as is
_NEWLINE = re.compile(r"\r\n|\r|\n")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_MENTION = re.compile(r"(?<![\w`])@(?=[A-Za-z0-9])")
# ``#123``, ``owner/repo#123`` and ``GH-123`` link (and back-link) an issue; ``https://``,
# ``ftp://`` and ``www.`` start an autolink. A zero-width space after each stops both.
_LINK = re.compile(r"(?<!&)#(?=\d)|(?i:\bgh-(?=\d)|\b(?:https?|ftp)(?=://)|\bwww(?=\.))")
_FENCE_LANG = re.compile(r"[^A-Za-z0-9_+-]")
_OUR_MARKER = re.compile(r"(<!--\s*prompt-review):")


def _text(value: object) -> str:
    return "" if value is None else clean(str(value))


def _defuse_mentions(text: str) -> str:
    """Stop ``@user`` / ``@org/team`` in model output from notifying anyone."""
    return _MENTION.sub("@\u200b", text)


def _defuse_links(text: str) -> str:
    """Stop issue references and bare URLs from becoming links (GitHub's or a mail client's)."""
    return _LINK.sub("\\g<0>\u200b", text)


def _defuse_markers(text: str) -> str:
    """Keep our hidden markers unique: the comment is found by the one at the very top."""
    return _OUR_MARKER.sub("\\1\u200b:", text)


def md_cell(value: object) -> str:
    """Inline Markdown text, safe in a table cell, a heading or a list item.

    HTML is entity-escaped, Markdown punctuation (including ``|``) backslash-escaped,
    newlines become ``<br>`` (no new block can start), mentions, issue references and bare
    URLs are defused.
    """
    text = html.escape(_text(value), quote=False)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return "<br>".join(_NEWLINE.split(_defuse_links(_defuse_mentions(text))))


def html_text(value: object) -> str:
    """Text inside raw HTML (``<summary>``): entity-escaped, newlines as ``<br>``, defused."""
    text = html.escape(_text(value), quote=True)
    return "<br>".join(_NEWLINE.split(_defuse_links(_defuse_mentions(text))))


def fence(value: object, lang: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run in the content.

    The content is kept verbatim except that a copy of our hidden marker, an issue
    reference or a bare URL gets a zero-width space: GitHub shows code as written, but the
    comment's e-mail notification is plain text, where a mail client links URLs.
    """
    text = "\n".join(_NEWLINE.split(_defuse_links(_defuse_markers(_text(value)))))
    text = text.removesuffix("\n")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{_FENCE_LANG.sub('', lang)}\n{text}\n{ticks}"


def code_inline(value: object) -> str:
    """An inline code span that no backtick or newline in the content can end early.

    It holds names, paths and SHAs (never model output), which GitHub shows as written.
    Not for table cells: GitHub splits cells on ``|`` even inside code (use ``md_cell``).
    """
    text = " ".join(_NEWLINE.split(_defuse_markers(_text(value))))
    if not text:
        return "` `"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def truncate_chars(value: object, limit: int) -> str:
    """Cut text to ``limit`` characters, saying how much was left out."""
    text = _text(value)
    if len(text) <= limit:
        return text
    return f"{text[: max(limit, 0)]}… [{len(text) - max(limit, 0)} more characters]"


def as_text(value: object) -> str:
    """Inputs and expectations as readable ``key: value`` lines (JSON for non-strings)."""
    if isinstance(value, Mapping):
        lines = []
        for key, item in value.items():
            shown = item if isinstance(item, str) else _json(item)
            lines.append(f"{key}:\n{shown}" if "\n" in shown else f"{key}: {shown}")
        return "\n".join(lines)
    return value if isinstance(value, str) else _json(value)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def num(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if value == 0 or abs(value) >= 0.01 else f"{value:.2g}"


def signed(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:+.2f}" if value == 0 or abs(value) >= 0.01 else f"{value:+.2g}"


def pvalue(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 0.001:
        return "<0.001"
    return f"{value:.3f}" if value < 0.01 else f"{value:.2f}"


def short_sha(value: object) -> str:
    text = _text(value)
    return text[:7] if re.fullmatch(r"[0-9a-fA-F]{8,64}", text) else text[:40]


def date(value: object) -> str:
    """The day of an ISO timestamp (``2026-11-20T10:00:00Z`` → ``2026-11-20``)."""
    text = _text(value)
    return text[:10] if re.match(r"\d{4}-\d{2}-\d{2}", text) else text


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    return f"{minutes // 60} h {minutes % 60} min"


def count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


FILTERS: Mapping[str, Callable[..., str]] = {
    "md_cell": md_cell,
    "html": html_text,
    "fence": fence,
    "code_inline": code_inline,
    "truncate_chars": truncate_chars,
    "as_text": as_text,
    "num": num,
    "signed": signed,
    "pvalue": pvalue,
    "short_sha": short_sha,
    "date": date,
    "duration": duration,
    "count": count,
}


# --- URLs ---------------------------------------------------------------------------------

# Kept as is in a link target; everything else (spaces, ``()<>|`` and backticks) is encoded.
_URL_SAFE = "/?#=&;:@!$'*+,%-._~"


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for ``[text](url)``: no credentials, no ``()<>`` or spaces."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port}" if port else ""
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    rest += f"#{parts.fragment}" if parts.fragment else ""
    return f"{parts.scheme}://{netloc}{quote(rest, safe=_URL_SAFE)}"


def public_tracking_uri(uri: str) -> str:
    """The tracking server as it may be shown: user, password, query and fragment dropped."""
    if not uri:
        return ""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(hidden)"
    if not parts.scheme or len(parts.scheme) == 1:  # a bare or Windows path
        return uri
    netloc = host + (f":{port}" if port else "")
    separator = "://" if uri[len(parts.scheme) :].startswith("://") else ":"
    return f"{parts.scheme}{separator}{netloc}{parts.path}"
