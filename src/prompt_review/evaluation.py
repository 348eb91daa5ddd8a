"""Run prompt versions over datasets and score them with ``mlflow.genai.evaluate``.

Outputs are generated here, on a bounded thread pool with the provider's retries, and
handed to ``genai.evaluate`` precomputed: every model call is ours to count, none is
spent on MLflow's trace validation, and a failed call becomes an error on its example
instead of a score. Each evaluation is keyed by (prompt content, dataset digest, scorer
config); a finished run with that key is reused, so production is not re-evaluated.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from prompt_review.compare import EvalResult, ExampleResult
from prompt_review.config import ModelConfig, ScorerSpec, stable_hash
from prompt_review.datasets import Dataset, Example
from prompt_review.errors import InfrastructureError, PromptReviewError
from prompt_review.prompts import Prompt
from prompt_review.providers import Provider
from prompt_review.scorers import JudgeCounter, ScoreValue, Scoring, from_result_row

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


def eval_key(content_hash: str, dataset: Dataset, scorers: Sequence[ScorerSpec]) -> str:
    return stable_hash(
        {
            "prompt": content_hash,
            "dataset": dataset.digest,
            "scorers": [s.identity() for s in scorers],
        }
    )[:32]


@dataclass(frozen=True, kw_only=True)
class Job:
    """One prompt version to evaluate on one dataset."""

    prompt: Prompt  # template and model; for a baseline, production's template and model
    version: int | None
    dataset: Dataset
    scorers: tuple[ScorerSpec, ...]
    model_id: str | None
    run_name: str
    tags: dict[str, str]

    @property
    def key(self) -> str:
        return eval_key(self.prompt.content_hash, self.dataset, self.scorers)

    def result(
        self, examples: tuple[ExampleResult, ...], run_id: str, *, reused: bool = False
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
        )


@dataclass
class Evaluator:
    provider_for: Callable[[ModelConfig], Provider]
    experiment_id: str
    concurrency: int = 8
    progress: Progress = lambda message: None
    llm_calls: int = 0
    scoring: Scoring = field(default_factory=Scoring)
    judge_calls: int = 0

    def find_reusable(self, job: Job) -> EvalResult | None:
        """A finished, error-free run with the same key: its per-example results, no calls."""
        import mlflow

        runs = mlflow.search_runs(
            experiment_ids=[self.experiment_id],
            filter_string=(
                f"tags.`{TAG_KEY}` = '{job.key}' AND tags.`{TAG_REUSABLE}` = 'true' "
                "AND attributes.status = 'FINISHED'"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=1,
            output_format="list",
        )
        if not runs:
            return None
        run = runs[0]
        try:
            data = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/{ARTIFACT}")
            examples = tuple(ExampleResult.from_json(e) for e in data["examples"])
        except Exception:  # an unreadable old run is simply not reused
            return None
        return job.result(examples, run.info.run_id, reused=True)

    def run(self, job: Job) -> EvalResult:
        job = replace(job, scorers=self.scoring.pin(job.scorers))  # user code is in the key
        reusable = self.find_reusable(job)
        if reusable is not None:
            self.progress(
                f"{job.run_name}: reusing run {reusable.run_id} (same prompt, dataset, scorers)"
            )
            return reusable
        outputs = self.generate(job.prompt, job.dataset.examples, label=job.run_name)
        from mlflow.exceptions import MlflowException

        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                return self._score(job, outputs)
            except MlflowException as exc:
                # Concurrent reviews can collide on rows MLflow inserts once (the dataset
                # of an evaluation): scoring again costs no model call, the outputs are kept.
                if attempt == CONFLICT_RETRIES or not _is_write_conflict(exc):
                    raise
                self.progress(f"{job.run_name}: MLflow write conflict, scoring again")
        raise AssertionError("unreachable")

    def generate(
        self, prompt: Prompt, examples: Sequence[Example], *, label: str
    ) -> list[tuple[str | None, str | None]]:
        """(output, error) per example, in order; infrastructure errors become ``error``."""
        provider = self.provider_for(prompt.model)
        total = len(examples)
        done = 0
        step = max(1, total // 10) if total >= 50 else total

        def one(example: Example) -> tuple[str | None, str | None]:
            try:
                completion = provider.complete(prompt.render(example.inputs), prompt.model)
            except InfrastructureError as exc:
                return None, str(exc)
            return completion.text, None

        results: list[tuple[str | None, str | None]] = []
        self.progress(
            f"{label}: calling {prompt.model.provider}/{prompt.model.name} on {total} examples"
        )
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, total))) as pool:
            for result in pool.map(one, examples):
                results.append(result)
                done += 1
                if done % step == 0 or done == total:
                    self.progress(f"{label}: {done}/{total} examples")
        self.llm_calls += total
        return results

    def _score(self, job: Job, outputs: Sequence[tuple[str | None, str | None]]) -> EvalResult:
        import mlflow

        examples = job.dataset.examples
        scored_idx = [i for i, (out, err) in enumerate(outputs) if err is None]
        rows = [
            {
                "inputs": examples[i].inputs,
                "outputs": outputs[i][0],
                "expectations": examples[i].expectations,
            }
            for i in scored_idx
        ]
        scored: dict[int, dict[str, ScoreValue]] = {}
        traces: dict[int, str] = {}
        counter = JudgeCounter()
        built = self.scoring.build(job.scorers, counter=counter) if rows else []
        with mlflow.start_run(experiment_id=self.experiment_id, run_name=job.run_name) as run:
            mlflow.set_tags({**job.tags, TAG_KEY: job.key})
            if rows:
                result = _quiet(
                    lambda: mlflow.genai.evaluate(
                        data=rows, scorers=[b.mlflow_scorer for b in built], model_id=job.model_id
                    )
                )
                frame = result.result_df
                for position, record in enumerate(frame.to_dict("records")):
                    index = _match(record, position, scored_idx, examples)
                    scored[index] = {
                        b.spec.name: from_result_row(record, b.spec.name) for b in built
                    }
                    traces[index] = str(record.get("trace_id") or "")
            results = tuple(
                ExampleResult(
                    id=example.id,
                    inputs=example.inputs,
                    expectations=example.expectations,
                    output=outputs[i][0],
                    error=outputs[i][1],
                    trace_id=traces.get(i) or None,
                    **_fields(scored.get(i, {})),
                )
                for i, example in enumerate(examples)
            )
            mlflow.log_dict({"key": job.key, "examples": [r.to_json() for r in results]}, ARTIFACT)
            errors = sum(1 for r in results if r.failed)
            mlflow.log_metric("errors", errors)
            mlflow.set_tag(TAG_REUSABLE, "true" if errors == 0 else "false")
        self.judge_calls += counter.calls
        return replace(job.result(results, run.info.run_id), judge_calls=counter.calls)


def _fields(values: dict[str, ScoreValue]) -> dict[str, Any]:
    """A scorer's verdict on one example, spread over ExampleResult's fields."""
    return {
        "scores": {n: v.value for n, v in values.items()},
        "labels": {n: v.label for n, v in values.items() if v.label is not None},
        "rationales": {n: v.rationale for n, v in values.items() if v.rationale is not None},
        "score_errors": {n: v.error for n, v in values.items() if v.error is not None},
    }


def _match(
    record: dict[str, Any], position: int, scored_idx: Sequence[int], examples: Sequence[Example]
) -> int:
    """Result rows come back in input order; confirm by inputs, search if ever not."""
    request = record.get("request")
    if position < len(scored_idx) and examples[scored_idx[position]].inputs == request:
        return scored_idx[position]
    for index in scored_idx:
        if examples[index].inputs == request:
            return index
    raise PromptReviewError(
        f"could not match an MLflow evaluation row to a dataset record: {json.dumps(request)[:200]}"
    )


def _is_write_conflict(exc: Exception) -> bool:
    return any(word in str(exc) for word in _CONFLICT_WORDS)


def _quiet(call: Callable[[], Any]) -> Any:
    """MLflow prints a banner to stdout; our stdout carries the report, so keep it clean."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        return call()
