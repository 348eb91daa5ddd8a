"""The gate's error rates on a stochastic model, by seeded simulation.

The stub: every example has a pass probability per scorer, drawn once per trial
(uniform on [0.15, 1]); each version's sample is an independent Bernoulli draw, and with
``repeats: k`` an example's score is the mean of its k draws, as evaluation stores it.

- A/A: both versions share the probabilities (an unchanged prompt on a sampled model).
  With 5 scorers at N=100 the gate must fail at most alpha = 5 % of the trials.
- A true 15-point drop, the demanding reading: ONE scorer of five loses 0.15 on every
  example (its probabilities shifted down by 0.15, so its expected mean drops by exactly
  0.15) while the four others are unchanged; all five are required, so the drop must
  clear Holm's first step (alpha / 5). At N=100 with ``repeats: 3`` it must be caught in
  at least 90 % of the trials.

Trials run through ``gate.judge``, the function ``compare()`` decides with, on arrays (a
few seconds for thousands of trials); ``test_compare_decides_like_judge`` checks on
real ``EvalResult`` objects that ``compare()`` reaches the same verdicts.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from prompt_review.compare import EvalResult, ExampleResult, compare
from prompt_review.config import GateConfig
from prompt_review.gate import Judgement, judge

SCORERS = tuple(f"scorer{j}" for j in range(5))
N = 100
DROP = 0.15
TRIALS = 800
GATE = GateConfig()


def draw(rng: np.random.Generator, *, drop: float, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-example scores of (production, candidate): arrays of shape (scorers, N)."""
    production = rng.uniform(DROP, 1.0, size=(len(SCORERS), N))
    candidate = production.copy()
    candidate[0] -= drop
    scores = [(rng.random((repeats, *p.shape)) < p).mean(axis=0) for p in (production, candidate)]
    return scores[0], scores[1]


def decide(production: np.ndarray, candidate: np.ndarray) -> Judgement:
    deltas = candidate - production
    return judge(
        SCORERS,
        {name: deltas[j] for j, name in enumerate(SCORERS)},
        {name: (None, None) for name in SCORERS},
        GATE,
        has_baseline=True,
    )


def trials(seed: int, *, drop: float, repeats: int, count: int = TRIALS) -> list[Judgement]:
    rng = np.random.default_rng(seed)
    return [decide(*draw(rng, drop=drop, repeats=repeats)) for _ in range(count)]


@pytest.mark.parametrize("repeats", [1, 3])
def test_an_unchanged_prompt_on_a_sampled_model_fails_at_most_alpha(repeats: int) -> None:
    results = trials(20261203 + repeats, drop=0.0, repeats=repeats)

    assert sum(r.failed for r in results) / len(results) <= GATE.alpha


def test_a_fifteen_point_drop_in_one_of_five_scorers_is_caught_with_three_repeats() -> None:
    results = trials(20261204, drop=DROP, repeats=3, count=600)

    assert (
        sum(s.failed and s.name == SCORERS[0] for r in results for s in r.scorers) / len(results)
        >= 0.90
    )
    # The four unchanged scorers still fail at most alpha of the time between them.
    false_alarms = sum(any(s.failed for s in r.scorers[1:]) for r in results)
    assert false_alarms / len(results) <= GATE.alpha


def test_the_stated_detectable_drop_is_caught_about_four_times_in_five() -> None:
    stated = float(
        np.median([r.scorers[0].detectable_drop for r in trials(7, drop=0.0, repeats=3, count=50)])
    )
    results = trials(8, drop=stated, repeats=3, count=400)
    caught = sum(r.scorers[0].failed for r in results) / len(results)

    assert 0.10 < stated < DROP
    assert 0.72 <= caught <= 0.88


def evaluation(scores: np.ndarray, repeats: int, version: int) -> EvalResult:
    rows = scores.T.tolist()
    return EvalResult(
        prompt_name="stub",
        prompt_version=version,
        content_hash=f"h{version}",
        eval_key=f"k{version}",
        examples=tuple(
            ExampleResult(
                id=f"ex{i}",
                inputs={"i": i},
                expectations={},
                output="o",
                scores=dict(zip(SCORERS, row, strict=True)),
                repeats=repeats,
            )
            for i, row in enumerate(rows)
        ),
    )


@pytest.mark.parametrize("drop", [0.0, DROP])
def test_compare_decides_like_judge(drop: float) -> None:
    rng = np.random.default_rng(99)
    for _ in range(40):
        production, candidate = draw(rng, drop=drop, repeats=3)
        direct = decide(production, candidate)
        via_compare = compare(
            evaluation(candidate, 3, 2), evaluation(production, 3, 1), SCORERS, GATE
        )

        assert via_compare.verdict == ("failed" if direct.failed else "passed")
        assert [
            replace(s, baseline_mean=None, candidate_mean=None) for s in via_compare.scorers
        ] == list(direct.scorers)
        assert via_compare.repeats == 3
