"""The scorers part of `.prompt-review.yml`: which scorers exist, their options, the judge
model, and the checks made on them when the config is read (before any model call).

Kept apart from ``config`` so that the scorers' schema and parsing live in one place;
``config`` re-exports ``ScorerSpec`` and ``JudgeModel``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

_STRING = {"type": "string", "minLength": 1}

BUILTIN_SCORERS = ("exact_match", "contains", "regex", "is_json", "max_length")
MLFLOW_JUDGES = (
    "correctness",
    "relevance_to_query",
    "safety",
    "guidelines",
    "expectations_guidelines",
)
JUDGE_SCORERS = (*MLFLOW_JUDGES, "judge")  # scorers that call a judge model
SCORER_TYPES = (*BUILTIN_SCORERS, *JUDGE_SCORERS, "python")
FEEDBACK_VALUE_TYPES = ("bool", "int", "float", "str")
# make_judge's template variables that one example provides; MLflow also knows `trace` and
# `conversation`, which prompt-review does not pass to a scorer.
JUDGE_VARIABLES = ("inputs", "outputs", "expectations")
_MLFLOW_ONLY_VARIABLES = ("trace", "conversation")
# mlflow.prompt.constants.PROMPT_TEMPLATE_VARIABLE_PATTERN (3.17.2), copied so that config
# parsing does not import MLflow; tests/unit/test_scorers.py checks the two stay equal.
TEMPLATE_VARIABLE = re.compile(
    r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*(?:\.[a-zA-Z_][a-zA-Z0-9_]*)*)\s*\}\}"
)
SCORER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
ENTRY_POINT = re.compile(
    r"(?P<module>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r":(?P<attribute>[A-Za-z_][A-Za-z0-9_]*)"
)


@dataclass(frozen=True, kw_only=True)
class JudgeModel:
    """The model behind an LLM judge; any OpenAI-compatible endpoint."""

    provider: str = "openai"
    name: str = "gpt-4o-mini"
    base_url: str | None = None

    @property
    def uri(self) -> str:
        """MLflow's model URI form (``openai:/gpt-4o-mini``)."""
        return f"{self.provider}:/{self.name}"

    def identity(self) -> dict[str, Any]:
        """What makes verdicts differ; the endpoint (``base_url``) is deployment, not identity."""
        return {"provider": self.provider, "name": self.name}


@dataclass(frozen=True, kw_only=True)
class ScorerSpec:
    """One scorer as configured: its type, the name its scores carry, and its options.

    ``judge`` is the judge model, resolved from ``defaults.judge`` and the scorer's ``model``
    (None for scorers that call no model). ``source_digest`` is the SHA-256 of a python
    scorer's module, pinned before an evaluation so that edited code is never reused.
    """

    type: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    judge: JudgeModel | None = None
    source_digest: str | None = None

    def identity(self) -> dict[str, Any]:
        """What makes scores differ: part of the evaluation key, so reuse stays exact."""
        data: dict[str, Any] = {"type": self.type, "name": self.name, "options": self.options}
        if self.judge is not None:
            data["judge"] = self.judge.identity()
        if self.source_digest is not None:
            data["source_digest"] = self.source_digest
        return data


JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The model LLM judges call (any OpenAI-compatible endpoint).",
    "additionalProperties": False,
    "properties": {
        "provider": {"type": "string", "enum": ["openai"], "description": "openai-compatible."},
        "name": {**_STRING, "description": "Model name (default gpt-4o-mini)."},
        "base_url": {
            "type": ["string", "null"],
            "description": "Overrides OPENAI_BASE_URL; a custom endpoint needs no API key.",
        },
    },
}

SCORER_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "string", "enum": list(SCORER_TYPES)},
        {
            "type": "object",
            "description_short": "a mapping with 'type' and its options",
            "additionalProperties": False,
            "required": ["type"],
            "properties": {
                "type": {"type": "string", "enum": list(SCORER_TYPES)},
                "name": {**_STRING, "description": "Name the scores carry (default: type)."},
                "pattern": {**_STRING, "description": "regex: the pattern to search for."},
                "max": {"type": "integer", "minimum": 1, "description": "max_length: limit."},
                "case_sensitive": {"type": "boolean", "description": "exact_match, contains."},
                "guidelines": {
                    "type": "array",
                    "minItems": 1,
                    "items": _STRING,
                    "description": "guidelines: what every output must follow.",
                },
                "instructions": {
                    **_STRING,
                    "description": "judge: what to grade, with {{ inputs }}, {{ outputs }}, "
                    "{{ expectations }}.",
                },
                "feedback_value_type": {
                    "type": "string",
                    "enum": list(FEEDBACK_VALUE_TYPES),
                    "description": "judge: the type of its result.",
                },
                "function": {
                    **_STRING,
                    "description": "python: 'module.path:function', an MLflow @scorer in "
                    "the repository.",
                },
                "model": {
                    "oneOf": [
                        {**_STRING, "description": "Judge model name."},
                        JUDGE_SCHEMA,
                    ],
                    "description": "LLM judges: overrides defaults.judge.",
                },
            },
        },
    ]
}


