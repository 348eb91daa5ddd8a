"""The local CLI as a new user meets it: state-based promotion, a repository without a commit,
uncommitted edits, the report on a terminal, MLflow's own log kept off it, `prompt-review ui`,
and the demo run from outside the checkout. Real git, a real MLflow server or embedded store,
the stub OpenAI-compatible server, a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from prompt_review.ui import server_problem
from tests.fakes.git_repo import GitRepo
from tests.fakes.mlflow_server import MlflowServer, free_port
from tests.fakes.openai_server import OpenAIStub
from tests.integration.test_review_pipeline import (
    CHATTY,
    GOOD,
    capital_responder,
    make_repo,
    mlflow_client,
)

ECHO_CONFIG = (
    "experiment: {experiment}\n"
    "defaults:\n"
    "  model: {{provider: echo, name: echo}}\n"
    "  dataset: datasets/{{name}}.jsonl\n"
    "  scorers: [contains]\n"
)


def environment(server: MlflowServer | None, stub: OpenAIStub | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MLFLOW_"))}
    if server is not None:
        env["MLFLOW_TRACKING_URI"] = server.uri
    if stub is not None:
        env["OPENAI_BASE_URL"] = stub.base_url
        env["OPENAI_API_KEY"] = "sk-test-key"
    return env


def cli(
    repo: GitRepo, *args: str, server: MlflowServer | None, stub: OpenAIStub | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prompt_review.cli", *args, "--repo", str(repo.root)],
        capture_output=True,
        text=True,
        env=environment(server, stub),
        timeout=300,
        check=False,
    )


def on_terminal(repo: GitRepo, *args: str, server: MlflowServer, stub: OpenAIStub) -> str:
    """Run the CLI with stdout on a pseudo-terminal (stderr to a pipe); return what it shows."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "prompt_review.cli", *args, "--repo", str(repo.root)],
        stdout=terminal, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        env=environment(server, stub),
    )  # fmt: skip
    os.close(terminal)
    chunks = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 1)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the process is done
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    os.close(controller)
    process.wait(timeout=60)
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.fixture
def names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"capital-{suffix}", f"exp-{suffix}"


# -- promotion by state -------------------------------------------------------------------


def test_plain_promote_on_main_promotes_what_differs_from_production(
    git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub, names: tuple[str, str]
) -> None:
    name, experiment = names
    openai_stub.responder = capital_responder
    make_repo(git_repo, name, experiment)
    git_repo.write(f"prompts/{name}.yaml", 'template: "Capital of {{ country }}? City only."\n')
    git_repo.commit("first prompt")

    first = cli(git_repo, "promote", server=mlflow_server, stub=openai_stub)
    assert first.returncode == 0, first.stderr
    assert f"{name}: promoted: production → v1" in first.stdout

    # A reviewed PR, merged with a merge commit: on main, HEAD has no uncommitted change
    # and the range-based promotion used to find nothing.
    git_repo.git("checkout", "-q", "-b", "better")
    git_repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')
    git_repo.commit("better prompt")
    assert cli(git_repo, "review", server=mlflow_server, stub=openai_stub).returncode == 0
    git_repo.git("checkout", "-q", "main")
    git_repo.git("merge", "-q", "--no-ff", "-m", "Merge better", "better")
    calls = openai_stub.call_count

    merged = cli(git_repo, "promote", server=mlflow_server, stub=openai_stub)

    assert merged.returncode == 0, merged.stderr
    assert f"{name}: promoted: production → v2 (was v1)" in merged.stdout
    assert openai_stub.call_count == calls, "the PR's evaluations are reused"
    client = mlflow_client(mlflow_server)
    assert client.get_prompt_version_by_alias(name, "production").version == 2

    again = cli(git_repo, "promote", server=mlflow_server, stub=openai_stub)
    assert again.returncode == 0, again.stderr
    assert f"{name}: already: production v2 serves the content at HEAD" in again.stdout
    assert "nothing to promote" in again.stdout

    # A regression pushed straight to main was never reviewed: evaluated now, and held.
    git_repo.write(f"prompts/{name}.yaml", f'template: "{CHATTY}"\n')
    git_repo.commit("unreviewed push")
    held = cli(git_repo, "promote", server=mlflow_server, stub=openai_stub)

    assert held.returncode == 1, held.stderr
    assert f"{name}: held: gate failed: production stays at v2" in held.stdout
    assert client.get_prompt_version_by_alias(name, "production").version == 2


