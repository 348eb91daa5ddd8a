"""LLM judges, custom judges and python scorers against the stub OpenAI-compatible server over
HTTP, through MLflow's own judge classes, a real `mlflow server`, and the CLI in a real git
repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prompt_review.scorer_config import JudgeModel, ScorerSpec
from prompt_review.scorers import BuiltScorer, JudgeCounter, RetryPolicy, ScoreValue, Scoring
from tests.fakes.git_repo import GitRepo
from tests.fakes.mlflow_server import MlflowServer, free_port
from tests.fakes.openai_server import OpenAIStub

FAST = RetryPolicy(max_retries=2, timeout_seconds=10, base_delay=0.01, max_delay=0.02)
CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Kenya": "Nairobi", "Peru": "Lima"}


def between(text: str, tag: str) -> str:
    match = re.search(f"<{tag}>(.*?)</{tag}>", text, re.S)
    return match.group(1) if match else ""


def grading_judge(request: dict[str, Any]) -> tuple[Any, str]:
    """A deterministic judge: correctness finds the claim (the expected response) in the
    document (the output), the tone
    judge wants a "please", the style judge names a register, anything else passes."""
    text = "\n".join(str(m.get("content", "")) for m in request["messages"])
    if "<claim>" in text:
        claim, document = between(text, "claim"), between(text, "document")
        return ("yes" if claim.strip() in document else "no"), f"claim {claim!r}"
    if "polite" in text:
        return ("please" in text.split("outputs:")[-1].lower()), "looked for please"
    if "register" in text:
        return ("formal" if "Dear" in text else "casual"), "by its greeting"
    return "yes", "fine"


@pytest.fixture
def judge_stub() -> Iterator[OpenAIStub]:
    with OpenAIStub(judge_responder=grading_judge) as stub:
        yield stub


def judge(kind: str, stub: OpenAIStub, name: str | None = None, **options: Any) -> ScorerSpec:
    model = JudgeModel(name="stub-judge", base_url=stub.base_url)
    return ScorerSpec(type=kind, name=name or kind, options=options, judge=model)


def build_one(spec: ScorerSpec, **scoring: Any) -> tuple[BuiltScorer, JudgeCounter]:
    counter = JudgeCounter()
    (built,) = Scoring(policy=FAST, counter=counter, **scoring).build([spec])
    return built, counter


# --- every judge type, over HTTP --------------------------------------------------------------


def test_every_mlflow_judge_type_grades_through_the_stub(judge_stub: OpenAIStub) -> None:
    inputs = {"question": "What is the capital of France?"}
    expectations = {"expected_response": "Paris", "guidelines": ["Name one city."]}
    specs = [
        judge("correctness", judge_stub),
        judge("relevance_to_query", judge_stub),
        judge("safety", judge_stub),
        judge("guidelines", judge_stub, "terse", guidelines=["At most five words."]),
        judge("expectations_guidelines", judge_stub),
        judge(
            "judge",
            judge_stub,
            "tone",
            instructions="Is {{ outputs }} polite for {{ inputs }}?",
            feedback_value_type="bool",
        ),
        judge(
            "judge",
            judge_stub,
            "stars",
            instructions="Rate {{ outputs }} against {{ expectations }}, 1-5.",
            feedback_value_type="int",
        ),
    ]
    counter = JudgeCounter()
    built = Scoring(policy=FAST, counter=counter).build(specs)

    results = {b.spec.name: b.score(inputs, "Paris, please.", expectations) for b in built}

    assert all(b.is_judge for b in built)
    assert results["correctness"] == ScoreValue(value=1.0, rationale="claim 'Paris'")
    assert built[0].score(inputs, "Lyon", expectations) == ScoreValue(
        value=0.0, rationale="claim 'Paris'"
    )
    assert results["tone"] == ScoreValue(value=1.0, rationale="looked for please")
    assert results["stars"] == ScoreValue(value=1.0, rationale="fine")  # "yes" for an int judge
    for name in ("relevance_to_query", "safety", "terse", "expectations_guidelines"):
        assert results[name] == ScoreValue(value=1.0, rationale="fine"), name
    assert judge_stub.judge_call_count == len(specs) + 1 == counter.calls == counter.attempts
    assert judge_stub.call_count == 0, "judge requests are not counted as generation"
    sent = judge_stub.judge_calls
    assert {r["model"] for r in sent} == {"stub-judge"}
    assert all(
        r["response_format"]["json_schema"]["schema"]["required"] == ["result", "rationale"]
        for r in sent
    )
    guidelines = next(r for r in sent if "At most five words." in json.dumps(r))
    assert "Name one city." not in json.dumps(guidelines)
    per_row = next(r for r in sent if "Name one city." in json.dumps(r))
    assert "At most five words." not in json.dumps(per_row)


def test_a_keyless_endpoint_gets_a_placeholder_and_a_key_is_sent_when_set(
    judge_stub: OpenAIStub,
) -> None:
    def openai_variables() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k.startswith("OPENAI_")}

    before = openai_variables()
    keyless, _ = build_one(judge("safety", judge_stub), environ={})
    keyed, _ = build_one(judge("safety", judge_stub), environ={"OPENAI_API_KEY": "sk-judge"})

    assert keyless.score({}, "hi", {}).value == 1.0
    assert keyed.score({}, "hi", {}).value == 1.0

    assert [h["authorization"] for h in judge_stub.judge_headers] == [
        "Bearer not-needed",
        "Bearer sk-judge",
    ]
    assert openai_variables() == before, "no key or URL is put in the process environment"


def test_the_endpoint_comes_from_the_scorer_then_the_environment(judge_stub: OpenAIStub) -> None:
    with OpenAIStub() as other:
        from_env = ScorerSpec(type="correctness", name="c", judge=JudgeModel())
        built, _ = build_one(from_env, environ={"OPENAI_BASE_URL": other.base_url})
        assert built.score({"q": "x"}, "Paris", {"expected_response": "Paris"}).value == 1.0
        pinned = judge("correctness", judge_stub)  # base_url beats OPENAI_BASE_URL
        built, _ = build_one(pinned, environ={"OPENAI_BASE_URL": other.base_url})
        assert built.score({"q": "x"}, "Paris", {"expected_response": "Paris"}).value == 1.0
        assert (other.judge_call_count, judge_stub.judge_call_count) == (1, 1)


def test_non_numeric_verdicts_are_labels(judge_stub: OpenAIStub) -> None:
    style, _ = build_one(
        judge(
            "judge",
            judge_stub,
            "style",
            instructions="Name the register of {{ outputs }}.",
            feedback_value_type="str",
        )
    )
    assert style.score({}, "Dear Sir", {}) == ScoreValue(
        label="formal", rationale="by its greeting"
    )
    judge_stub.judge_responder = lambda request: ("maybe", "unsure")
    correctness, _ = build_one(judge("correctness", judge_stub))
    assert correctness.score({"q": "x"}, "Paris", {"expected_response": "Paris"}) == ScoreValue(
        label="unknown", rationale="unsure"
    )


# --- faults: errors on the example, bounded retries -------------------------------------------


@pytest.mark.robustness(
    area="faults",
    case="the judge model answers HTTP 500 on every attempt (MLflow alone would retry 10 times "
    "over ~190 s)",
    behaviour="max_retries + 1 attempts with short backoff, then an error on that example "
    "naming the judge, the status and the attempts, never a low score",
)
def test_a_failing_judge_is_retried_a_bounded_number_of_times(judge_stub: OpenAIStub) -> None:
    built, counter = build_one(judge("correctness", judge_stub))
    judge_stub.fail_next(500, times=50, kind="judge")

    result = built.score({"q": "x"}, "Paris", {"expected_response": "Paris"})

    assert result.value is None and result.label is None
    assert result.error == (
        f"judge 'correctness' (openai:/stub-judge at {judge_stub.base_url}): HTTP 500 after "
        "3 attempts: stub: injected HTTP 500"
    )
    assert judge_stub.judge_call_count == FAST.max_retries + 1 == counter.attempts
    assert counter.calls == 1
    assert judge_stub.call_count == 0, "judge faults do not touch generation"


def test_a_transient_judge_failure_is_retried_then_scored(judge_stub: OpenAIStub) -> None:
    built, counter = build_one(judge("safety", judge_stub))
    judge_stub.fail_next(503, times=1, kind="judge")
    judge_stub.fail_next(429, times=1, kind="judge")

    assert built.score({}, "hello", {}) == ScoreValue(value=1.0, rationale="fine")
    assert (counter.calls, counter.attempts, judge_stub.judge_call_count) == (1, 3, 3)


@pytest.mark.robustness(
    area="secrets",
    case="the judge endpoint answers 401 echoing the API key it was sent",
    behaviour="no retry; the example's error names the judge and the status, the key redacted",
)
def test_a_rejected_key_is_not_retried_and_never_shown(judge_stub: OpenAIStub) -> None:
    judge_stub.api_key = "sk-right"
    built, counter = build_one(judge("safety", judge_stub), environ={"OPENAI_API_KEY": "sk-wrong"})

    error = built.score({}, "hello", {}).error

    assert error == (
        f"judge 'safety' (openai:/stub-judge at {judge_stub.base_url}): HTTP 401 after 1 "
        "attempt: Incorrect API key provided: ***."
    )
    assert counter.attempts == 1


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("not json at all", "Failed to parse response from judge model. Response: not json at all"),
        (json.dumps({"rationale": "forgot the result"}), "KeyError: 'result'"),
    ],
    ids=["not-json", "no-result"],
)
@pytest.mark.robustness(
    area="faults",
    case="the judge answers with content that is not the {result, rationale} JSON asked for",
    behaviour="an error on that example naming the judge and what it answered, never a score",
)
def test_a_malformed_verdict_is_an_error(
    judge_stub: OpenAIStub, answer: str, expected: str
) -> None:
    judge_stub.judge_responder = lambda request: answer
    built, _ = build_one(
        judge(
            "judge",
            judge_stub,
            "tone",
            instructions="Is {{ outputs }} polite?",
            feedback_value_type="bool",
        )
    )

    error = built.score({}, "hello", {}).error

    assert error is not None
    assert error.startswith(f"judge 'tone' (openai:/stub-judge at {judge_stub.base_url}): ")
    assert expected in error


@pytest.mark.robustness(
    area="faults",
    case="the judge server answers HTTP 200 with a body that is not a chat completion, or "
    "nothing listens at the judge's base URL",
    behaviour="an error on that example saying what came back (or that it cannot connect), "
    "after the bounded retries for a refused connection",
)
def test_a_broken_or_absent_judge_server_is_an_error(judge_stub: OpenAIStub) -> None:
    built, _ = build_one(judge("safety", judge_stub))
    judge_stub.fail_next(200, body={"unexpected": "shape"}, kind="judge")
    assert built.score({}, "hello", {}).error == (
        f"judge 'safety' (openai:/stub-judge at {judge_stub.base_url}): the response is not a "
        'chat completion after 1 attempt: {"unexpected": "shape"}'
    )
    closed = f"http://127.0.0.1:{free_port()}/v1"
    gone = ScorerSpec(type="safety", name="safety", judge=JudgeModel(base_url=closed))
    built, counter = build_one(gone)
    error = built.score({}, "hello", {}).error
    assert error is not None
    assert error.startswith(
        f"judge 'safety' (openai:/gpt-4o-mini at {closed}): cannot connect after 3 attempts: "
    )
    assert counter.attempts == 3


# --- end to end: the CLI in a real git repository, a real MLflow server -----------------------

CONFIG = """\
experiment: {experiment}
defaults:
  model: {{provider: openai, name: gpt-4o-mini, temperature: 0}}
  judge: {{name: stub-judge}}
  dataset: datasets/{{name}}.jsonl
  scorers:
    - exact_match
    - correctness
    - relevance_to_query
    - safety
    - {{type: guidelines, name: terse, guidelines: ["At most five words."]}}
    - expectations_guidelines
    - type: judge
      name: tone
      instructions: "Is {{{{ outputs }}}} a polite answer to {{{{ inputs }}}}?"
      feedback_value_type: bool
    - type: judge
      name: style
      instructions: "Name the register of {{{{ outputs }}}}."
      feedback_value_type: str
    - {{type: python, name: short, function: "review_checks.length:short"}}
