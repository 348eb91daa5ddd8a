"""Pure comparison of a candidate's evaluation with production's, and the gate verdict.

Per scorer, the per-example differences (candidate - production, paired by example id,
each already averaged over ``evaluation.repeats`` samples) go through the exact sign-flip
test of ``stats``. The scorers in ``gate.required`` (all of them by default) form one
family: their p-values are Holm-corrected, so an unchanged prompt on a stochastic model
fails at most ``gate.alpha`` of the time however many scorers there are. A required
scorer fails when its corrected p-value is below alpha and its drop exceeds
``gate.max_drop``; with ``gate.non_inferiority: δ`` it also fails unless the upper
confidence bound of its drop is below δ. ``gate.min_score`` floors always block. An
unchanged prompt has no differences (p = 1) and passes; 10/10 → 2/10 is eight paired
drops (p = 1/256) and fails; one flipped example out of ten (p = 0.5) is noise.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from prompt_review.config import GateConfig
from prompt_review.gate import ScorerSummary, judge, pass_reason

__all__ = [
    "Comparison",
    "EvalResult",
    "ExampleDiff",
    "ExampleResult",
    "ScorerSummary",
    "compare",
]

Verdict = Literal["passed", "failed", "error"]
Change = Literal["regressed", "improved", "unchanged", "error"]


@dataclass(frozen=True, kw_only=True)
class ExampleResult:
    """One example run through one prompt version. ``error`` set means no output was scored."""

    id: str
    inputs: dict[str, Any]
    expectations: dict[str, Any]
    output: str | None
    error: str | None = None
    scores: dict[str, float | None]
    trace_id: str | None = None
    # scorer name -> the judge's explanation of its score on this example
    rationales: dict[str, str] = field(default_factory=dict)
    # scorer name -> why this example has no score from it (the judge call failed after
    # retries, the user's scorer raised): counted like a failed model call, never a low score
    score_errors: dict[str, str] = field(default_factory=dict)
    # scorer name -> a value that is not a number (a judge with feedback_value_type: str)
    labels: dict[str, str] = field(default_factory=dict)
    # evaluation.repeats: how many samples ``scores`` averages, and every sample's output
    # (``output`` is the first one)
    repeats: int = 1
    sample_outputs: tuple[str | None, ...] = ()
    # what the generation calls cost, summed over the samples; latency is per call (mean)
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    trace_ids: tuple[str, ...] = ()  # one trace per sample (``trace_id`` is the first)

    @property
    def failed(self) -> bool:
        """No usable verdict on this example: its model call or one of its scorers failed."""
        return self.error is not None or bool(self.score_errors)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "inputs": self.inputs,
            "expectations": self.expectations,
            "output": self.output,
            "error": self.error,
            "scores": self.scores,
            "trace_id": self.trace_id,
            "rationales": self.rationales,
            "score_errors": self.score_errors,
            "labels": self.labels,
            "repeats": self.repeats,
            "sample_outputs": list(self.sample_outputs),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "latency_ms": self.latency_ms,
            "trace_ids": list(self.trace_ids),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExampleResult:
        return cls(
            id=str(data["id"]),
            inputs=dict(data["inputs"]),
            expectations=dict(data.get("expectations") or {}),
            output=data.get("output"),
            error=data.get("error"),
            scores={k: (None if v is None else float(v)) for k, v in data["scores"].items()},
            trace_id=data.get("trace_id"),
            rationales={str(k): str(v) for k, v in (data.get("rationales") or {}).items()},
            score_errors={str(k): str(v) for k, v in (data.get("score_errors") or {}).items()},
            labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
            repeats=int(data.get("repeats") or 1),
            sample_outputs=tuple(data.get("sample_outputs") or ()),
            input_tokens=data.get("input_tokens"),
            output_tokens=data.get("output_tokens"),
            latency_ms=data.get("latency_ms"),
            trace_ids=tuple(data.get("trace_ids") or ()),
        )


@dataclass(frozen=True, kw_only=True)
class EvalResult:
    """A prompt version evaluated on one dataset with one scorer configuration."""

    prompt_name: str
    prompt_version: int | None
    content_hash: str
    eval_key: str
    examples: tuple[ExampleResult, ...]
    run_id: str | None = None
    model_id: str | None = None
    reused: bool = False
    llm_calls: int = 0  # generation calls this evaluation made (0 when reused)
    judge_calls: int = 0  # LLM judge calls its scorers made (0 when reused)

    @property
    def errors(self) -> int:
        return sum(1 for e in self.examples if e.failed)

    @property
    def input_tokens(self) -> int | None:
        values = [e.input_tokens for e in self.examples if e.input_tokens is not None]
        return sum(values) if values else None

    @property
    def output_tokens(self) -> int | None:
        values = [e.output_tokens for e in self.examples if e.output_tokens is not None]
        return sum(values) if values else None

    @property
    def mean_latency_ms(self) -> float | None:
        values = [e.latency_ms for e in self.examples if e.latency_ms is not None]
        return sum(values) / len(values) if values else None

    def mean(self, scorer: str) -> float | None:
        values = [v for e in self.examples if (v := e.scores.get(scorer)) is not None]
        return math.fsum(values) / len(values) if values else None  # exact: order-free

    @property
    def repeats(self) -> int:
        """Samples per example (the most common value; 1 for an empty evaluation)."""
        counts = Counter(e.repeats for e in self.examples if not e.failed)
        return max(counts, key=lambda k: (counts[k], k)) if counts else 1


@dataclass(frozen=True, kw_only=True)
class ExampleDiff:
    id: str
    inputs: dict[str, Any]
    expectations: dict[str, Any]
    baseline_output: str | None
    candidate_output: str | None
    baseline_scores: dict[str, float | None]
    candidate_scores: dict[str, float | None]
    change: Change
    candidate_error: str | None = None
    baseline_error: str | None = None
    candidate_trace_id: str | None = None
    candidate_rationales: dict[str, str] = field(default_factory=dict)
    baseline_rationales: dict[str, str] = field(default_factory=dict)
    candidate_score_errors: dict[str, str] = field(default_factory=dict)
    baseline_score_errors: dict[str, str] = field(default_factory=dict)
    # the most negative per-scorer change (candidate - production); regressions sort by it
    worst_delta: float | None = None
    total_delta: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Comparison:
    verdict: Verdict
    reasons: tuple[str, ...]
    scorers: tuple[ScorerSummary, ...]
    examples: tuple[ExampleDiff, ...]
    total: int
    candidate_errors: int
    baseline_errors: int
    has_baseline: bool
    alpha: float = 0.05
    # the Holm family: required scorers with at least one pair; a lone drop among them must
    # clear alpha / len(family)
    family: tuple[str, ...] = ()
    corrected_alpha: float = 0.05
    repeats: int = 1
    non_inferiority: float | None = None

    @property
    def regressions(self) -> tuple[ExampleDiff, ...]:
        """Regressed examples, worst first (then by total change, then dataset order)."""
        regressed = [e for e in self.examples if e.change == "regressed"]
        return tuple(sorted(regressed, key=lambda e: (e.worst_delta or 0.0, e.total_delta)))

    @property
    def improvements(self) -> tuple[ExampleDiff, ...]:
        return tuple(e for e in self.examples if e.change == "improved")

    @property
    def errored(self) -> tuple[ExampleDiff, ...]:
        return tuple(e for e in self.examples if e.change == "error")

    @property
    def required(self) -> tuple[ScorerSummary, ...]:
        return tuple(s for s in self.scorers if s.required)


def compare(
    candidate: EvalResult,
    baseline: EvalResult | None,
    scorer_names: Sequence[str],
    gate: GateConfig,
) -> Comparison:
    """Per-scorer means, deltas and significance, per-example changes, and the verdict."""
    base_by_id = {e.id: e for e in baseline.examples} if baseline else {}
    pairs: dict[str, list[float]] = {name: [] for name in scorer_names}
    diffs = tuple(_diff(e, base_by_id.get(e.id), scorer_names, pairs) for e in candidate.examples)
    judgement = judge(
        scorer_names,
        {name: np.asarray(values, dtype=np.float64) for name, values in pairs.items()},
        {n: (baseline.mean(n) if baseline else None, candidate.mean(n)) for n in scorer_names},
        gate,
        has_baseline=baseline is not None,
    )
    reasons: list[str] = []
    verdict: Verdict = "passed"
    total = len(candidate.examples)
    error_budget = math.floor(gate.max_error_rate * total + 1e-9)
    for label, result in (("candidate", candidate), ("production", baseline)):
        if result is not None and result.errors > error_budget:
            verdict = "error"
            reasons.append(
                f"{result.errors} of {len(result.examples)} {label} examples failed to run "
                f"(allowed: {error_budget}; gate.max_error_rate {gate.max_error_rate:g})"
            )
    failed = [s for s in judgement.scorers if s.failed]
    if failed and verdict != "error":
        verdict = "failed"
    reasons.extend(f"{s.name}: {s.reason}" for s in failed)
    if verdict == "passed":
        reasons.append(
            pass_reason(
                judgement, gate, has_baseline=baseline is not None, repeats=candidate.repeats
            )
        )
    return Comparison(
        verdict=verdict,
        reasons=tuple(reasons),
        scorers=judgement.scorers,
        examples=diffs,
        total=total,
        candidate_errors=candidate.errors,
        baseline_errors=baseline.errors if baseline else 0,
        has_baseline=baseline is not None,
        alpha=gate.alpha,
        family=judgement.family,
        corrected_alpha=judgement.corrected_alpha,
        repeats=candidate.repeats,
        non_inferiority=gate.non_inferiority,
    )


def _diff(
    cand: ExampleResult,
    base: ExampleResult | None,
    names: Sequence[str],
    pairs: Mapping[str, list[float]],
) -> ExampleDiff:
    """One example's change; its paired differences are appended to ``pairs`` per scorer."""
    change: Change = "unchanged"
    deltas = []
    if base is not None:
        for name in names:
            c, b = cand.scores.get(name), base.scores.get(name)
            if c is not None and b is not None:
                deltas.append(c - b)
                pairs[name].append(c - b)
    if cand.failed or (base is not None and base.failed):
        change = "error"
    elif any(d < 0 for d in deltas):
        change = "regressed"
    elif any(d > 0 for d in deltas):
        change = "improved"
    return ExampleDiff(
        id=cand.id,
        inputs=cand.inputs,
        expectations=cand.expectations,
        baseline_output=base.output if base else None,
        candidate_output=cand.output,
        baseline_scores=base.scores if base else {},
        candidate_scores=cand.scores,
        change=change,
        candidate_error=cand.error,
        baseline_error=base.error if base else None,
        candidate_trace_id=cand.trace_id,
        candidate_rationales=cand.rationales,
        baseline_rationales=base.rationales if base else {},
        candidate_score_errors=cand.score_errors,
        baseline_score_errors=base.score_errors if base else {},
        worst_delta=min(deltas) if deltas else None,
        total_delta=math.fsum(deltas),
    )
