"""The MLflow Prompt Registry: idempotent registration, alias lookups and moves."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from prompt_review import redact
from prompt_review.config import OPTIONAL_MODEL_SETTINGS, ModelConfig
from prompt_review.prompts import Prompt
from prompt_review.templates import Template

TAG_COMMIT = "git_commit"
TAG_HASH = "content_hash"
TAG_SOURCE = "source_path"
TAG_PR = "pr_number"
TAG_DIRTY = "git_dirty"
TAG_MODEL = "prompt_review.model"
TAG_PROMOTED_AT = "promoted_at"
TAG_PROMOTED_BY = "promoted_by"
TAG_PROMOTED_FROM = "promoted_from"
PREVIOUS_ALIAS = "previous-production"


@dataclass(frozen=True, kw_only=True)
class Version:
    """A registered prompt version, as much of it as a review needs."""

    name: str
    version: int
    template: Template
    tags: dict[str, str] = field(default_factory=dict)
    model_config: dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    aliases: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str | None:
        return self.tags.get(TAG_HASH)

    def model(self, fallback: ModelConfig) -> ModelConfig:
        """The model settings this version was reviewed with: ours (the ``prompt_review.model``
        tag), else MLflow's ``model_config`` and ``response_format`` over ``fallback``."""
        raw = self.tags.get(TAG_MODEL)
        if raw:
            try:
                return ModelConfig(**json.loads(raw))
            except (TypeError, ValueError):
                pass
        if not self.model_config and not self.response_format:
            return fallback
        return _from_mlflow(self.model_config or {}, self.response_format, fallback)


def _version(pv: Any) -> Version:
    return Version(
        name=pv.name,
        version=int(pv.version),
        template=pv.template,
        tags=dict(pv.tags or {}),
        model_config=dict(pv.model_config) if getattr(pv, "model_config", None) else None,
        response_format=getattr(pv, "response_format", None) or None,
        aliases=tuple(getattr(pv, "aliases", None) or ()),
    )


