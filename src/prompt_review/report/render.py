"""The PR comment: sandboxed Jinja templates, escaping filters, history and the size cap.

Templates are data (``templates/*.j2``, overridable with ``template_dir``); this module
prepares their context, registers the filters that make untrusted text (model outputs,
inputs, expectations, diffs, names) safe for each Markdown context, keeps the body under
GitHub's limit and carries the verdict history in a hidden HTML comment.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from prompt_review.compare import ExampleDiff, ScorerSummary
from prompt_review.errors import UserInputError
from prompt_review.report.view import (
    RegressionRow,
    ScorerRow,
    UsageRow,
    regression_rows,
    scorer_rows,
    usage_rows,
)
from prompt_review.results import PRECEDENCE, PromptResult, ReviewResult
from prompt_review.sanitize import clean

MARKER = "<!-- prompt-review:comment -->"
MAX_COMMENT_CHARS = 65_000
HISTORY_LIMIT = 20
STATUS_DESCRIPTION_CHARS = 140
COMMENT_TEMPLATE = "comment.md.j2"
NO_CHANGES_TEMPLATE = "no_changes.md.j2"

EMOJI: Mapping[str, str] = {"passed": "✅", "failed": "❌", "error": "⚠️", "skipped": "⏭️"}
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


@dataclass(frozen=True, kw_only=True)
class Limits:
    """How much detail the comment shows; lowered step by step when the body is too long."""

    max_examples: int
    max_output_chars: int
    max_diff_chars: int
    show_diff: bool
    max_cell_chars: int = 120  # each text cell of the compact regressions table


LADDER: tuple[Limits, ...] = (
    Limits(max_examples=10, max_output_chars=2000, max_diff_chars=20_000, show_diff=True),
    Limits(
        max_examples=5, max_output_chars=800, max_diff_chars=8000, show_diff=True, max_cell_chars=80
    ),
    Limits(
        max_examples=3, max_output_chars=300, max_diff_chars=3000, show_diff=True, max_cell_chars=60
    ),
    Limits(
        max_examples=1, max_output_chars=200, max_diff_chars=0, show_diff=False, max_cell_chars=40
    ),
    Limits(
        max_examples=0, max_output_chars=200, max_diff_chars=0, show_diff=False, max_cell_chars=40
    ),
)


@dataclass(frozen=True, kw_only=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True, kw_only=True)
class PromptView:
    """One prompt's section: the raw result plus what the current limits let us show."""

    prompt: PromptResult
    emoji: str
    regressions: tuple[ExampleDiff, ...]
    hidden_regressions: int
    errored: tuple[ExampleDiff, ...]
    hidden_errored: int
    improvements: int
    unchanged: int
    links: tuple[Link, ...]
    baseline_run_url: str | None
    run_url: str | None
    show_diff: bool
    verdict: str  # the verdict line: the comparison's reasons, or the error
    scorer_rows: tuple[ScorerRow, ...] = ()
    usage_rows: tuple[UsageRow, ...] = ()
    regression_rows: tuple[RegressionRow, ...] = ()  # the shown regressions, worst first
    rationale_column: bool = False  # some shown regression has a judge rationale
    trace_url_prefix: str | None = None  # + a trace id (tr-hex): that trace in the UI


# --- escaping filters ---------------------------------------------------------------------
# Each filter first removes what a reader cannot see (``sanitize.clean``: escape sequences,
# control and bidirectional/invisible format characters), then escapes for its context.

_TRACE_ID = re.compile(r"tr-[0-9a-f]{1,64}")  # safe to put in a link target as is
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


# --- history ------------------------------------------------------------------------------


def _history_block(history: Sequence[HistoryEntry]) -> str:
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


def _with_current(history: Sequence[HistoryEntry], current: HistoryEntry) -> list[HistoryEntry]:
    """Append the current verdict; a re-run of the same commit replaces its earlier entry.

    Callers may pass the current entry themselves (with its time) or leave it to us: an
    entry for the same commit keeps its time when ``current`` has none.
    """
    entries = list(history)
    if entries and entries[-1].commit == current.commit:
        previous = entries.pop()
        current = current if current.at else replace(current, at=previous.at)
    return [*entries, current][-HISTORY_LIMIT:]


# --- rendering ----------------------------------------------------------------------------


