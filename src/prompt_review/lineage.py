"""How an evaluation run is linked to what it evaluated: repository, dataset, prompt, model.

MLflow's own context providers describe the process that logs (for us, the tool's install
or the current directory); a review describes another repository, so its git metadata is
set explicitly. The dataset is logged as a named, versioned input (name = its path in the
repository, digest = the digest the report prints), the prompt version is linked to the run
and the LoggedModel is the run's model input, as ``mlflow.genai.evaluate`` does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prompt_review.datasets import Dataset
from prompt_review.traces import GitInfo

RUN_TYPE_TAG = "mlflow.runType"
RUN_TYPE = "genai_evaluate"  # MLflow's evaluation runs: the UI lists them as evaluations
SOURCE_NAME_TAG = "mlflow.source.name"
SOURCE_TYPE_TAG = "mlflow.source.type"
_USERINFO = re.compile(r"(?<=//)[^/@]*@")


def git_info(root: Path, commit: str, branch: str | None) -> GitInfo:
    """The reviewed repository's commit, branch and remote URL (credentials removed)."""
    return GitInfo(commit=commit, branch=branch or None, repo_url=_remote_url(root))


def _remote_url(root: Path) -> str | None:
    from prompt_review.changes import git
    from prompt_review.errors import UserInputError

    try:
        url = git(root, "config", "--get", "remote.origin.url").strip()
    except UserInputError:  # no remote (or no git): the URL is simply unknown
        return None
    return _USERINFO.sub("", url) or None


def run_tags(git: GitInfo, source: str) -> dict[str, str]:
    """Tags that make MLflow's UI show the run as an evaluation of the reviewed repository."""
    return {
        **git.tags(),
        RUN_TYPE_TAG: RUN_TYPE,
        SOURCE_NAME_TAG: source,
        SOURCE_TYPE_TAG: "PROJECT",
    }


def run_name(prompt_name: str, version: int | None, role: str, attempt: int) -> str:
    """``capital-v3-candidate``; a later attempt after a failed one says so."""
    name = f"{prompt_name}-v{version}-{role}" if version is not None else f"{prompt_name}-{role}"
    return name if attempt <= 1 else f"{name} (attempt {attempt})"


def log_dataset(run_id: str, dataset: Dataset, git: GitInfo, model_id: str | None) -> None:
    """The dataset as the run's input, by path and digest; the LoggedModel as its model."""
    from mlflow import MlflowClient
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag, LoggedModelInput

    source = CodeDatasetSource(
        tags={"path": dataset.path, "examples": str(len(dataset.examples)), **git.tags()}
    )
    meta = MetaDataset(source=source, name=dataset.path, digest=dataset.digest)  # type: ignore[abstract]
    context = InputTag(key="mlflow.data.context", value="evaluation")
    MlflowClient().log_inputs(
        run_id=run_id,
        datasets=[DatasetInput(dataset=meta._to_mlflow_entity(), tags=[context])],
        models=[LoggedModelInput(model_id=model_id)] if model_id else None,
    )


def link_prompt(run_id: str, prompt_name: str, version: int | None) -> Any:
    """Link the prompt version to the run (its page shows it); returns the version entity."""
    if version is None:
        return None
    from mlflow import MlflowClient

    client = MlflowClient()
    prompt = client.get_prompt_version(prompt_name, str(version))
    client.link_prompt_version_to_run(run_id, prompt)
    return prompt
