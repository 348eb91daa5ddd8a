"""What a review found: the data the report renders and the JSON report carries."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from prompt_review.compare import Comparison, EvalResult
from prompt_review.config import Price

Result = Literal["passed", "failed", "skipped", "error"]
# Which result wins when prompts disagree: a confirmed regression is the strongest news,
# then a failure to evaluate (never shown as green), then a pass.
PRECEDENCE: tuple[Result, ...] = ("failed", "error", "passed", "skipped")


@dataclass(frozen=True, kw_only=True)
class Baseline:
    """The production version a candidate is compared with, and where it came from."""

    version: int
    alias: str
    git_commit: str | None = None
    pr_number: str | None = None
    promoted_at: str | None = None
    promoted_by: str | None = None


@dataclass(frozen=True, kw_only=True)
class Links:
    """MLflow UI links (present only when the tracking server has a UI URL)."""

    prompt_version: str | None = None
    model: str | None = None
    run: str | None = None
    baseline_run: str | None = None
    traces: str | None = None  # the candidate run's traces and scores, side by side
    trace_prefix: str | None = None  # + a trace id: that trace's page


@dataclass(frozen=True, kw_only=True)
class Usage:
    """What evaluating one version on the dataset took: tokens, latency, calls and cost.

    Measured per example (summed over its samples), so a reused evaluation still reports
    what a run of that version costs. ``cost`` needs a ``pricing:`` entry for ``model``.
    """

    model: str
    examples: int
    input_tokens: int | None = None
    output_tokens: int | None = None
    mean_latency_ms: float | None = None
    llm_calls: int = 0  # made by this review (0 when reused)
    judge_calls: int = 0
    cost: float | None = None


def usage_of(result: EvalResult, model: str, pricing: Mapping[str, Price]) -> Usage:
    """The ``Usage`` of an evaluation of ``model`` (a model name; priced when listed)."""
    price = pricing.get(model)
    cost = None
    if price is not None and (result.input_tokens is not None or result.output_tokens is not None):
        cost = price.cost(result.input_tokens or 0, result.output_tokens or 0)
    return Usage(
        model=model,
        examples=len(result.examples),
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        mean_latency_ms=result.mean_latency_ms,
        llm_calls=result.llm_calls,
        judge_calls=result.judge_calls,
        cost=cost,
    )


@dataclass(frozen=True, kw_only=True)
class PromptResult:
    name: str
    source_path: str
    status: str  # added | modified | renamed | affected | deleted
    reason: str
    result: Result
    candidate_version: int | None = None
    model_id: str | None = None
    run_id: str | None = None
    baseline_run_id: str | None = None
    baseline: Baseline | None = None
    baseline_known: bool = True  # False: the review stopped before reading the alias
    comparison: Comparison | None = None
    prompt_diff: str = ""
    dataset: str | None = None
    dataset_digest: str | None = None
    model: str | None = None
    error: str | None = None
    links: Links = field(default_factory=Links)
    candidate_reused: bool = False
    baseline_reused: bool = False
    llm_calls: int = 0
    judge_calls: int = 0
    candidate_usage: Usage | None = None
    baseline_usage: Usage | None = None
    # The review read uncommitted edits: `commit` does not hold what was evaluated.
    git_dirty: bool = False
    dirty_files: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ReviewResult:
    result: Result
    summary: str
    prompts: tuple[PromptResult, ...]
    commit: str
    base: str | None = None
    pr_number: int | None = None
    experiment: str = ""
    alias: str = "production"
    tracking_uri: str = ""
    ui_url: str | None = None
    duration_seconds: float = 0.0
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for prompt, raw in zip(self.prompts, data["prompts"], strict=True):
            if prompt.comparison is not None:
                raw["comparison"]["regressions"] = len(prompt.comparison.regressions)
        return data


def overall(results: list[Result]) -> Result:
    for candidate in PRECEDENCE:
        if candidate in results:
            return candidate
    return "skipped"
