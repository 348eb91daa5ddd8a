"""A configured scorer made runnable, one way for every kind.

``BuiltScorer.score`` grades one example directly; ``BuiltScorer.mlflow_scorer`` is the
same rule as an MLflow ``Scorer`` for ``mlflow.genai.evaluate``. Neither raises for a
failed judge or a raising user scorer: the failure is the example's ``error``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prompt_review.errors import UserInputError
from prompt_review.scorer_config import JUDGE_SCORERS, ScorerSpec
from prompt_review.scorers import deterministic, judges, usercode
from prompt_review.scorers.transport import Endpoint, JudgeCall, JudgeCounter, RetryPolicy
from prompt_review.scorers.values import ScoreValue, normalize

Rule = Callable[[Any, Any, Any], ScoreValue]  # (inputs, outputs, expectations)


@dataclass(frozen=True, kw_only=True, eq=False)
class BuiltScorer:
    spec: ScorerSpec
    is_judge: bool
    rule: Rule = field(repr=False)
    source_id: str = ""  # the judge model URI or the python function, for MLflow's UI

    def score(self, inputs: Any, outputs: Any, expectations: Any) -> ScoreValue:
        """Grade one example; any failure is returned as ``ScoreValue.error``."""
        try:
            return self.rule(inputs, outputs, expectations or {})
        except Exception as exc:  # a bug in a rule must still be an error, not a crash
            return ScoreValue.failure(f"scorer {self.spec.name!r} failed: {_describe(exc)}")

    @functools.cached_property
    def mlflow_scorer(self) -> Any:
        """This scorer as an MLflow ``Scorer`` (imports MLflow); its value is normalized."""
        from mlflow.genai.scorers import scorer

        def run(inputs: Any = None, outputs: Any = None, expectations: Any = None) -> Any:
            return to_feedback(self, self.score(inputs, outputs, expectations))

        return scorer(run, name=self.spec.name)


def to_feedback(built: BuiltScorer, result: ScoreValue) -> Any:
    """An MLflow ``Feedback`` carrying ``result`` under the scorer's name."""
    from mlflow.entities import AssessmentError, AssessmentSource, Feedback

    source = AssessmentSource(
        source_type="LLM_JUDGE" if built.is_judge else "CODE",
        source_id=built.source_id or built.spec.name,
    )
    if result.error is not None:
        return Feedback(
            name=built.spec.name,
            source=source,
            error=AssessmentError(error_code="SCORER_ERROR", error_message=result.error),
        )
    value = result.value if result.value is not None else result.label
    return Feedback(name=built.spec.name, value=value, rationale=result.rationale, source=source)


