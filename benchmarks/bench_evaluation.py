"""How much does evaluating a prompt through prompt-review cost on top of the model calls?

Measures, in one process and one run, side by side:

1. the floor: a bare ``ThreadPoolExecutor(concurrency)`` making the N chat calls through our
   ``OpenAIProvider`` to a stub OpenAI server that answers after ``--latency`` seconds;
2. ``Evaluator.run(job)`` for a fresh job against a real ``mlflow server`` over HTTP
   (traced generation and scoring, the trace flush, the results artifact);
3. the same against the embedded SQLite store (``tracking.connect(None, ...)``: NullPool);
4. MLflow's own ``mlflow.genai.evaluate(predict_fn=...)`` making the same calls, with
   ``MLFLOW_GENAI_EVAL_MAX_WORKERS=concurrency`` and MLflow's default trace validation;
5. the reuse path: the same job again (no model call expected);
6. peak RSS of this process after each step, and of the mlflow server at the end.

The machines are shared and noisy: seconds are shown, but the claims are the ratios.

    /tmp/venv/bin/python benchmarks/bench_evaluation.py [--examples 100] [--latency 0.1]
        [--concurrency 8]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT / "src", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

PROMPT_FILE = """\
template: "What is the capital of {{ country }}? Reply with the city name only."
model: {provider: openai, name: gpt-4o-mini, temperature: 0}
scorers: [exact_match]
"""
COUNTRY = re.compile(r"Country (\d+)")
X = "\N{MULTIPLICATION SIGN}"  # as in "3.1 times the floor"
GIT_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def capital_of(request: dict[str, Any]) -> str:
    """The stub's 'model': answers every question right, so every score should be 1.0."""
    match = COUNTRY.search(str(request["messages"][-1]["content"]))
    return f"Capital {match.group(1)}" if match else "?"


@dataclass
class Row:
    label: str
    seconds: float
    calls: int
    rss_mb: float
    traces: int | None = None
    note: str = ""


@dataclass
class Bench:
    examples: int
    latency: float
    concurrency: int
    stub: Any
    prompt: Any
    dataset: Any
    rows: list[Row] = field(default_factory=list)
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)

    def measure(
        self, label: str, call: Callable[[], Any], experiment_id: str | None = None
    ) -> tuple[Row, Any]:
        """Time ``call``; with an experiment, also count the traces it logged there.

        Trace export that MLflow defers to a background queue is flushed inside the timing,
        so a path cannot look fast by leaving its writes for later.
        """
        traces_before = count_traces(experiment_id) if experiment_id else 0
        calls_before = self.stub.call_count
        started = time.perf_counter()
        with hushed():
            result = call()
            if experiment_id:
                import mlflow

                mlflow.flush_trace_async_logging()
        seconds = time.perf_counter() - started
        row = Row(label, seconds, self.stub.call_count - calls_before, rss_mb())
        if experiment_id:
            row.traces = count_traces(experiment_id) - traces_before
        self.rows.append(row)
        traces = "" if row.traces is None else f"  {row.traces:4d} traces"
        print(f"  {label:<42} {seconds:7.2f} s  {row.calls:4d} LLM calls{traces}", flush=True)
        return row, result

    def provider(self) -> Any:
        """A fresh provider (new connection pool) per measured path, as a review builds one."""
        from prompt_review.providers import get_provider

        return get_provider(self.prompt.model, environ={"OPENAI_BASE_URL": self.stub.base_url})


def count_traces(experiment_id: str) -> int:
    import mlflow

    with hushed():
        found = mlflow.search_traces(
            locations=[experiment_id], include_spans=False, return_type="list", max_results=100_000
        )
    return len(found)


def rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kilobytes on Linux


@contextlib.contextmanager
def hushed() -> Iterator[None]:
    """MLflow prints banners and progress bars; keep them out of the report unless it fails."""
    if os.environ.get("BENCH_VERBOSE"):
        yield
        return
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield
    except BaseException:
        sys.stderr.write(buffer.getvalue()[-5000:])
        raise


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def make_inputs(n: int) -> tuple[Any, Any]:
    from prompt_review.config import Config
    from prompt_review.datasets import Dataset, Example
    from prompt_review.prompts import parse_prompt

    prompt = parse_prompt(PROMPT_FILE, "prompts/capital.yaml", Config(experiment="bench"))
    examples = tuple(
        Example(
            id=f"ex-{i:05d}",
            inputs={"country": f"Country {i}"},
            expectations={"expected_response": f"Capital {i}"},
        )
        for i in range(n)
    )
    return prompt, Dataset(path="datasets/capital.jsonl", examples=examples)


