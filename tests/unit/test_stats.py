"""The gate's numerics: the exact sign-flip distribution, Holm, bounds and power."""

from __future__ import annotations

import itertools
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import pytest

from prompt_review import stats


def p_worse(deltas: Sequence[float]) -> float:
    return stats.sign_flip(deltas).p_worse()


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


def enumerated(deltas: Sequence[float]) -> float:
    """Brute force over every sign flip (few differences only)."""
    magnitudes = [abs(d) for d in deltas]
    observed = sum(deltas)
    hits = sum(
        1
        for signs in itertools.product((1, -1), repeat=len(deltas))
        if sum(s * m for s, m in zip(signs, magnitudes, strict=True)) <= observed + 1e-12
    )
    return hits / 2 ** len(deltas)


# --- the exact test ---------------------------------------------------------------------------


@pytest.mark.parametrize("deltas", [[], [0.0], [0.0] * 30])
def test_no_differences_is_p_one(deltas: list[float]) -> None:
    assert p_worse(deltas) == 1.0
    assert stats.sign_flip(deltas).margin(0.05) == 0.0


def test_eight_paired_drops_is_one_in_256() -> None:
    assert p_worse([-1.0] * 8) == pytest.approx(1 / 256, abs=1e-15)
    assert p_worse([-1.0] * 8 + [0.0, 0.0]) == pytest.approx(1 / 256, abs=1e-15)  # ties: no info


def test_binary_data_is_an_exact_binomial_tail() -> None:
    # 8 drops and 1 gain: P(at least 8 of 9 fair signs negative) = (C(9,8)+C(9,9)) / 2^9
    assert p_worse([-1.0] * 8 + [1.0]) == pytest.approx(10 / 512, abs=1e-15)
    assert p_worse([-1.0]) == pytest.approx(0.5, abs=1e-15)
    assert p_worse([1.0] * 5) == 1.0
    assert p_worse([-0.5, -0.5, 0.5]) == pytest.approx(4 / 8, abs=1e-15)


def test_mixed_magnitudes_are_exact() -> None:
    # flips of (1, .5, .25): sums 1.75 1.25 .75 .25 -.25 -.75 -1.25 -1.75; observed -.75 → 3/8
    assert p_worse([-1.0, 0.5, -0.25]) == pytest.approx(3 / 8, abs=1e-15)
    assert p_worse([-0.5, -0.25]) == pytest.approx(1 / 4, abs=1e-15)
    assert p_worse([0.5, 0.25]) == 1.0


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [16, 40, 300])
def test_integer_differences_match_an_independent_exact_reference(seed: int, n: int) -> None:
    rng = random.Random(seed)
    deltas = [rng.choice([-3, -2, -1, 0, 1, 2]) for _ in range(n)]

    assert p_worse([float(d) for d in deltas]) == pytest.approx(
        float(exact_sign_flip(deltas)), abs=1e-12
    )


@pytest.mark.parametrize("repeats", [2, 3, 5, 7])
def test_averages_of_repeated_samples_are_tested_exactly(repeats: int) -> None:
    """Scores averaged over k samples sit on a 1/k lattice: no rounding is needed."""
    rng = random.Random(repeats)
    steps = [rng.randint(-repeats, repeats) for _ in range(60)]
    deltas = [s / repeats for s in steps]  # what averaging k 0/1 draws per side gives

    test = stats.sign_flip(deltas)

    assert test.unit == pytest.approx(1 / repeats)
    assert test.mean == pytest.approx(sum(deltas) / len(deltas))
    assert test.p_worse() == pytest.approx(float(exact_sign_flip(steps)), abs=1e-12)


def test_float_noise_does_not_change_the_rank() -> None:
    # 0.1 + 0.2 != 0.3 in floating point; the observed sum must still count itself
    assert p_worse([-0.1, -0.2, 0.3]) == pytest.approx(p_worse([-1.0, -2.0, 3.0]), abs=1e-15)