@dataclass(kw_only=True)
class Scoring:
    """Builds the scorers of evaluations and holds what they share: the environment, the
    repository root, the judges' retry policy, concurrency limit and call counter."""

    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    repo_root: Path | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 8
    counter: JudgeCounter = field(default_factory=JudgeCounter)
    _slots: threading.BoundedSemaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(max(1, self.concurrency))

    def check(self, specs: Sequence[ScorerSpec]) -> list[str]:
        """What would fail every call (no key, a bad import), before any model call."""
        problems: list[str] = []
        for spec in specs:
            try:
                if spec.type in JUDGE_SCORERS:
                    judges.endpoint(spec, self.environ)
                elif spec.type == "python":
                    usercode.load(spec, self._root(spec))
            except UserInputError as exc:
                problems.extend(exc.problems)
        return problems

    def pin(self, specs: Sequence[ScorerSpec]) -> tuple[ScorerSpec, ...]:
        """``specs`` with each python scorer's source digest, for an exact evaluation key."""
        return tuple(
            replace(s, source_digest=usercode.digest(s, self._root(s)))
            if s.type == "python" and self.repo_root is not None
            else s
            for s in specs
        )

    def build(
        self, specs: Sequence[ScorerSpec], *, counter: JudgeCounter | None = None
    ) -> list[BuiltScorer]:
        """Runnable scorers, in order; UserInputError naming every scorer that cannot run.

        Their judge calls are counted in ``counter`` (default: ``self.counter``).
        """
        built: list[BuiltScorer] = []
        problems: list[str] = []
        for spec in specs:
            try:
                built.append(self._build_one(spec, counter or self.counter))
            except UserInputError as exc:
                problems.extend(exc.problems)
        if problems:
            raise UserInputError(problems)
        return built

    def _build_one(self, spec: ScorerSpec, counter: JudgeCounter) -> BuiltScorer:
        if spec.type in JUDGE_SCORERS:
            return self._judge(spec, counter)
        if spec.type == "python":
            return self._python(spec)
        rule = deterministic.score_function(spec)

        def run(inputs: Any, outputs: Any, expectations: Any) -> ScoreValue:
            return normalize(rule("" if outputs is None else str(outputs), expectations))

        return BuiltScorer(spec=spec, is_judge=False, rule=run)

    def _judge(self, spec: ScorerSpec, counter: JudgeCounter) -> BuiltScorer:
        from prompt_review.scorers import transport

        where = judges.endpoint(spec, self.environ)
        transport.install()
        judge = judges.make(spec)
        shown = judges.describe(spec, where)

        def run(inputs: Any, outputs: Any, expectations: Any) -> ScoreValue:
            counter.add_call()
            call = JudgeCall(endpoint=where, policy=self.policy, counter=counter, slots=self._slots)
            with call.active():
                try:
                    feedback = judge.run(inputs=inputs, outputs=outputs, expectations=expectations)
                except Exception as exc:
                    return ScoreValue.failure(_judge_failure(shown, call, where, exc))
            result = normalize(feedback)
            if result.error is not None:
                return ScoreValue.failure(f"{shown}: {_redact(result.error, where)}")
            return result

        return BuiltScorer(spec=spec, is_judge=True, rule=run, source_id=judge.model)

    def _python(self, spec: ScorerSpec) -> BuiltScorer:
        user = usercode.load(spec, self._root(spec))
        shown = f"python scorer {spec.name!r} ({spec.options['function']})"

        def run(inputs: Any, outputs: Any, expectations: Any) -> ScoreValue:
            try:
                raw = user.run(inputs=inputs, outputs=outputs, expectations=expectations)
            except Exception as exc:
                return ScoreValue.failure(f"{shown} raised {_describe(exc)}")
            result = normalize(raw)
            if result.error is not None:
                return ScoreValue.failure(f"{shown}: {result.error}")
            return result

        return BuiltScorer(
            spec=spec, is_judge=False, rule=run, source_id=str(spec.options["function"])
        )

    def _root(self, spec: ScorerSpec) -> Path:
        if self.repo_root is None:
            raise UserInputError(
                f"scorer {spec.name!r}: a python scorer needs the repository root to import from"
            )
        return self.repo_root


def build(
    specs: Sequence[ScorerSpec],
    *,
    environ: Mapping[str, str],
    repo_root: Path | None,
    policy: RetryPolicy | None = None,
    counter: JudgeCounter | None = None,
) -> list[BuiltScorer]:
    """``Scoring(...).build(specs)`` for a one-off caller."""
    return Scoring(
        environ=environ,
        repo_root=repo_root,
        policy=policy or RetryPolicy(),
        counter=counter or JudgeCounter(),
    ).build(specs)


def to_mlflow(specs: Sequence[ScorerSpec]) -> list[Any]:
    """Scorers that need no environment or repository (the deterministic ones) for MLflow."""
    return [b.mlflow_scorer for b in Scoring().build(specs)]


def preflight(
    specs: Sequence[ScorerSpec], *, environ: Mapping[str, str], repo_root: Path | None
) -> list[str]:
    """Problems that would fail every call of these scorers (no model is called)."""
    return Scoring(environ=environ, repo_root=repo_root).check(specs)


def _judge_failure(shown: str, call: JudgeCall, where: Endpoint, exc: Exception) -> str:
    if call.failure is not None:
        tries = "1 attempt" if call.attempts == 1 else f"{call.attempts} attempts"
        detail = f": {call.detail}" if call.detail else ""
        return f"{shown}: {call.failure} after {tries}{detail}"
    return f"{shown}: {_redact(_describe(exc), where)}"


def _describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    first = lines[0][:500] if lines else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _redact(text: str, where: Endpoint) -> str:
    return text.replace(where.api_key, "***") if where.api_key else text
