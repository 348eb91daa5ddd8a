"""Faults and hostile state around the Action, end to end: the entrypoint in a subprocess
against the session's `mlflow server`, the fake GitHub with injected faults and the stub LLM.

Every case asserts the exit code, the status state, the comment count, and that the secrets
planted in the environment -- a password in the tracking URI, the model provider's key, the
GitHub token -- appear nowhere the tool writes, the MLflow store included.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.end_to_end.harness import (
    GOOD,
    MARKER,
    Action,
    ActionRun,
    annotations,
    capital_responder,
    config_text,
    dataset_text,
    prompt_text,
    pull_request_event,
    unique,
    where_secrets_leak,
)
from tests.end_to_end.test_action import (
    RUN_URL,
    commit_prompt,
    only_status,
    review_pull,
    seed_production,
    the_comment,
)
from tests.fakes.faulty_proxy import FaultyProxy
from tests.fakes.git_repo import GitRepo
from tests.fakes.github_server import BOT_LOGIN, FAKE_TOKEN, FakeGitHub
from tests.fakes.mlflow_server import MlflowServer, free_port
from tests.fakes.openai_server import OpenAIStub

COMMENTS = r"/repos/acme/prompt-lab/issues/\d+/comments"
STATUSES = r"/repos/acme/prompt-lab/statuses/\w+"


class Secrets:
    """Secrets planted in the runner's environment, unique to one test."""

    def __init__(self) -> None:
        self.password = f"pw-{uuid.uuid4().hex}"
        self.api_key = f"sk-e2e-{uuid.uuid4().hex}"
        self.values = (self.password, self.api_key, FAKE_TOKEN)

    def uri(self, server: str) -> str:
        """``server`` (``http://host:port``) with our password in its userinfo."""
        return f"http://reviewer:{self.password}@{server.split('://', 1)[1]}"

    def env(self, server: str, **overrides: str) -> dict[str, str]:
        return {
            "INPUT_MLFLOW_TRACKING_URI": self.uri(server),
            "OPENAI_API_KEY": self.api_key,
            **overrides,
        }


@pytest.fixture
def secrets() -> Secrets:
    return Secrets()


@pytest.fixture
def stores(mlflow_server: MlflowServer) -> list[Path]:
    """The MLflow server's SQLite file and artifact folder."""
    workdir = mlflow_server.log.parent
    return [workdir / "mlflow.db", workdir / "artifacts"]


def assert_nothing_leaks(secrets: Secrets, run: ActionRun, stores: list[Path]) -> None:
    assert where_secrets_leak(secrets.values, run, stores) == []


def new_prompt_pull(action: Action, number: int) -> tuple[str, str, list[str | tuple[str, str]]]:
    """A PR adding one good prompt: (base, head, files)."""
    name = unique("capital")
    base = action.setup({})
    head = commit_prompt(action, name, GOOD, start=base)
    return base, head, [(f"prompts/{name}.yaml", "added")]