class Registry:
    """Thin seam over ``MlflowClient``'s prompt API."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def versions(self, name: str) -> list[Version]:
        from mlflow.exceptions import MlflowException

        found: list[Version] = []
        token = None
        while True:
            try:
                page = self._client.search_prompt_versions(name, max_results=200, page_token=token)
            except MlflowException as exc:
                if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc):
                    return []
                raise
            found.extend(_version(pv) for pv in page)
            token = getattr(page, "token", None)
            if not token:
                return found

    def find_by_hash(self, name: str, content_hash: str) -> Version | None:
        """The oldest version with this content (concurrent reviews may register twice)."""
        matches = [v for v in self.versions(name) if v.content_hash == content_hash]
        return min(matches, key=lambda v: v.version) if matches else None

    def register(
        self, prompt: Prompt, *, git_commit: str, pr_number: int | None, git_dirty: bool = False
    ) -> tuple[Version, bool]:
        """Register the prompt unless this exact content is registered already.

        ``git_dirty``: the content is an uncommitted edit, so ``git_commit`` does not hold it
        (tagged ``git_dirty=true``). Once a review finds the same content committed, the
        version is re-tagged with that commit.
        """
        existing = self.find_by_hash(prompt.name, prompt.content_hash)
        if existing is not None:
            if existing.tags.get(TAG_DIRTY) == "true" and not git_dirty:
                committed = {TAG_COMMIT: git_commit, TAG_DIRTY: "false"}
                self.set_tags(prompt.name, existing.version, committed)
                existing = replace(existing, tags={**existing.tags, **committed})
            return existing, False
        import mlflow

        tags = {
            TAG_COMMIT: git_commit,
            TAG_HASH: prompt.content_hash,
            TAG_SOURCE: prompt.source_path,
        }
        if pr_number is not None:
            tags[TAG_PR] = str(pr_number)
        if git_dirty:
            tags[TAG_DIRTY] = "true"
        where = f"{git_commit[:12]} + uncommitted edits" if git_dirty else git_commit[:12]
        message = prompt.description or f"prompt-review: {prompt.source_path} at {where}"
        from mlflow.exceptions import MlflowException

        for attempt in range(2):
            try:
                mlflow.genai.register_prompt(
                    name=prompt.name,
                    template=prompt.template,
                    commit_message=redact.text(message),
                    tags=redact.mapping(tags),
                    model_config=_mlflow_model_config(prompt.model),
                    response_format=prompt.model.response_format,
                )
                break
            except MlflowException as exc:
                # Another review created this new prompt a moment ago: register a version
                # of it now (or find the same content it registered).
                if exc.error_code != "RESOURCE_ALREADY_EXISTS" or attempt:
                    raise
                existing = self.find_by_hash(prompt.name, prompt.content_hash)
                if existing is not None:
                    return existing, False
        registered = self.find_by_hash(prompt.name, prompt.content_hash)
        assert registered is not None, "a version registered a moment ago must be found"
        # Set on the version alone: register_prompt copies its tags to the prompt's own tags,
        # whose values MLflow's SQL schema caps at 5,000 characters (tools easily take more).
        model = redact.text(json.dumps(_model_tag(prompt.model), sort_keys=True))
        self._client.set_prompt_version_tag(prompt.name, registered.version, TAG_MODEL, model)
        registered = replace(registered, tags={**registered.tags, TAG_MODEL: model})
        return registered, True

    def by_alias(self, name: str, alias: str) -> Version | None:
        from mlflow.exceptions import MlflowException

        try:
            pv = self._client.get_prompt_version_by_alias(name, alias)
        except MlflowException as exc:
            if "not found" in str(exc).lower() or "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code):
                return None
            raise
        return _version(pv) if pv is not None else None

    def get(self, name: str, version: int) -> Version | None:
        from mlflow.exceptions import MlflowException

        try:
            pv = self._client.get_prompt_version(name, version)
        except MlflowException:
            return None
        return _version(pv) if pv is not None else None

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self._client.set_prompt_alias(name, alias, version)

    def set_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        for key, value in redact.mapping(tags).items():
            self._client.set_prompt_version_tag(name, version, key, value)


def _model_tag(model: ModelConfig) -> dict[str, Any]:
    data = model.identity()
    if model.base_url:
        data["base_url"] = model.base_url
    return data


def _mlflow_model_config(model: ModelConfig) -> dict[str, Any]:
    """MLflow's own model_config shape, so the registry UI shows the model and its tools.

    Flat: MLflow's ``PromptModelConfig.from_dict`` files unknown keys under ``extra_params``
    itself (a nested ``extra_params`` key would come back as ``{"extra_params": {...}}``).
    """
    config: dict[str, Any] = {"provider": model.provider, "model_name": model.name}
    if model.temperature is not None:
        config["temperature"] = model.temperature
    if model.max_tokens is not None:
        config["max_tokens"] = model.max_tokens
    config.update({k: getattr(model, k) for k in ("tools", "tool_choice") if getattr(model, k)})
    config.update({k: v for k, v in model.params.items() if k not in config})
    return config


_MLFLOW_FIELDS = {"provider": "provider", "model_name": "name", "temperature": "temperature"}


def _from_mlflow(
    config: dict[str, Any], response_format: dict[str, Any] | None, fallback: ModelConfig
) -> ModelConfig:
    """A version registered without our tag (by MLflow directly): read MLflow's settings.

    ``model_config`` comes back flat (MLflow merges ``extra_params`` into it); versions
    registered by prompt-review before 0.2 nested them under an ``extra_params`` key.
    """
    nested = config.get("extra_params")
    if isinstance(nested, dict):
        config = {**{k: v for k, v in config.items() if k != "extra_params"}, **nested}
    fields: dict[str, Any] = {
        ours: config[theirs] for theirs, ours in _MLFLOW_FIELDS.items() if theirs in config
    }
    if "max_tokens" in config:
        fields["max_tokens"] = config["max_tokens"]
    for key in OPTIONAL_MODEL_SETTINGS:
        if key in config:
            fields[key] = config[key]
    known = {*_MLFLOW_FIELDS, "max_tokens", *OPTIONAL_MODEL_SETTINGS}
    params = {k: v for k, v in config.items() if k not in known}
    if params:
        fields["params"] = params
    if response_format:
        fields["response_format"] = response_format
    return replace(fallback, **fields)
