"""The gate's verdict per scorer: the paired test, Holm's family, bounds and the rules.

Pure: given each scorer's paired differences (candidate - production per example,
already averaged over the repeats) and the gate config, decide which scorers fail and
say why. ``compare`` feeds it from two evaluations; the statistics live in ``stats``.

- The scorers in ``gate.required`` (all of them by default) form one family: their
  one-sided p-values are Holm-corrected, so an unchanged prompt fails at most alpha of
  the time whatever the number of scorers. Informational scorers never block and do not
  spend any of alpha: the family-wise guarantee is over the decisions that block.
- A required scorer fails when its corrected p-value is below alpha and its drop exceeds
  ``max_drop``. Its interval is built at the level Holm tested it at, from the same null
  distribution, so "the interval lies below 0" and "the drop is significant" are one fact.
- ``non_inferiority: δ`` (opt-in): a required scorer also fails unless the upper
  confidence bound of its drop, at alpha, is below δ. Every required scorer must pass, so
  no correction is needed (an intersection-union test is level alpha as it is).
- ``min_score`` floors always block, listed in ``required`` or not: a floor someone wrote
  is never silently ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from prompt_review import stats
from prompt_review.config import GateConfig

Floats = npt.NDArray[np.float64]
NOT_COMPARED = "not compared: no example has this score in both versions"


@dataclass(frozen=True, kw_only=True)
class ScorerSummary:
    """One scorer's comparison: means, the paired test, its bounds and what it decided.

    ``p_value`` is the raw one-sided p-value of a drop; ``p_adjusted`` the Holm-corrected
    one for a required scorer (the raw one for an informational scorer). ``ci_low`` and
    ``ci_high`` bound the mean change at one-sided ``level`` each side (two-sided
    ``1 - 2 * level``), the level the test judged this scorer at: ``ci_high < 0`` exactly
    when the drop is significant, ``ci_low > 0`` exactly when the gain is.
    """

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
    required: bool = True
    p_adjusted: float | None = None
    level: float | None = None
    # the smallest true drop caught 80 % of the time at the corrected alpha; None when
    # this many pairs cannot show any drop
    detectable_drop: float | None = None
    min_pairs: int = 0  # fewest pairs that could show a drop at the corrected alpha
    # gate.non_inferiority: the upper confidence bound of the drop at alpha, and the call
    drop_bound: float | None = None
    non_inferior: bool | None = None


@dataclass(frozen=True, kw_only=True)
class Judgement:
    scorers: tuple[ScorerSummary, ...]
    family: tuple[str, ...]  # required scorers with at least one pair: Holm's family
    corrected_alpha: float  # alpha / len(family): what a lone drop must clear

    @property
    def failed(self) -> bool:
        return any(s.failed for s in self.scorers)


def judge(
    names: Sequence[str],
    deltas: Mapping[str, Floats],
    means: Mapping[str, tuple[float | None, float | None]],
    gate: GateConfig,
    *,
    has_baseline: bool,
) -> Judgement:
    """Every scorer's summary and verdict; ``means`` maps a name to (production, candidate)."""
    required = set(names if gate.required is None else gate.required)
    tests = {name: stats.sign_flip(deltas[name]) for name in names if len(deltas[name])}
    family = tuple(name for name in names if name in required and name in tests)
    corrected = gate.alpha / max(len(family), 1)
    raw = [tests[name].p_worse() for name in family]
    adjusted = dict(zip(family, stats.holm(raw).tolist(), strict=True))
    levels = dict(zip(family, stats.holm_levels(raw, gate.alpha).tolist(), strict=True))
    summaries = []
    for name in names:
        base_mean, cand_mean = means[name]
        d = deltas[name]
        design = corrected if name in required else gate.alpha
        summary = ScorerSummary(
            name=name,
            baseline_mean=base_mean,
            candidate_mean=cand_mean,
            delta=None,
            ci_low=None,
            ci_high=None,
            p_value=None,
            paired=len(d),
            regressed=int(np.sum(d < 0)),
            improved=int(np.sum(d > 0)),
            failed=False,
            reason=NOT_COMPARED if has_baseline else "no baseline",
            required=name in required,
            min_pairs=stats.min_detectable_pairs(design),
        )
        if name in tests:
            level = levels.get(name, gate.alpha)
            holm = adjusted.get(name) if len(family) > 1 else None
            summary = _tested(
                summary, d, tests[name], gate, adjusted=holm, level=level, design_level=design
            )
        elif has_baseline and summary.required and gate.non_inferiority is not None:
            summary = replace(
                summary,
                failed=True,
                non_inferior=False,
                reason=f"{NOT_COMPARED}: gate.non_inferiority cannot be shown",
            )
        summaries.append(_floor(summary, gate.min_score.get(name)))
    return Judgement(scorers=tuple(summaries), family=family, corrected_alpha=corrected)


