"""The paired comparison and the gate: statistics, per-example changes, verdicts, precedence."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction

import pytest

from prompt_review.compare import (
    EXACT_LIMIT,
    Comparison,
    EvalResult,
    ExampleResult,
    bootstrap_ci,
    compare,
    sign_flip_p_value,
)
from prompt_review.config import GateConfig
from prompt_review.results import PRECEDENCE, Result, overall

GATE = GateConfig()
EM = ["exact_match"]


def example(
    i: int, score: float | None, *, error: str | None = None, scorer: str = "exact_match"
) -> ExampleResult:
    return ExampleResult(
        id=f"ex{i}",
        inputs={"country": f"c{i}"},
        expectations={"expected_response": f"city{i}"},
        output=None if error else f"out{i}",
        error=error,
        scores={} if error else {scorer: score},
    )


def run(
    scores: Sequence[float | None], *, errors: Sequence[int] = (), version: int = 2
) -> EvalResult:
    return EvalResult(
        prompt_name="capital",
        prompt_version=version,
        content_hash=f"hash{version}",
        eval_key=f"key{version}",
        examples=tuple(
            example(i, s, error="HTTP 500" if i in errors else None) for i, s in enumerate(scores)
        ),
    )


def review(
    candidate: Sequence[float | None],
    baseline: Sequence[float | None] | None,
    gate: GateConfig = GATE,
    *,
    candidate_errors: Sequence[int] = (),
    baseline_errors: Sequence[int] = (),
) -> Comparison:
    return compare(
        run(candidate, errors=candidate_errors),
        None if baseline is None else run(baseline, errors=baseline_errors, version=1),
        EM,
        gate,
    )


# --- sign-flip test ---------------------------------------------------------------------------


@pytest.mark.parametrize("deltas", [[], [0.0], [0.0] * 30])
def test_no_differences_is_p_one(deltas: list[float]) -> None:
    assert sign_flip_p_value(deltas) == 1.0


def test_eight_paired_drops_is_one_in_256() -> None:
    assert sign_flip_p_value([-1.0] * 8) == 1 / 256
    assert sign_flip_p_value([-1.0] * 8 + [0.0, 0.0]) == 1 / 256  # ties carry no information


def test_binary_data_is_an_exact_binomial_tail() -> None:
    # 8 drops and 1 gain: P(at least 8 of 9 fair signs negative) = (C(9,8)+C(9,9)) / 2^9
    assert sign_flip_p_value([-1.0] * 8 + [1.0]) == 10 / 512
    assert sign_flip_p_value([-1.0]) == 0.5
    assert sign_flip_p_value([1.0] * 5) == 1.0
    assert sign_flip_p_value([-0.5, -0.5, 0.5]) == 4 / 8


def test_mixed_magnitudes_exact_enumeration() -> None:
    # flips of (1, .5, .25): sums 1.75 1.25 .75 .25 -.25 -.75 -1.25 -1.75; observed -.75 → 3/8
    assert sign_flip_p_value([-1.0, 0.5, -0.25]) == 3 / 8
    assert sign_flip_p_value([-0.5, -0.25]) == 1 / 4
    assert sign_flip_p_value([0.5, 0.25]) == 1.0


def exact_sign_flip(deltas: Sequence[int]) -> Fraction:
    """Independent exact reference by dynamic programming over integer sums."""
    nonzero = [d for d in deltas if d]
    counts: Counter[int] = Counter({0: 1})
    for m in (abs(d) for d in nonzero):
        step: Counter[int] = Counter()
        for total, ways in counts.items():
            step[total + m] += ways
            step[total - m] += ways
        counts = step
    observed = sum(nonzero)
    return Fraction(sum(w for t, w in counts.items() if t <= observed), 2 ** len(nonzero))


@pytest.mark.parametrize("seed", range(5))
def test_exact_path_matches_an_independent_reference(seed: int) -> None:
    rng = random.Random(seed)
    deltas = [rng.choice([-3, -2, -1, 0, 1, 2]) for _ in range(EXACT_LIMIT)]

    assert sign_flip_p_value([float(d) for d in deltas]) == pytest.approx(
        float(exact_sign_flip(deltas)), abs=1e-12
    )


@pytest.mark.parametrize("seed", range(3))
def test_monte_carlo_is_deterministic_and_close_to_exact(seed: int) -> None:
    rng = random.Random(seed)
    deltas = [rng.choice([-3, -2, -1, 1, 2]) for _ in range(24)]
    assert len({abs(d) for d in deltas}) > 1 and len(deltas) > EXACT_LIMIT  # the Monte Carlo path

    first = sign_flip_p_value([float(d) for d in deltas])

    assert first == sign_flip_p_value([float(d) for d in deltas])
    assert first == sign_flip_p_value([float(d) for d in reversed(deltas)])
    assert first == pytest.approx(float(exact_sign_flip(deltas)), abs=0.025)
    assert 0 < first <= 1


def test_monte_carlo_never_reports_zero() -> None:
    deltas = [-1.0, -2.0] * 20

    assert 0 < sign_flip_p_value(deltas) < 0.001


def test_float_noise_does_not_change_the_rank() -> None:
    # 0.1 + 0.2 != 0.3 in floating point; the observed sum must still count itself
    assert sign_flip_p_value([-0.1, -0.2, 0.3]) == sign_flip_p_value([-1.0, -2.0, 3.0])


# --- bootstrap interval -----------------------------------------------------------------------


def gaussian(*, seed: int, n: int, mu: float) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mu, 1) for _ in range(n)]


def test_bootstrap_of_constant_differences_is_a_point() -> None:
    assert bootstrap_ci([-0.5] * 7) == (-0.5, -0.5)
    assert bootstrap_ci([0.0]) == (0.0, 0.0)


@pytest.mark.parametrize(
    "deltas",
    [
        [-1.0] * 8 + [0.0, 0.0],
        [0.1, 0.5, -0.2, 0.3, 0.0, 0.9],
        [-1.0, 1.0] * 15 + [-1.0],
        gaussian(seed=3, n=50, mu=-0.2),
    ],
)
def test_bootstrap_is_deterministic_ordered_and_contains_the_mean(deltas: list[float]) -> None:
    low, high = bootstrap_ci(deltas)
    mean = sum(deltas) / len(deltas)

    assert (low, high) == bootstrap_ci(list(deltas))
    assert (low, high) == bootstrap_ci(list(reversed(deltas)))  # record order does not matter
    assert min(deltas) <= low <= mean <= high <= max(deltas)
    assert low < high


def test_bootstrap_is_narrower_at_a_lower_level() -> None:
    deltas = gaussian(seed=4, n=40, mu=0)

    low95, high95 = bootstrap_ci(deltas)
    low50, high50 = bootstrap_ci(deltas, level=0.5)

    assert low95 < low50 < high50 < high95


def test_bootstrap_needs_data() -> None:
    with pytest.raises(ValueError, match="at least one difference"):
        bootstrap_ci([])


def test_eight_of_ten_drops_ci_excludes_zero() -> None:
    assert bootstrap_ci([-1.0] * 8 + [0.0, 0.0])[1] < 0


# --- compare: verdicts ------------------------------------------------------------------------


def test_unchanged_prompt_passes() -> None:
    result = review([1, 1, 0, 1, 0], [1, 1, 0, 1, 0])

    assert result.verdict == "passed"
    assert result.reasons == ("no scorer is worse by more than noise",)
    (summary,) = result.scorers
    assert summary.name == "exact_match"
    assert (summary.baseline_mean, summary.candidate_mean) == (0.6, 0.6)
    assert (summary.delta, summary.p_value, summary.ci_low, summary.ci_high) == (0, 1.0, 0, 0)
    assert (summary.paired, summary.regressed, summary.improved) == (5, 0, 0)
    assert (summary.failed, summary.reason) == (False, "unchanged")
    assert {e.change for e in result.examples} == {"unchanged"}
    assert result.has_baseline and result.total == 5


def test_ten_of_ten_to_two_of_ten_fails_naming_scorer_and_p_value() -> None:
    result = review([1, 1] + [0] * 8, [1] * 10)

    assert result.verdict == "failed"
    assert result.reasons == ("exact_match: mean dropped by 0.8 (p=0.0039 < alpha 0.05)",)
    (summary,) = result.scorers
    assert summary.failed
    assert summary.p_value == 1 / 256
    assert summary.delta == pytest.approx(-0.8)
    assert summary.baseline_mean == 1.0
    assert summary.candidate_mean == pytest.approx(0.2)
    assert summary.ci_high is not None and summary.ci_high < 0
    assert (summary.regressed, summary.improved) == (8, 0)
    assert [e.id for e in result.regressions] == [f"ex{i}" for i in range(2, 10)]
    assert result.improvements == ()


def test_one_flipped_example_of_ten_is_noise() -> None:
    result = review([1] * 9 + [0], [1] * 10)

    assert result.verdict == "passed"
    assert result.reasons == ("no scorer is worse by more than noise",)
    (summary,) = result.scorers
    assert summary.p_value == 0.5
    assert summary.reason == "drop of 0.1 is within noise (p=0.5)"
    assert not summary.failed
    assert [e.id for e in result.regressions] == ["ex9"]


def test_new_prompt_without_baseline_passes() -> None:
    result = review([1, 0, 1], None)

    assert result.verdict == "passed"
    assert result.reasons == ("new prompt: no production version to compare with",)
    assert not result.has_baseline
    assert result.baseline_errors == 0
    (summary,) = result.scorers
    assert summary.baseline_mean is None and summary.delta is None and summary.p_value is None
    assert (summary.ci_low, summary.ci_high, summary.paired) == (None, None, 0)
    assert summary.candidate_mean == pytest.approx(2 / 3)
    assert summary.reason == "no baseline"
    assert all(e.change == "unchanged" and e.baseline_output is None for e in result.examples)


def test_significant_improvement_passes_and_says_so() -> None:
    result = review([1] * 10, [0] * 8 + [1, 1])

    assert result.verdict == "passed"
    assert result.scorers[0].reason == "improved by 0.8 (significant)"
    assert len(result.improvements) == 8


def test_small_improvement_is_not_called_significant() -> None:
    assert review([1] * 10, [1] * 9 + [0]).scorers[0].reason == "improved by 0.1"


def test_min_score_floor_fails_even_without_a_drop() -> None:
    gate = GateConfig(min_score={"exact_match": 0.8})

    result = review([1] * 6 + [0] * 4, [1] * 6 + [0] * 4, gate)

    assert result.verdict == "failed"
    assert result.reasons == ("exact_match: candidate mean 0.6 is below gate.min_score 0.8",)


def test_min_score_floor_applies_to_a_new_prompt() -> None:
    result = review([1, 0, 0, 0], None, GateConfig(min_score={"exact_match": 0.5}))

    assert result.verdict == "failed"
    assert result.reasons == ("exact_match: candidate mean 0.25 is below gate.min_score 0.5",)


def test_min_score_met_exactly_passes() -> None:
    assert review([1, 1, 0, 0], None, GateConfig(min_score={"exact_match": 0.5})).verdict == (
        "passed"
    )


def test_min_score_for_another_scorer_is_ignored_here() -> None:
    assert review([0, 0], [0, 0], GateConfig(min_score={"other": 1})).verdict == "passed"


def test_max_drop_tolerates_a_significant_small_drop() -> None:
    # five paired drops out of ten: p = 1/32 (significant), mean drop 0.5
    tolerant = review([1] * 5 + [0] * 5, [1] * 10, GateConfig(max_drop=0.5))
    strict = review([1] * 5 + [0] * 5, [1] * 10, GateConfig(max_drop=0.4))

    assert tolerant.verdict == "passed"
    assert tolerant.scorers[0].reason == "dropped by 0.5, within max_drop 0.5"
    assert strict.verdict == "failed"
    assert strict.reasons == (
        "exact_match: mean dropped by 0.5 (p=0.031 < alpha 0.05, more than max_drop 0.4)",
    )


def test_p_value_must_be_strictly_below_alpha() -> None:
    drops = ([0] * 4, [1] * 4)  # p = 1/16 exactly

    assert review(*drops, GateConfig(alpha=1 / 16)).verdict == "passed"
    assert review(*drops, GateConfig(alpha=0.07)).verdict == "failed"


def test_alpha_decides_what_is_noise() -> None:
    drops = ([1] * 6 + [0] * 4, [1] * 10)  # p = 1/16

    assert review(*drops).verdict == "passed"
    assert review(*drops, GateConfig(alpha=0.1)).verdict == "failed"


# --- errors -----------------------------------------------------------------------------------


def test_candidate_errors_beyond_the_budget_are_an_error_not_a_failure() -> None:
    result = review([1] * 10, [1] * 10, candidate_errors=[3])

    assert result.verdict == "error"
    assert result.reasons == (
        "1 of 10 candidate examples failed to run (allowed: 0; gate.max_error_rate 0)",
    )
    assert result.candidate_errors == 1
    assert [e.id for e in result.errored] == ["ex3"]
    assert result.errored[0].candidate_error == "HTTP 500"
    assert result.scorers[0].paired == 9


def test_errors_within_the_budget_pass() -> None:
    result = review([1] * 10, [1] * 10, GateConfig(max_error_rate=0.2), candidate_errors=[1, 2])

    assert result.verdict == "passed"
    assert result.candidate_errors == 2
    assert len(result.errored) == 2


def test_error_budget_is_rounded_down() -> None:
    gate = GateConfig(max_error_rate=0.25)  # 10 examples → 2 allowed

    assert review([1] * 10, [1] * 10, gate, candidate_errors=[1, 2]).verdict == "passed"
    result = review([1] * 10, [1] * 10, gate, candidate_errors=[1, 2, 3])
    assert result.verdict == "error"
    assert result.reasons == (
        "3 of 10 candidate examples failed to run (allowed: 2; gate.max_error_rate 0.25)",
    )


def test_error_wins_over_a_regression_but_both_are_reported() -> None:
    result = review([0] * 9 + [1], [1] * 10, candidate_errors=[9])

    assert result.verdict == "error"
    assert result.reasons == (
        "1 of 10 candidate examples failed to run (allowed: 0; gate.max_error_rate 0)",
        "exact_match: mean dropped by 1 (p=0.002 < alpha 0.05)",
    )


def test_baseline_errors_are_an_error_too() -> None:
    result = review([1] * 4, [1] * 4, baseline_errors=[0, 1])

    assert result.verdict == "error"
    assert result.reasons == (
        "2 of 4 production examples failed to run (allowed: 0; gate.max_error_rate 0)",
    )
    assert result.baseline_errors == 2
    assert [e.change for e in result.examples] == ["error", "error", "unchanged", "unchanged"]
    assert result.examples[0].baseline_error == "HTTP 500"


def test_all_candidate_examples_failing_with_a_floor() -> None:
    gate = GateConfig(max_error_rate=1.0, min_score={"exact_match": 0.5})

    result = review([1, 1], [1, 1], gate, candidate_errors=[0, 1])

    assert result.verdict == "failed"
    assert result.reasons == ("exact_match: candidate mean no score is below gate.min_score 0.5",)
    assert result.scorers[0].candidate_mean is None


# --- per-example changes ----------------------------------------------------------------------


def test_each_example_is_classified_and_carries_both_sides() -> None:
    candidate = run([1, 0, 1, 0.5, 1], errors=[4])
    baseline = run([0, 1, 1, 0.5, 1], version=1)

    result = compare(candidate, baseline, EM, GATE)

    assert [e.change for e in result.examples] == [
        "improved",
        "regressed",
        "unchanged",
        "unchanged",
        "error",
    ]
    regressed = result.regressions[0]
    assert regressed.id == "ex1"
    assert regressed.inputs == {"country": "c1"}
    assert regressed.expectations == {"expected_response": "city1"}
    assert (regressed.baseline_output, regressed.candidate_output) == ("out1", "out1")
    assert (regressed.baseline_scores, regressed.candidate_scores) == (
        {"exact_match": 1},
        {"exact_match": 0},
    )


def test_examples_are_paired_by_id_not_position() -> None:
    baseline = run([1, 0, 1], version=1)
    reversed_baseline = replace(baseline, examples=tuple(reversed(baseline.examples)))

    assert compare(run([1, 0, 1]), reversed_baseline, EM, GATE).scorers[0].reason == "unchanged"


def test_candidate_examples_missing_from_the_baseline_are_not_paired() -> None:
    candidate = run([1, 1, 0])
    baseline = run([1, 1], version=1)

    result = compare(candidate, baseline, EM, GATE)

    assert result.scorers[0].paired == 2
    assert result.examples[2].baseline_output is None
    assert result.examples[2].change == "unchanged"


def test_a_regression_on_any_scorer_makes_the_example_regressed() -> None:
    def two(i: int, em: float, length: float) -> ExampleResult:
        return ExampleResult(
            id=f"ex{i}",
            inputs={},
            expectations={},
            output="o",
            scores={"exact_match": em, "max_length": length},
        )

    candidate = replace(run([]), examples=(two(0, 1, 0), two(1, 1, 1)))
    baseline = replace(run([], version=1), examples=(two(0, 0, 1), two(1, 1, 1)))

    result = compare(candidate, baseline, ["exact_match", "max_length"], GATE)

    assert [e.change for e in result.examples] == ["regressed", "unchanged"]
    assert [s.name for s in result.scorers] == ["exact_match", "max_length"]
    assert [(s.improved, s.regressed) for s in result.scorers] == [(1, 0), (0, 1)]


def test_a_scorer_production_never_had_is_not_called_noise() -> None:
    candidate = run([1, 1])
    baseline = run([1, 1], version=1)

    result = compare(candidate, baseline, ["exact_match", "is_json"], GATE)

    assert result.verdict == "passed"
    new_scorer = result.scorers[1]
    assert (new_scorer.name, new_scorer.paired, new_scorer.delta) == ("is_json", 0, None)
    assert new_scorer.reason == "not compared: no example has this score in both versions"


def test_missing_scores_are_left_out_of_means_and_pairs() -> None:
    result = review([1, None, 0], [1, 1, None])

    (summary,) = result.scorers
    assert summary.candidate_mean == 0.5
    assert summary.baseline_mean == 1.0
    assert summary.paired == 1
    assert [e.change for e in result.examples] == ["unchanged", "unchanged", "unchanged"]


# --- results round trip and precedence --------------------------------------------------------


def test_example_result_json_round_trip() -> None:
    original = ExampleResult(
        id="7",
        inputs={"q": [1, "é"]},
        expectations={"expected_response": "x"},
        output="y",
        error=None,
        scores={"exact_match": 1.0, "judge": None},
        trace_id="tr-1",
    )

    assert ExampleResult.from_json(original.to_json()) == original
    assert ExampleResult.from_json({"id": 7, "inputs": {}, "scores": {"a": True}}) == ExampleResult(
        id="7", inputs={}, expectations={}, output=None, scores={"a": 1.0}
    )


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([], "skipped"),
        (["skipped"], "skipped"),
        (["passed", "skipped"], "passed"),
        (["passed", "error", "passed"], "error"),
        (["error", "failed", "passed"], "failed"),
        (["skipped", "failed"], "failed"),
    ],
)
def test_overall_precedence(results: list[Result], expected: Result) -> None:
    assert overall(results) == expected


def test_precedence_order() -> None:
    assert PRECEDENCE == ("failed", "error", "passed", "skipped")


def test_min_detectable_pairs_matches_the_exact_test() -> None:
    from prompt_review.compare import min_detectable_pairs, sign_flip_p_value

    for alpha in (0.05, 0.01, 0.1, 0.2):
        n = min_detectable_pairs(alpha)
        assert sign_flip_p_value([-1.0] * n) < alpha
        assert sign_flip_p_value([-1.0] * (n - 1)) >= alpha


def test_too_small_a_dataset_is_called_out_not_silently_passed() -> None:
    from prompt_review.compare import EvalResult, ExampleResult, compare
    from prompt_review.config import GateConfig

    def result(values: list[float]) -> EvalResult:
        return EvalResult(
            prompt_name="p",
            prompt_version=1,
            content_hash="h",
            eval_key="k",
            examples=tuple(
                ExampleResult(
                    id=str(i), inputs={"x": i}, expectations={}, output="o", scores={"s": v}
                )
                for i, v in enumerate(values)
            ),
        )

    comparison = compare(result([0.0] * 4), result([1.0] * 4), ["s"], GateConfig())
    summary = comparison.scorers[0]
    assert not summary.failed
    assert "only 4 paired examples: the test needs at least 5" in summary.reason
