"""Run prompt versions over datasets: traced model calls, scores, one MLflow run each.

Each example is sampled ``evaluation.repeats`` times on a bounded thread pool. A worker
renders the prompt, calls the model inside an MLflow trace (``traces.py``), scores the
output at once and logs the scores as assessments on that trace; MLflow's asynchronous
exporter writes the trace while the next calls are in flight. The run records what
``mlflow.genai.evaluate`` records (run type, dataset input, model input, linked traces with
assessments, ``<scorer>/mean`` metrics) plus our per-example results artifact, so MLflow's
UI shows the evaluation as its own, and generation overlaps logging instead of preceding it.

Every model call is ours to count and a failed call is an error on its example, never a
score. Each evaluation is keyed by (prompt content, dataset digest, scorer config, repeats);
a finished run with that key is reused, so production is not re-evaluated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any

from prompt_review import redact
from prompt_review.compare import EvalResult, ExampleResult
from prompt_review.config import ModelConfig, ScorerSpec, stable_hash
from prompt_review.datasets import Dataset, Example
from prompt_review.errors import UserInputError
from prompt_review.lineage import link_prompt, log_dataset, run_name, run_tags
from prompt_review.prompts import Prompt
from prompt_review.providers import Provider
from prompt_review.scorers import BuiltScorer, JudgeCounter, Scoring
from prompt_review.traces import Call, GitInfo, Score, ScoreFn, TraceContext, traced_call

TAG_KEY = "prompt_review.eval_key"
TAG_REUSABLE = "prompt_review.reusable"
ARTIFACT = "prompt_review/examples.json"
CONFLICT_RETRIES = 2
_CONFLICT_WORDS = (
    "UniqueViolation",
    "UNIQUE constraint failed",
    "Duplicate entry",
    "already exists",
)

Progress = Callable[[str], None]


def eval_key(
    content_hash: str, dataset: Dataset, scorers: Sequence[ScorerSpec], repeats: int = 1
) -> str:
    identity: dict[str, Any] = {
        "prompt": content_hash,
        "dataset": dataset.digest,
        "scorers": [s.identity() for s in scorers],
    }
    if repeats != 1:  # keys of single-sample runs stay as they were
        identity["repeats"] = repeats
    return stable_hash(identity)[:32]


@dataclass(frozen=True, kw_only=True)
class Job:
    """One prompt version to evaluate on one dataset."""

    prompt: Prompt  # template and model; for a baseline, production's template and model
    version: int | None
    dataset: Dataset
    scorers: tuple[ScorerSpec, ...]
    model_id: str | None
    role: str
    tags: dict[str, str]
    git: GitInfo
    repeats: int = 1

    @property
    def key(self) -> str:
        return eval_key(self.prompt.content_hash, self.dataset, self.scorers, self.repeats)

    @property
    def label(self) -> str:
        return run_name(self.prompt.name, self.version, self.role, attempt=1)

    def result(
        self,
        examples: tuple[ExampleResult, ...],
        run_id: str,
        *,
        reused: bool = False,
        llm_calls: int = 0,
        judge_calls: int = 0,
    ) -> EvalResult:
        return EvalResult(
            prompt_name=self.prompt.name,
            prompt_version=self.version,
            content_hash=self.prompt.content_hash,
            eval_key=self.key,
            examples=examples,
            run_id=run_id,
            model_id=self.model_id,
            reused=reused,
            llm_calls=llm_calls,
            judge_calls=judge_calls,
        )


@dataclass
class Evaluator:
    provider_for: Callable[[ModelConfig], Provider]
    experiment_id: str
    concurrency: int = 8
    progress: Progress = lambda message: None
    scoring: Scoring = field(default_factory=Scoring)
    llm_calls: int = 0
    judge_calls: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def find_reusable(self, job: Job) -> tuple[EvalResult | None, int]:
        """A finished, error-free run with the job's key, and how many attempts came before."""
        import mlflow

        runs = mlflow.search_runs(
            experiment_ids=[self.experiment_id],
            filter_string=f"tags.`{TAG_KEY}` = '{job.key}'",
            order_by=["attributes.start_time DESC"],
            max_results=50,
            output_format="list",
        )
        for run in runs:
            if run.info.status != "FINISHED" or run.data.tags.get(TAG_REUSABLE) != "true":
                continue
            try:
                data = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/{ARTIFACT}")
                examples = tuple(ExampleResult.from_json(e) for e in data["examples"])
            except Exception:  # noqa: S112 - an unreadable old run is simply not reused
                continue
            return job.result(examples, run.info.run_id, reused=True), len(runs)
        return None, len(runs)

    def run(self, job: Job) -> EvalResult:
        job = replace(job, scorers=self.scoring.pin(job.scorers))  # user code is in the key
        reusable, attempts = self.find_reusable(job)
        if reusable is not None:
            self.progress(
                f"{job.label}: reusing run {reusable.run_id} (same prompt, dataset, scorers)"
            )
            return reusable
        return self._evaluate(job, attempt=attempts + 1)

    def _evaluate(self, job: Job, *, attempt: int) -> EvalResult:
        import mlflow

        name = run_name(job.prompt.name, job.version, job.role, attempt)
        tags = {**job.tags, **run_tags(job.git, job.prompt.source_path), TAG_KEY: job.key}
        tags = redact.mapping(tags)
        with mlflow.start_run(experiment_id=self.experiment_id, run_name=name, tags=tags) as run:
            run_id = run.info.run_id
            _retry_conflicts(lambda: log_dataset(run_id, job.dataset, job.git, job.model_id))
            prompt_entity = link_prompt(run_id, job.prompt.name, job.version)
            context = TraceContext(
                run_id=run_id,
                model_id=job.model_id,
                prompt_name=job.prompt.name,
                prompt_version=job.version,
                role=job.role,
                git=job.git,
                prompt_entity=prompt_entity,
            )
            counter = JudgeCounter()
            calls = self._generate(job, context, self.scoring.build(job.scorers, counter=counter))
            mlflow.flush_trace_async_logging()
            examples = tuple(
                _aggregate(example, calls[index], [s.name for s in job.scorers])
                for index, example in enumerate(job.dataset.examples)
            )
            errors = sum(1 for e in examples if e.failed)
            llm_calls = sum(len(c) for c in calls)
            _log_results(job, examples, errors, llm_calls, counter.calls)
            if errors:
                mlflow.end_run(status="FAILED")  # an attempt with failures is not a result
        with self._lock:
            self.judge_calls += counter.calls
        return job.result(examples, run_id, llm_calls=llm_calls, judge_calls=counter.calls)

    def _generate(
        self, job: Job, context: TraceContext, scorers: Sequence[BuiltScorer]
    ) -> list[list[Call]]:
        """Every (example, sample) through a traced call, ``concurrency`` at a time."""
        provider = self.provider_for(job.prompt.model)
        score = _scorer(scorers)
        examples = job.dataset.examples
        work = [(i, s) for i, _ in enumerate(examples) for s in range(job.repeats)]
        total = len(work)
        calls: list[list[Call | None]] = [[None] * job.repeats for _ in examples]
        model = job.prompt.model
        self.progress(
            f"{job.label}: calling {model.provider}/{model.name} on {len(examples)} examples"
            + (f", {job.repeats} samples each" if job.repeats > 1 else "")
        )

        def one(index: int, sample: int) -> Call:
            example = examples[index]
            try:
                messages = job.prompt.render(example.inputs)
            except UserInputError as exc:
                # A production version registered before this dataset (or this tool's
                # checks) may not render a row: that row has no result, the review goes on.
                return Call(output=None, error=f"cannot render the prompt: {exc}")
            return traced_call(
                context,
                example_id=example.id,
                sample=sample,
                inputs=example.inputs,
                expectations=example.expectations,
                messages=messages,
                model=model,
                provider=provider,
                score=score,
            )

        step = max(1, total // 10) if total >= 50 else total
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, total)))
        futures: dict[Future[Call], tuple[int, int]] = {}
        try:
            futures = {pool.submit(one, i, s): (i, s) for i, s in work}
            for done, future in enumerate(as_completed(futures), start=1):
                index, sample = futures[future]
                calls[index][sample] = future.result()
                with self._lock:
                    self.llm_calls += 1
                if done % step == 0 or done == total:
                    self.progress(f"{job.label}: {done}/{total} calls")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return [[c for c in per if c is not None] for per in calls]


