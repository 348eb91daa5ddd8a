"""The embedded store is this machine's own: a repository cannot plant it or redirect it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.git_repo import GitRepo

CONFIG = "defaults:\n  model: {provider: echo, name: echo}\n  scorers: [contains]\n"


def offline_review(repo: GitRepo) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-m", "prompt_review.cli", "review", "--all", "--repo", str(repo.root)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture
def repo(git_repo: GitRepo) -> GitRepo:
    git_repo.write(".prompt-review.yml", CONFIG)
    git_repo.write("prompts/hello.yaml", 'template: "Hello {{ who }}"\n')
    git_repo.write(
        "datasets/hello.jsonl",
        '{"inputs": {"who": "you"}, "expectations": {"expected_substrings": ["you"]}}\n',
    )
    git_repo.commit("a prompt")
    return git_repo


@pytest.mark.robustness(
    area="files",
    case="a pull request commits .prompt-review as a symlink to a folder outside the "
    "repository (the embedded MLflow store would be written there)",
    behaviour="exit 2 naming .prompt-review; nothing is written through the symlink",
)
def test_a_symlinked_store_folder_is_refused(repo: GitRepo, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (repo.root / ".prompt-review").symlink_to(outside)
    repo.commit("redirect the store")

    done = offline_review(repo)

    assert done.returncode == 2, done.stderr
    assert ".prompt-review: is a symlink or a file" in done.stderr
    assert list(outside.iterdir()) == []


@pytest.mark.robustness(
    area="files",
    case="a pull request commits .prompt-review/mlflow.db (a forged store whose production "
    "runs a review would reuse)",
    behaviour="exit 2 naming the committed file and how to remove it; no review runs on it",
)
def test_a_committed_store_is_refused(repo: GitRepo) -> None:
    repo.write(".prompt-review/mlflow.db", "forged")
    repo.git("add", "-f", ".prompt-review/mlflow.db")
    repo.git("commit", "-q", "-m", "forged store")

    done = offline_review(repo)

    assert done.returncode == 2, done.stderr
    assert ".prompt-review/mlflow.db: committed to the repository" in done.stderr
    assert "git rm -r --cached .prompt-review" in done.stderr
    assert (repo.root / ".prompt-review" / "mlflow.db").read_text() == "forged"


def test_the_store_is_created_when_the_repository_has_none(repo: GitRepo) -> None:
    done = offline_review(repo)
    assert done.returncode == 0, done.stderr
    assert (repo.root / ".prompt-review" / "mlflow.db").is_file()
