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
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from prompt_review.compare import EvalResult, ExampleResult
from prompt_review.config import ModelConfig, ScorerSpec, stable_hash
from prompt_review.datasets import Dataset, Example
from prompt_review.errors import InfrastructureError, PromptReviewError
from prompt_review.prompts import Prompt
from prompt_review.providers import Provider
from prompt_review.scorers import to_mlflow

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
        scores: dict[int, dict[str, float | None]] = {}
        traces: dict[int, str] = {}
        names = [s.name for s in job.scorers]
        with mlflow.start_run(experiment_id=self.experiment_id, run_name=job.run_name) as run:
            mlflow.set_tags({**job.tags, TAG_KEY: job.key})
            if rows:
                result = _quiet(
                    lambda: mlflow.genai.evaluate(
                        data=rows, scorers=to_mlflow(job.scorers), model_id=job.model_id
                    )
                )
                frame = result.result_df
                for position, record in enumerate(frame.to_dict("records")):
                    index = _match(record, position, scored_idx, examples)
                    scores[index] = {n: _number(record.get(f"{n}/value")) for n in names}
                    traces[index] = str(record.get("trace_id") or "")
            results = tuple(
                ExampleResult(
                    id=example.id,
                    inputs=example.inputs,
                    expectations=example.expectations,
                    output=outputs[i][0],
                    error=outputs[i][1],
                    scores=scores.get(i, {}),
                    trace_id=traces.get(i) or None,
                )
                for i, example in enumerate(examples)
            )
            mlflow.log_dict({"key": job.key, "examples": [r.to_json() for r in results]}, ARTIFACT)
            errors = sum(1 for r in results if r.failed)
            mlflow.log_metric("errors", errors)
            mlflow.set_tag(TAG_REUSABLE, "true" if errors == 0 else "false")
        return job.result(results, run.info.run_id)


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


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number  # NaN: the scorer failed on this row


def _quiet(call: Callable[[], Any]) -> Any:
    """MLflow prints a banner to stdout; our stdout carries the report, so keep it clean."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        return call()