def floor(bench: Bench, label: str) -> Row:
    """The same N calls through the same provider on a bare thread pool: nothing else."""

    def run() -> list[str]:
        with bench.provider() as provider, ThreadPoolExecutor(bench.concurrency) as pool:
            return list(
                pool.map(
                    lambda e: (
                        provider.complete(bench.prompt.render(e.inputs), bench.prompt.model).text
                    ),
                    bench.dataset.examples,
                )
            )

    row, outputs = bench.measure(label, run)
    wrong = sum(
        o != e.expectations["expected_response"]
        for o, e in zip(outputs, bench.dataset.examples, strict=True)
    )
    if wrong:
        raise SystemExit(f"floor: {wrong} wrong answers from the stub; the benchmark is broken")
    return row


def make_evaluator(bench: Bench, experiment_id: str) -> Any:
    """Our Evaluator, with the time of each of its steps recorded (by a subclass: no src edit)."""
    import mlflow

    from prompt_review.evaluation import Evaluator

    class TimedEvaluator(Evaluator):
        times: dict[str, float]

        def timed(self, step: str, call: Callable[[], Any]) -> Any:
            started = time.perf_counter()
            try:
                return call()
            finally:
                self.times[step] = self.times.get(step, 0.0) + time.perf_counter() - started

        def find_reusable(self, job: Any) -> Any:
            return self.timed(
                "find_reusable", lambda: super(TimedEvaluator, self).find_reusable(job)
            )

        def _generate(self, job: Any, context: Any, scorers: Any) -> Any:
            return self.timed(
                "generate+trace+score",
                lambda: super(TimedEvaluator, self)._generate(job, context, scorers),
            )

        def _evaluate(self, job: Any, *, attempt: int) -> Any:
            flush = mlflow.flush_trace_async_logging
            mlflow.flush_trace_async_logging = lambda *a, **kw: self.timed(
                "trace flush", lambda: flush(*a, **kw)
            )
            try:
                return self.timed(
                    "run total", lambda: super(TimedEvaluator, self)._evaluate(job, attempt=attempt)
                )
            finally:
                mlflow.flush_trace_async_logging = flush

    evaluator = TimedEvaluator(
        provider_for=lambda model: bench.provider(),
        experiment_id=experiment_id,
        concurrency=bench.concurrency,
    )
    evaluator.times = {}
    return evaluator


def make_job(bench: Bench, tracking: Any, run_name: str) -> Any:
    """What review.py builds: a registered prompt version, its LoggedModel, then the Job."""
    from prompt_review.evaluation import Job
    from prompt_review.models import ModelSpec, ensure_logged_model
    from prompt_review.registry import Registry
    from prompt_review.traces import GitInfo

    prompt, dataset = bench.prompt, bench.dataset
    version, _ = Registry(tracking.client).register(prompt, git_commit=GIT_COMMIT, pr_number=None)
    spec = ModelSpec(
        prompt_name=prompt.name,
        prompt_version=version.version,
        git_commit=GIT_COMMIT,
        content_hash=prompt.content_hash,
        model=prompt.model,
        dataset_name=dataset.name,
        dataset_digest=dataset.digest,
    )
    model_id, _ = ensure_logged_model(spec, tracking.experiment_id)
    return Job(
        prompt=prompt,
        version=version.version,
        dataset=dataset,
        scorers=prompt.scorers,
        model_id=model_id,
        role="candidate",
        tags={"prompt_review.role": "candidate", "git_commit": GIT_COMMIT, "bench": run_name},
        git=GitInfo(commit=GIT_COMMIT),
    )


def ours(bench: Bench, tracking: Any, where: str) -> tuple[Row, Row]:
    """A fresh Evaluator.run(job), then the same job again (the reuse path)."""
    job = make_job(bench, tracking, f"bench-{where}")
    evaluator = make_evaluator(bench, tracking.experiment_id)
    fresh, result = bench.measure(
        f"ours, {where}: fresh Evaluator.run", lambda: evaluator.run(job), tracking.experiment_id
    )
    bench.breakdown[where] = dict(evaluator.times)
    check(result.examples, reused=False, n=bench.examples, where=where)
    again, reused = bench.measure(
        f"ours, {where}: same job again (reuse)", lambda: evaluator.run(job), tracking.experiment_id
    )
    check(reused.examples, reused=True, n=bench.examples, where=where)
    if not reused.reused:
        raise SystemExit(f"{where}: the second run was not reused")
    again.note = f"{again.seconds / fresh.seconds:.3f}{X} fresh"
    return fresh, again


