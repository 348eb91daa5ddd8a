"""Prompt files: parse, validate against what MLflow accepts, hash, load."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from prompt_review import files, schema
from prompt_review.config import (
    MODEL_SCHEMA,
    OVERRIDABLE,
    Config,
    GateConfig,
    ModelConfig,
    ScorerSpec,
    apply_overrides,
    outside_problem,
    resolve,
    stable_hash,
)
from prompt_review.errors import UserInputError
from prompt_review.templates import (
    Message,
    Renderer,
    Template,
    TemplateError,
    Variables,
    parse_template,
)

STRUCTURED_SUFFIXES = (".yaml", ".yml", ".json")
TEXT_SUFFIXES = (".txt", ".md")
PROMPT_SUFFIXES = STRUCTURED_SUFFIXES + TEXT_SUFFIXES
# What MLflow 3.17.2 stores, checked when a prompt is parsed so that a bad name or a huge
# template is an input error before any registry write, never a failed write after one.
NAME_RULE = re.compile(r"^[a-zA-Z0-9_.-]+$")  # mlflow.prompt.constants.PROMPT_NAME_RULE
# registered_models.name is VARCHAR(256), and the evaluation run "<name>-v<N>-production"
# must fit runs.name, VARCHAR(250) (PostgreSQL and MySQL enforce both; SQLite neither).
MAX_NAME_CHARS = 200
# The template is the model-version tag mlflow.prompt.text (a chat: its JSON), at most
# MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH characters.
MAX_TEMPLATE_CHARS = 100_000
# registered_models.description and model_versions.description are VARCHAR(5000). (Version
# tags passed to register_prompt are copied to the prompt's tags, VARCHAR(5000) too: the
# registry sets the model settings tag on the version alone, where MLflow allows 100,000.)
MAX_DESCRIPTION_CHARS = 5000
# logged_model_params.param_key is VARCHAR(255); a model param ``k`` is logged as "param.k".
MAX_PARAM_KEY_CHARS = 255 - len("param.")

PROMPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "description": "Registry name (default: stem)."},
        "description": {"type": "string", "description": "Commit message of the new version."},
        "template": {"type": "string", "minLength": 1, "description": "Text with {{ vars }}."},
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["role", "content"],
                "properties": {
                    "role": {"type": "string", "enum": ["system", "user", "assistant"]},
                    "content": {"type": "string"},
                },
            },
        },
        **OVERRIDABLE,
        "model": MODEL_SCHEMA,
    },
}


@dataclass(frozen=True, kw_only=True)
class Prompt:
    """One prompt file with its effective settings (defaults merged with its overrides)."""

    name: str
    source_path: str
    template: Template
    description: str | None
    model: ModelConfig
    dataset: str
    scorers: tuple[ScorerSpec, ...]
    gate: GateConfig

    @property
    def is_chat(self) -> bool:
        return isinstance(self.template, list)

    @cached_property
    def renderer(self) -> Renderer:
        return Renderer(self.template)

    @cached_property
    def parsed(self) -> Variables:
        """The strict parse of the template (``parse_prompt`` has run it once already)."""
        return parse_template(self.template)

    @property
    def is_jinja(self) -> bool:
        """MLflow renders this template with Jinja (it has a ``{% %}`` tag)."""
        return self.renderer.jinja

    @property
    def variables(self) -> tuple[str, ...]:
        """Top-level input names the template reads, in first-use order."""
        return self.parsed.names

    @property
    def variable_paths(self) -> tuple[str, ...]:
        """Inputs every example must have (``a`` or ``a.b``), in first-use order.

        A Jinja variable read only under ``{% if it %}``, ``is defined`` or ``| default`` is
        optional and not listed.
        """
        return self.parsed.required

    @property
    def content_hash(self) -> str:
        """Identity of a prompt version: its template and the model settings it ships with."""
        return content_hash(self.template, self.model)

    def render(self, inputs: Mapping[str, Any]) -> list[Message]:
        """The messages sent to the model for one example: MLflow's ``PromptVersion.format``
        of this template with ``inputs``, a text prompt as one user message.

        Raises ``TemplateError`` (an input error naming the prompt file) when MLflow's
        ``format`` would fail for these inputs.
        """
        try:
            rendered = self.renderer.render(inputs)
        except TemplateError as exc:
            raise TemplateError([f"{self.source_path}: {p}" for p in exc.problems]) from None
        if isinstance(rendered, str):
            return [{"role": "user", "content": rendered}]
        return rendered

    def check_inputs(self, examples: Iterable[Any]) -> None:
        """Render every example once, before any model call: each failure is a problem
        naming the dataset record (``example.location``) and this prompt file."""
        problems: list[str] = []
        for example in examples:
            try:
                self.renderer.render(example.inputs)
            except TemplateError as exc:
                problems.extend(
                    f"{example.location}: inputs do not fit the template in {self.source_path}: {p}"
                    for p in exc.problems
                )
        if problems:
            raise UserInputError(problems)

    def text(self) -> str:
        """Human-readable form, for diffs in the report."""
        return template_text(self.template)


def content_hash(template: Template, model: ModelConfig) -> str:
    return stable_hash({"template": template, "model": model.identity()})


def template_text(template: Template) -> str:
    if isinstance(template, list):
        return "\n".join(f"[{m['role']}]\n{m['content']}" for m in template)
    return template


def parse_prompt(text: str, source_path: str, config: Config) -> Prompt:
    """Parse one prompt file's text; ``source_path`` is repo-relative (for messages and tags)."""
    path = PurePosixPath(source_path)
    suffix = path.suffix.lower()
    text = text.removeprefix("\ufeff")
    if suffix in TEXT_SUFFIXES:
        if not text.strip():
            raise UserInputError(f"{source_path}: empty prompt (expected template text)")
        data: dict[str, Any] = {"template": text}
    else:
        data = _structured(text, source_path, suffix)
    name = data.get("name", path.stem)
    problems = _name_problems(name, source_path)
    if ("template" in data) == ("messages" in data):
        problems.append(f"{source_path}: expected exactly one of 'template' or 'messages'")
    if problems:
        raise UserInputError(problems)
    effective = apply_overrides(config, data, source_path, "")
    template: Template = data.get("template") or [
        {"role": m["role"], "content": m["content"]} for m in data["messages"]
    ]
    try:
        parse_template(template)
    except TemplateError as exc:
        raise TemplateError([f"{source_path}: {p}" for p in exc.problems]) from None
    dataset = effective.dataset.replace("{name}", name)
    where = ("dataset", source_path) if "dataset" in data else ("defaults.dataset", config.path)
    problems = [f"{source_path}: {p}" for p in model_problems(effective.model)]
    problems += _registry_problems(template, data.get("description"), effective.model, source_path)
    if outside := outside_problem(config, where[0], dataset, where[1], "file"):
        problems.append(outside)
    if problems:
        raise UserInputError(problems)
    return Prompt(
        name=name,
        source_path=source_path,
        template=template,
        description=data.get("description"),
        model=effective.model,
        dataset=resolve(config, dataset),
        scorers=effective.scorers,
        gate=effective.gate,
    )


TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_SETTINGS_CHARS = 100_000  # mlflow.utils.validation.MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH


def model_problems(model: ModelConfig) -> list[str]:
    """What the schema cannot see in the model settings: each as ``model.key: ...``."""
    problems = []
    if model.response_format is not None:
        problems.extend(_response_format_problems(model.response_format))
    names = [tool["function"]["name"] for tool in model.tools or []]
    for index, name in enumerate(names):
        if not TOOL_NAME.fullmatch(name):
            problems.append(
                f"model.tools[{index}].function.name: {name!r} is not a valid tool name "
                "(expected 1-64 letters, digits, '_' or '-')"
            )
        elif name in names[:index]:
            problems.append(f"model.tools[{index}].function.name: {name!r} is defined twice")
    size = len(json.dumps(model.identity(), ensure_ascii=False))
    if size > MAX_SETTINGS_CHARS:
        problems.append(
            f"model: the settings are {size:,} characters as JSON (tools and response_format "
            f"included); MLflow keeps them in a prompt version tag of at most "
            f"{MAX_SETTINGS_CHARS:,}: shorten the tool descriptions or the schema"
        )
    choice = model.tool_choice
    if choice is not None and not model.tools and choice != "none":
        problems.append("model.tool_choice: set, but model.tools defines no tool")
    elif isinstance(choice, dict) and choice["function"]["name"] not in names:
        problems.append(
            f"model.tool_choice.function.name: {choice['function']['name']!r} is not one of "
            f"model.tools ({', '.join(names)})"
        )
    return problems


def _response_format_problems(value: dict[str, Any]) -> list[str]:
    kind = value.get("type")
    if kind in ("json_object", "text"):
        extra = sorted(set(value) - {"type"})
        return [f"model.response_format.{k}: unknown key for type {kind}" for k in extra]
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            return [
                "model.response_format.json_schema: expected {name: NAME, schema: {...}} "
                "(OpenAI's structured output format)"
            ]
        name = spec.get("name")
        if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
            return [
                "model.response_format.json_schema.name: expected 1-64 letters, digits, '_' or '-'"
            ]
        return []
    if kind == "object":
        return []
    return [
        "model.response_format: expected a JSON Schema of an object (type: object, as "
        "Pydantic's model_json_schema() writes it) or OpenAI's {type: json_schema, json_schema: "
        f"{{name, schema}}}}, {{type: json_object}} or {{type: text}}; got type {kind!r}"
    ]


