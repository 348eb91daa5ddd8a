"""The local review pipeline, end to end through the CLI: real git, real MLflow server,
stub OpenAI-compatible server over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.git_repo import GitRepo
from tests.fakes.mlflow_server import MlflowServer
from tests.fakes.openai_server import OpenAIStub

CAPITALS = {
    "France": "Paris",
    "Japan": "Tokyo",
    "Kenya": "Nairobi",
    "Peru": "Lima",
    "Canada": "Ottawa",
    "Egypt": "Cairo",
    "Norway": "Oslo",
    "Chile": "Santiago",
    "India": "New Delhi",
    "Spain": "Madrid",
}
GOOD = "What is the capital of {{ country }}? Reply with the city name only."
CHATTY = "Tell me about the capital of {{ country }}."


def capital_responder(request: dict[str, Any]) -> str:
    """A deterministic 'model': terse when asked to be, chatty otherwise (wrong for exact_match)."""
    text = request["messages"][-1]["content"]
    country = next(c for c in CAPITALS if c in text)
    if "city name only" in text or country in ("France", "Japan"):
        return CAPITALS[country]
    return f"The capital of {country} is {CAPITALS[country]}."


def make_repo(repo: GitRepo, name: str, experiment: str) -> None:
    repo.write(
        ".prompt-review.yml",
        f"experiment: {experiment}\n"
        "defaults:\n"
        "  model: {provider: openai, name: gpt-4o-mini, temperature: 0}\n"
        "  dataset: datasets/{name}.jsonl\n"
        "  scorers: [exact_match]\n",
    )
    repo.write(
        f"datasets/{name}.jsonl",
        "".join(
            json.dumps({"inputs": {"country": c}, "expectations": {"expected_response": city}})
            + "\n"
            for c, city in CAPITALS.items()
        ),
    )
    repo.commit("config and dataset")


def cli(
    repo: GitRepo, *args: str, server: MlflowServer | None, stub: OpenAIStub | None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MLFLOW_", "GITHUB_"))
    }
    if server is not None:
        env["MLFLOW_TRACKING_URI"] = server.uri
    if stub is not None:
        env["OPENAI_BASE_URL"] = stub.base_url
        env["OPENAI_API_KEY"] = "sk-test-key"
    return subprocess.run(
        [sys.executable, "-m", "prompt_review.cli", *args, "--repo", str(repo.root)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def mlflow_client(server: MlflowServer) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=server.uri, registry_uri=server.uri)


@pytest.fixture
def names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"capital-{suffix}", f"exp-{suffix}"


def test_review_registers_evaluates_and_rerun_is_idempotent(
    git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub, names: tuple[str, str]
) -> None:
    name, experiment = names
    openai_stub.responder = capital_responder
    make_repo(git_repo, name, experiment)
    git_repo.git("checkout", "-q", "-b", "add-prompt")
    git_repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')
    head = git_repo.commit("add prompt")
    report = git_repo.root.parent / "report.json"

    first = cli(git_repo, "review", "--base", "main", "--json", str(report),
                server=mlflow_server, stub=openai_stub)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert f"`{name}` passed" in first.stdout
    assert "new prompt" in first.stdout
    assert openai_stub.call_count == len(CAPITALS)
    data = json.loads(report.read_text())
    assert data["result"] == "passed"
    assert data["prompts"][0]["candidate_version"] == 1

    client = mlflow_client(mlflow_server)
    version = client.get_prompt_version(name, 1)
    assert version.tags["git_commit"] == head
    assert version.tags["source_path"] == f"prompts/{name}.yaml"
    assert len(version.tags["content_hash"]) == 64
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    models = client.search_logged_models(experiment_ids=[experiment_id])
    assert len(models) == 1
    assert models[0].tags["git_commit"] == head
    assert models[0].tags["prompt_name"] == name
    assert models[0].params["model_name"] == "gpt-4o-mini"

    second = cli(git_repo, "review", "--base", "main", server=mlflow_server, stub=openai_stub)
    assert second.returncode == 0, second.stderr
    assert len(client.search_prompt_versions(name)) == 1
    assert len(client.search_logged_models(experiment_ids=[experiment_id])) == 1
    assert openai_stub.call_count == len(CAPITALS), "a re-run must not call the model again"
    assert "reusing run" in second.stderr


def test_regression_against_production_fails_the_gate(
    git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub, names: tuple[str, str]
) -> None:
    name, experiment = names
    openai_stub.responder = capital_responder
    make_repo(git_repo, name, experiment)
    git_repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')
    git_repo.commit("production prompt")
    promoted = cli(git_repo, "promote", "--all", server=mlflow_server, stub=openai_stub)
    assert promoted.returncode == 0, promoted.stderr
    assert f"{name}: promoted: production → v1" in promoted.stdout

    git_repo.git("checkout", "-q", "-b", "chatty")
    git_repo.write(f"prompts/{name}.yaml", f'template: "{CHATTY}"\n')
    git_repo.commit("chattier prompt")
    calls_before = openai_stub.call_count
    report = git_repo.root.parent / "report.json"
    result = cli(git_repo, "review", "--base", "main", "--json", str(report),
                 server=mlflow_server, stub=openai_stub)  # fmt: skip

    assert result.returncode == 1, result.stderr
    assert openai_stub.call_count - calls_before == len(CAPITALS), "production must be reused"
    data = json.loads(report.read_text())
    prompt = data["prompts"][0]
    assert prompt["result"] == "failed"
    assert prompt["baseline"]["version"] == 1
    assert prompt["baseline_reused"] is True
    scorer = prompt["comparison"]["scorers"][0]
    assert scorer["baseline_mean"] == 1.0
    assert scorer["candidate_mean"] == pytest.approx(0.2)
    assert scorer["p_value"] == pytest.approx(1 / 256)
    assert prompt["comparison"]["regressions"] == 8
    assert "The capital of Kenya is Nairobi." in result.stdout
    assert "-template" not in result.stdout
    assert f"-{GOOD}" in result.stdout and f"+{CHATTY}" in result.stdout


def test_failed_model_calls_are_errors_not_scores(
    git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub, names: tuple[str, str]
) -> None:
    name, experiment = names
    openai_stub.responder = capital_responder
    make_repo(git_repo, name, experiment)
    git_repo.write(".prompt-review.yml",
                   (git_repo.root / ".prompt-review.yml").read_text()
                   + "evaluation: {max_retries: 1, concurrency: 1}\n")  # fmt: skip
    git_repo.commit("fewer retries")
    git_repo.git("checkout", "-q", "-b", "add")
    git_repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')
    git_repo.commit("add prompt")
    openai_stub.fail_next(503, times=2)  # first example: both attempts fail

    report = git_repo.root.parent / "report.json"
    result = cli(git_repo, "review", "--base", "main", "--json", str(report),
                 server=mlflow_server, stub=openai_stub)  # fmt: skip

    assert result.returncode == 3, result.stderr
    prompt = json.loads(report.read_text())["prompts"][0]
    assert prompt["result"] == "error"
    assert prompt["comparison"]["candidate_errors"] == 1
    assert "1 of 10 candidate examples failed to run" in result.stdout
    client = mlflow_client(mlflow_server)
    run = client.get_run(prompt["run_id"])
    assert run.data.tags["prompt_review.reusable"] == "false", "an errored run must not be reused"


def test_mlflow_unreachable_is_an_infrastructure_error(
    git_repo: GitRepo, openai_stub: OpenAIStub, names: tuple[str, str]
) -> None:
    name, experiment = names
    make_repo(git_repo, name, experiment)
    git_repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')
    env_repo = git_repo
    closed = MlflowServer(uri="http://127.0.0.1:9", process=None, log=Path())  # type: ignore[arg-type]
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    try:
        result = cli(env_repo, "review", "--all", server=closed, stub=openai_stub)
    finally:
        del os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
    assert result.returncode == 3
    assert "MLflow tracking store http://127.0.0.1:9 is not usable" in result.stderr
    assert "Traceback" not in result.stderr
    assert openai_stub.call_count == 0


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {
                "datasets/{name}.jsonl": '{"inputs": {"place": "France"}, '
                '"expectations": {"expected_response": "Paris"}}\n'
            },
            "datasets/{name}.jsonl: line 1: inputs: missing 'country' "
            "(the template in prompts/{name}.yaml uses {{{{ country }}}})",
        ),
        (
            {"datasets/{name}.jsonl": '{"inputs": {"country": "France"}}\n{"inputs": \n'},
            "datasets/{name}.jsonl: line 2: invalid JSON: Expecting value (column 12)",
        ),
        (
            {".prompt-review.yml": "defaults:\n  model: {temperature: hot}\n"},
            ".prompt-review.yml: defaults.model.temperature: expected a number or null, got 'hot'",
        ),
        (
            {".prompt-review.yml": "experimnt: x\n"},
            ".prompt-review.yml: experimnt: unknown key (expected one of: alias, defaults, "
            "evaluation, experiment, gate, pricing, prompts_dir)",
        ),
        (
            {"datasets/{name}.jsonl": '{"inputs": {"country": "France"}}\n'},
            "datasets/{name}.jsonl: line 1: expectations: missing 'expected_response' "
            "(needed by scorer 'exact_match')",
        ),
    ],
    ids=["missing-variable", "invalid-jsonl", "wrong-type", "unknown-key", "missing-expectation"],
)
def test_bad_input_is_reported_before_any_model_call(
    git_repo: GitRepo,
    openai_stub: OpenAIStub,
    names: tuple[str, str],
    files: dict[str, str],
    expected: str,
) -> None:
    name, experiment = names
    make_repo(git_repo, name, experiment)
    git_repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')
    for path, text in files.items():
        git_repo.write(path.format(name=name), text)

    result = cli(git_repo, "review", "--all", server=None, stub=openai_stub)

    assert result.returncode == 2, result.stderr
    assert expected.format(name=name) in result.stderr
    assert "Traceback" not in result.stderr
    assert openai_stub.call_count == 0
    assert not (git_repo.root / ".prompt-review").exists(), "nothing is written for bad input"


def test_validate_checks_without_mlflow_or_model(
    git_repo: GitRepo, openai_stub: OpenAIStub, names: tuple[str, str]
) -> None:
    name, experiment = names
    make_repo(git_repo, name, experiment)
    git_repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')
    result = cli(git_repo, "validate", server=None, stub=openai_stub)
    assert result.returncode == 0, result.stderr
    assert "OK: 1 prompt(s), 1 dataset(s), 10 example(s)" in result.stdout
    assert openai_stub.call_count == 0

    no_key = cli(git_repo, "validate", server=None, stub=None)
    assert no_key.returncode == 2
    assert "OPENAI_API_KEY" in no_key.stderr


def test_help_is_fast_and_does_not_import_mlflow() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from prompt_review.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('mlflow', 'github', 'openai', 'pandas')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_schema_command_prints_json_schema() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "prompt_review.cli", "schema"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    schema = json.loads(done.stdout)
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {
        "prompts_dir", "experiment", "alias", "defaults", "gate", "evaluation", "pricing",
    }  # fmt: skip


def test_demo_reviews_the_bundled_example_offline(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-m", "prompt_review.cli", "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True, text=True, check=False, env=env, timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "prompt-review failed" in done.stdout
    assert "`support-reply` failed" in done.stdout
    assert "`greeting` passed" in done.stdout
    assert (tmp_path / "demo" / ".prompt-review" / "mlflow.db").is_file()
    assert f"browse it: prompt-review ui --repo {tmp_path / 'demo'}" in done.stderr


def test_validate_reports_a_missing_prompts_folder(git_repo: GitRepo) -> None:
    git_repo.write(".prompt-review.yml", "prompts_dir: promts\n")
    result = cli(git_repo, "validate", server=None, stub=None)
    assert result.returncode == 2
    assert (
        ".prompt-review.yml: prompts_dir: folder 'promts' does not exist "
        "(expected the folder holding your prompt files)"
    ) in result.stderr


def test_an_explicit_config_path_must_exist(git_repo: GitRepo) -> None:
    result = cli(git_repo, "validate", "--config", "ci/review.yml", server=None, stub=None)
    assert result.returncode == 2
    assert "ci/review.yml: file not found (expected a YAML config file)" in result.stderr


def test_deleted_prompt_is_reported_under_its_registry_name(
    git_repo: GitRepo, names: tuple[str, str]
) -> None:
    name, experiment = names
    make_repo(git_repo, name, experiment)
    git_repo.write("prompts/old-file.yaml", f'name: {name}\ntemplate: "{GOOD}"\n')
    git_repo.commit("prompt with its own name")
    git_repo.git("checkout", "-q", "-b", "remove")
    git_repo.remove("prompts/old-file.yaml")
    git_repo.commit("remove it")
    report = git_repo.root.parent / "report.json"

    result = cli(git_repo, "review", "--base", "main", "--json", str(report),
                 server=None, stub=None)  # fmt: skip

    assert result.returncode == 0, result.stderr
    prompt = json.loads(report.read_text())["prompts"][0]
    assert (prompt["name"], prompt["status"], prompt["result"]) == (name, "deleted", "skipped")
    assert prompt["source_path"] == "prompts/old-file.yaml"