# -- git states ---------------------------------------------------------------------------


def test_review_before_the_first_commit_says_commit_first(git_repo: GitRepo) -> None:
    git_repo.write(".prompt-review.yml", ECHO_CONFIG.format(experiment="x"))
    git_repo.write("prompts/a.txt", "Say {{ word }}\n")
    git_repo.write("datasets/a.jsonl", '{"inputs": {"word": "hi"}}\n')

    for command in ("review", "promote"):
        result = cli(git_repo, command, server=None, stub=None)

        assert result.returncode == 2, result.stderr
        assert f"{git_repo.root}: no commit yet: commit first" in result.stderr
        assert "rev-parse" not in result.stderr
        assert "Traceback" not in result.stderr


def test_uncommitted_edits_are_tagged_dirty_and_said_in_the_report(
    git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub, names: tuple[str, str]
) -> None:
    name, experiment = names
    openai_stub.responder = capital_responder
    make_repo(git_repo, name, experiment)
    git_repo.git("checkout", "-q", "-b", "edit")
    git_repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')
    head = git_repo.head()  # the prompt is not committed
    report = git_repo.root.parent / "dirty.json"

    dirty = cli(git_repo, "review", "--base", "main", "--json", str(report),
                server=mlflow_server, stub=openai_stub)  # fmt: skip

    assert dirty.returncode == 0, dirty.stderr
    prompt = json.loads(report.read_text())["prompts"][0]
    assert prompt["git_dirty"] is True
    assert prompt["dirty_files"] == [f"prompts/{name}.yaml"]
    assert f"Uncommitted edits** in prompts/{name}.yaml" in dirty.stdout
    assert "reviewed uncommitted edits" in dirty.stderr
    client = mlflow_client(mlflow_server)
    version = client.get_prompt_version(name, 1)
    assert version.tags["git_dirty"] == "true"
    assert version.tags["git_commit"] == head
    model = client.get_logged_model(prompt["model_id"])
    assert model.tags["git_dirty"] == "true"

    committed = git_repo.commit("commit the edit")
    clean = cli(git_repo, "review", "--base", "main", "--json", str(report),
                server=mlflow_server, stub=openai_stub)  # fmt: skip

    assert clean.returncode == 0, clean.stderr
    prompt = json.loads(report.read_text())["prompts"][0]
    assert prompt["git_dirty"] is False
    assert "Uncommitted edits" not in clean.stdout
    version = client.get_prompt_version(name, 1)
    assert (version.tags["git_commit"], version.tags["git_dirty"]) == (committed, "false")
    clean_model = client.get_logged_model(prompt["model_id"])
    assert clean_model.tags["git_commit"] == committed
    assert "git_dirty" not in clean_model.tags


# -- the report on a terminal -------------------------------------------------------------


def test_a_terminal_gets_clean_text_and_formats_are_selectable(
    git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub, names: tuple[str, str]
) -> None:
    name, experiment = names
    openai_stub.responder = capital_responder
    make_repo(git_repo, name, experiment)
    git_repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')
    git_repo.commit("production prompt")
    assert cli(git_repo, "promote", server=mlflow_server, stub=openai_stub).returncode == 0
    git_repo.git("checkout", "-q", "-b", "chatty")
    git_repo.write(f"prompts/{name}.yaml", f'template: "{CHATTY}"\n')
    git_repo.commit("chattier")

    shown = on_terminal(git_repo, "review", server=mlflow_server, stub=openai_stub)

    assert f"❌ {name} failed" in shown
    assert "<!--" not in shown
    assert "&lt;" not in shown and "< alpha 0.05" in shown
    assert "**" not in shown and "<details>" not in shown
    assert "    The capital of Kenya is Nairobi." in shown  # an output, indented as code
    assert "Scorer" in shown and "exact_match" in shown

    markdown = on_terminal(
        git_repo, "review", "--format", "markdown", server=mlflow_server, stub=openai_stub
    )
    assert markdown.startswith("<!-- prompt-review:comment -->\n")
    assert "&lt; alpha 0.05" in markdown

    report = git_repo.root.parent / "report.json"
    as_json = cli(git_repo, "review", "--format", "json", "--json", str(report),
                  server=mlflow_server, stub=openai_stub)  # fmt: skip
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == json.loads(report.read_text())


