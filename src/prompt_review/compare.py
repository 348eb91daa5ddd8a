"""Pure comparison of a candidate's evaluation with production's, and the gate verdict.

The default gate fails a scorer only when the candidate is worse by more than noise:
the per-example differences (candidate - production, paired by example id) are tested
with an exact sign-flip test, and a drop fails when its one-sided p-value is below
``gate.alpha`` (0.05) and the drop exceeds ``gate.max_drop`` (0). An unchanged prompt has
no differences (p = 1) and passes; 10/10 → 2/10 is eight paired drops (p = 1/256) and
fails; one flipped example out of ten (p = 0.5) is noise and passes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any, Literal

from prompt_review.config import GateConfig

Verdict = Literal["passed", "failed", "error"]
Change = Literal["regressed", "improved", "unchanged", "error"]

EXACT_LIMIT = 16
RESAMPLES = 4000
SEED = 20240611


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
        return sum(values) / len(values) if values else None


@dataclass(frozen=True, kw_only=True)
class ScorerSummary:
    name: str
    baseline_mean: float | None
    candidate_mean: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    paired: int
    regressed: int
    improved: int
    failed: bool
    reason: str


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

    @property
    def regressions(self) -> tuple[ExampleDiff, ...]:
        return tuple(e for e in self.examples if e.change == "regressed")

    @property
    def improvements(self) -> tuple[ExampleDiff, ...]:
        return tuple(e for e in self.examples if e.change == "improved")

    @property
    def errored(self) -> tuple[ExampleDiff, ...]:
        return tuple(e for e in self.examples if e.change == "error")


def compare(
    candidate: EvalResult,
    baseline: EvalResult | None,
    scorer_names: Sequence[str],
    gate: GateConfig,
) -> Comparison:
    """Per-scorer means, deltas and significance, per-example changes, and the verdict."""
    base_by_id = {e.id: e for e in baseline.examples} if baseline else {}
    diffs = tuple(_diff(e, base_by_id.get(e.id), scorer_names) for e in candidate.examples)
    summaries = tuple(_summarize(name, candidate, baseline, diffs, gate) for name in scorer_names)
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
    failed = [s for s in summaries if s.failed]
    if failed and verdict != "error":
        verdict = "failed"
    reasons.extend(f"{s.name}: {s.reason}" for s in failed)
    if verdict == "passed":
        reasons.append(
            "no scorer is worse by more than noise"
            if baseline is not None
            else "new prompt: no production version to compare with"
        )
    return Comparison(
        verdict=verdict,
        reasons=tuple(reasons),
        scorers=summaries,
        examples=diffs,
        total=total,
        candidate_errors=candidate.errors,
        baseline_errors=baseline.errors if baseline else 0,
        has_baseline=baseline is not None,
    )


def _diff(cand: ExampleResult, base: ExampleResult | None, names: Sequence[str]) -> ExampleDiff:
    change: Change = "unchanged"
    if cand.failed or (base is not None and base.failed):
        change = "error"
    elif base is not None:
        deltas = [
            c - b
            for name in names
            if (c := cand.scores.get(name)) is not None and (b := base.scores.get(name)) is not None
        ]
        if any(d < 0 for d in deltas):
            change = "regressed"
        elif any(d > 0 for d in deltas):
            change = "improved"
    return ExampleDiff(
        id=cand.id,
        inputs=cand.inputs,
        expectations=cand.expectations,
        baseline_output=base.output if base else None,
        candidate_output=cand.output,
        baseline_scores=dict(base.scores) if base else {},
        candidate_scores=dict(cand.scores),
        change=change,
        candidate_error=cand.error,
        baseline_error=base.error if base else None,
        candidate_trace_id=cand.trace_id,
    )


def _summarize(
    name: str,
    candidate: EvalResult,
    baseline: EvalResult | None,
    diffs: Sequence[ExampleDiff],
    gate: GateConfig,
) -> ScorerSummary:
    cand_mean = candidate.mean(name)
    base_mean = baseline.mean(name) if baseline else None
    pairs = [
        (c, b)
        for d in diffs
        if (c := d.candidate_scores.get(name)) is not None
        and (b := d.baseline_scores.get(name)) is not None
    ]
    deltas = [c - b for c, b in pairs]
    delta = sum(deltas) / len(deltas) if deltas else None
    p_value = sign_flip_p_value(deltas) if deltas else None
    ci_low, ci_high = bootstrap_ci(deltas) if deltas else (None, None)
    failed, reason = False, "within noise"
    floor = gate.min_score.get(name)
    if delta is not None and p_value is not None:
        significant = p_value < gate.alpha
        if delta < -gate.max_drop and significant:
            failed = True
            reason = (
                f"mean dropped by {-delta:.3g} (p={p_value:.2g} < alpha {gate.alpha:g}"
                + (f", more than max_drop {gate.max_drop:g}" if gate.max_drop else "")
                + ")"
            )
        elif delta < 0 and significant:
            reason = f"dropped by {-delta:.3g}, within max_drop {gate.max_drop:g}"
        elif delta < 0:
            reason = f"drop of {-delta:.3g} is within noise (p={p_value:.2g})"
        elif delta > 0:
            reason = f"improved by {delta:.3g}" + (
                " (significant)" if sign_flip_p_value([-d for d in deltas]) < gate.alpha else ""
            )
        else:
            reason = "unchanged"
    elif baseline is None:
        reason = "no baseline"
    else:
        reason = "not compared: no example has this score in both versions"
    needed = min_detectable_pairs(gate.alpha)
    if delta is not None and delta < 0 and len(deltas) < needed and not failed:
        # Even every example regressing could not reach significance: say so, never a
        # silent green on a dataset too small to judge.
        reason += (
            f"; only {len(deltas)} paired examples: the test needs at least {needed} "
            f"to detect a regression at alpha {gate.alpha:g} (add examples or set gate.min_score)"
        )
    if floor is not None and (cand_mean is None or cand_mean < floor):
        failed = True
        shown = "no score" if cand_mean is None else f"{cand_mean:.3g}"
        reason = f"candidate mean {shown} is below gate.min_score {floor:g}"
    return ScorerSummary(
        name=name,
        baseline_mean=base_mean,
        candidate_mean=cand_mean,
        delta=delta,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        paired=len(pairs),
        regressed=sum(1 for d in deltas if d < 0),
        improved=sum(1 for d in deltas if d > 0),
        failed=failed,
        reason=reason,
    )


def min_detectable_pairs(alpha: float) -> int:
    """Fewest paired examples for which "all of them got worse" is significant at ``alpha``."""
    return math.floor(math.log2(1 / alpha)) + 1


def sign_flip_p_value(deltas: Sequence[float]) -> float:
    """One-sided p-value that the mean difference is this negative by chance.

    Under "no real change" each paired difference is as likely positive as negative, so
    the observed sum is ranked among all sign flips: exactly for binary-like data or few
    non-zero pairs, by seeded Monte Carlo otherwise (deterministic across runs).
    """
    nonzero = [d for d in deltas if d != 0]
    if not nonzero:
        return 1.0
    observed = sum(nonzero)
    # Sorted: the Monte Carlo draw must not depend on the order of the dataset's records.
    magnitudes = sorted(abs(d) for d in nonzero)
    n = len(nonzero)
    if len(set(magnitudes)) == 1:
        negatives = sum(1 for d in nonzero if d < 0)
        # P(at least this many negatives) under Binomial(n, 1/2).
        return float(sum(math.comb(n, k) for k in range(negatives, n + 1)) / 2**n)
    tolerance = 1e-12 * max(magnitudes)
    if n <= EXACT_LIMIT:
        flips = product((1, -1), repeat=n)
        hits = sum(
            1
            for signs in flips
            if sum(s * m for s, m in zip(signs, magnitudes, strict=True)) <= observed + tolerance
        )
        return float(hits / 2**n)
    rng = random.Random(SEED)
    hits = sum(
        1
        for _ in range(RESAMPLES)
        if sum(m if rng.random() < 0.5 else -m for m in magnitudes) <= observed + tolerance
    )
    return (hits + 1) / (RESAMPLES + 1)


def bootstrap_ci(deltas: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean difference (seeded: same data, same CI)."""
    n = len(deltas)
    if n == 0:
        raise ValueError("bootstrap_ci needs at least one difference")
    if len(set(deltas)) == 1:
        return deltas[0], deltas[0]
    deltas = sorted(deltas)  # same data in another record order, same interval
    rng = random.Random(SEED)
    means = sorted(sum(rng.choices(deltas, k=n)) / n for _ in range(RESAMPLES))
    tail = (1 - level) / 2
    low = means[int(tail * (RESAMPLES - 1))]
    high = means[int((1 - tail) * (RESAMPLES - 1))]
    return low, high