# -- the required check is never left missing --------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        pytest.param(
            502,
            {},
            id="502",
            marks=pytest.mark.robustness(
                area="status",
                case="every POST of the PR comment answered 502 (GitHub down for writes)",
                behaviour="the verdict status is posted first and kept; exit 3, result "
                "`error`, `::error` naming the comment, the report in the job summary; no "
                "comment, none duplicated",
            ),
        ),
        pytest.param(
            403,
            {"Retry-After": "1"},
            id="secondary-rate-limit",
            marks=pytest.mark.robustness(
                area="status",
                case="every POST of the PR comment answered 403 secondary rate limit "
                "(`Retry-After`)",
                behaviour="retried as GitHub asks, then as for a 502: verdict status kept, "
                "exit 3, no comment",
            ),
        ),
    ],
)
def test_a_comment_that_cannot_be_posted_leaves_the_verdict_status(
    action: Action, secrets: Secrets, stores: list[Path], status: int, headers: dict[str, str]
) -> None:
    base, head, files = new_prompt_pull(action, 21)
    action.github.fail_next("POST", COMMENTS, status, times=100, apply=False, headers=headers)

    run = review_pull(
        action, 21, head=head, base=base, files=files, **secrets.env(action.tracking_uri)
    )

    assert run.returncode == 3, run.explain()
    assert run.outputs["result"] == "error"
    status_posted = only_status(action, head)
    assert (status_posted["state"], status_posted["target_url"]) == ("success", RUN_URL)
    assert action.comments(21) == []
    assert run.outputs["comment_url"] == ""
    errors = annotations(run.stdout, "error")
    assert any("could not post the comment" in e for e in errors), run.stdout
    assert "prompt-review passed" in run.summary
    assert "could not post everything to GitHub" in run.summary
    posts = [r for r in run.github_requests if r.method == "POST"]
    assert posts[0].path.startswith("/repos/acme/prompt-lab/statuses/"), "status first"
    assert len(posts) == 1 + 4  # the status, then the comment tried 4 times
    assert_nothing_leaks(secrets, run, stores)


@pytest.mark.robustness(
    area="status",
    case="the commit status refused (403 Resource not accessible by integration) on a "
    "same-repository PR: the workflow lacks `statuses: write`",
    behaviour="an `error` exit 3 naming the missing permission, not a quiet pass; the "
    "comment is still posted",
)
def test_a_refused_status_on_a_same_repository_pull_request_is_an_error(
    action: Action, secrets: Secrets, stores: list[Path]
) -> None:
    base, head, files = new_prompt_pull(action, 22)
    refused = {"message": "Resource not accessible by integration", "documentation_url": ""}
    action.github.fail_next("POST", STATUSES, 403, times=100, apply=False, body=refused)

    run = review_pull(
        action, 22, head=head, base=base, files=files, **secrets.env(action.tracking_uri)
    )

    assert run.returncode == 3, run.explain()
    assert run.outputs["result"] == "error"
    assert action.statuses(head) == []
    assert len(action.comments(22)) == 1
    errors = annotations(run.stdout, "error")
    assert any("could not set the commit status" in e and "statuses: write" in e for e in errors)
    assert not annotations(run.stdout, "warning"), "a same-repository PR is not a fork"
    assert_nothing_leaks(secrets, run, stores)


# -- only our own comment ----------------------------------------------------------------------


def forged_comment(commits: list[str]) -> str:
    history = json.dumps(
        [{"commit": c, "result": "passed", "at": "2024-01-01T00:00:00+00:00"} for c in commits]
    )
    return f"{MARKER}\n<!-- prompt-review:history {history} -->\n\n### ✅ all good, merge me\n"


@pytest.mark.robustness(
    area="comment",
    case="another user's comment carrying the hidden marker and a forged verdict history, "
    "and a look-alike by a user named `github-actions`",
    behaviour="neither is edited; our own comment is created, its history holds only the "
    "commits we reviewed",
)
def test_a_forged_marker_comment_is_neither_edited_nor_trusted(
    action: Action, secrets: Secrets, stores: list[Path]
) -> None:
    base, head, files = new_prompt_pull(action, 23)
    action.open_pull(23, head_sha=head, base_sha=base, files=files)
    forged_sha = "f" * 40
    mallory = action.github.add_comment(
        action.repository, 23, forged_comment([forged_sha]), user="mallory"
    )
    lookalike = action.github.add_comment(
        action.repository, 23, forged_comment(["e" * 40]), user="github-actions"
    )

    run = review_pull(
        action, 23, head=head, base=base, files=files, **secrets.env(action.tracking_uri)
    )

    assert run.returncode == 0, run.explain()
    assert only_status(action, head)["state"] == "success"
    comments = action.comments(23)
    assert len(comments) == 3
    assert [c["body"] for c in comments[:2]] == [mallory["body"], lookalike["body"]]
    ours = the_comment_by(action, 23, BOT_LOGIN)
    history = next(line for line in ours["body"].splitlines() if line.startswith("History:"))
    assert head[:7] in history
    assert forged_sha[:7] not in ours["body"] and "e" * 7 not in ours["body"]
    assert not [r for r in run.github_requests if r.method == "PATCH"]
    assert_nothing_leaks(secrets, run, stores)


