"""`.prompt-review.yml`: schema, defaults and strict validation.

Every key has a default, so the file is optional. Validation collects every problem and
reports each with the file, the key path and what was expected.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from prompt_review import schema
from prompt_review.errors import UserInputError

# BUILTIN_SCORERS, JudgeModel and ScorerSpec are re-exported: scorer specs are part of a Config.
from prompt_review.scorer_config import BUILTIN_SCORERS as BUILTIN_SCORERS  # noqa: PLC0414
from prompt_review.scorer_config import JUDGE_SCHEMA, SCORER_SCHEMA, parse_scorers
from prompt_review.scorer_config import JudgeModel as JudgeModel  # noqa: PLC0414
from prompt_review.scorer_config import ScorerSpec as ScorerSpec  # noqa: PLC0414

DEFAULT_CONFIG_PATH = ".prompt-review.yml"


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


def stable_hash(data: Any) -> str:
    """SHA-256 of canonical JSON: equal data, equal hash, across runs and machines."""
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of `.prompt-review.yml`."""
    return schema.to_json_schema(CONFIG_SCHEMA)