def check(examples: Sequence[Any], *, reused: bool, n: int, where: str) -> None:
    """Every example answered, scored 1.0 and linked to its trace: the work was really done."""
    bad = [e for e in examples if e.error or e.scores.get("exact_match") != 1.0 or not e.trace_id]
    if len(examples) != n or bad:
        what = "reused" if reused else "fresh"
        raise SystemExit(
            f"{where} ({what}): {len(examples)} examples, {len(bad)} not scored 1.0 with a trace"
        )


def mlflow_predict_fn(bench: Bench, tracking: Any) -> Row:
    """MLflow making the calls itself: predict_fn on its own pool, default trace validation."""
    import mlflow

    from prompt_review.scorers import to_mlflow

    experiment_id = tracking.client.create_experiment("bench-predict-fn")
    mlflow.set_experiment(experiment_id=experiment_id)
    provider = bench.provider()
    prompt = bench.prompt

    def predict_fn(**inputs: Any) -> str:
        return str(provider.complete(prompt.render(inputs), prompt.model).text)

    data = [{"inputs": e.inputs, "expectations": e.expectations} for e in bench.dataset.examples]
    with (
        provider,
        environ(
            MLFLOW_GENAI_EVAL_MAX_WORKERS=str(bench.concurrency),
            MLFLOW_GENAI_EVAL_SKIP_TRACE_VALIDATION="false",  # MLflow's default
        ),
    ):
        row, result = bench.measure(
            "mlflow genai.evaluate(predict_fn)",
            lambda: mlflow.genai.evaluate(
                data=data, predict_fn=predict_fn, scorers=to_mlflow(prompt.scorers)
            ),
            experiment_id,
        )
    frame = result.result_df
    scores = frame["exact_match/value"].tolist()
    traced = int(frame["trace_id"].notna().sum())
    if len(scores) != bench.examples or not all(s is True or s == 1.0 for s in scores):
        raise SystemExit(f"predict_fn: {len(scores)} rows, not all scored 1.0: {scores[:5]}")
    if traced != bench.examples or (row.traces or 0) < bench.examples:
        raise SystemExit(f"predict_fn: {traced} rows with a trace id, {row.traces} traces logged")
    row.note = f"{row.calls - bench.examples:+d} call(s) vs N"
    return row


def warm_up(bench: Bench, tracking: Any) -> float:
    """Pay one-time costs (lazy imports, first connections) for every path before timing."""
    import mlflow

    from prompt_review.evaluation import Job
    from prompt_review.scorers import to_mlflow
    from prompt_review.traces import GitInfo

    started = time.perf_counter()
    small = type(bench.dataset)(path="datasets/warmup.jsonl", examples=bench.dataset.examples[:4])
    job = Job(
        prompt=bench.prompt,
        version=None,
        dataset=small,
        scorers=bench.prompt.scorers,
        model_id=None,
        role="warm-up",
        tags={},
        git=GitInfo(commit=GIT_COMMIT),
    )
    experiment_id = tracking.client.create_experiment("bench-warm-up")
    with hushed():
        make_evaluator(bench, experiment_id).run(job)
        mlflow.set_experiment(experiment_id=experiment_id)
        with bench.provider() as provider:
            mlflow.genai.evaluate(
                data=[{"inputs": e.inputs} for e in small.examples],
                predict_fn=lambda **inputs: (
                    provider.complete(bench.prompt.render(inputs), bench.prompt.model).text
                ),
                scorers=to_mlflow(bench.prompt.scorers),
            )
        mlflow.flush_trace_async_logging()
    return time.perf_counter() - started