def test_mlflow_keeps_its_log_off_the_terminal(
    git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub, names: tuple[str, str]
) -> None:
    name, experiment = names
    openai_stub.responder = capital_responder
    make_repo(git_repo, name, experiment)
    git_repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')
    git_repo.commit("prompt")

    result = cli(git_repo, "review", "--all", server=mlflow_server, stub=openai_stub)

    assert result.returncode == 0, result.stderr
    strays = [line for line in result.stderr.splitlines() if not line.startswith("prompt-review")]
    assert strays == []
    log = git_repo.root / ".prompt-review" / "mlflow.log"
    assert "mlflow" in log.read_text()  # MLflow's messages are kept, in the log file


# -- prompt-review ui ---------------------------------------------------------------------


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode("utf-8", errors="replace")


def test_ui_serves_the_store_a_review_wrote_and_stops_on_sigterm(git_repo: GitRepo) -> None:
    git_repo.write(".prompt-review.yml", ECHO_CONFIG.format(experiment="ui-demo"))
    git_repo.write("prompts/hello.txt", "Say hello to {{ name }}\n")
    git_repo.write(
        "datasets/hello.jsonl",
        '{"inputs": {"name": "Ada"}, "expectations": {"expected_substrings": ["Ada"]}}\n',
    )
    git_repo.commit("prompt")
    review = cli(git_repo, "review", "--all", server=None, stub=None)
    assert review.returncode == 0, review.stderr
    assert f"browse it: prompt-review ui --repo {git_repo.root}" in review.stderr
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "prompt_review.cli", "ui", "--repo", str(git_repo.root),
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(None, None),
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        assert _ready_line(process), process.stderr
        status, page = fetch(f"{url}/")
        assert status == 200 and "<html" in page.lower()
        status, body = fetch(f"{url}/ajax-api/2.0/mlflow/experiments/search?max_results=50")
        assert status == 200
        assert "ui-demo" in [e["name"] for e in json.loads(body)["experiments"]]
        is_prompt = urllib.parse.quote("tags.`mlflow.prompt.is_prompt` = 'true'")
        _, prompts = fetch(f"{url}/ajax-api/2.0/mlflow/registered-models/search?filter={is_prompt}")
        assert [m["name"] for m in json.loads(prompts)["registered_models"]] == ["hello"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "stopping the MLflow UI" in err
    with pytest.raises(urllib.error.URLError, match="Connection refused"):
        fetch(f"http://127.0.0.1:{port}/health")


def _ready_line(process: subprocess.Popen[str]) -> bool:
    assert process.stderr is not None
    return any("MLflow UI on sqlite:///" in line for line in process.stderr)


def test_ui_without_a_store_says_what_to_run(git_repo: GitRepo) -> None:
    git_repo.commit("empty")
    result = cli(git_repo, "ui", server=None, stub=None)

    assert result.returncode == 2
    assert "no embedded MLflow store yet" in result.stderr
    assert "prompt-review review" in result.stderr


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ({"mlflow-skinny": "3.17.2", "mlflow": "3.17.2"}, None),
        (
            {"mlflow-skinny": "3.17.2", "mlflow": None},
            "only mlflow-skinny 3.17.2, which has no server. Install the matching version next "
            "to prompt-review:\n    /venv/bin/python -m pip install 'mlflow==3.17.2'\n",
        ),
        (
            {"mlflow-skinny": "3.17.2", "mlflow": "3.16.0"},
            "mlflow 3.16.0 is installed next to mlflow-skinny 3.17.2",
        ),
    ],
    ids=["matching", "skinny-only", "mismatch"],
)
def test_ui_names_the_install_command_when_the_server_is_missing(
    versions: dict[str, Any], expected: str | None
) -> None:
    problem = server_problem(versions, python="/venv/bin/python")

    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem
        assert "pip install 'prompt-review[ui]'" in problem


# -- the demo outside the checkout --------------------------------------------------------


def test_the_demo_runs_from_any_folder_with_the_shipped_example(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = environment(None, None)

    done = subprocess.run(
        [sys.executable, "-m", "prompt_review.cli", "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True, text=True, check=False, env=env, timeout=300, cwd=elsewhere,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "`support-reply` failed" in done.stdout
    assert f"browse it: prompt-review ui --repo {tmp_path / 'demo'}" in done.stderr