def _environment(template_dir: Path | None) -> SandboxedEnvironment:
    builtin = jinja2.PackageLoader("prompt_review.report", "templates")
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        if not Path(template_dir).is_dir():
            raise UserInputError(f"{template_dir}: template directory not found")
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    # "builtin/..." lets an override extend or include the shipped templates by name.
    loaders += [builtin, jinja2.PrefixLoader({"builtin": builtin})]
    env = SandboxedEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=lambda value: "" if value is None else value,
    )
    env.filters.update(FILTERS)
    env.tests["trace_id"] = lambda value: bool(_TRACE_ID.fullmatch(str(value)))
    return env


def _render(
    template_name: str, context: Mapping[str, Any], template_dir: Path | None
) -> Callable[[Mapping[str, Any]], str]:
    """Load once, render per degradation level; template mistakes name the user's file."""
    env = _environment(template_dir)
    try:
        template = env.get_template(template_name)
    except jinja2.TemplateError as exc:
        raise _template_error(template_name, template_dir, exc) from exc

    def render(extra: Mapping[str, Any]) -> str:
        try:
            return template.render({**context, **extra})
        except jinja2.TemplateError as exc:
            if template_dir is None:
                raise
            raise _template_error(template_name, template_dir, exc) from exc

    return render


def _template_error(name: str, template_dir: Path | None, exc: Exception) -> UserInputError:
    where = Path(template_dir) / name if template_dir is not None else name
    return UserInputError(f"{where}: template error: {exc}")


def render_markdown(
    review: ReviewResult,
    *,
    history: Sequence[HistoryEntry] = (),
    run_url: str | None = None,
    template_dir: Path | None = None,
    max_chars: int = MAX_COMMENT_CHARS,
    at: str = "",
) -> str:
    """The PR comment for ``review``: MARKER, hidden history, then ``comment.md.j2``.

    ``history`` holds the earlier verdicts (``parse_history`` of the previous comment); the
    current one (``review.commit``, ``review.result``, ``at``) is appended, replacing a last
    entry for the same commit (whose time it keeps if ``at`` is empty). ``at`` is passed in,
    not read from a clock, so the same inputs always give the same comment.

    Context of ``comment.md.j2`` (an override in ``template_dir`` gets the same):

    - ``review``: the ``ReviewResult``; ``result`` and ``summary``: its verdict;
      ``problems``: its problems; ``emoji``: result → emoji.
    - ``prompts``: one ``PromptView`` per prompt, failures first: ``prompt`` (the ``PromptResult``),
      ``emoji``, ``regressions`` / ``errored`` (``ExampleDiff`` to show, at most
      ``limits.max_examples``), ``hidden_regressions`` / ``hidden_errored`` (not shown),
      ``improvements``, ``unchanged`` (counts), ``links`` (``Link(label, url)``, safe URLs),
      ``run_url`` / ``baseline_run_url``, ``show_diff``; ``verdict`` (the verdict line:
      the comparison's reasons, with the smallest detectable drop on a pass);
      ``scorer_rows`` (``ScorerRow``: ``summary``, ``role``, ``icon``, ``confidence``,
      ``p_shown`` / ``p_raw``, ``detectable``), ``usage_rows`` (``UsageRow``: ``label``,
      ``baseline``, ``candidate``, ``change``), ``regression_rows`` (``RegressionRow``:
      ``example``, ``change``, ``rationale``; worst first) and ``rationale_column``.
    - ``history``: ``HistoryEntry`` list, newest (this review) last.
    - ``run_url``: the workflow run; ``ui_url``: the MLflow UI; ``tracking_server``: the
      tracking URI without credentials.
    - ``limits`` (``max_examples``, ``max_output_chars``, ``max_diff_chars``, ``show_diff``,
      ``max_cell_chars``)
      and ``shortened``: lowered and set when the full comment would exceed ``max_chars``.

    Filters for untrusted text: ``md_cell`` (inline/table text), ``html`` (inside HTML
    tags), ``fence`` (a whole code block), ``code_inline``, ``truncate_chars(n)``,
    ``as_text`` (dict → lines); formatting: ``num``, ``signed``, ``pvalue``, ``short_sha``,
    ``date``, ``duration``, ``count(n, word)``.
    """
    entries = _with_current(
        history, HistoryEntry(commit=review.commit, result=review.result, at=at)
    )
    context = {
        "review": review,
        "result": review.result,
        "summary": review.summary,
        "problems": review.problems,
        "emoji": EMOJI,
        "history": entries,
        "run_url": safe_url(run_url),
        "ui_url": safe_url(review.ui_url),
        "tracking_server": public_tracking_uri(review.tracking_uri),
    }
    render = _render(COMMENT_TEMPLATE, context, template_dir)
    # Failures first: if the body must be cut, the prompts that passed are what is lost.
    ordered = sorted(review.prompts, key=lambda p: PRECEDENCE.index(p.result))
    content = ""
    for level, limits in enumerate(LADDER):
        prompts = [_prompt_view(prompt, limits) for prompt in ordered]
        content = render({"prompts": prompts, "limits": limits, "shortened": level > 0})
        body = _assemble(entries, content)
        if len(body) <= max_chars:
            return body
    return _hard_truncate(entries, content, max_chars, safe_url(run_url))


