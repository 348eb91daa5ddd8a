"""The end-to-end fixture: the Action as a runner starts it, against the servers on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.end_to_end.harness import Action, capital_responder
from tests.fakes.git_repo import GitRepo
from tests.fakes.github_server import FakeGitHub
from tests.fakes.mlflow_server import MlflowServer
from tests.fakes.openai_server import OpenAIStub


@pytest.fixture
def action(
    git_repo: GitRepo,
    fake_github: FakeGitHub,
    openai_stub: OpenAIStub,
    mlflow_server: MlflowServer,
    tmp_path: Path,
) -> Action:
    openai_stub.responder = capital_responder
    scratch = tmp_path / "runner"
    scratch.mkdir()
    return Action(
        repo=git_repo,
        github=fake_github,
        llm=openai_stub,
        tracking_uri=mlflow_server.uri,
        scratch=scratch,
    )
