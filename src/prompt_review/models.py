"""External MLflow LoggedModels: one per (prompt, commit), found again on re-runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prompt_review import redact
from prompt_review.config import ModelConfig

TAG_DIRTY = "git_dirty"


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    prompt_name: str
    prompt_version: int
    git_commit: str
    content_hash: str
    model: ModelConfig
    dataset_name: str
    dataset_digest: str
    pr_number: int | None = None
    branch: str | None = None
    repo_url: str | None = None
    git_dirty: bool = False  # evaluated with uncommitted edits

    @property
    def tags(self) -> dict[str, str]:
        tags = {
            "git_commit": self.git_commit,
            "prompt_name": self.prompt_name,
            "prompt_version": str(self.prompt_version),
            # MLflow's own names, which its UI shows as the source version
            "mlflow.source.git.commit": self.git_commit,
        }
        if self.pr_number is not None:
            tags["pr_number"] = str(self.pr_number)
        if self.branch:
            tags["branch"] = self.branch
            tags["mlflow.source.git.branch"] = self.branch
        if self.repo_url:
            tags["mlflow.source.git.repoURL"] = self.repo_url
        if self.git_dirty:
            tags[TAG_DIRTY] = "true"
        return tags

    @property
    def params(self) -> dict[str, str]:
        """LoggedModel params are strings: the model config, prompt hash and dataset."""
        params = {
            "provider": self.model.provider,
            "model_name": self.model.name,
            "temperature": "" if self.model.temperature is None else str(self.model.temperature),
            "max_tokens": "" if self.model.max_tokens is None else str(self.model.max_tokens),
            "prompt_hash": self.content_hash,
            "dataset_name": self.dataset_name,
            "dataset_digest": self.dataset_digest,
        }
        params.update({f"param.{k}": str(v) for k, v in sorted(self.model.params.items())})
        return params


def _quote(value: str) -> str:
    return "'" + value.replace("'", "\\'") + "'"


def ensure_logged_model(spec: ModelSpec, experiment_id: str) -> tuple[str, bool]:
    """Return (model_id, created). A re-run for the same prompt version and commit reuses it."""
    import mlflow

    found: list[Any] = mlflow.search_logged_models(
        experiment_ids=[experiment_id],
        filter_string=(
            f"tags.git_commit = {_quote(spec.git_commit)} AND "
            f"tags.prompt_name = {_quote(spec.prompt_name)} AND "
            f"tags.prompt_version = {_quote(str(spec.prompt_version))}"
        ),
        output_format="list",
    )
    # A model of uncommitted edits is never reused for the commit itself, nor vice versa.
    found = [m for m in found if (m.tags.get(TAG_DIRTY) == "true") == spec.git_dirty]
    if found:
        return str(found[0].model_id), False
    model = mlflow.create_external_model(
        # LoggedModel names may not hold '.', which prompt names may (found again by tags).
        name=f"{spec.prompt_name.replace('.', '_')}-v{spec.prompt_version}",
        tags=redact.mapping(spec.tags),
        params=redact.mapping(spec.params),
        model_type="prompt",
        experiment_id=experiment_id,
    )
    mlflow.MlflowClient().link_prompt_version_to_model(
        spec.prompt_name, str(spec.prompt_version), model.model_id
    )
    return str(model.model_id), True
