"""Prompt files: parse, hash, render, and find which ones a change touches."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

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
# registered_models.description and model_versions.description are VARCHAR(5000); so is
# registered_model_tags.value, where MLflow copies the version's tags (our model settings).
MAX_DESCRIPTION_CHARS = 5000
MAX_TAG_CHARS = 5000
# logged_model_params.param_key is VARCHAR(255); a model param ``k`` is logged as "param.k".
MAX_PARAM_KEY_CHARS = 255 - len("param.")
# MLflow's own placeholder syntax: {{ name }} or {{ name.field }}.
VARIABLE = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*(?:\.[a-zA-Z_][a-zA-Z0-9_]*)*)\s*\}\}")

Message = dict[str, str]
Template = str | list[Message]

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

    @property
    def variables(self) -> tuple[str, ...]:
        """Top-level input names the template needs, in first-use order."""
        return tuple(dict.fromkeys(p.split(".")[0] for p in self.variable_paths))

    @property
    def variable_paths(self) -> tuple[str, ...]:
        """Every placeholder as written (``a`` or ``a.b``), in first-use order."""
        texts = (
            [m["content"] for m in self.template]
            if isinstance(self.template, list)
            else [self.template]
        )
        seen: dict[str, None] = {}
        for text in texts:
            for match in VARIABLE.finditer(text):
                seen.setdefault(match.group(1), None)
        return tuple(seen)

    @property
    def content_hash(self) -> str:
        """Identity of a prompt version: its template and the model settings it ships with."""
        return content_hash(self.template, self.model)

    def render(self, inputs: Mapping[str, Any]) -> list[Message]:
        """The messages sent to the model for one example (variables substituted)."""
        if isinstance(self.template, list):
            return [
                {"role": m["role"], "content": fill(m["content"], inputs)} for m in self.template
            ]
        return [{"role": "user", "content": fill(self.template, inputs)}]

    def text(self) -> str:
        """Human-readable form, for diffs in the report."""
        return template_text(self.template)


def content_hash(template: Template, model: ModelConfig) -> str:
    return stable_hash({"template": template, "model": model.identity()})


def template_text(template: Template) -> str:
    if isinstance(template, list):
        return "\n".join(f"[{m['role']}]\n{m['content']}" for m in template)
    return template


def fill(text: str, inputs: Mapping[str, Any]) -> str:
    def substitute(match: re.Match[str]) -> str:
        value: Any = inputs
        for part in match.group(1).split("."):
            if not (isinstance(value, Mapping) and part in value):
                return match.group(0)  # missing: left as written
            value = value[part]
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    return VARIABLE.sub(substitute, text)


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
    dataset = effective.dataset.replace("{name}", name)
    where = ("dataset", source_path) if "dataset" in data else ("defaults.dataset", config.path)
    problems = _registry_problems(template, data.get("description"), effective.model, source_path)
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


def model_tag(model: ModelConfig) -> str:
    """The version tag ``prompt_review.model``: the model settings a version was reviewed with."""
    data = model.identity()
    if model.base_url:
        data["base_url"] = model.base_url
    return json.dumps(data, sort_keys=True)


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
    tag = model_tag(model)
    if len(tag) > MAX_TAG_CHARS:
        problems.append(
            f"{source_path}: model: the settings take {len(tag):,} characters as JSON; "
            f"expected at most {MAX_TAG_CHARS:,} (the registry keeps them in a tag)"
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


def load_prompts(root: Path, config: Config, paths: Iterable[str] | None = None) -> list[Prompt]:
    """Parse prompt files (all under prompts_dir, or just ``paths``), collecting every problem."""
    problems: list[str] = []
    if paths is None:
        found, problems = files.walk(root, config.prompts_dir)
        paths = [p for p in found if is_prompt_path(p, config.prompts_dir)]
    prompts: list[Prompt] = []
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


ChangeStatus = Literal["added", "modified", "renamed", "deleted", "affected"]


@dataclass(frozen=True, kw_only=True)
class FileChange:
    """One changed path, in the vocabulary of GitHub's PR files API."""

    path: str
    status: str
    previous_path: str | None = None


@dataclass(frozen=True, kw_only=True)
class PromptChange:
    """A prompt this change touches and why (`affected`: its dataset or settings changed)."""

    name: str
    source_path: str
    status: ChangeStatus
    reason: str
    previous_path: str | None = None


def git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=120
        )
    except FileNotFoundError:
        raise UserInputError("git is not installed (expected git on PATH)") from None
    if done.returncode != 0:
        raise UserInputError(f"git {' '.join(args)} failed in {root}: {done.stderr.strip()}")
    return done.stdout


def git_changes(root: Path, base: str) -> list[FileChange]:
    """Files that differ between ``base`` and the working tree, untracked files included."""
    # -z: paths verbatim (no C-quoting of non-ASCII names); --relative: relative to
    # ``root`` like ls-files below, even when ``root`` is a subfolder of the repository.
    out = git(root, "diff", "-z", "--relative", "--name-status", "-M", "--no-color", base, "--")
    codes = {"A": "added", "M": "modified", "D": "removed", "R": "renamed", "C": "copied"}
    changes: list[FileChange] = []
    fields = iter(out.split("\0"))
    for code in fields:
        if not code:
            continue
        status = codes.get(code[:1], "changed")
        if status in ("renamed", "copied"):
            previous, path = next(fields), next(fields)
            changes.append(FileChange(path=path, status=status, previous_path=previous))
        else:
            changes.append(FileChange(path=next(fields), status=status))
    untracked = git(root, "ls-files", "-z", "--others", "--exclude-standard")
    changes.extend(FileChange(path=p, status="added") for p in untracked.split("\0") if p)
    return changes


def prompt_changes(
    changes: Sequence[FileChange],
    prompts: Sequence[Prompt],
    config: Config,
) -> list[PromptChange]:
    """Which prompts a set of file changes touches, and deleted prompt files to report."""
    by_path = {c.path: c for c in changes}
    found: dict[str, PromptChange] = {}
    for prompt in prompts:
        change = by_path.get(prompt.source_path)
        if change is not None and change.status != "removed":
            status: ChangeStatus = (
                "added"
                if change.status in ("added", "copied")
                else "renamed"
                if change.status == "renamed"
                else "modified"
            )
            found[prompt.name] = PromptChange(
                name=prompt.name,
                source_path=prompt.source_path,
                status=status,
                reason=f"prompt file {status}",
                previous_path=change.previous_path,
            )
        elif prompt.dataset in by_path:
            found[prompt.name] = PromptChange(
                name=prompt.name,
                source_path=prompt.source_path,
                status="affected",
                reason=f"its dataset {prompt.dataset} changed",
            )
        elif config.path in by_path:
            found[prompt.name] = PromptChange(
                name=prompt.name,
                source_path=prompt.source_path,
                status="affected",
                reason=f"{config.path} changed",
            )
    for change in changes:
        if change.status == "removed" and is_prompt_path(change.path, config.prompts_dir):
            stem = PurePosixPath(change.path).stem
            if stem not in found:
                found[stem] = PromptChange(
                    name=stem, source_path=change.path, status="deleted", reason="file deleted"
                )
    return sorted(found.values(), key=lambda c: c.name)