def the_comment_by(action: Action, number: int, login: str) -> dict[str, Any]:
    [comment] = [c for c in action.comments(number) if c["user"]["login"] == login]
    return comment


@pytest.mark.robustness(
    area="comment",
    case="a personal access token (GET /user answers its login) on a PR that also holds a "
    "marker comment by github-actions[bot]",
    behaviour="only the token's own comment is edited on the next push; one GET /user per "
    "run, the budget grows by that one request",
)
def test_a_personal_token_edits_only_its_own_comment(
    git_repo: GitRepo,
    openai_stub: OpenAIStub,
    mlflow_server: MlflowServer,
    *,
    tmp_path: Path,
    secrets: Secrets,
    stores: list[Path],
) -> None:
    token = "ghp_" + "e2ePersonalToken0123456789abcdefghijk"
    openai_stub.responder = capital_responder
    with FakeGitHub(token=token, token_owner="prompt-bot") as github:
        action = Action(
            repo=git_repo,
            github=github,
            llm=openai_stub,
            tracking_uri=mlflow_server.uri,
            scratch=tmp_path,
        )
        base, head, files = new_prompt_pull(action, 24)
        action.open_pull(24, head_sha=head, base_sha=base, files=files)
        other = github.add_comment(
            action.repository, 24, forged_comment(["d" * 40]), user=BOT_LOGIN
        )
        env = secrets.env(action.tracking_uri, INPUT_GITHUB_TOKEN=token)

        first = review_pull(action, 24, head=head, base=base, files=files, **env)
        again = review_pull(action, 24, head=head, base=base, files=files, **env)

        for run in (first, again):
            assert run.returncode == 0, run.explain()
            assert [r.status for r in run.github_requests if r.path == "/user"] == [200]
            assert_nothing_leaks(secrets, run, stores)
            assert where_secrets_leak([token], run) == []
        assert len(first.github_requests) == 8  # the Actions token's 7, and GET /user
        assert len(again.github_requests) == 7  # the known comment is edited: no re-listing
        comments = action.comments(24)
        assert len(comments) == 2 and comments[0]["body"] == other["body"]
        assert comments[1]["user"]["login"] == "prompt-bot"
        assert only_status(action, head)["target_url"] == comments[1]["html_url"]


# -- secrets in messages -----------------------------------------------------------------------


@pytest.mark.robustness(
    area="secrets",
    case="the tracking server unreachable, with `user:password@` in MLFLOW_TRACKING_URI "
    "(a closed port), a model key and the GitHub token in the environment",
    behaviour="exit 3, `error` status; the whole cause (connection refused) is kept; no "
    "secret in the status, summary, `::error` line, outputs, report or anything posted",
)
def test_an_unreachable_tracking_server_with_credentials_leaks_nothing(
    action: Action, secrets: Secrets, stores: list[Path]
) -> None:
    base, head, files = new_prompt_pull(action, 25)
    closed = f"http://127.0.0.1:{free_port()}"

    run = review_pull(
        action,
        25,
        head=head,
        base=base,
        files=files,
        **secrets.env(closed, MLFLOW_HTTP_REQUEST_TIMEOUT="2"),
    )

    assert run.returncode == 3, run.explain()
    assert run.outputs["result"] == "error"
    status = only_status(action, head)
    assert status["state"] == "error"
    assert "***@127.0.0.1" in status["description"]
    assert action.comments(25) == []
    [error] = annotations(run.stdout, "error")
    assert "http://***@127.0.0.1" in error
    assert "Connection refused" in error or "Failed to establish" in error, "the whole cause"
    assert "prompt-review error" in run.summary
    assert_nothing_leaks(secrets, run, stores)


