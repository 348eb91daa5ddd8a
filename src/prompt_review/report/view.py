"""Rows the templates render: scorer verdicts, usage per version, regressed examples.

Plain data built from the review's results; every string here is either our own number
formatting or untrusted text the templates still pass through an escaping filter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prompt_review.compare import Comparison, ExampleDiff, ScorerSummary
from prompt_review.results import PromptResult, Usage


@dataclass(frozen=True, kw_only=True)
class ScorerRow:
    """One scorer in the table; ``summary`` keeps every raw number for overrides."""

    summary: ScorerSummary
    role: str  # "required" | "informational"
    icon: str
    confidence: str  # the interval's two-sided confidence, "90 %"
    p_shown: str  # the corrected p-value (raw for an informational scorer), "—" if none
    p_raw: str  # the raw one when it differs from p_shown, else ""
    detectable: str  # "0.13", "none at this size" or "—"


@dataclass(frozen=True, kw_only=True)
class UsageRow:
    label: str
    baseline: str
    candidate: str
    change: str


@dataclass(frozen=True, kw_only=True)
class RegressionRow:
    """A regressed example in the compact table (texts are raw: the template escapes)."""

    example: ExampleDiff
    change: str  # "exact_match 1.00 → 0.00"
    rationale: str  # the candidate's judge rationales for the scorers that dropped


def scorer_rows(comparison: Comparison | None) -> tuple[ScorerRow, ...]:
    if comparison is None:
        return ()
    return tuple(_scorer_row(s) for s in comparison.scorers)


def _scorer_row(s: ScorerSummary) -> ScorerRow:
    if s.failed:
        icon = "❌"
    elif s.delta is not None and s.delta < 0:
        icon = "〰️"
    elif s.delta is not None and s.delta > 0:
        icon = "📈"
    else:
        icon = "\N{HEAVY MINUS SIGN}"
    shown = s.p_adjusted if s.p_adjusted is not None else s.p_value
    if s.paired == 0:
        detectable = "—"
    elif s.detectable_drop is None:
        detectable = f"none (needs {s.min_pairs} pairs)"
    else:
        detectable = f"{s.detectable_drop:.2g}"
    return ScorerRow(
        summary=s,
        role="required" if s.required else "informational",
        icon=icon,
        confidence=f"{100 * (1 - 2 * s.level):.3g} %" if s.level is not None else "",
        p_shown=_p(shown),
        p_raw=_p(s.p_value) if shown is not None and s.p_value != shown else "",
        detectable=detectable,
    )


def _p(value: float | None) -> str:
    """Two significant digits: 0.047 must not read as alpha's 0.05."""
    if value is None:
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.2g}"


def usage_rows(prompt: PromptResult) -> tuple[UsageRow, ...]:
    """Tokens, latency and cost per version with the change; empty when nothing was measured."""
    cand, base = prompt.candidate_usage, prompt.baseline_usage
    if cand is None:
        return ()
    models = (
        [UsageRow(label="Model", baseline=base.model, candidate=cand.model, change="changed")]
        if base is not None and base.model != cand.model
        else []
    )
    rows = [
        *models,
        _usage_row("Input tokens", cand, base, lambda u: u.input_tokens, _tokens),
        _usage_row("Output tokens", cand, base, lambda u: u.output_tokens, _tokens),
        _usage_row("Mean latency per call", cand, base, lambda u: u.mean_latency_ms, _ms),
        _usage_row("Cost (pricing:)", cand, base, lambda u: u.cost, _usd),
    ]
    return tuple(r for r in rows if r is not None)


def _usage_row(
    label: str,
    cand: Usage,
    base: Usage | None,
    value: Callable[[Usage], float | int | None],
    shown: Callable[[float], str],
) -> UsageRow | None:
    new = value(cand)
    old = value(base) if base is not None else None
    if new is None and old is None:
        return None
    change = "—"
    if new is not None and old is not None:
        diff = new - old
        # A change that rounds to nothing (0.4 ms vs 0.5 ms) gets no sign and no percentage:
        # those would be noise shown as news.
        negligible = diff != 0 and shown(abs(diff)) == shown(0)
        sign = "±" if negligible else "+" if diff >= 0 else "-"
        change = f"{sign}{shown(abs(diff))}"
        if old and not negligible:
            change += f" ({100 * diff / old:+.0f} %)"
    return UsageRow(
        label=label,
        baseline="—" if old is None else shown(old),
        candidate="—" if new is None else shown(new),
        change=change,
    )


def _tokens(value: float) -> str:
    return f"{round(value):,}"


def _ms(value: float) -> str:
    return f"{value:,.0f} ms"


def _usd(value: float) -> str:
    return f"${value:,.4f}" if value < 100 else f"${value:,.2f}"


def regression_rows(examples: Sequence[ExampleDiff]) -> tuple[RegressionRow, ...]:
    return tuple(
        RegressionRow(example=e, change=_change(e), rationale=_rationale(e)) for e in examples
    )


def _dropped(e: ExampleDiff) -> list[str]:
    return [
        name
        for name, score in e.candidate_scores.items()
        if score is not None and (old := e.baseline_scores.get(name)) is not None and score < old
    ]


def _change(e: ExampleDiff) -> str:
    return " · ".join(
        f"{name} {_score(e.baseline_scores[name])} → {_score(e.candidate_scores[name])}"
        for name in _dropped(e)
    )


def _score(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "—"


def _rationale(e: ExampleDiff) -> str:
    texts = [(name, text) for name in _dropped(e) if (text := e.candidate_rationales.get(name))]
    if len(texts) == 1:
        return texts[0][1]
    return "\n".join(f"{name}: {text}" for name, text in texts)