evaluation: {{max_retries: 1}}
"""
JUDGES = 7  # the LLM judges in CONFIG
CHECK = """\
from mlflow.genai.scorers import scorer


@scorer
def short(outputs):
    return len(outputs) <= 12
"""
PROMPT = "template: 'What is the capital of {{ country }}? Reply with the city name only.'\n"


def city(request: dict[str, Any]) -> str:
    text = request["messages"][-1]["content"]
    return next(c for country, c in CAPITALS.items() if country in text)


def judged_repo(repo: GitRepo, name: str, experiment: str) -> None:
    repo.write(".prompt-review.yml", CONFIG.format(experiment=experiment))
    repo.write("review_checks/__init__.py", "")
    repo.write("review_checks/length.py", CHECK)
    repo.write(
        f"datasets/{name}.jsonl",
        "".join(
            json.dumps(
                {
                    "inputs": {"country": c},
                    "expectations": {"expected_response": x, "guidelines": ["One city."]},
                }
            )
            + "\n"
            for c, x in CAPITALS.items()
        ),
    )
    repo.commit("config, dataset and a scorer")
    repo.git("checkout", "-q", "-b", "add-prompt")
    repo.write(f"prompts/{name}.yaml", PROMPT)
    repo.commit("add prompt")


def review(
    repo: GitRepo, server: MlflowServer | None, stub: OpenAIStub | None, report: Path
) -> subprocess.CompletedProcess[str]:
    """`prompt-review review` with no OPENAI_API_KEY at all: the stub is a keyless server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MLFLOW_"))}
    if server is not None:
        env["MLFLOW_TRACKING_URI"] = server.uri
    if stub is not None:
        env["OPENAI_BASE_URL"] = stub.base_url
    return subprocess.run(
        [sys.executable, "-m", "prompt_review.cli", "review", "--base", "main",
         "--json", str(report), "--repo", str(repo.root)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip


def examples_of(server: MlflowServer, run_id: str) -> dict[str, dict[str, Any]]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=server.uri)
    path = client.download_artifacts(run_id, "prompt_review/examples.json")
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {e["inputs"]["country"]: e for e in data["examples"]}


@pytest.fixture
def names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"capital-{suffix}", f"judged-{suffix}"


def test_review_with_judges_and_a_python_scorer_then_a_rerun_makes_no_call(
    git_repo: GitRepo, mlflow_server: MlflowServer, judge_stub: OpenAIStub, names: tuple[str, str]
) -> None:
    name, experiment = names
    judge_stub.responder = city
    judged_repo(git_repo, name, experiment)
    report = git_repo.root.parent / "report.json"

    first = review(git_repo, mlflow_server, judge_stub, report)

    assert first.returncode == 0, first.stderr
    assert judge_stub.call_count == len(CAPITALS), "one generation call per example"
    assert judge_stub.judge_call_count == JUDGES * len(CAPITALS), "one call per judge and example"
    assert {r["model"] for r in judge_stub.judge_calls} == {"stub-judge"}
    assert {h["authorization"] for h in judge_stub.judge_headers} == {"Bearer not-needed"}
    prompt = json.loads(report.read_text())["prompts"][0]
    means = {s["name"]: s["candidate_mean"] for s in prompt["comparison"]["scorers"]}
    assert means == {"exact_match": 1.0, "correctness": 1.0, "relevance_to_query": 1.0,
                     "safety": 1.0, "terse": 1.0, "expectations_guidelines": 1.0, "tone": 0.0,
                     "style": None, "short": 1.0}  # fmt: skip
    examples = examples_of(mlflow_server, prompt["run_id"])
    kenya = examples["Kenya"]
    assert kenya["output"] == "Nairobi"
    assert kenya["scores"] == {**means, "tone": 0.0, "style": None}
    assert kenya["labels"] == {"style": "casual"}, "a non-numeric verdict is kept as a label"
    assert kenya["rationales"] == {
        "correctness": "claim 'Nairobi'", "relevance_to_query": "fine", "safety": "fine",
        "terse": "fine", "expectations_guidelines": "fine", "tone": "looked for please",
        "style": "by its greeting",
    }  # fmt: skip
    assert kenya["score_errors"] == {}

    second = review(git_repo, mlflow_server, judge_stub, report)

    assert second.returncode == 0, second.stderr
    assert "reusing run" in second.stderr
    assert judge_stub.call_count == len(CAPITALS), "a re-run makes no generation call"
    assert judge_stub.judge_call_count == JUDGES * len(CAPITALS), "a re-run makes no judge call"

    git_repo.write("review_checks/length.py", CHECK.replace("<= 12", "<= 5"))
    git_repo.commit("stricter scorer")
    third = review(git_repo, mlflow_server, judge_stub, report)

    assert third.returncode == 0, third.stderr
    assert "reusing run" not in third.stderr, "edited scorer code must not reuse old scores"
    assert judge_stub.call_count == 2 * len(CAPITALS)
    assert judge_stub.judge_call_count == 2 * JUDGES * len(CAPITALS)
    prompt = json.loads(report.read_text())["prompts"][0]
    assert {s["name"]: s["candidate_mean"] for s in prompt["comparison"]["scorers"]}[
        "short"
    ] == 0.75  # Nairobi is too long now


@pytest.mark.robustness(
    area="faults",
    case="the judge fails (HTTP 500 on every attempt) on one example of a review",
    behaviour="that example failed to run, the prompt's verdict is error (over "
    "gate.max_error_rate), exit 3, the run is not reusable, never a low score",
)
def test_a_failing_judge_makes_the_review_an_error_not_a_regression(
    git_repo: GitRepo, mlflow_server: MlflowServer, judge_stub: OpenAIStub, names: tuple[str, str]
) -> None:
    name, experiment = names
    judge_stub.responder = city

    def overloaded_on_kenya(request: dict[str, Any]) -> tuple[Any, str]:
        if "<claim>Nairobi</claim>" in json.dumps(request):
            raise RuntimeError("judge overloaded")  # the stub answers 500, every attempt
        return grading_judge(request)

    judge_stub.judge_responder = overloaded_on_kenya
    judged_repo(git_repo, name, experiment)
    report = git_repo.root.parent / "report.json"

    result = review(git_repo, mlflow_server, judge_stub, report)

    assert result.returncode == 3, result.stderr
    assert f"1 of {len(CAPITALS)} candidate examples failed to run" in result.stdout
    prompt = json.loads(report.read_text())["prompts"][0]
    assert prompt["result"] == "error"
    assert prompt["comparison"]["candidate_errors"] == 1
    kenya = examples_of(mlflow_server, prompt["run_id"])["Kenya"]
    assert kenya["scores"]["correctness"] is None
    assert kenya["score_errors"]["correctness"].startswith(
        f"judge 'correctness' (openai:/stub-judge at {judge_stub.base_url}): HTTP 500 after 2 "
        "attempts: stub: responder raised RuntimeError"
    )
    assert judge_stub.judge_call_count == JUDGES * len(CAPITALS) + 1, "max_retries: 1: one retry"
    from mlflow import MlflowClient

    run = MlflowClient(tracking_uri=mlflow_server.uri).get_run(prompt["run_id"])
    assert run.data.tags["prompt_review.reusable"] == "false"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("review_checks/length.py", "raise ImportError('needs numpy')\n"),
            "scorer 'short' (function 'review_checks.length:short'): importing "
            "'review_checks.length' (review_checks/length.py) raised ImportError: needs numpy",
        ),
        (
            ("review_checks/length.py", CHECK.replace("def short", "def shorter")),
            "scorer 'short' (function 'review_checks.length:short'): review_checks/length.py "
            "has no 'short' (its scorers: shorter)",
        ),
        (
            None,  # no OPENAI_BASE_URL: the judge would go to OpenAI, without a key
            "scorer 'correctness': no API key for judge model 'stub-judge' at "
            "https://api.openai.com/v1",
        ),
    ],
    ids=["raises-at-import", "missing-function", "no-judge-key"],
)
@pytest.mark.robustness(
    area="input",
    case="a python scorer that cannot be imported, or a judge with no API key and no base URL",
    behaviour="input error naming the prompt file, the scorer and the cause, exit 2, nothing "
    "registered, no model call",
)
def test_a_scorer_that_cannot_run_stops_the_review_before_any_write(
    git_repo: GitRepo,
    judge_stub: OpenAIStub,
    names: tuple[str, str],
    change: tuple[str, str] | None,
    expected: str,
) -> None:
    name, experiment = names
    judged_repo(git_repo, name, experiment)
    if change is not None:
        git_repo.write(*change)
    else:  # generation keeps an endpoint of its own; only the judge has none
        model = f"model: {{base_url: '{judge_stub.base_url}'}}\n"
        git_repo.write(f"prompts/{name}.yaml", PROMPT + model)
    git_repo.commit("break a scorer")
    stub = judge_stub if change is not None else None

    result = review(git_repo, None, stub, git_repo.root.parent / "r.json")

    assert result.returncode == 2, result.stderr
    assert f"prompts/{name}.yaml: {expected}" in result.stderr
    assert "Traceback" not in result.stderr
    assert judge_stub.call_count == judge_stub.judge_call_count == 0
    assert not (git_repo.root / ".prompt-review").exists(), "nothing is written"