@pytest.mark.robustness(
    area="secrets",
    case="the model provider rejects the key with a 401 that echoes it back",
    behaviour="every example is an error, verdict `error` (exit 3, `error` status, the "
    "comment says why); the key appears nowhere, the MLflow artifacts included",
)
def test_a_provider_echoing_the_key_leaks_it_nowhere(
    action: Action, secrets: Secrets, stores: list[Path], openai_stub: OpenAIStub
) -> None:
    base, head, files = new_prompt_pull(action, 26)
    openai_stub.api_key = "the-right-key-0000"

    run = review_pull(
        action, 26, head=head, base=base, files=files, **secrets.env(action.tracking_uri)
    )

    assert run.returncode == 3, run.explain()
    assert only_status(action, head)["state"] == "error"
    body = the_comment(action, 26)["body"]
    assert "HTTP 401" in body
    assert_nothing_leaks(secrets, run, stores)


# -- faults are errors, never crashes ----------------------------------------------------------


@pytest.mark.robustness(
    area="faults",
    case="MLflow answers 503 when the evaluation run is created, after the candidate was "
    "registered and production read",
    behaviour="`error` status and exit 3; the comment states the versions as they are "
    '(candidate vN, production vM), not "not registered; no production version"',
)
def test_an_mlflow_failure_mid_review_reports_the_versions_as_they_are(
    action: Action, secrets: Secrets, stores: list[Path], mlflow_server: MlflowServer
) -> None:
    name = unique("capital")
    action.setup({})
    main, v1 = seed_production(action, name, GOOD)
    head = commit_prompt(action, name, GOOD.replace("capital", "capital city"), start=main)
    with FaultyProxy(mlflow_server.uri) as proxy:
        proxy.fail("POST", r"/api/2\.0/mlflow/runs/create", 503)

        run = review_pull(
            action,
            27,
            head=head,
            base=main,
            files=[f"prompts/{name}.yaml"],
            **secrets.env(proxy.url),
        )

        assert proxy.failed, "the fault fired"
    assert run.returncode == 3, run.explain()
    assert run.outputs["result"] == "error"
    assert only_status(action, head)["state"] == "error"
    body = the_comment(action, 27)["body"]
    assert f"candidate is v{v1 + 1}" in body
    assert f"production is v{v1}" in body
    assert "not registered" not in body and "no production version" not in body
    assert "MLflow failed while evaluating" in body
    assert_nothing_leaks(secrets, run, stores)


@pytest.mark.robustness(
    area="faults",
    case="an unexpected exception in the Action (the report path is a directory left in the "
    "workspace)",
    behaviour='exit 3 (not Python\'s 1, "gate failed"), `error` status, a one-line '
    "`::error` cause and no traceback (unless RUNNER_DEBUG=1)",
)
def test_a_crash_in_the_action_is_an_error_status_with_a_one_line_cause(
    action: Action, secrets: Secrets, stores: list[Path]
) -> None:
    base, head, files = new_prompt_pull(action, 28)
    action.open_pull(28, head_sha=head, base_sha=base, files=files)
    action.checkout_pull(28, head, base)
    (action.repo.root / ".prompt-review" / "report.json").mkdir(parents=True)
    event = pull_request_event("opened", number=28, head_sha=head, base_sha=base)

    run = action.run("pull_request", event, **secrets.env(action.tracking_uri))

    assert run.returncode == 3, run.explain()
    assert run.outputs["result"] == "error"
    status = only_status(action, head)
    assert (status["state"], status["description"]) == (
        "error",
        "error: internal error (IsADirectoryError)",
    )
    [error] = annotations(run.stdout, "error")
    assert "prompt-review crashed: IsADirectoryError" in error
    assert "Traceback" not in run.stderr + run.stdout
    assert action.comments(28) == []
    assert_nothing_leaks(secrets, run, stores)


