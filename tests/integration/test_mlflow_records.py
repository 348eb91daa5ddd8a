"""What a review leaves in MLflow, read back from a real `mlflow server` as a platform owner
would: a trace per model call with the real chat span, scores as assessments, lineage."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.fakes.git_repo import GitRepo
from tests.fakes.mlflow_server import MlflowServer
from tests.fakes.openai_server import OpenAIStub
from tests.integration.test_review_pipeline import (
    CAPITALS,
    GOOD,
    capital_responder,
    cli,
    make_repo,
    mlflow_client,
)

LATENCY = 0.05


@pytest.fixture
def names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"records-{suffix}", f"records-exp-{suffix}"


@pytest.fixture
def reviewed(
    git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub, names: tuple[str, str]
) -> dict[str, Any]:
    """One review of a new prompt on a branch; returns what the test needs to look it up."""
    name, experiment = names
    openai_stub.responder = capital_responder
    openai_stub.latency_seconds = LATENCY
    make_repo(git_repo, name, experiment)
    git_repo.git("remote", "add", "origin", "https://token:s3cret@example.com/acme/prompts.git")
    git_repo.git("checkout", "-q", "-b", "feature/terse")
    git_repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')
    head = git_repo.commit("add prompt")
    report = git_repo.root.parent / "report.json"
    done = cli(git_repo, "review", "--base", "main", "--json", str(report),
               server=mlflow_server, stub=openai_stub)  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    client = mlflow_client(mlflow_server)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    return {"name": name, "head": head, "report": data, "client": client, "exp": experiment_id}


def test_every_example_has_a_trace_with_the_real_model_call(reviewed: dict[str, Any]) -> None:
    client, name, head = reviewed["client"], reviewed["name"], reviewed["head"]
    prompt = reviewed["report"]["prompts"][0]
    traces = client.search_traces(locations=[reviewed["exp"]], max_results=100)
    ours = [t for t in traces if t.info.tags.get("prompt_name") == name]
    assert len(ours) == len(CAPITALS), "one trace per model call"
    countries = set()
    for trace in ours:
        info = trace.info
        assert info.tags["prompt_version"] == "1"
        assert info.tags["prompt_review.role"] == "candidate"
        assert info.tags["prompt_review.commit"] == head
        assert info.trace_metadata["mlflow.sourceRun"] == prompt["run_id"]
        assert info.trace_metadata["mlflow.modelId"] == prompt["model_id"]
        assert info.trace_metadata["mlflow.source.git.commit"] == head
        assert info.trace_metadata["mlflow.source.git.branch"] == "feature/terse"
        assert info.trace_metadata["mlflow.source.git.repoURL"] == (
            "https://example.com/acme/prompts.git"
        ), "the remote URL, without its credentials"
        (chat,) = [s for s in trace.data.spans if s.span_type == "CHAT_MODEL"]
        messages = chat.inputs["messages"]
        assert messages[-1]["role"] == "user" and "capital of" in messages[-1]["content"]
        assert chat.inputs["model"] == "gpt-4o-mini" and chat.inputs["temperature"] == 0
        usage = chat.attributes["mlflow.chat.tokenUsage"]
        assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
        assert (chat.end_time_ns - chat.start_time_ns) / 1e9 > LATENCY
        answer = chat.outputs["choices"][0]["message"]["content"]
        country = next(c for c in CAPITALS if c in messages[-1]["content"])
        countries.add(country)
        assert answer == CAPITALS[country]
        feedback = {a.name: a for a in info.assessments if a.feedback is not None}
        assert feedback["exact_match"].feedback.value == 1.0
        expected = {a.name: a for a in info.assessments if a.expectation is not None}
        assert expected["expected_response"].expectation.value == CAPITALS[country]
    assert countries == set(CAPITALS)


def test_traces_are_linked_to_the_prompt_version(reviewed: dict[str, Any]) -> None:
    client, name = reviewed["client"], reviewed["name"]
    linked = client.search_traces(
        locations=[reviewed["exp"]], filter_string=f"prompt = '{name}/1'", max_results=100
    )
    assert len(linked) == len(CAPITALS)


def test_the_run_names_its_dataset_prompt_model_and_repository(reviewed: dict[str, Any]) -> None:
    client, name, head = reviewed["client"], reviewed["name"], reviewed["head"]
    prompt = reviewed["report"]["prompts"][0]
    run = client.get_run(prompt["run_id"])
    assert run.info.run_name == f"{name}-v1-candidate"
    assert run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["mlflow.runType"] == "genai_evaluate"
    assert tags["mlflow.source.git.commit"] == head
    assert tags["mlflow.source.git.branch"] == "feature/terse"
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.name == f"datasets/{name}.jsonl"
    assert dataset.dataset.digest == prompt["dataset_digest"]
    assert [m.model_id for m in run.inputs.model_inputs] == [prompt["model_id"]]
    assert run.data.metrics["exact_match/mean"] == 1.0
    linked = json.loads(tags["mlflow.linkedPrompts"])
    assert {"name": name, "version": "1"} in linked
    model = client.get_logged_model(prompt["model_id"])
    assert model.tags["mlflow.source.git.commit"] == head
    assert model.tags["mlflow.source.git.branch"] == "feature/terse"


def test_a_failed_attempt_is_marked_failed_and_the_rerun_says_attempt_2(
    git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub, names: tuple[str, str]
) -> None:
    name, experiment = names
    openai_stub.responder = capital_responder
    make_repo(git_repo, name, experiment)
    git_repo.write(".prompt-review.yml",
                   (git_repo.root / ".prompt-review.yml").read_text()
                   + "evaluation: {max_retries: 0, concurrency: 1}\n")  # fmt: skip
    git_repo.git("checkout", "-q", "-b", "add")
    git_repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')
    git_repo.commit("add prompt")
    openai_stub.fail_next(503)
    first = cli(git_repo, "review", "--base", "main", server=mlflow_server, stub=openai_stub)
    assert first.returncode == 3, first.stderr
    second = cli(git_repo, "review", "--base", "main", server=mlflow_server, stub=openai_stub)
    assert second.returncode == 0, second.stderr

    client = mlflow_client(mlflow_server)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    runs = client.search_runs([experiment_id], order_by=["attributes.start_time ASC"])
    assert [(r.info.run_name, r.info.status) for r in runs] == [
        (f"{name}-v1-candidate", "FAILED"),
        (f"{name}-v1-candidate (attempt 2)", "FINISHED"),
    ]
    failed = client.search_traces(
        locations=[experiment_id], filter_string="trace.status = 'ERROR'", max_results=100
    )
    (trace,) = failed
    (chat,) = [s for s in trace.data.spans if s.span_type == "CHAT_MODEL"]
    assert chat.status.status_code == "ERROR"
    assert any("503" in str(event.attributes) for event in chat.events)


def test_the_run_that_decided_a_promotion_is_named_production(
    git_repo: GitRepo, mlflow_server: MlflowServer, openai_stub: OpenAIStub, names: tuple[str, str]
) -> None:
    name, experiment = names
    openai_stub.responder = capital_responder
    make_repo(git_repo, name, experiment)
    git_repo.write(f"prompts/{name}.yaml", f'template: "{GOOD}"\n')
    git_repo.commit("production prompt")
    promoted = cli(git_repo, "promote", "--all", server=mlflow_server, stub=openai_stub)
    assert promoted.returncode == 0, promoted.stderr
    git_repo.git("checkout", "-q", "-b", "reword")
    git_repo.write(f"prompts/{name}.yaml", f'template: "{GOOD} Thanks."\n')
    git_repo.commit("reword")
    report = git_repo.root.parent / "report.json"
    done = cli(git_repo, "review", "--base", "main", "--json", str(report),
               server=mlflow_server, stub=openai_stub)  # fmt: skip
    assert done.returncode == 0, done.stderr

    prompt = json.loads(report.read_text())["prompts"][0]
    assert prompt["baseline_reused"] is True
    client = mlflow_client(mlflow_server)
    baseline = client.get_run(prompt["baseline_run_id"])
    assert baseline.info.run_name == f"{name}-v1-production"
    assert baseline.data.tags["is_production_eval"] == "true"
    assert client.get_run(prompt["run_id"]).info.run_name == f"{name}-v2-candidate"
