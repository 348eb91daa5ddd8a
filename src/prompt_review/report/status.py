"""The commit status line: at most 140 characters, the counts first, then what regressed."""

from __future__ import annotations

from collections.abc import Sequence

from prompt_review.gate import ScorerSummary
from prompt_review.report.filters import count, num, pvalue
from prompt_review.results import PromptResult, ReviewResult
from prompt_review.sanitize import clean

STATUS_DESCRIPTION_CHARS = 140


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