def _scorer(scorers: Sequence[BuiltScorer]) -> ScoreFn:
    """The configured scorers as one function of (inputs, output, expectations).

    Called in the worker right after the model answered, inside its trace: a judge's own
    call then overlaps the other examples' generation, and its spans join the trace.
    """

    def score(
        inputs: Mapping[str, Any], output: str, expectations: Mapping[str, Any]
    ) -> list[Score]:
        results = []
        for built in scorers:
            value = built.score(dict(inputs), output, dict(expectations))
            results.append(
                Score(
                    name=built.spec.name,
                    value=value.value,
                    label=value.label,
                    rationale=value.rationale,
                    error=value.error,
                    source_type="LLM_JUDGE" if built.is_judge else "CODE",
                    source_id=built.source_id or built.spec.name,
                )
            )
        return results

    return score


def _aggregate(example: Example, calls: Sequence[Call], names: Sequence[str]) -> ExampleResult:
    """One example over its samples: mean scores; any failed call fails the example."""
    first = calls[0] if calls else None
    error = next((c.error for c in calls if c.error is not None), None)
    scores: dict[str, float | None] = {}
    rationales: dict[str, str] = {}
    score_errors: dict[str, str] = {}
    labels: dict[str, str] = {}
    if error is None:
        for name in names:
            values = []
            for call in calls:
                item = next((s for s in call.scores if s.name == name), None)
                if item is None:
                    continue
                if item.error is not None:
                    score_errors.setdefault(name, item.error)
                elif item.value is not None:
                    values.append(item.value)
                elif item.label is not None:
                    labels.setdefault(name, item.label)
                if item.rationale and name not in rationales:
                    rationales[name] = item.rationale
            scores[name] = (
                sum(values) / len(values) if values and name not in score_errors else None
            )
    latencies = [c.latency_ms for c in calls if c.latency_ms is not None]
    return ExampleResult(
        id=example.id,
        inputs=example.inputs,
        expectations=example.expectations,
        output=first.output if first else None,
        error=error,
        scores=scores,
        trace_id=first.trace_id if first else None,
        rationales=rationales,
        score_errors=score_errors,
        labels=labels,
        repeats=len(calls),
        sample_outputs=tuple(c.output for c in calls) if len(calls) > 1 else (),
        input_tokens=_total(c.input_tokens for c in calls),
        output_tokens=_total(c.output_tokens for c in calls),
        latency_ms=sum(latencies) / len(latencies) if latencies else None,
        trace_ids=tuple(c.trace_id for c in calls if c.trace_id),
    )


