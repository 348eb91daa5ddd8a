"""The PR comment: one Markdown body, found by its marker and edited in place.

``render`` builds it from the templates in ``templates/`` (overridable per repository) with
the escaping ``filters``; ``history`` is the verdict history hidden at its top; ``status``
the commit status line; ``text`` the terminal rendering.
"""

from prompt_review.report.history import MARKER, HistoryEntry, parse_history
from prompt_review.report.render import MAX_COMMENT_CHARS, render_markdown, render_no_changes
from prompt_review.report.status import status_description

__all__ = [
    "MARKER",
    "MAX_COMMENT_CHARS",
    "HistoryEntry",
    "parse_history",
    "render_markdown",
    "render_no_changes",
    "status_description",
]