@pytest.mark.parametrize("seed", range(4))
def test_continuous_scores_are_rounded_to_a_fine_lattice_close_to_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    deltas = [rng.uniform(-1, 0.8) for _ in range(14)]

    test = stats.sign_flip(deltas)

    assert test.unit == pytest.approx(max(abs(d) for d in deltas) / stats.LEVELS)
    assert test.p_worse() == pytest.approx(enumerated(deltas), abs=0.02)
    assert abs(test.mean - sum(deltas) / len(deltas)) <= test.unit / 2


def test_rounded_continuous_test_keeps_its_level_under_no_change() -> None:
    """Rounding magnitudes keeps the symmetry the test rests on: p stays uniform."""
    rng = np.random.default_rng(5)
    p = np.array([p_worse(rng.normal(size=30) * rng.uniform(0.1, 2, size=30)) for _ in range(400)])

    for level in (0.01, 0.05, 0.2):
        assert np.mean(p < level) <= level + 2.5 * math.sqrt(level * (1 - level) / len(p))


def test_the_order_of_the_examples_does_not_matter() -> None:
    rng = np.random.default_rng(3)
    deltas = rng.normal(size=500)
    shuffled = rng.permutation(deltas)

    one, other = stats.sign_flip(deltas), stats.sign_flip(shuffled)

    assert (one.p_worse(), one.margin(0.01), one.mean) == (
        other.p_worse(),
        other.margin(0.01),
        other.mean,
    )


def test_a_drop_far_in_the_tail_is_a_tiny_positive_p_never_negative() -> None:
    test = stats.sign_flip([-1.0, -2.0] * 2000)

    assert 0.0 <= test.p_worse() < 1e-12
    assert test.p_better() == 1.0


def test_large_datasets_are_fast() -> None:
    """Not a benchmark (see benchmarks/bench_compare.py): a guard against a quadratic path."""
    rng = np.random.default_rng(0)
    deltas = rng.random(20_000) - rng.random(20_000)
    started = time.perf_counter()
    stats.sign_flip(deltas).p_worse()
    assert time.perf_counter() - started < 5


# --- the interval agrees with the test --------------------------------------------------------


@pytest.mark.parametrize(
    "deltas",
    [
        [-1.0] * 4 + [0.0] * 4,  # the N=8 case: p = 1/16, "within noise" at 0.05
        [-1.0] * 5 + [0.0] * 3,
        [-1.0] * 8 + [0.0] * 2,
        [-1 / 3, -2 / 3, 0.0, 1 / 3, -1.0, -1 / 3] * 7,
        list(np.random.default_rng(1).normal(-0.2, 1, size=80)),
    ],
)
@pytest.mark.parametrize("level", [0.05, 0.01, 0.0125, 1 / 16])
def test_margin_excludes_zero_exactly_when_the_test_rejects(
    deltas: list[float], level: float
) -> None:
    test = stats.sign_flip(deltas)
    margin = test.margin(level)

    assert (test.mean + margin < 0) == (test.p_worse() < level)
    assert (test.mean - margin > 0) == (test.p_better() < level)
    assert (test.mean + stats.sign_flip([-d for d in deltas]).margin(level) < 0) == (
        test.p_worse() < level
    )


def test_half_of_eight_regressed_is_within_noise_and_its_interval_reaches_zero() -> None:
    test = stats.sign_flip([-1.0] * 4 + [0.0] * 4)

    assert test.p_worse() == pytest.approx(1 / 16)
    assert test.mean + test.margin(0.05) == pytest.approx(0.0)


# --- Holm -------------------------------------------------------------------------------------


def test_holm_adjusts_step_down_and_stays_monotone() -> None:
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.5])

    # sorted: .01*4=.04, .03*3=.09, .04*2=.08→.09 (monotone), .5*1=.5
    assert adjusted.tolist() == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert stats.holm([0.6, 0.9]).tolist() == [1.0, 1.0]
    assert stats.holm([]).tolist() == []


