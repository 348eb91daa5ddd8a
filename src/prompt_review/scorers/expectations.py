"""What each scorer reads from a record's expectations, checked before any model call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prompt_review.datasets import Dataset, Example
from prompt_review.errors import UserInputError
from prompt_review.scorer_config import TEMPLATE_VARIABLE, ScorerSpec

_NEEDS: dict[str, tuple[str, ...]] = {
    "exact_match": ("expected_response",),
    "contains": ("expected_substrings", "expected_response"),
    "correctness": ("expected_response", "expected_facts"),
    "expectations_guidelines": ("guidelines",),
}


def needed_expectation(spec: ScorerSpec) -> tuple[str, ...]:
    """Expectation keys a record must carry for this scorer (any one of them)."""
    return _NEEDS.get(spec.type, ())


def reads_expectations(spec: ScorerSpec) -> bool:
    """A custom judge whose instructions show ``{{ expectations }}`` needs some."""
    instructions = str(spec.options.get("instructions", ""))
    return spec.type == "judge" and "expectations" in TEMPLATE_VARIABLE.findall(instructions)


def check_expectations(dataset: Dataset, specs: Sequence[ScorerSpec]) -> None:
    """Every record must carry what every scorer reads: checked before any model call."""
    problems: list[str] = []
    for spec in specs:
        problems.extend(_name_clashes(dataset, spec))
        keys = needed_expectation(spec)
        for example in dataset.examples:
            if reads_expectations(spec) and not example.expectations:
                problems.append(
                    f"{example.location}: expectations: missing (needed by scorer "
                    f"{spec.name!r}: its instructions use {{{{ expectations }}}})"
                )
            if not keys:
                continue
            key = next((k for k in keys if k in example.expectations), None)
            if key is None:
                wanted = " or ".join(repr(k) for k in keys)
                problems.append(
                    f"{example.location}: expectations: missing {wanted} "
                    f"(needed by scorer {spec.name!r})"
                )
                continue
            problem = _shape_problem(spec, key, example.expectations[key])
            if problem:
                problems.append(f"{example.location}: expectations.{key}: {problem}")
    if problems:
        raise UserInputError(problems)


def _shape_problem(spec: ScorerSpec, key: str, value: Any) -> str | None:
    if spec.type == "contains":
        if not isinstance(value, str | list):
            return "expected a string or a list of strings"
        if value == []:
            return (
                f"empty list (expected at least one substring; scorer {spec.name!r} "
                "would always pass)"
            )
    if (spec.type, key) in (("correctness", "expected_facts"), ("expectations_guidelines", key)):
        strings = [value] if isinstance(value, str) and key == "guidelines" else value
        if (
            not isinstance(strings, list)
            or not strings
            or not all(isinstance(s, str) and s.strip() for s in strings)
        ):
            shape = "a non-empty string or list" if key == "guidelines" else "a non-empty list"
            return f"expected {shape} of strings (read by scorer {spec.name!r})"
    return None


def _name_clashes(dataset: Dataset, spec: ScorerSpec) -> list[str]:
    """MLflow's result table has one ``NAME/value`` column per scorer and per expectation."""
    first: Example | None = next((e for e in dataset.examples if spec.name in e.expectations), None)
    if first is None:
        return []
    return [
        f"{first.location}: expectations.{spec.name}: has the name of scorer {spec.name!r}, "
        "and MLflow would mix the two up in its results (rename the scorer with 'name:')"
    ]