def _name_problems(name: str, source_path: str) -> list[str]:
    """MLflow's prompt-name rule, its rule that a name is not a path (``.``, ``..x``), and
    the length every name derived from it must fit."""
    fix = "rename the file or set 'name:'"
    if not NAME_RULE.fullmatch(name):
        return [
            f"{source_path}: name: {name!r} is not a valid registry name "
            f"(expected letters, digits, '_', '-' and '.'; {fix})"
        ]
    if name == "." or name.startswith(".."):
        return [
            f"{source_path}: name: {name!r} is not a valid registry name (MLflow refuses a "
            f"name that reads as a path: expected it not to be '.' or start with '..'; {fix})"
        ]
    if len(name) > MAX_NAME_CHARS:
        return [
            f"{source_path}: name: {len(name)} characters; expected at most "
            f"{MAX_NAME_CHARS} ({fix})"
        ]
    return []


def _registry_problems(
    template: Template, description: str | None, model: ModelConfig, source_path: str
) -> list[str]:
    """What MLflow's registry and LoggedModel tables would refuse, found before any write."""
    problems: list[str] = []
    stored = json.dumps(template) if isinstance(template, list) else template
    if len(stored) > MAX_TEMPLATE_CHARS:
        key = "messages" if isinstance(template, list) else "template"
        problems.append(
            f"{source_path}: {key}: {len(stored):,} characters as MLflow stores it; "
            f"expected at most {MAX_TEMPLATE_CHARS:,} (the prompt registry's limit)"
        )
    if description is not None and len(description) > MAX_DESCRIPTION_CHARS:
        problems.append(
            f"{source_path}: description: {len(description):,} characters; expected at most "
            f"{MAX_DESCRIPTION_CHARS:,} (the registry's limit for a version's description)"
        )
    problems.extend(
        f"{source_path}: model.params.{key[:40]}…: a key of {len(key)} characters; expected "
        f"at most {MAX_PARAM_KEY_CHARS} (the LoggedModel's limit for a param name)"
        for key in map(str, model.params)
        if len(key) > MAX_PARAM_KEY_CHARS
    )
    return problems


def _structured(text: str, source_path: str, suffix: str) -> dict[str, Any]:
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserInputError(
                f"{source_path}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"
            ) from None
        except RecursionError:
            raise UserInputError(f"{source_path}: invalid JSON: nested too deeply") from None
    else:
        data = files.load_yaml(text, source_path)
    if data is None:
        raise UserInputError(
            f"{source_path}: empty prompt (expected a mapping with 'template' or 'messages')"
        )
    problems = schema.check(data, PROMPT_SCHEMA)
    if problems:
        raise UserInputError([f"{source_path}: {p}" for p in problems])
    assert isinstance(data, dict)
    return data


def is_prompt_path(path: str, prompts_dir: str) -> bool:
    pure = PurePosixPath(path)
    return (
        pure.suffix.lower() in PROMPT_SUFFIXES
        and pure.parts[: len(PurePosixPath(prompts_dir).parts)] == PurePosixPath(prompts_dir).parts
        and not any(part.startswith(".") for part in pure.parts)
        and pure.name.lower() not in ("readme.md",)
    )


FOREIGN_SUFFIXES = {".prompty": "prompty"}


def is_foreign_prompt(path: str) -> bool:
    """A prompt in another tool's format (``.prompty``): refused, never silently skipped."""
    pure = PurePosixPath(path)
    return pure.suffix.lower() in FOREIGN_SUFFIXES and not pure.name.startswith(".")


def foreign_format(path: str) -> str:
    kind = FOREIGN_SUFFIXES[PurePosixPath(path).suffix.lower()]
    stem = PurePosixPath(path).stem
    return (
        f"{path}: a {kind} file, which prompt-review does not read; convert it with "
        f"`prompt-review import {kind} {path} --name {stem}` (writes prompts/{stem}.yaml), then "
        "move the original out of the prompts folder"
    )


def load_prompts(root: Path, config: Config, paths: Iterable[str] | None = None) -> list[Prompt]:
    """Parse prompt files (all under prompts_dir, or just ``paths``), collecting every problem."""
    problems: list[str] = []
    if paths is None:
        found, problems = files.walk(root, config.prompts_dir)
        paths = [p for p in found if is_prompt_path(p, config.prompts_dir)]
    else:
        found = []
    prompts: list[Prompt] = []
    problems += [foreign_format(p) for p in found if is_foreign_prompt(p)]
    for rel in paths:
        try:
            text = files.read_text(root, rel, kind="prompt file", limit=files.MAX_PROMPT_BYTES)
            prompts.append(parse_prompt(text, rel, config))
        except UserInputError as exc:
            problems.extend(exc.problems)
    by_name: dict[str, list[str]] = {}
    for prompt in prompts:
        by_name.setdefault(prompt.name, []).append(prompt.source_path)
    for name, sources in sorted(by_name.items()):
        if len(sources) > 1:
            problems.append(
                f"{', '.join(sources)}: all define prompt {name!r} (names must be unique)"
            )
    if problems:
        raise UserInputError(problems)
    return prompts