def render_no_changes(
    *,
    history: Sequence[HistoryEntry] = (),
    run_url: str | None = None,
    commit: str | None = None,
    at: str = "",
    template_dir: Path | None = None,
) -> str:
    """The comment once a PR no longer changes prompts (``no_changes.md.j2``).

    Given ``commit``, a ``skipped`` entry for it joins the history. Context: ``history``,
    ``run_url``, ``emoji``, ``result`` (``skipped``).
    """
    entries = list(history)[-HISTORY_LIMIT:]
    if commit:
        entries = _with_current(entries, HistoryEntry(commit=commit, result="skipped", at=at))
    context = {"history": entries, "run_url": safe_url(run_url), "emoji": EMOJI}
    render = _render(NO_CHANGES_TEMPLATE, context, template_dir)
    return _assemble(entries, render({"result": "skipped"}))


def _assemble(history: Sequence[HistoryEntry], content: str) -> str:
    """The marker and history come first whatever the template does: they are the contract."""
    return f"{MARKER}\n{_history_block(history)}\n\n{content.lstrip()}"


def _prompt_view(prompt: PromptResult, limits: Limits) -> PromptView:
    comparison = prompt.comparison
    regressions = comparison.regressions if comparison else ()
    errored = comparison.errored if comparison else ()
    improvements = len(comparison.improvements) if comparison else 0
    shown = max(limits.max_examples, 0)
    rows = regression_rows(regressions[:shown])
    links = (
        ("prompt version", prompt.links.prompt_version),
        ("logged model", prompt.links.model),
        ("evaluation run", prompt.links.run),
        ("traces and scores", prompt.links.traces),
        ("production run", prompt.links.baseline_run),
    )
    return PromptView(
        prompt=prompt,
        emoji=EMOJI.get(prompt.result, "❔"),
        verdict="; ".join(comparison.reasons) if comparison else "",
        scorer_rows=scorer_rows(comparison),
        usage_rows=usage_rows(prompt),
        regression_rows=rows,
        rationale_column=any(r.rationale for r in rows),
        regressions=regressions[:shown],
        hidden_regressions=max(len(regressions) - shown, 0),
        errored=errored[:shown],
        hidden_errored=max(len(errored) - shown, 0),
        improvements=improvements,
        unchanged=len(comparison.examples) - len(regressions) - len(errored) - improvements
        if comparison
        else 0,
        links=tuple(Link(label=label, url=url) for label, raw in links if (url := safe_url(raw))),
        run_url=safe_url(prompt.links.run),
        baseline_run_url=safe_url(prompt.links.baseline_run),
        show_diff=limits.show_diff,
        trace_url_prefix=safe_url(prompt.links.trace_prefix),
    )


# --- size cap -----------------------------------------------------------------------------

_FENCE_OPEN = re.compile(r" {0,3}(`{3,}|~{3,})")


def _hard_truncate(
    history: Sequence[HistoryEntry], content: str, max_chars: int, run_url: str | None
) -> str:
    """Keep whole lines that fit, close any open code fence and ``<details>``, add a note.

    The verdict line (the content's first line) always stays; old history goes first if
    even that does not fit.
    """
    where = f" The [workflow run]({run_url}) has the full report." if run_url else ""
    note = (
        f"\n\n> [!WARNING]\n> This comment was cut at {max_chars:,} characters "
        f"(GitHub's limit is 65,536).{where}\n"
    )
    lines = content.lstrip().split("\n")
    entries = list(history)
    while True:
        head = _assemble(entries, lines[0])
        if len(head) + len(note) <= max_chars:
            break
        if not entries:
            raise ValueError(f"max_chars={max_chars} is too small for the verdict line")
        entries.pop(0)
    budget = max_chars - len(_assemble(entries, "")) - len(note)
    kept: list[str] = []
    size = 0
    state = _LayoutState()
    for line in lines:
        after = state.after(line)
        if kept and size + len(line) + 1 + len(after.closing()) > budget:
            break
        kept.append(line)
        size += len(line) + 1
        state = after
    return _assemble(entries, "\n".join(kept) + state.closing() + note)


