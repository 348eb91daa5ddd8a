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

from prompt_review import files, schema
from prompt_review.config_schema import CONFIG_SCHEMA as CONFIG_SCHEMA  # noqa: PLC0414
from prompt_review.config_schema import MODEL_SCHEMA as MODEL_SCHEMA  # noqa: PLC0414
from prompt_review.config_schema import OVERRIDABLE as OVERRIDABLE  # noqa: PLC0414
from prompt_review.errors import UserInputError

# BUILTIN_SCORERS, JudgeModel and ScorerSpec are re-exported: scorer specs are part of a Config.
from prompt_review.scorer_config import BUILTIN_SCORERS as BUILTIN_SCORERS  # noqa: PLC0414
from prompt_review.scorer_config import JudgeModel as JudgeModel  # noqa: PLC0414
from prompt_review.scorer_config import ScorerSpec as ScorerSpec  # noqa: PLC0414
from prompt_review.scorer_config import parse_scorers

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
    response_format: dict[str, Any] | None = None  # MLflow's PromptVersion.response_format
    tools: list[dict[str, Any]] | None = None  # OpenAI tool definitions
    tool_choice: str | dict[str, Any] | None = None

    def identity(self) -> dict[str, Any]:
        """What makes outputs differ; the endpoint (``base_url``) is deployment, not identity.

        Settings left unset are left out, so adding a setting does not change the identity
        (and content hash) of every prompt that does not use it.
        """
        data = asdict(self)
        data.pop("base_url")
        for key in OPTIONAL_MODEL_SETTINGS:
            if data[key] is None:
                del data[key]
        return data


OPTIONAL_MODEL_SETTINGS = ("response_format", "tools", "tool_choice")


@dataclass(frozen=True, kw_only=True)
class GateConfig:
    """When a candidate fails review. See docs in README ("The gate")."""

    alpha: float = 0.05
    max_drop: float = 0.0
    min_score: dict[str, float] = field(default_factory=dict)
    max_error_rate: float = 0.0
    # the scorers whose drops block (and share alpha through Holm); None: every scorer
    required: tuple[str, ...] | None = None
    # opt-in: fail unless each required scorer is shown to be at most this much worse
    non_inferiority: float | None = None


@dataclass(frozen=True, kw_only=True)
class Price:
    """What a model costs, per million tokens (USD)."""

    input: float
    output: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


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
    pricing: dict[str, Price] = field(default_factory=dict)  # model name -> price


def load_config(
    root: Path, relpath: str = DEFAULT_CONFIG_PATH, *, required: bool = False
) -> Config:
    """Read and validate the config file under ``root``; absent and not required → defaults."""
    missing = "file not found (expected a YAML config file)"
    if files.stays_inside(relpath) and not files.exists(root, relpath):
        if required:
            raise UserInputError(f"{relpath}: {missing}")
        return replace(Config(path=relpath), prompts_dir=resolve(Config(path=relpath), "prompts"))
    text = files.read_text(
        root,
        relpath,
        kind="config file",
        limit=files.MAX_CONFIG_BYTES,
        encoding="utf-8-sig",
        missing=missing,
    )
    return parse_config(files.load_yaml(text, relpath), relpath)


def resolve(config: Config, relative: str) -> str:
    """A path written in the config (or a prompt file) is relative to the config's folder."""
    folder = posixpath.dirname(config.path)
    return posixpath.normpath(posixpath.join(folder, relative))