def _total(values: Any) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _log_results(
    job: Job, examples: Sequence[ExampleResult], errors: int, llm_calls: int, judge_calls: int
) -> None:
    """Metrics as ``genai.evaluate`` names them, our results artifact, the reuse flag."""
    import mlflow

    metrics: dict[str, float] = {
        "errors": float(errors),
        "llm_calls": float(llm_calls),
        "judge_calls": float(judge_calls),
    }
    for spec in job.scorers:
        values = [v for e in examples if (v := e.scores.get(spec.name)) is not None]
        if values:
            metrics[f"{spec.name}/mean"] = sum(values) / len(values)
    tokens = [e.input_tokens for e in examples if e.input_tokens is not None]
    if tokens:
        metrics["input_tokens"] = float(sum(tokens))
    tokens = [e.output_tokens for e in examples if e.output_tokens is not None]
    if tokens:
        metrics["output_tokens"] = float(sum(tokens))
    latencies = [e.latency_ms for e in examples if e.latency_ms is not None]
    if latencies:
        metrics["latency_ms/mean"] = sum(latencies) / len(latencies)
    mlflow.log_metrics(metrics)
    results = {"key": job.key, "examples": [e.to_json() for e in examples]}
    mlflow.log_dict(redact.data(results), ARTIFACT)
    mlflow.set_tag(TAG_REUSABLE, "true" if errors == 0 else "false")


def _retry_conflicts(call: Callable[[], None]) -> None:
    """Concurrent reviews can collide on rows MLflow inserts once (a dataset's row)."""
    from mlflow.exceptions import MlflowException

    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            call()
            return
        except MlflowException as exc:
            if attempt == CONFLICT_RETRIES or not _is_write_conflict(exc):
                raise


def _is_write_conflict(exc: Exception) -> bool:
    return any(word in str(exc) for word in _CONFLICT_WORDS)