@dataclass(frozen=True)
class _LayoutState:
    """Open code fence and ``<details>`` depth after a prefix of lines (CommonMark rules)."""

    fence: str = ""
    details: int = 0

    def after(self, line: str) -> _LayoutState:
        opening = _FENCE_OPEN.match(line)
        if self.fence:
            closes = (
                opening is not None
                and opening.group(1)[0] == self.fence[0]
                and len(opening.group(1)) >= len(self.fence)
                and not line[opening.end() :].strip()
            )
            return replace(self, fence="") if closes else self
        if opening is not None:
            return replace(self, fence=opening.group(1))
        stripped = line.strip()
        if stripped.startswith("<details"):
            return replace(self, details=self.details + 1)
        if stripped.startswith("</details>") and self.details:
            return replace(self, details=self.details - 1)
        return self

    def closing(self) -> str:
        text = f"\n{self.fence}" if self.fence else ""
        return text + "\n\n</details>" * self.details


# --- commit status ------------------------------------------------------------------------


def status_description(review: ReviewResult) -> str:
    """The commit status line (≤ 140 characters): counts, then what regressed and by how much."""
    prompts = review.prompts
    if not prompts:
        if review.result == "error":
            return _clip(f"error: {_one_line(review.summary) or 'review failed'}")
        return "no prompt changes"
    failed = [p for p in prompts if p.result == "failed"]
    errors = [p for p in prompts if p.result == "error"]
    head = f"{count(len(prompts), 'prompt')}: "
    error_part = (
        f"{count(len(errors), 'error')} ({', '.join(_name(p) for p in errors)})" if errors else ""
    )
    if not failed:
        if error_part:
            return _clip(head + error_part)
        return _clip(head + _passed_part(prompts))
    notes = [_regression_note(p) for p in failed]
    for shown in range(len(notes), -1, -1):
        listed = notes[:shown] + ([f"+{len(notes) - shown} more"] if shown < len(notes) else [])
        parts = [f"{count(len(failed), 'regression')} ({'; '.join(listed)})"]
        text = head + ", ".join([*parts, error_part] if error_part else parts)
        if len(text) <= STATUS_DESCRIPTION_CHARS:
            return text
    return _clip(head + count(len(failed), "regression"))


def _passed_part(prompts: Sequence[PromptResult]) -> str:
    if all(p.result == "skipped" for p in prompts):
        return "all skipped"
    new = sum(1 for p in prompts if p.baseline is None and p.result == "passed")
    improved = sum(
        1
        for p in prompts
        if p.comparison and any(s.delta is not None and s.delta > 0 for s in p.comparison.scorers)
    )
    extras = [f"{new} new"] if new else []
    extras += [f"{improved} improved"] if improved else []
    return "all passed" + (f" ({', '.join(extras)})" if extras else "")


def _regression_note(prompt: PromptResult) -> str:
    failing: list[ScorerSummary] = (
        [s for s in prompt.comparison.scorers if s.failed] if prompt.comparison else []
    )
    if not failing:
        return _name(prompt)
    worst = min(failing, key=lambda s: s.delta if s.delta is not None else 0.0)
    shown_p = worst.p_adjusted if worst.p_adjusted is not None else worst.p_value
    if worst.delta is not None and worst.delta < 0 and shown_p is not None:
        detail = f"{worst.delta:+.2f}, p={pvalue(shown_p)}"
    else:
        detail = f"{num(worst.candidate_mean)} below min_score"
    return f"{_name(prompt)}: {_one_line(worst.name)[:30]} {detail}"


def _name(prompt: PromptResult) -> str:
    name = _one_line(prompt.name)
    return name if len(name) <= 30 else name[:29] + "…"


def _one_line(text: str) -> str:
    return " ".join(clean(text).split())


def _clip(text: str, limit: int = STATUS_DESCRIPTION_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
