"""`.prompt-review.yml`: schema, defaults and strict validation.

Every key has a default, so the file is optional. Validation collects every problem and
reports each with the file, the key path and what was expected.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from prompt_review import schema
from prompt_review.errors import UserInputError

DEFAULT_CONFIG_PATH = ".prompt-review.yml"
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
class ModelConfig:
    """How a prompt becomes an output: which provider, which model, which sampling settings."""

    provider: str = "openai"
    name: str = "gpt-4o-mini"
    temperature: float | None = 0.0
    max_tokens: int | None = None
    base_url: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def identity(self) -> dict[str, Any]:
        """What makes outputs differ; the endpoint (``base_url``) is deployment, not identity."""
        data = asdict(self)
        data.pop("base_url")
        return data


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


@dataclass(frozen=True, kw_only=True)
class GateConfig:
    """When a candidate fails review. See docs in README ("The gate")."""

    alpha: float = 0.05
    max_drop: float = 0.0
    min_score: dict[str, float] = field(default_factory=dict)
    max_error_rate: float = 0.0


@dataclass(frozen=True, kw_only=True)
class EvaluationConfig:
    """How hard we push the model provider."""

    concurrency: int = 8
    max_retries: int = 4
    timeout_seconds: float = 60.0
    repeats: int = 1  # samples per example and version; scores are averaged per example


@dataclass(frozen=True, kw_only=True)
class Config:
    path: str = DEFAULT_CONFIG_PATH
    prompts_dir: str = "prompts"
    experiment: str = "prompt-review"
    alias: str = "production"
    model: ModelConfig = field(default_factory=ModelConfig)
    judge: JudgeModel = field(default_factory=JudgeModel)
    dataset: str = "datasets/{name}.jsonl"
    scorers: tuple[ScorerSpec, ...] = (ScorerSpec(type="exact_match", name="exact_match"),)
    gate: GateConfig = field(default_factory=GateConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)


_NUMBER = {"type": "number"}
_STRING = {"type": "string", "minLength": 1}

MODEL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Which model turns the prompt into an output.",
    "additionalProperties": False,
    "properties": {
        "provider": {
            "type": "string",
            "enum": ["openai", "echo", "python"],
            "description": "openai: any OpenAI-compatible server; echo: offline demo; "
            "python: a 'module:function' entry point.",
        },
        "name": {**_STRING, "description": "Model name, or 'module:function' for python."},
        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
        "max_tokens": {"type": ["integer", "null"], "minimum": 1},
        "base_url": {"type": ["string", "null"], "description": "Overrides OPENAI_BASE_URL."},
        "params": {"type": "object", "description": "Extra request parameters (top_p, seed)."},
    },
}

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

GATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "alpha": {
            "type": "number",
            "minimum": 0.0001,
            "maximum": 0.5,
            "description": "Significance level of the paired test (default 0.05).",
        },
        "max_drop": {
            "type": "number",
            "minimum": 0,
            "description": "Drop in a scorer's mean tolerated even when significant.",
        },
        "min_score": {
            "type": "object",
            "additionalProperties": {"type": "number"},
            "description": "Absolute floor per scorer name for the candidate's mean.",
        },
        "max_error_rate": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "Fraction of examples whose model call may fail.",
        },
    },
}

OVERRIDABLE = {
    "model": MODEL_SCHEMA,
    "dataset": {**_STRING, "description": "Dataset path; '{name}' is the prompt name."},
    "scorers": {"type": "array", "items": SCORER_SCHEMA, "minItems": 1},
    "gate": GATE_SCHEMA,
}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "prompt-review configuration (.prompt-review.yml)",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "prompts_dir": {**_STRING, "description": "Where prompt files live (default prompts)."},
        "experiment": {**_STRING, "description": "MLflow experiment for evaluation runs."},
        "alias": {**_STRING, "description": "Registry alias of the baseline (production)."},
        "defaults": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **{k: v for k, v in OVERRIDABLE.items() if k != "gate"},
                "judge": JUDGE_SCHEMA,
            },
        },
        "gate": GATE_SCHEMA,
        "evaluation": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "concurrency": {"type": "integer", "minimum": 1, "maximum": 64},
                "max_retries": {"type": "integer", "minimum": 0, "maximum": 10},
                "timeout_seconds": {"type": "number", "minimum": 1},
                "repeats": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 20,
                    "description": "Samples per example and version (default 1); scores are "
                    "averaged per example before the versions are compared.",
                },
            },
        },
    },
}


def load_config(
    root: Path, relpath: str = DEFAULT_CONFIG_PATH, *, required: bool = False
) -> Config:
    """Read and validate the config file under ``root``; absent and not required → defaults."""
    path = root / relpath
    if not path.is_file():
        if required:
            raise UserInputError(f"{relpath}: file not found (expected a YAML config file)")
        return replace(Config(path=relpath), prompts_dir=resolve(Config(path=relpath), "prompts"))
    data = read_yaml(path, relpath)
    return parse_config(data, relpath)


def resolve(config: Config, relative: str) -> str:
    """A path written in the config (or a prompt file) is relative to the config's folder."""
    folder = posixpath.dirname(config.path)
    return posixpath.normpath(posixpath.join(folder, relative))


