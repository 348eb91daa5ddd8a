"""The verdict history a PR comment carries in a hidden HTML comment, read back safely."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

MARKER = "<!-- prompt-review:comment -->"  # the comment is found again by this, at its top
EMOJI: Mapping[str, str] = {"passed": "✅", "failed": "❌", "error": "⚠️", "skipped": "⏭️"}
HISTORY_LIMIT = 20
_HISTORY_OPEN = "<!-- prompt-review:history "
_HISTORY_CLOSE = " -->"
_HISTORY_RE = re.compile(
    r"\A\s*" + re.escape(MARKER) + r"\s*" + re.escape(_HISTORY_OPEN) + r"(\[.*?\])" + _HISTORY_CLOSE
)
# Field caps keep a hand-edited or hostile history from bloating every later comment.
_HISTORY_FIELD_CHARS = {"commit": 64, "result": 16, "at": 40}


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier verdict on this PR: the reviewed commit, its result and when (ISO time)."""

    commit: str
    result: str
    at: str


def history_block(history: Sequence[HistoryEntry]) -> str:
    """A hidden comment no value can close early: ``<``, ``>`` and ``-`` are JSON-escaped."""
    payload = json.dumps([asdict(h) for h in history], ensure_ascii=True, separators=(",", ":"))
    for char in "<>-":
        payload = payload.replace(char, f"\\u{ord(char):04x}")
    return f"{_HISTORY_OPEN}{payload}{_HISTORY_CLOSE}"


def parse_history(body: str) -> list[HistoryEntry]:
    """The history an earlier comment embedded; ``[]`` for anything we did not write.

    Only the block right after the leading marker counts, so a look-alike inside a model
    output further down the comment is never read back.
    """
    match = _HISTORY_RE.match(body or "")
    if match is None:
        return []
    try:
        raw = json.loads(match.group(1))
    except ValueError:
        return []
    entries = [entry for item in raw if (entry := _history_entry(item)) is not None]
    return entries[-HISTORY_LIMIT:]


def _history_entry(item: object) -> HistoryEntry | None:
    if not isinstance(item, dict):
        return None
    fields: dict[str, str] = {}
    for key, limit in _HISTORY_FIELD_CHARS.items():
        value = item.get(key)
        if not isinstance(value, str) or len(value) > limit:
            return None
        fields[key] = value
    if fields["result"] not in EMOJI or not fields["commit"]:
        return None
    return HistoryEntry(**fields)


def with_current(history: Sequence[HistoryEntry], current: HistoryEntry) -> list[HistoryEntry]:
    """Append the current verdict; a re-run of the same commit replaces its earlier entry.

    Callers may pass the current entry themselves (with its time) or leave it to us: an
    entry for the same commit keeps its time when ``current`` has none.
    """
    entries = list(history)
    if entries and entries[-1].commit == current.commit:
        previous = entries.pop()
        current = current if current.at else replace(current, at=previous.at)
    return [*entries, current][-HISTORY_LIMIT:]
