"""How long does ``compare()`` take at N = 100, 1,000 and 10,000 examples x 5 scorers?

The budget is 2 s at N=10,000 x 5 scorers. One run measures every size, side by side, with
five scorers of the kinds a review meets (each a different path through the statistics):

- ``exact_match``: 0/1, a candidate 2 points worse;
- ``sampled``: the mean of 3 Bernoulli draws per example (``evaluation.repeats: 3``);
- ``judge``: an integer 1-5 judge, averaged over the same 3 samples;
- ``similarity``: a continuous score in [0, 1] (rounded to the statistics' lattice);
- ``is_json``: 0/1, unchanged (every difference 0).

Only ``compare()`` is timed (the evaluations are built before); each size runs
``--repeat`` times and the median counts. A warm-up call (NumPy's FFT plan, imports) runs
first and is shown apart.

    .venv/bin/python benchmarks/bench_compare.py [--repeat 5] [--sizes 100,1000,10000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from prompt_review.compare import EvalResult, ExampleResult, compare  # noqa: E402
from prompt_review.config import GateConfig  # noqa: E402

BUDGET_SECONDS = 2.0
BUDGET_SIZE = 10_000
SCORERS = ("exact_match", "sampled", "judge", "similarity", "is_json")
SEED = 20261203


def scores(rng: np.random.Generator, n: int, shift: float) -> dict[str, np.ndarray]:
    p = rng.uniform(0.2, 1.0, size=n)
    return {
        "exact_match": (rng.random(n) < p - shift).astype(float),
        "sampled": (rng.random((3, n)) < p - shift).mean(axis=0),
        "judge": rng.integers(1, 6, size=(3, n)).mean(axis=0),
        "similarity": np.clip(rng.normal(0.7 - shift, 0.2, size=n), 0, 1),
        "is_json": np.ones(n),
    }


def evaluation(rng: np.random.Generator, n: int, *, version: int, shift: float) -> EvalResult:
    columns = {name: values.tolist() for name, values in scores(rng, n, shift).items()}
    return EvalResult(
        prompt_name="bench",
        prompt_version=version,
        content_hash=f"h{version}",
        eval_key=f"k{version}",
        examples=tuple(
            ExampleResult(
                id=f"ex{i}",
                inputs={"question": f"q{i}"},
                expectations={"expected_response": f"a{i}"},
                output=f"answer {i}",
                scores={name: columns[name][i] for name in SCORERS},
                repeats=3,
                input_tokens=120,
                output_tokens=30,
                latency_ms=350.0,
            )
            for i in range(n)
        ),
    )


def timed(candidate: EvalResult, baseline: EvalResult, repeat: int) -> tuple[float, str]:
    times = []
    verdict = ""
    for _ in range(repeat):
        started = time.perf_counter()
        result = compare(candidate, baseline, SCORERS, GateConfig())
        times.append(time.perf_counter() - started)
        verdict = result.verdict
    return statistics.median(times), verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="100,1000,10000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(SEED)
    data = {
        n: (
            evaluation(rng, n, version=2, shift=0.02),
            evaluation(rng, n, version=1, shift=0.0),
        )
        for n in sizes
    }
    started = time.perf_counter()
    compare(*data[sizes[0]], SCORERS, GateConfig())
    warm_up = time.perf_counter() - started
    print(f"compare() x {len(SCORERS)} scorers, median of {args.repeat} runs each")
    print(f"warm-up call (N={sizes[0]}, not counted): {warm_up * 1000:.0f} ms\n")
    print(f"| N | time | ÷ budget ({BUDGET_SECONDS:g} s) | verdict |")
    print("|--:|--:|--:|:--|")
    for n in sizes:
        seconds, verdict = timed(*data[n], args.repeat)
        print(f"| {n:,} | {seconds * 1000:.0f} ms | {seconds / BUDGET_SECONDS:.3f} | {verdict} |")
    print(f"\nThe budget applies at N={BUDGET_SIZE:,}: a ratio below 1 meets it.")


if __name__ == "__main__":
    main()