def read_yaml(path: Path, display: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UserInputError(f"{display}: not UTF-8 text") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserInputError(yaml_problem(display, text, exc)) from None


def yaml_problem(display: str, text: str, exc: yaml.YAMLError) -> str:
    """``file: line L, column C: invalid YAML: what`` on one line, whatever PyYAML raised."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
    elif isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
    else:
        line = column = 0
    if isinstance(exc, yaml.reader.ReaderError):
        problem = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
    else:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" line {line}, column {column}:" if line else ""
    return f"{display}:{where} invalid YAML: {problem}"


def parse_config(data: Any, source: str) -> Config:
    if data is None:
        data = {}
    problems = schema.check(data, CONFIG_SCHEMA)
    if problems:
        raise UserInputError([f"{source}: {p}" for p in problems])
    defaults = data.get("defaults", {})
    base = Config(path=source)
    if "judge" in defaults:
        base = replace(base, judge=replace(base.judge, **defaults["judge"]))
    raw_dir: str = data.get("prompts_dir", base.prompts_dir)
    prompts_dir = resolve(base, raw_dir.rstrip("/") or raw_dir)
    if raw_dir.startswith("/") or prompts_dir == ".." or prompts_dir.startswith("../"):
        raise UserInputError(
            f"{source}: prompts_dir: expected a folder inside the repository, "
            f"relative to {posixpath.dirname(source) or 'the repository root'}, got {raw_dir!r}"
        )
    return apply_overrides(
        replace(
            base,
            prompts_dir=prompts_dir,
            experiment=data.get("experiment", base.experiment),
            alias=data.get("alias", base.alias),
            evaluation=EvaluationConfig(**data.get("evaluation", {})),
        ),
        {
            **{k: v for k, v in defaults.items() if k != "judge"},
            **({"gate": data["gate"]} if "gate" in data else {}),
        },
        source,
        "defaults",
    )


def apply_overrides(config: Config, overrides: Mapping[str, Any], source: str, path: str) -> Config:
    """Merge ``model``/``dataset``/``scorers``/``gate`` overrides (already schema-checked)."""
    problems: list[str] = []
    model = config.model
    if "model" in overrides:
        model = replace(model, **overrides["model"])
    scorers = config.scorers
    if "scorers" in overrides:
        scorers_path = f"{path}.scorers" if path else "scorers"
        scorers = parse_scorers(
            overrides["scorers"], source, scorers_path, problems, judge=config.judge
        )
    gate = config.gate
    if "gate" in overrides:
        gate = replace(gate, **overrides["gate"])
    if problems:
        raise UserInputError(problems)
    return replace(
        config,
        model=model,
        dataset=overrides.get("dataset", config.dataset),
        scorers=scorers,
        gate=gate,
    )


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


def stable_hash(data: Any) -> str:
    """SHA-256 of canonical JSON: equal data, equal hash, across runs and machines."""
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of `.prompt-review.yml`."""
    return schema.to_json_schema(CONFIG_SCHEMA)