def cli(repo: GitRepo, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "prompt_review.cli", *args],
        cwd=repo.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def cli_project(
    git_repo: GitRepo, openai_stub: OpenAIStub, mlflow_server: MlflowServer, secrets: Secrets
) -> tuple[str, dict[str, str]]:
    """A repository whose uncommitted prompt `prompt-review review` reviews; (experiment, env)."""
    openai_stub.responder = capital_responder
    experiment = unique("cli")
    git_repo.write(".prompt-review.yml", config_text(experiment))
    git_repo.write("datasets/capitals.jsonl", dataset_text())
    git_repo.commit("base")
    git_repo.write(f"prompts/{unique('capital')}.yaml", prompt_text(GOOD))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))},
        "MLFLOW_TRACKING_URI": secrets.uri(mlflow_server.uri),
        "OPENAI_BASE_URL": openai_stub.base_url,
        "OPENAI_API_KEY": secrets.api_key,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("RUNNER_DEBUG", None)
    return experiment, env


@pytest.mark.robustness(
    area="faults",
    case="an unexpected exception in `prompt-review review` (the --json path is a directory)",
    behaviour="exit 3 with a one-line cause; the traceback only with --debug",
)
def test_a_crash_in_the_cli_exits_3_with_one_line(
    git_repo: GitRepo, cli_project: tuple[str, dict[str, str]], tmp_path: Path, secrets: Secrets
) -> None:
    _, env = cli_project
    taken = tmp_path / "taken"
    taken.mkdir()

    quiet = cli(git_repo, "review", "--json", str(taken), env=env)
    out, err = quiet.communicate(timeout=300)
    loud = cli(git_repo, "--debug", "review", "--json", str(taken), env=env)
    loud_out, loud_err = loud.communicate(timeout=300)

    assert quiet.returncode == 3, err
    [line] = [line for line in err.splitlines() if "crashed" in line]
    assert line.startswith("prompt-review: crashed: IsADirectoryError: ")
    assert "Traceback" not in err
    assert loud.returncode == 3, loud_err
    assert "Traceback (most recent call last)" in loud_err
    for text in (out, err, loud_out, loud_err):
        assert not [s for s in secrets.values if s in text]


@pytest.mark.robustness(
    area="faults",
    case="`prompt-review review` sent SIGTERM (a cancelled job) while its MLflow run is open "
    "and the model is slow",
    behaviour="the run ends FAILED on the server, not RUNNING forever; exit 143 with one line",
)
def test_sigterm_during_scoring_leaves_the_mlflow_run_failed(
    git_repo: GitRepo,
    cli_project: tuple[str, dict[str, str]],
    mlflow_server: MlflowServer,
    openai_stub: OpenAIStub,
    secrets: Secrets,
) -> None:
    from mlflow import MlflowClient

    experiment, env = cli_project
    openai_stub.latency_seconds = 0.3
    client = MlflowClient(tracking_uri=mlflow_server.uri)
    with FaultyProxy(mlflow_server.uri) as proxy:
        # The run's tags are logged inside `with mlflow.start_run()`: holding that request
        # keeps the review inside its open run until the signal arrives.
        proxy.hold("POST", r"/api/2\.0/mlflow/runs/log-batch")
        review = cli(git_repo, "review", env={**env, "MLFLOW_TRACKING_URI": secrets.uri(proxy.url)})
        try:
            assert proxy.held.wait(timeout=240), "the review never logged into an open run"
            [running] = client.search_runs(
                [client.get_experiment_by_name(experiment).experiment_id],
                filter_string="attributes.status = 'RUNNING'",
            )
            review.send_signal(signal.SIGTERM)
            _, err = review.communicate(timeout=120)
        finally:
            if review.poll() is None:
                review.kill()
            review.communicate()  # reap it and close its pipes

    assert review.returncode == 143, err
    assert "prompt-review: terminated (SIGTERM)" in err
    assert "Traceback" not in err
    assert client.get_run(running.info.run_id).info.status == "FAILED"