def _tested(
    summary: ScorerSummary,
    d: Floats,
    test: stats.SignFlip,
    gate: GateConfig,
    *,
    adjusted: float | None,
    level: float,
    design_level: float,
) -> ScorerSummary:
    """The test, its interval, the detectable drop and the scorer's own verdict.

    ``adjusted`` is the Holm-corrected p-value (``None``: a family of one, or informational).
    """
    delta = math.fsum(np.sort(d)) / len(d)
    p = test.p_worse()
    p_adjusted = p if adjusted is None else adjusted
    significant = p_adjusted < gate.alpha
    low, high = _interval(test, level, significant, span=float(np.max(np.abs(d))))
    summary = replace(
        summary,
        delta=delta,
        ci_low=low,
        ci_high=high,
        p_value=p,
        p_adjusted=p_adjusted,
        level=level,
        detectable_drop=stats.detectable_drop(d, design_level),
    )
    failed = summary.required and significant and delta < -gate.max_drop
    reason = _change_reason(
        summary,
        gate,
        significant,
        better=test.p_better() < level,
        corrected=adjusted is not None,
        design_level=design_level,
    )
    if summary.required and gate.non_inferiority is not None:
        bound = stats.drop_upper_bound(d, gate.alpha)
        shown = bound is not None and bound < gate.non_inferiority
        summary = replace(summary, drop_bound=bound, non_inferior=shown)
        if not shown:
            failed = True
            upper = "unbounded" if bound is None else f"{bound:.3g}"
            reason += (
                f"; not shown to be at most {gate.non_inferiority:g} worse "
                f"(gate.non_inferiority; upper bound of the drop: {upper} at alpha "
                f"{gate.alpha:g})"
            )
    if not summary.required:
        reason = f"informational: {reason}" + ("; does not block" if delta < 0 else "")
    return replace(summary, failed=failed, reason=reason)


def _interval(
    test: stats.SignFlip, level: float, significant: bool, *, span: float
) -> tuple[float, float]:
    """The test's statistic plus or minus what chance moves it by at ``level``.

    Clipped to the largest observed change; the upper end is below 0 exactly when the
    drop is significant (in the rare case that float rounding of Holm's level puts the
    lattice point on the other side, the decision wins).
    """
    margin = test.margin(level)
    high = min(test.mean + margin, span)
    low = max(test.mean - margin, -span)
    if significant and high >= 0:
        high = -math.ulp(0.0)
    elif not significant and high < 0:
        high = 0.0
    return low, high


def _change_reason(
    summary: ScorerSummary,
    gate: GateConfig,
    significant: bool,
    *,
    better: bool,
    corrected: bool,
    design_level: float,
) -> str:
    delta = summary.delta or 0.0
    p = f"{'Holm ' if corrected else ''}p={summary.p_adjusted:.2g}"
    if delta < -gate.max_drop and significant:
        more = f", more than max_drop {gate.max_drop:g}" if gate.max_drop else ""
        reason = f"mean dropped by {-delta:.3g} ({p} < alpha {gate.alpha:g}{more})"
    elif delta < 0 and significant:
        reason = f"dropped by {-delta:.3g}, within max_drop {gate.max_drop:g}"
    elif delta < 0:
        reason = f"drop of {-delta:.3g} is within noise ({p})"
    elif delta > 0:
        reason = f"improved by {delta:.3g}" + (" (significant)" if better else "")
    else:
        reason = "unchanged"
    if summary.detectable_drop is None and delta <= 0 and not significant:
        reason += (
            f"; only {summary.paired} paired examples: the test needs at least "
            f"{summary.min_pairs} to detect a regression at alpha {design_level:.2g} "
            "(add examples or set gate.min_score)"
        )
    return reason


def _floor(summary: ScorerSummary, floor: float | None) -> ScorerSummary:
    mean = summary.candidate_mean
    if floor is None or (mean is not None and mean >= floor):
        return summary
    shown = "no score" if mean is None else f"{mean:.3g}"
    return replace(
        summary, failed=True, reason=f"candidate mean {shown} is below gate.min_score {floor:g}"
    )


def pass_reason(judgement: Judgement, gate: GateConfig, *, has_baseline: bool, repeats: int) -> str:
    """The verdict line of a pass: what was ruled out, and the smallest drop it could see."""
    if not has_baseline:
        return "new prompt: no production version to compare with"
    required = [s for s in judgement.scorers if s.required]
    if not required:
        return "no scorer blocks: every scorer is informational (gate.required is empty)"
    tested = [s for s in required if s.paired]
    if not tested:
        return "no required scorer could be compared: no example has its score in both versions"
    level = _level_text(judgement, gate)
    blind = [s for s in tested if s.detectable_drop is None]
    if blind:
        return (
            f"too little data to judge: {min(s.paired for s in blind)} paired examples "
            f"cannot show any drop at {level} (at least {max(s.min_pairs for s in blind)} "
            "needed); add examples or set gate.min_score"
        )
    if gate.non_inferiority is not None:
        head = f"every required scorer is shown to be at most {gate.non_inferiority:g} worse"
    elif len(required) < len(judgement.scorers):
        head = "no required scorer is worse by more than noise"
    else:
        head = "no scorer is worse by more than noise"
    sizes = [f"{s.detectable_drop:.2g}" for s in tested]
    amount = (
        sizes[0]
        if len(set(sizes)) == 1
        else ", ".join(f"{size} ({s.name})" for size, s in zip(sizes, tested, strict=True))
    )
    samples = f" ({repeats} samples each)" if repeats > 1 else ""
    return (
        f"{head}; at {max(s.paired for s in tested)} examples{samples} and {level} it "
        f"detects drops of {amount} or more (80 % power): smaller ones can pass unseen"
    )


def _level_text(judgement: Judgement, gate: GateConfig) -> str:
    if len(judgement.family) > 1:
        return (
            f"alpha {judgement.corrected_alpha:.2g} ({gate.alpha:g} Holm-corrected over "
            f"{len(judgement.family)} scorers)"
        )
    return f"alpha {gate.alpha:g}"
