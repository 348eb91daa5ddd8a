"""The paired comparison and the gate: statistics, per-example changes, verdicts, precedence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from prompt_review.compare import (
    Comparison,
    EvalResult,
    ExampleResult,
    compare,
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


# --- compare: verdicts ------------------------------------------------------------------------


def test_unchanged_prompt_passes() -> None:
    result = review([1, 1, 0, 1, 0], [1, 1, 0, 1, 0])

    assert result.verdict == "passed"
    assert result.reasons == (
        "no scorer is worse by more than noise; at 5 examples and alpha 0.05 it detects "
        "drops of 1 or more (80 % power): smaller ones can pass unseen",
    )
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
    assert summary.p_value == pytest.approx(1 / 256)
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
    assert result.reasons == (
        "no scorer is worse by more than noise; at 10 examples and alpha 0.05 it detects "
        "drops of 0.5 or more (80 % power): smaller ones can pass unseen",
    )
    (summary,) = result.scorers
    assert summary.p_value == pytest.approx(0.5)
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

    assert (
        compare(run([1, 0, 1]), reversed_baseline, EM, GATE)
        .scorers[0]
        .reason.startswith("unchanged; only 3 paired examples")
    )


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


# --- several scorers: Holm's family, required and informational scorers -------------------


def multi(
    columns: dict[str, Sequence[float | None]], *, version: int, repeats: int = 1
) -> EvalResult:
    n = len(next(iter(columns.values())))
    return EvalResult(
        prompt_name="capital",
        prompt_version=version,
        content_hash=f"hash{version}",
        eval_key=f"key{version}",
        examples=tuple(
            ExampleResult(
                id=f"ex{i}",
                inputs={"i": i},
                expectations={},
                output=f"out{i}",
                scores={name: values[i] for name, values in columns.items()},
                rationales={name: f"why {name} {i}" for name in columns},
                repeats=repeats,
            )
            for i in range(n)
        ),
    )


# Six of twenty examples lose a point: p = 1/64 ≈ 0.016. Significant alone (< 0.05), not
# once alpha is shared by five scorers (Holm: 5 x 0.016 = 0.078).
DROPPED = [0.0] * 6 + [1.0] * 14
KEPT = [1.0] * 20
FIVE = ["a", "b", "c", "d", "e"]


def five_scorers(gate: GateConfig) -> Comparison:
    candidate = multi({"a": DROPPED, **{n: KEPT for n in FIVE[1:]}}, version=2)
    baseline = multi({n: KEPT for n in FIVE}, version=1)
    return compare(candidate, baseline, FIVE, gate)


def test_alpha_is_shared_by_every_required_scorer_through_holm() -> None:
    alone = compare(multi({"a": DROPPED}, version=2), multi({"a": KEPT}, version=1), ["a"], GATE)
    shared = five_scorers(GATE)

    assert alone.verdict == "failed"
    assert shared.verdict == "passed"
    a = shared.scorers[0]
    assert a.p_value == pytest.approx(1 / 64)
    assert a.p_adjusted == pytest.approx(5 / 64)
    assert a.reason == "drop of 0.3 is within noise (Holm p=0.078)"
    assert shared.family == tuple(FIVE) and shared.corrected_alpha == pytest.approx(0.01)
    assert "alpha 0.01 (0.05 Holm-corrected over 5 scorers)" in shared.reasons[0]


def test_only_required_scorers_block_and_share_alpha() -> None:
    result = five_scorers(GateConfig(required=("a",)))

    assert result.verdict == "failed"  # a alone in the family: p = 1/64 < 0.05
    assert result.family == ("a",)
    assert result.reasons == ("a: mean dropped by 0.3 (p=0.016 < alpha 0.05)",)
    assert [s.required for s in result.scorers] == [True, False, False, False, False]


def test_an_informational_scorer_that_drops_is_shown_but_does_not_block() -> None:
    result = five_scorers(GateConfig(required=("b", "c")))

    assert result.verdict == "passed"
    a = result.scorers[0]
    assert not a.failed and not a.required
    assert a.reason == "informational: mean dropped by 0.3 (p=0.016 < alpha 0.05); does not block"
    assert result.reasons[0].startswith("no required scorer is worse by more than noise")


def test_no_required_scorer_means_nothing_blocks_but_floors() -> None:
    passed = five_scorers(GateConfig(required=()))
    floored = five_scorers(GateConfig(required=(), min_score={"a": 0.9}))

    assert passed.verdict == "passed"
    assert passed.reasons == (
        "no scorer blocks: every scorer is informational (gate.required is empty)",
    )
    assert floored.verdict == "failed"  # a floor someone wrote always blocks
    assert floored.reasons == ("a: candidate mean 0.7 is below gate.min_score 0.9",)


def test_holm_flags_a_second_scorer_once_the_first_is_rejected() -> None:
    strong = [0.0] * 12 + [1.0] * 8  # p = 2^-12
    # b: 9 drops and 1 gain, p = 11/1024 ≈ 0.0107: below 0.05/4, not below 0.05/5, so
    # Bonferroni would keep it and Holm (second step) rejects it.
    weak = [0.0] * 9 + [1.0] * 11
    candidate = multi({"a": strong, "b": weak, **{n: KEPT for n in FIVE[2:]}}, version=2)
    baseline = multi({"b": [1.0] * 19 + [0.0], **{n: KEPT for n in FIVE if n != "b"}}, version=1)

    result = compare(candidate, baseline, FIVE, GATE)

    assert [s.name for s in result.scorers if s.failed] == ["a", "b"]
    b = result.scorers[1]
    assert b.p_value == pytest.approx(11 / 1024)
    assert b.p_adjusted == pytest.approx(4 * 11 / 1024)
    assert b.level == pytest.approx(0.05 / 4)
    assert b.ci_high is not None and b.ci_high < 0


# --- the interval and the test agree; the verdict line says what the gate can see ---------


def test_half_of_eight_regressed_is_within_noise_and_the_interval_says_so() -> None:
    result = review([0] * 4 + [1] * 4, [1] * 8)

    (s,) = result.scorers
    assert result.verdict == "passed"
    assert s.p_value == pytest.approx(1 / 16)
    assert s.ci_high is not None and s.ci_high >= 0  # the interval reaches 0, as the test says
    assert (s.ci_low, s.ci_high) == pytest.approx((-1.0, 0.0))
    assert s.level == 0.05
    assert result.reasons == (
        "no scorer is worse by more than noise; at 8 examples and alpha 0.05 it detects "
        "drops of 0.65 or more (80 % power): smaller ones can pass unseen",
    )


@pytest.mark.parametrize("regressed", range(9))
def test_the_interval_lies_below_zero_exactly_when_the_gate_fails(regressed: int) -> None:
    result = review([0] * regressed + [1] * (12 - regressed), [1] * 12)

    (s,) = result.scorers
    assert s.ci_high is not None
    assert (s.ci_high < 0) == (result.verdict == "failed")


def test_too_few_examples_is_said_in_the_verdict_line_not_only_in_the_table() -> None:
    result = review([0] * 4, [1] * 4)

    assert result.verdict == "passed"
    assert result.reasons == (
        "too little data to judge: 4 paired examples cannot show any drop at alpha 0.05 "
        "(at least 5 needed); add examples or set gate.min_score",
    )
    summary = result.scorers[0]
    assert summary.detectable_drop is None and summary.min_pairs == 5
    assert "only 4 paired examples: the test needs at least 5" in summary.reason


def test_the_detectable_drop_uses_the_corrected_alpha_and_the_repeats() -> None:
    rows = [1 / 3, 2 / 3, 1.0, 0.0, 2 / 3, 1 / 3] * 10
    shifted = rows[1:] + rows[:1]
    one = compare(
        multi({"a": shifted}, version=2, repeats=3),
        multi({"a": rows}, version=1, repeats=3),
        ["a"],
        GATE,
    )
    five = compare(
        multi({n: shifted for n in FIVE}, version=2, repeats=3),
        multi({n: rows for n in FIVE}, version=1, repeats=3),
        FIVE,
        GATE,
    )

    assert one.repeats == 3
    drop_one, drop_five = one.scorers[0].detectable_drop, five.scorers[0].detectable_drop
    assert drop_one is not None and drop_five is not None and drop_five > drop_one
    assert f"drops of {drop_one:.2g} or more" in one.reasons[0]
    assert "at 60 examples (3 samples each) and alpha 0.05 " in one.reasons[0]


# --- non-inferiority ----------------------------------------------------------------------


def test_non_inferiority_needs_evidence_not_only_absence_of_a_significant_drop() -> None:
    few = review([1] * 9 + [0], [1] * 10, GateConfig(non_inferiority=0.05))
    many = review([1] * 399 + [0], [1] * 400, GateConfig(non_inferiority=0.05))

    assert review([1] * 9 + [0], [1] * 10).verdict == "passed"  # no significant drop...
    assert few.verdict == "failed"  # ...but 10 examples cannot show it is at most 0.05 worse
    (s,) = few.scorers
    assert s.non_inferior is False and s.drop_bound is not None and s.drop_bound > 0.05
    assert few.reasons == (
        "exact_match: drop of 0.1 is within noise (p=0.5); not shown to be at most 0.05 worse "
        f"(gate.non_inferiority; upper bound of the drop: {s.drop_bound:.3g} at alpha 0.05)",
    )
    assert many.verdict == "passed"
    assert many.scorers[0].non_inferior is True
    assert many.reasons[0].startswith("every required scorer is shown to be at most 0.05 worse")


def test_non_inferiority_without_pairs_cannot_be_shown_and_a_new_prompt_passes() -> None:
    gate = GateConfig(non_inferiority=0.05)
    candidate = multi({"a": [1.0] * 400, "b": [1.0] * 400}, version=2)
    baseline = multi({"a": [1.0] * 400}, version=1)  # production never had "b"

    result = compare(candidate, baseline, ["a", "b"], gate)
    new = compare(candidate, None, ["a", "b"], gate)

    assert result.verdict == "failed"
    assert result.reasons == (
        "b: not compared: no example has this score in both versions: "
        "gate.non_inferiority cannot be shown",
    )
    assert new.verdict == "passed"  # nothing to be worse than


def test_non_inferiority_applies_to_required_scorers_only() -> None:
    gate = GateConfig(non_inferiority=0.05, required=("b",))
    candidate = multi({"a": [0.0] * 50 + [1.0] * 350, "b": [1.0] * 400}, version=2)
    baseline = multi({"a": [1.0] * 400, "b": [1.0] * 400}, version=1)

    result = compare(candidate, baseline, ["a", "b"], gate)

    assert result.verdict == "passed"
    assert result.scorers[0].non_inferior is None
    assert result.scorers[1].non_inferior is True


# --- repeats, ordering, rationales ---------------------------------------------------------


def test_averaged_scores_are_paired_per_example() -> None:
    candidate = multi({"a": [1 / 3] * 12}, version=2, repeats=3)
    baseline = multi({"a": [1.0] * 12}, version=1, repeats=3)

    result = compare(candidate, baseline, ["a"], GATE)

    (s,) = result.scorers
    assert s.delta == pytest.approx(-2 / 3)
    assert s.p_value == pytest.approx(1 / 4096)
    assert result.verdict == "failed"


def test_regressions_come_worst_first_with_both_rationales() -> None:
    candidate = multi({"a": [0.5, 0.0, 1.0, 0.75], "b": [1.0, 1.0, 0.0, 1.0]}, version=2)
    baseline = multi({"a": [1.0, 1.0, 1.0, 1.0], "b": [1.0, 1.0, 1.0, 1.0]}, version=1)

    result = compare(candidate, baseline, ["a", "b"], GATE)

    assert [e.id for e in result.regressions] == ["ex1", "ex2", "ex0", "ex3"]
    worst = result.regressions[0]
    assert worst.worst_delta == -1.0
    assert worst.candidate_rationales == {"a": "why a 1", "b": "why b 1"}
    assert worst.baseline_rationales == {"a": "why a 1", "b": "why b 1"}


def test_a_failed_judge_call_is_an_error_on_its_example_never_a_low_score() -> None:
    baseline = multi({"a": [1.0] * 5}, version=1)
    broken = replace(
        baseline.examples[2], scores={"a": None}, score_errors={"a": "judge: HTTP 500"}
    )
    candidate = replace(
        multi({"a": [1.0] * 5}, version=2),
        examples=(*multi({"a": [1.0] * 5}, version=2).examples[:2], broken, *baseline.examples[3:]),
    )

    result = compare(candidate, baseline, ["a"], GATE)

    assert result.verdict == "error"
    assert result.errored[0].candidate_score_errors == {"a": "judge: HTTP 500"}
    assert result.scorers[0].paired == 4


def test_results_do_not_depend_on_the_order_of_the_records() -> None:
    values = [0.1 * (i % 7) for i in range(70)]
    base_values = [0.1 * ((i * 3) % 7) for i in range(70)]
    candidate = multi({"a": values}, version=2)
    baseline = multi({"a": base_values}, version=1)
    shuffled = replace(candidate, examples=tuple(reversed(candidate.examples)))

    one = compare(candidate, baseline, ["a"], GATE).scorers[0]
    other = compare(shuffled, baseline, ["a"], GATE).scorers[0]

    assert one == other


def test_the_comparison_is_plain_json_without_nan_or_infinity() -> None:
    import json
    from dataclasses import asdict

    undetectable = review([0] * 3, [1] * 3, GateConfig(non_inferiority=0.1))
    five = compare(
        multi({n: [0.5, 1.0, 0.0] * 10 for n in FIVE}, version=2, repeats=3),
        multi({n: [1.0, 0.5, 0.0] * 10 for n in FIVE}, version=1, repeats=3),
        FIVE,
        GateConfig(required=("a", "b"), non_inferiority=0.2),
    )

    for result in (undetectable, five):
        text = json.dumps(asdict(result), allow_nan=False)
        assert json.loads(text)["scorers"][0]["name"] in ("exact_match", "a")
        assert all(
            type(v) in (float, int, bool, str, type(None))
            for v in asdict(result.scorers[0]).values()
        )