def report(bench: Bench, floor_row: Row, server_rss: float, fixed: dict[str, float]) -> None:
    by_label = {r.label: r for r in bench.rows}
    print()
    print(
        f"N={bench.examples} examples, stub latency {bench.latency * 1000:.0f} ms, "
        f"concurrency {bench.concurrency}; ideal N·latency/concurrency = "
        f"{bench.examples * bench.latency / bench.concurrency:.2f} s; {os.cpu_count()} CPUs"
    )
    print(
        f"setup (not in the ratios): import mlflow {fixed['import']:.2f} s, "
        f"mlflow server start {fixed['server']:.2f} s, warm-up {fixed['warm-up']:.2f} s"
    )
    print()
    header = (
        f"{'path':<44}{'seconds':>8}{X + ' floor':>10}{'LLM calls':>11}{'traces':>8}"
        f"{'peak RSS MB':>13}  note"
    )
    print(header)
    print("-" * len(header))
    for row in [floor_row, *(r for r in bench.rows if not r.label.startswith("floor"))]:
        traces = "-" if row.traces is None else str(row.traces)
        print(
            f"{row.label:<44}{row.seconds:8.2f}{row.seconds / floor_row.seconds:10.2f}"
            f"{row.calls:11d}{traces:>8}{row.rss_mb:13.0f}  {row.note}"
        )
    print(f"{'largest child process (the mlflow server)':<44}{'':37}{server_rss:13.0f}")
    print()
    for where, times in bench.breakdown.items():
        parts = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in times.items())
        generate = times.get("generate+trace+score", 0.0)
        print(
            f"ours, {where}, where the time went: {parts} "
            f"(generate+trace+score = {generate / floor_row.seconds:.2f}{X} floor)"
        )
    http = by_label["ours, HTTP: fresh Evaluator.run"]
    sqlite = by_label["ours, SQLite: fresh Evaluator.run"]
    predict = by_label["mlflow genai.evaluate(predict_fn)"]
    reuse = by_label["ours, HTTP: same job again (reuse)"]
    flush_share = bench.breakdown["HTTP"].get("trace flush", 0.0) / http.seconds
    flags = []
    if http.seconds > 2 * predict.seconds:
        flags.append(f"over 2{X} MLflow's predict_fn path")
    if max(http.seconds, sqlite.seconds) > 6 * floor_row.seconds:
        flags.append(f"over 6{X} the floor, {flush_share:.0%} of it flushing traces")
    print()
    print(
        f"conclusion: ours is {http.seconds / floor_row.seconds:.1f}{X} the floor over HTTP and "
        f"{sqlite.seconds / floor_row.seconds:.1f}{X} on SQLite, "
        f"{http.seconds / predict.seconds:.2f}{X} MLflow's predict_fn path "
        f"(which made {predict.calls} calls for {bench.examples} examples, ours "
        f"{http.calls}); a re-run reuses the result with {reuse.calls} calls in "
        f"{reuse.seconds / http.seconds:.1%} of the time"
        + (f" ({'; '.join(flags)})" if flags else "")
        + "."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="dataset size N (100)")
    parser.add_argument("--latency", type=float, default=0.1, help="stub latency, s (0.1)")
    parser.add_argument("--concurrency", type=int, default=8, help="model calls at once (8)")
    args = parser.parse_args(argv)
    if args.examples < 4 or args.concurrency < 1 or args.latency < 0:
        parser.error("need --examples >= 4, --concurrency >= 1, --latency >= 0")

    from tests.fakes.mlflow_server import start_mlflow
    from tests.fakes.openai_server import OpenAIStub

    from prompt_review.tracking import connect

    fixed: dict[str, float] = {}
    started = time.perf_counter()
    import mlflow  # the import is paid once, outside every ratio
    import openai  # noqa: F401

    fixed["import"] = time.perf_counter() - started
    prompt, dataset = make_inputs(args.examples)

    with (
        tempfile.TemporaryDirectory(prefix="bench-evaluation-") as tmp,
        OpenAIStub(responder=capital_of, latency_seconds=args.latency) as stub,
    ):
        work = Path(tmp)
        started = time.perf_counter()
        server = start_mlflow(work / "server")
        fixed["server"] = time.perf_counter() - started
        try:
            bench = Bench(args.examples, args.latency, args.concurrency, stub, prompt, dataset)
            print(f"mlflow server at {server.uri}; stub at {stub.base_url}", flush=True)
            http = connect(server.uri, work / "repo-http", "bench")
            fixed["warm-up"] = warm_up(bench, http)
            first_floor = floor(bench, "floor (bare thread pool), first")
            mlflow.set_experiment(experiment_id=http.experiment_id)
            ours(bench, http, "HTTP")
            mlflow_predict_fn(bench, http)
            (work / "repo-sqlite").mkdir()
            sqlite = connect(None, work / "repo-sqlite", "bench")
            ours(bench, sqlite, "SQLite")
            last_floor = floor(bench, "floor (bare thread pool), last")
        finally:
            # Nothing may be left for MLflow's background exporter to retry against a
            # stopped server: that would hold the interpreter's exit for minutes.
            with hushed(), contextlib.suppress(Exception):
                mlflow.flush_trace_async_logging()
            with hushed():
                server.stop()
    best = min(first_floor, last_floor, key=lambda r: r.seconds)
    floor_row = Row(
        "bare thread pool (floor)",
        best.seconds,
        best.calls,
        first_floor.rss_mb,
        note=f"faster of 2: {first_floor.seconds:.2f} s first, {last_floor.seconds:.2f} s last",
    )
    report(bench, floor_row, rss_mb(resource.RUSAGE_CHILDREN), fixed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
