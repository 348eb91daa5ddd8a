"""Built-in deterministic scorers, as plain functions and as MLflow scorers.

Each scorer reads the model output and, where it needs one, an expectation of the
record. Which expectation each needs is declared here so that a dataset row missing it
is reported before any model is called.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prompt_review.config import ScorerSpec
from prompt_review.datasets import Dataset
from prompt_review.errors import UserInputError

ScoreFn = Callable[[str, Mapping[str, Any]], bool]


def _expected_text(expectations: Mapping[str, Any]) -> str:
    value = expectations["expected_response"]
    return value if isinstance(value, str) else json.dumps(value)


def _substrings(expectations: Mapping[str, Any]) -> list[str]:
    value = expectations.get("expected_substrings", expectations.get("expected_response"))
    return [value] if isinstance(value, str) else [str(v) for v in value]


def needed_expectation(spec: ScorerSpec) -> tuple[str, ...]:
    """Expectation keys a record must carry for this scorer (any one of them)."""
    if spec.type == "exact_match":
        return ("expected_response",)
    if spec.type == "contains":
        return ("expected_substrings", "expected_response")
    return ()


def score_function(spec: ScorerSpec) -> ScoreFn:
    """The pure scoring rule of one configured scorer."""
    case_sensitive = bool(spec.options.get("case_sensitive", True))

    def norm(text: str) -> str:
        return text if case_sensitive else text.casefold()

    if spec.type == "exact_match":
        return lambda out, exp: norm(out.strip()) == norm(_expected_text(exp).strip())
    if spec.type == "contains":
        return lambda out, exp: all(norm(s) in norm(out) for s in _substrings(exp))
    if spec.type == "regex":
        pattern = re.compile(str(spec.options["pattern"]))
        return lambda out, exp: pattern.search(out) is not None
    if spec.type == "is_json":
        return lambda out, exp: _parses_as_json(out)
    if spec.type == "max_length":
        limit = int(spec.options["max"])
        return lambda out, exp: len(out) <= limit
    raise UserInputError(f"unknown scorer type {spec.type!r}")


def _parses_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def check_expectations(dataset: Dataset, specs: Sequence[ScorerSpec]) -> None:
    """Every record must carry what every scorer reads: checked before any model call."""
    problems = []
    for spec in specs:
        keys = needed_expectation(spec)
        if not keys:
            continue
        for example in dataset.examples:
            if not any(k in example.expectations for k in keys):
                wanted = " or ".join(repr(k) for k in keys)
                problems.append(
                    f"{example.location}: expectations: missing {wanted} "
                    f"(needed by scorer {spec.name!r})"
                )
            elif spec.type == "contains":
                key = next(k for k in keys if k in example.expectations)
                value = example.expectations[key]
                if not isinstance(value, str | list):
                    problems.append(
                        f"{example.location}: expectations.{key}: "
                        "expected a string or a list of strings"
                    )
                elif value == []:
                    problems.append(
                        f"{example.location}: expectations.{key}: empty list "
                        f"(expected at least one substring; scorer {spec.name!r} would always pass)"
                    )
    if problems:
        raise UserInputError(problems)


def to_mlflow(specs: Sequence[ScorerSpec]) -> list[Any]:
    """Wrap the configured scorers as MLflow ``Scorer`` objects (imports MLflow)."""
    from mlflow.genai.scorers import scorer

    wrapped = []
    for spec in specs:
        rule = score_function(spec)

        def run(outputs: Any, expectations: Any = None, _rule: ScoreFn = rule) -> bool:
            return _rule("" if outputs is None else str(outputs), expectations or {})

        wrapped.append(scorer(run, name=spec.name))
    return wrapped
