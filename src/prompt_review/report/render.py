"""The PR comment: sandboxed Jinja templates, their context and the size cap.

Templates are data (``templates/*.j2``, overridable with ``template_dir``); this module
prepares their context, registers the filters (``filters.py``) that make untrusted text
safe for each Markdown context, keeps the body under GitHub's limit, and puts the hidden
marker and verdict history (``history.py``) at the top.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from prompt_review.compare import ExampleDiff
from prompt_review.errors import UserInputError
from prompt_review.report.filters import FILTERS, TRACE_ID, public_tracking_uri, safe_url
from prompt_review.report.history import (
    EMOJI,
    HISTORY_LIMIT,
    MARKER,
    HistoryEntry,
    history_block,
    with_current,
)
from prompt_review.report.view import (
    RegressionRow,
    ScorerRow,
    UsageRow,
    regression_rows,
    scorer_rows,
    usage_rows,
)
from prompt_review.results import PRECEDENCE, PromptResult, ReviewResult

MAX_COMMENT_CHARS = 65_000
COMMENT_TEMPLATE = "comment.md.j2"
NO_CHANGES_TEMPLATE = "no_changes.md.j2"


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
    env.tests["trace_id"] = lambda value: bool(TRACE_ID.fullmatch(str(value)))
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
    entries = with_current(history, HistoryEntry(commit=review.commit, result=review.result, at=at))
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
        entries = with_current(entries, HistoryEntry(commit=commit, result="skipped", at=at))
    context = {"history": entries, "run_url": safe_url(run_url), "emoji": EMOJI}
    render = _render(NO_CHANGES_TEMPLATE, context, template_dir)
    return _assemble(entries, render({"result": "skipped"}))


def _assemble(history: Sequence[HistoryEntry], content: str) -> str:
    """The marker and history come first whatever the template does: they are the contract."""
    return f"{MARKER}\n{history_block(history)}\n\n{content.lstrip()}"


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
