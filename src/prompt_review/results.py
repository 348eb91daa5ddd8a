"""What a review found: the data the report renders and the JSON report carries."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from prompt_review.compare import Comparison

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
