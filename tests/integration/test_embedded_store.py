"""The embedded store is this machine's own: a repository cannot plant it or redirect it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.git_repo import GitRepo
from tests.fakes.openai_server import OpenAIStub

CONFIG = "defaults:\n  model: {provider: echo, name: echo}\n  scorers: [contains]\n"


def offline_review(repo: GitRepo, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "OPENAI_"))}
    env.update(extra_env)
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


class RecordingProxy:
    """An HTTP(S) proxy on loopback that serves nothing: it records where each request went."""

    def __init__(self) -> None:
        import socket
        import threading

        self.targets: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            with connection:
                first = connection.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
                self.targets.append(first)
                connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self._server.close()


def test_a_review_on_the_embedded_store_calls_nothing_but_its_model(
    git_repo: GitRepo, openai_stub: OpenAIStub
) -> None:
    """No download behind the user's back: MLflow would fetch its model catalog from GitHub
    to price each traced call (4-30 s offline, with retries); the bundled one is used."""
    git_repo.write(".prompt-review.yml", "defaults:\n  model: {name: gpt-4o-mini}\n"
                   "  scorers: [contains]\n")  # fmt: skip
    git_repo.write("prompts/hello.yaml", 'template: "Hello {{ who }}"\n')
    git_repo.write(
        "datasets/hello.jsonl",
        '{"inputs": {"who": "you"}, "expectations": {"expected_substrings": ["Hello"]}}\n',
    )
    git_repo.commit("a prompt")
    proxy = RecordingProxy()
    try:
        done = offline_review(
            git_repo,
            OPENAI_BASE_URL=openai_stub.base_url,
            OPENAI_API_KEY="sk-test-key",
            HTTP_PROXY=proxy.url, HTTPS_PROXY=proxy.url, http_proxy=proxy.url,
            https_proxy=proxy.url, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
            DO_NOT_TRACK="true",  # MLflow's usage telemetry is the user's choice, not ours
        )  # fmt: skip
    finally:
        proxy.close()
    assert done.returncode == 0, done.stderr
    assert openai_stub.call_count == 1
    assert proxy.targets == []