@pytest.mark.parametrize(
    "p", [[0.01, 0.04, 0.03, 0.5], [0.03, 0.04], [0.0, 0.0, 0.2], [0.001, 0.2, 0.011, 0.012, 0.9]]
)
def test_holm_levels_reject_exactly_what_holm_rejects(p: list[float]) -> None:
    adjusted = stats.holm(p)
    levels = stats.holm_levels(p, 0.05)

    assert ((np.asarray(p) < levels) | (np.asarray(p) == 0)).tolist() == (adjusted < 0.05).tolist()
    assert np.all(levels >= 0.05 / len(p) - 1e-15) and np.all(levels <= 0.05)


# --- what the gate can detect, and the non-inferiority bound ---------------------------------


def test_min_detectable_pairs_matches_the_exact_test() -> None:
    for alpha in (0.05, 0.01, 0.1, 0.2, 1 / 16):
        n = stats.min_detectable_pairs(alpha)
        assert p_worse([-1.0] * n) < alpha
        assert p_worse([-1.0] * (n - 1)) >= alpha


def test_detectable_drop_shrinks_with_examples_and_grows_with_stricter_alpha() -> None:
    rng = np.random.default_rng(2)
    noise = rng.integers(-1, 2, size=400) / 3

    at = {n: stats.detectable_drop(noise[:n], 0.05) for n in (25, 100, 400)}
    strict = stats.detectable_drop(noise[:100], 0.01)

    assert at[25] is not None and at[100] is not None and at[400] is not None
    assert at[25] > at[100] > at[400]
    assert at[400] == pytest.approx(at[100] / 2, rel=0.15)  # 1 / sqrt(n)
    assert strict is not None and strict > at[100]


def test_detectable_drop_never_claims_less_than_the_fewest_flips_that_can_show() -> None:
    # Nothing changed and no noise: still, fewer than 5 of 10 flipping is never significant.
    assert stats.detectable_drop([0.0] * 10, 0.05) == pytest.approx(0.5)
    assert stats.detectable_drop([0.0] * 4, 0.05) is None  # no drop can show at all
    assert stats.detectable_drop([0.0] * 6, 0.01) is None


def test_drop_upper_bound_covers_the_observed_drop_and_narrows_with_data() -> None:
    rng = np.random.default_rng(4)
    deltas = rng.integers(-1, 2, size=400) / 2 - 0.05

    small = stats.drop_upper_bound(deltas[:50], 0.05)
    large = stats.drop_upper_bound(deltas, 0.05)

    assert small is not None and large is not None
    observed_small, observed_large = -float(np.mean(deltas[:50])), -float(np.mean(deltas))
    assert small > observed_small and large > observed_large
    assert small - observed_small > 2 * (large - observed_large)  # about sqrt(8) times wider


def test_nothing_changed_on_few_examples_does_not_prove_a_zero_drop() -> None:
    """The pseudo-pairs act like the rule of three: 0 of n regressed bounds the drop ~ 3/n."""
    few = stats.drop_upper_bound([0.0] * 20, 0.05)
    many = stats.drop_upper_bound([0.0] * 1000, 0.05)

    assert few is not None and 0.1 < few < 0.2
    assert many is not None and 0.001 < many < 0.005
    assert stats.drop_upper_bound([], 0.0001) is None  # 2 pseudo-pairs <= z^2: unbounded


@pytest.mark.parametrize(
    ("production", "repeats"),
    [
        ("uniform", 3),  # a sampled model, pass rates spread over [0.2, 1]
        ("perfect", 1),  # production always right, the candidate wrong 10 % of the time
    ],
)
@pytest.mark.parametrize("n", [20, 100])
def test_drop_upper_bound_covers_a_true_drop_at_its_level(
    production: str, repeats: int, n: int
) -> None:
    """Seeded coverage: the true drop (0.1) is below the bound at most ~alpha of the time."""
    rng = np.random.default_rng(6)
    trials = 800
    misses = 0
    for _ in range(trials):
        p = rng.uniform(0.2, 1, size=n) if production == "uniform" else np.ones(n)
        cand = (rng.random((repeats, n)) < p - 0.1).mean(axis=0)
        base = (rng.random((repeats, n)) < p).mean(axis=0)
        bound = stats.drop_upper_bound(cand - base, 0.05)
        misses += bound is not None and bound < 0.1
    assert misses / trials <= 0.065