def outside_problem(config: Config, key: str, raw: str, source: str, what: str) -> str | None:
    """The problem with path ``key`` when it leaves the repository once resolved, else None."""
    if files.stays_inside(resolve(config, raw)):
        return None
    folder = posixpath.dirname(config.path) or "the repository root"
    return (
        f"{source}: {key}: expected a {what} inside the repository, relative to {folder}, "
        f"got {raw!r}"
    )


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
    raw_dataset: str = defaults.get("dataset", base.dataset)
    problems = [
        problem
        for key, raw, what in (
            ("prompts_dir", raw_dir, "folder"),
            ("defaults.dataset", raw_dataset, "file"),
        )
        if (problem := outside_problem(base, key, raw.replace("{name}", "x"), source, what))
    ]
    problems += name_problems(data, source)
    if problems:
        raise UserInputError(problems)
    return apply_overrides(
        replace(
            base,
            prompts_dir=prompts_dir,
            experiment=data.get("experiment", base.experiment),
            alias=data.get("alias", base.alias),
            evaluation=EvaluationConfig(**data.get("evaluation", {})),
            pricing={k: Price(**v) for k, v in data.get("pricing", {}).items()},
        ),
        {
            **{k: v for k, v in defaults.items() if k != "judge"},
            **({"gate": data["gate"]} if "gate" in data else {}),
        },
        source,
        "defaults",
    )


ALIAS_RULE = re.compile(r"^[\w\-]+$")  # mlflow.utils.validation's alias rule
RESERVED_ALIAS = re.compile(r"^(latest|[vV]\d+|previous-production)$", re.IGNORECASE)
MAX_ALIAS_CHARS = 255
MAX_EXPERIMENT_CHARS = 500


def name_problems(data: Mapping[str, Any], source: str) -> list[str]:
    """``alias`` and ``experiment`` as MLflow would refuse them, found before any write."""
    problems = []
    alias = data.get("alias")
    if alias is not None:
        if not ALIAS_RULE.fullmatch(alias) or len(alias) > MAX_ALIAS_CHARS:
            problems.append(
                f"{source}: alias: {alias[:80]!r} is not a valid registry alias (expected at "
                f"most {MAX_ALIAS_CHARS} letters, digits, '_' and '-')"
            )
        elif RESERVED_ALIAS.fullmatch(alias):
            problems.append(
                f"{source}: alias: {alias!r} is reserved ('latest' and 'vN' by MLflow, "
                "'previous-production' by prompt-review for rollbacks); choose another name"
            )
    experiment = data.get("experiment")
    if experiment is not None and len(experiment) > MAX_EXPERIMENT_CHARS:
        problems.append(
            f"{source}: experiment: {len(experiment)} characters; expected at most "
            f"{MAX_EXPERIMENT_CHARS} (MLflow's limit for an experiment name)"
        )
    return problems


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
        gate = _gate(gate, overrides["gate"])
    if not path:  # a prompt file: its effective scorers are known now
        problems.extend(gate_name_problems(gate, scorers, source, overrides, config.path))
    if problems:
        raise UserInputError(problems)
    return replace(
        config,
        model=model,
        dataset=overrides.get("dataset", config.dataset),
        scorers=scorers,
        gate=gate,
    )


def _gate(gate: GateConfig, raw: Mapping[str, Any]) -> GateConfig:
    values = dict(raw)
    if "required" in values:
        values["required"] = tuple(values["required"])
    return replace(gate, **values)


def gate_name_problems(
    gate: GateConfig,
    scorers: tuple[ScorerSpec, ...],
    source: str,
    overrides: Mapping[str, Any],
    config_path: str,
) -> list[str]:
    """Every scorer name in ``gate.required`` / ``gate.min_score`` must be a scorer here."""
    known = [s.name for s in scorers]
    listing = ", ".join(known)
    own = overrides.get("gate", {})
    problems: list[str] = []
    for key, names in (("required", gate.required or ()), ("min_score", list(gate.min_score))):
        origin = "" if key in own else f" (set in {config_path})"
        for index, name in enumerate(names):
            if name not in known:
                where = f"gate.required[{index}]" if key == "required" else f"gate.min_score.{name}"
                problems.append(
                    f"{source}: {where}{origin}: {name!r} is not a scorer of this prompt "
                    f"(known: {listing})"
                )
    return problems


def stable_hash(data: Any) -> str:
    """SHA-256 of canonical JSON: equal data, equal hash, across runs and machines."""
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of `.prompt-review.yml`."""
    return schema.to_json_schema(CONFIG_SCHEMA)
