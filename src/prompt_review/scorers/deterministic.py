"""The deterministic scorers: rules on the output text, no model call."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from prompt_review.errors import UserInputError
from prompt_review.scorer_config import ScorerSpec

ScoreFn = Callable[[str, Mapping[str, Any]], bool]


def _expected_text(expectations: Mapping[str, Any]) -> str:
    value = expectations["expected_response"]
    return value if isinstance(value, str) else json.dumps(value)


def _substrings(expectations: Mapping[str, Any]) -> list[str]:
    value = expectations.get("expected_substrings", expectations.get("expected_response"))
    return [value] if isinstance(value, str) else [str(v) for v in value]


def score_function(spec: ScorerSpec) -> ScoreFn:
    """The pure scoring rule of one configured deterministic scorer."""
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
