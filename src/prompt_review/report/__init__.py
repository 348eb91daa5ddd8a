"""The PR comment: one Markdown body, found by its marker and edited in place.

Rendering lives in ``render``; templates in ``templates/`` (overridable per repository).
"""

from prompt_review.report.render import (
    MARKER,
    MAX_COMMENT_CHARS,
    HistoryEntry,
    parse_history,
    render_markdown,
    render_no_changes,
    status_description,
)

__all__ = [
    "MARKER",
    "MAX_COMMENT_CHARS",
    "HistoryEntry",
    "parse_history",
    "render_markdown",
    "render_no_changes",
    "status_description",
]