_OPTIONS: dict[str, frozenset[str]] = {
    "exact_match": frozenset({"case_sensitive"}),
    "contains": frozenset({"case_sensitive"}),
    "regex": frozenset({"pattern"}),
    "is_json": frozenset(),
    "max_length": frozenset({"max"}),
    "correctness": frozenset({"model"}),
    "relevance_to_query": frozenset({"model"}),
    "safety": frozenset({"model"}),
    "guidelines": frozenset({"guidelines", "model"}),
    "expectations_guidelines": frozenset({"model"}),
    "judge": frozenset({"instructions", "feedback_value_type", "model"}),
    "python": frozenset({"function"}),
}
_REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "regex": (("pattern", "regex needs a pattern to search for"),),
    "max_length": (("max", "max_length needs a maximum length"),),
    "guidelines": (("guidelines", "guidelines needs a list of guidelines to check"),),
    "judge": (
        ("name", "a judge needs a name for its scores"),
        (
            "instructions",
            "a judge needs instructions with {{ inputs }}, {{ outputs }} or {{ expectations }}",
        ),
        (
            "feedback_value_type",
            "expected one of 'bool', 'int', 'float', 'str': the type of the judge's result",
        ),
    ),
    "python": (
        ("name", "a python scorer needs a name for its scores"),
        ("function", "expected 'module.path:function', an MLflow @scorer in the repository"),
    ),
}


def parse_scorers(
    items: list[Any],
    source: str,
    path: str,
    problems: list[str],
    *,
    judge: JudgeModel | None = None,
) -> tuple[ScorerSpec, ...]:
    """Scorer specs from schema-checked items; a judge's model is resolved against ``judge``."""
    default_judge = judge or JudgeModel()
    specs: list[ScorerSpec] = []
    for index, raw in enumerate(items):
        where = f"{source}: {path}[{index}]"
        item: dict[str, Any] = {"type": raw} if isinstance(raw, str) else raw
        kind = item["type"]
        options = {k: v for k, v in item.items() if k not in ("type", "name", "model")}
        for key, why in _REQUIRED.get(kind, ()):
            if key not in item:
                problems.append(f"{where}.{key}: missing ({why})")
        allowed = _OPTIONS[kind]
        for key in sorted(set(item) - allowed - {"type", "name"}):
            expected = ", ".join(sorted(allowed)) or "no options"
            problems.append(f"{where}.{key}: not an option of {kind} (expected {expected})")
        name = item.get("name", kind)
        if not SCORER_NAME.fullmatch(name):
            problems.append(
                f"{where}.name: {name!r} is not a valid scorer name (expected up to 100 "
                "letters, digits, '_', '-' and '.', not starting with '-' or '.')"
            )
        if kind == "regex" and "pattern" in options:
            problems.extend(_regex_problem(options["pattern"], f"{where}.pattern"))
        if kind == "judge" and "instructions" in options:
            problems.extend(instructions_problems(options["instructions"], f"{where}.instructions"))
        if (
            kind == "python"
            and "function" in options
            and not ENTRY_POINT.fullmatch(options["function"])
        ):
            problems.append(
                f"{where}.function: {options['function']!r} is not an entry point (expected "
                "'module.path:function', e.g. 'scorers.tone:polite')"
            )
        specs.append(
            ScorerSpec(
                type=kind,
                name=name,
                options=options,
                judge=_judge_model(item.get("model"), default_judge)
                if kind in JUDGE_SCORERS
                else None,
            )
        )
    names = [s.name for s in specs]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{source}: {path}: two scorers are named {name!r} (give one a 'name')")
    return tuple(specs)


def _judge_model(model: str | dict[str, Any] | None, default: JudgeModel) -> JudgeModel:
    if model is None:
        return default
    if isinstance(model, str):
        return replace(default, name=model)
    return replace(default, **model)


def instructions_problems(instructions: str, where: str) -> list[str]:
    """make_judge's checks on its template variables, made before any model call."""
    variables = set(TEMPLATE_VARIABLE.findall(instructions))
    unsupported = sorted(variables - set(JUDGE_VARIABLES))
    allowed = ", ".join(f"{{{{ {v} }}}}" for v in JUDGE_VARIABLES)
    if unsupported:
        shown = ", ".join(f"{{{{ {v} }}}}" for v in unsupported)
        why = (
            "prompt-review judges one example at a time, without a trace or a conversation"
            if set(unsupported) <= set(_MLFLOW_ONLY_VARIABLES)
            else "a judge's instructions can only use these variables"
        )
        return [f"{where}: unsupported template variable(s) {shown} ({why}; use {allowed})"]
    if not variables:
        return [f"{where}: no template variable (expected at least one of {allowed})"]
    return []


def _regex_problem(pattern: str, where: str) -> list[str]:
    try:
        re.compile(pattern)
    except re.error as exc:
        return [f"{where}: invalid regular expression: {exc}"]
    return []
