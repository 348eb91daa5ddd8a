"""promptfoo's assertions → prompt-review's scorers and per-record expectations.

The mapping is described in ``promptfoo.py``; what has no counterpart is refused, with what
to write instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from prompt_review.errors import UserInputError

# promptfoo's BaseAssertionTypesSchema (src/types), for reading CSV ``__expected`` cells.
ASSERTION_TYPES = (  # noqa: SIM905 (one list, as promptfoo's source has it)
    "answer-relevance bleu classifier contains contains-all contains-any contains-html "
    "contains-json contains-sql contains-xml context-faithfulness context-recall "
    "context-relevance conversation-relevance cost equals factuality finish-reason g-eval gleu "
    "guardrails human icontains icontains-all icontains-any is-html is-json is-refusal is-sql "
    "is-valid-function-call is-valid-openai-function-call is-valid-openai-tools-call is-xml "
    "javascript latency levenshtein llm-rubric meteor model-graded-closedqa "
    "model-graded-factuality moderation perplexity perplexity-score pi python regex rouge-l "
    "rouge-n rouge-s ruby select-best similar starts-with tool-call-f1 webhook"
).split()

_CSV_ASSERTION = re.compile(
    r"^(not-)?("
    + "|".join(re.escape(t) for t in sorted(ASSERTION_TYPES, key=len, reverse=True))
    # promptfoo's pattern: type, optional (threshold), optional :value
    + r")(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$"
)

FAMILY = {
    "equals": "equals",
    "contains": "contains",
    "contains-all": "contains",
    "icontains": "icontains",
    "icontains-all": "icontains",
    "regex": "regex",
    "starts-with": "regex",
    "is-json": "is-json",
    "llm-rubric": "llm-rubric",
}

INSTEAD = {
    "javascript": "port the check to a Python MLflow @scorer: {type: python, name: NAME, "
    "function: 'module:function'}",
    "python": "rewrite it as an MLflow @scorer (parameters inputs, outputs, expectations) and "
    "use {type: python, name: NAME, function: 'module:function'}",
    "similar": "there is no embedding-similarity scorer; use a judge ({type: judge} or "
    "{type: correctness} with expectations.expected_response)",
    "factuality": "use {type: correctness} with the reference answer in "
    "expectations.expected_response",
    "model-graded-factuality": "use {type: correctness} with the reference answer in "
    "expectations.expected_response",
    "model-graded-closedqa": "use {type: guidelines} or {type: judge} with the criterion",
    "answer-relevance": "use {type: relevance_to_query}",
    "moderation": "use {type: safety}",
    "contains-any": "write it as {type: regex} with alternatives (a|b|c) when every test "
    "shares it, or as a Python @scorer",
    "icontains-any": "write it as {type: regex} with (?i) and alternatives when every test "
    "shares it, or as a Python @scorer",
    "cost": "prompt-review reports tokens per version; cost gates are not supported",
    "latency": "prompt-review reports latency per version; latency gates are not supported",
}

_GENERIC = "write it as a Python MLflow @scorer ({type: python}) or a judge ({type: judge})"

TEST_KEYS = {"vars", "assert", "description", "metadata", "options", "threshold"}


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def raise_any(self) -> None:
        if self.items:
            raise UserInputError(self.items)


def csv_assertion(cell: str) -> dict[str, Any]:
    legacy = (
        ("javascript:", "javascript"),
        ("fn:", "javascript"),
        ("eval:", "javascript"),
        ("grade:", "llm-rubric"),
        ("llm-rubric:", "llm-rubric"),
        ("python:", "python"),
        ("file://", "javascript"),
    )
    for prefix, kind in legacy:
        if cell.startswith(prefix):
            return {"type": kind, "value": cell[len(prefix) :]}
    match = _CSV_ASSERTION.match(cell)
    if match is None:
        return {"type": "equals", "value": cell}
    negated, kind, threshold, value = match.groups()
    assertion: dict[str, Any] = {"type": f"{negated or ''}{kind}"}
    if kind in ("contains-all", "contains-any", "icontains-all", "icontains-any"):
        assertion["value"] = [v.strip() for v in (value or "").split(",")]
    elif value is not None:
        assertion["value"] = value
    if threshold:
        assertion["threshold"] = float(threshold)
    return assertion


def check_test(test: Mapping[str, Any], where: str, problems: Problems) -> None:
    for key in test:
        if key not in TEST_KEYS:
            problems.add(f"{where}: {key}", "not supported (expected vars, assert, description)")
    if test.get("options"):
        problems.add(
            f"{where}: options",
            "prefix/suffix/transform options change the prompt or output; fold them into the "
            "template instead",
        )
    if test.get("threshold") not in (None, ""):
        problems.add(
            f"{where}: threshold", "test thresholds are not supported (each scorer is gated)"
        )
    if not isinstance(test.get("vars", {}), dict):
        problems.add(f"{where}: vars", "expected a mapping")
    if not isinstance(test.get("assert", []), list):
        problems.add(f"{where}: assert", "expected a list")


def family(assertion: Any, where: str, problems: Problems) -> str | None:
    if not isinstance(assertion, dict) or not isinstance(assertion.get("type"), str):
        problems.add(where, "expected a mapping with a type")
        return None
    kind = assertion["type"]
    if kind.startswith("not-"):
        problems.add(
            f"{where}: type {kind}",
            "negated assertions are not supported; " + INSTEAD.get(kind[4:], _GENERIC),
        )
        return None
    if kind not in FAMILY:
        problems.add(f"{where}: type {kind}", "not supported; " + INSTEAD.get(kind, _GENERIC))
        return None
    extra = sorted(set(assertion) - {"type", "value", "metric", "weight"})
    if extra or assertion.get("weight", 1) != 1:
        shown = ", ".join(extra) or "weight"
        problems.add(
            f"{where}: {shown}",
            "not supported on an assertion (each scorer is gated on its own, unweighted)",
        )
        return None
    value = assertion.get("value")
    if kind == "is-json" and value not in (None, ""):
        problems.add(
            f"{where}: is-json value",
            "a JSON Schema check is not supported (is_json only checks that the output parses); "
            "set model.response_format to that schema, or check it in a Python @scorer",
        )
        return None
    if kind.endswith("-all"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.add(f"{where}: value", "expected a list of strings")
            return None
    elif kind != "is-json" and not isinstance(value, str | int | float):
        problems.add(f"{where}: value", "expected a string")
        return None
    return FAMILY[kind]


def scorers(
    rows: list[tuple[str, dict[str, Any], dict[str, list[Any]], dict[str, Any]]],
    problems: Problems,
) -> tuple[list[Any], list[dict[str, Any]]]:
    families = sorted({f for _, _, found, _ in rows for f in found})
    expectations: list[dict[str, Any]] = [{} for _ in rows]
    scorers: list[Any] = []
    if "contains" in families and "icontains" in families:
        problems.add(
            rows[0][0].split(": ")[0],
            "mixes contains and icontains: prompt-review's contains scorer reads one list of "
            "substrings per example, matched one way; use one of them",
        )
        return [], expectations
    for family in families:
        missing = [where for where, _, found, _ in rows if family not in found]
        if missing:
            shown = ", ".join(missing[:3]) + (
                f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            )
            problems.add(
                shown,
                f"no {family} assertion, which other tests have: prompt-review scores every "
                "example with every scorer; add it to defaultTest.assert or to every test",
            )
            continue
        values = [found[family] for _, _, found, _ in rows]
        metric = _metric(values, family)
        if family == "equals":
            for (where, _, _, _), asserts, expected in zip(rows, values, expectations, strict=True):
                if len(asserts) > 1:
                    problems.add(where, "several equals assertions; keep one")
                expected["expected_response"] = asserts[0]["value"]
            scorers.append(_named("exact_match", metric))
        elif family in ("contains", "icontains"):
            for asserts, expected in zip(values, expectations, strict=True):
                expected["expected_substrings"] = [
                    str(v)
                    for a in asserts
                    for v in (a["value"] if isinstance(a["value"], list) else [a["value"]])
                ]
            spec: str | dict[str, Any] = "contains"
            if family == "icontains":
                spec = {"type": "contains", "case_sensitive": False}
            scorers.append(_named(spec, metric))
        elif family == "regex":
            patterns = [sorted(_pattern(a) for a in asserts) for asserts in values]
            if any(p != patterns[0] for p in patterns):
                problems.add(
                    rows[0][0].split(": ")[0],
                    "regex/starts-with patterns differ between tests: a regex scorer has one "
                    "pattern for every example; put the shared ones in defaultTest.assert",
                )
                continue
            for number, pattern in enumerate(patterns[0]):
                name = "regex" if number == 0 else f"regex_{number + 1}"
                scorers.append({"type": "regex", "name": name, "pattern": pattern})
        elif family == "is-json":
            scorers.append(_named("is_json", metric))
        else:
            rubrics = [[str(a["value"]) for a in asserts] for asserts in values]
            if all(r == rubrics[0] for r in rubrics):
                scorers.append(
                    {"type": "guidelines", "name": metric or "rubric", "guidelines": rubrics[0]}
                )
            else:
                for rubric, expected in zip(rubrics, expectations, strict=True):
                    expected["guidelines"] = rubric
                scorers.append(_named("expectations_guidelines", metric))
    return scorers, expectations


def _pattern(assertion: Mapping[str, Any]) -> str:
    value = str(assertion["value"])
    return "^" + re.escape(value) if assertion["type"] == "starts-with" else value


def _metric(values: list[list[dict[str, Any]]], family: str) -> str | None:
    metrics = {a.get("metric") for asserts in values for a in asserts}
    if len(metrics) == 1:
        metric = metrics.pop()
        return metric if isinstance(metric, str) and metric else None
    return None


def _named(spec: str | dict[str, Any], metric: str | None) -> Any:
    if metric is None:
        return spec
    mapping = {"type": spec} if isinstance(spec, str) else dict(spec)
    return {**mapping, "name": metric}
